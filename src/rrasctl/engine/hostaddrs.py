"""This host's own IPv4 addresses, for the PPP peer role's address-clash check (PppConfig.own_addresses).

Read from the kernel's FIB (`/proc/net/fib_trie`, the engine's own network namespace): every `/32 host LOCAL` entry
is an address some interface holds (the TUN's tunnel address included once it is up). The server's tunnel address
is added whatever the FIB says, so the check holds before the TUN is configured too. No netlink round trip and no
subprocess: one small file read per dial.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable

FIB_TRIE = "/proc/net/fib_trie"


def parse_fib_trie(text: str) -> frozenset[ipaddress.IPv4Address]:
    """The LOCAL host addresses of a fib_trie dump: an address line (`|-- A.B.C.D`) followed by `/32 host LOCAL`."""
    found: set[ipaddress.IPv4Address] = set()
    last: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|-- "):
            last = stripped[4:].strip()
        elif last is not None and stripped.startswith("/32 host LOCAL"):
            try:
                found.add(ipaddress.IPv4Address(last))
            except ValueError:
                pass
    return frozenset(found)


def own_addresses(config: Any = None, extra: Iterable[str] = (), fib_path: str = FIB_TRIE
                  ) -> frozenset[ipaddress.IPv4Address]:
    """This host's IPv4 addresses, plus CONFIG's tunnel address and EXTRA (unreadable FIB: those only)."""
    try:
        with open(fib_path, encoding="ascii", errors="replace") as f:
            addrs = set(parse_fib_trie(f.read()))
    except OSError:
        addrs = set()
    tunnel = getattr(getattr(config, "server", None), "tunnel_address", None)
    for a in (tunnel, *extra):
        if a:
            addrs.add(ipaddress.IPv4Address(a))
    return frozenset(addrs)
