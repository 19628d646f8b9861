"""Client addresses: dynamic ones from the pool's CIDR, static ones reserved for their users (SPEC §3, §4). Pure.

The pool hands out the lowest free host address of its CIDR, skipping the network and broadcast addresses, the
server's own tunnel address and every static address configured for a user (a static address is never given to
someone else, even while its owner is offline). A static address may lie outside the pool's CIDR.

    pool = AddressPool("10.87.0.0/24", server_address="10.87.0.1", static=["10.87.0.50"])
    ip = pool.allocate()                     # IPv4Address('10.87.0.2'), or None when exhausted
    ip = pool.allocate(static="10.87.0.50")  # that exact address, or None when it is already in use
    pool.release(ip)
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

IPv4 = ipaddress.IPv4Address


class AddressPool:
    def __init__(self, cidr: str, *, server_address: str | None = None, static: Iterable[str] = (),
                 exclude: Iterable[str] = ()) -> None:
        self._in_use: set[int] = set()
        self.reconfigure(cidr, server_address=server_address, static=static, exclude=exclude)

    def reconfigure(self, cidr: str, *, server_address: str | None = None, static: Iterable[str] = (),
                    exclude: Iterable[str] = ()) -> None:
        """New CIDR / reservations (SIGHUP). Addresses in use stay in use until released."""
        net = ipaddress.IPv4Network(cidr, strict=False)
        self.network = net
        if net.prefixlen >= 31:
            self._first, self._last = int(net.network_address), int(net.broadcast_address)
        else:
            self._first, self._last = int(net.network_address) + 1, int(net.broadcast_address) - 1
        self.server_address = IPv4(server_address) if server_address else None
        self._static = {int(IPv4(a)) for a in static}
        self._excluded = {int(IPv4(a)) for a in exclude}
        if self.server_address is not None:
            self._excluded.add(int(self.server_address))
        self._cursor = self._first

    @property
    def size(self) -> int:
        """How many addresses the pool can hand out dynamically."""
        reserved = sum(1 for a in self._static | self._excluded if self._first <= a <= self._last)
        return max(0, self._last - self._first + 1 - reserved)

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def is_free(self, address: str | IPv4) -> bool:
        return int(IPv4(address)) not in self._in_use

    def allocate(self, static: str | IPv4 | None = None) -> IPv4 | None:
        """A free address: `static` exactly (None if it is taken), else the lowest free dynamic one (None if none)."""
        if static is not None:
            a = int(IPv4(static))
            if a in self._in_use or a in self._excluded:
                return None
            self._in_use.add(a)
            return IPv4(a)
        blocked = self._in_use
        reserved = self._static
        excluded = self._excluded
        # Lowest free first; the cursor skips the dense prefix so 1,000 allocations stay linear overall.
        a = self._cursor
        while a <= self._last:
            if a not in blocked and a not in reserved and a not in excluded:
                blocked.add(a)
                self._cursor = a + 1
                return IPv4(a)
            a += 1
        return None

    def release(self, address: str | IPv4 | None) -> None:
        """Give an address back (idempotent; None is ignored)."""
        if address is None:
            return
        a = int(IPv4(address))
        self._in_use.discard(a)
        if self._first <= a < self._cursor:
            self._cursor = a

    def reserve(self, address: str | IPv4) -> bool:
        """Mark an address in use (e.g. one an L2TP peer insists on); False if it already is."""
        a = int(IPv4(address))
        if a in self._in_use:
            return False
        self._in_use.add(a)
        return True
