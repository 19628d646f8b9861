"""Per-installation defaults: the client address pool and the server's tunnel address (decision 0120).

Two routers on the default configuration used to share 10.87.0.0/24 and 10.87.0.1, so the calling router already
held the answering router's tunnel address and could not reach it. Each installation now gets its own /24 inside
10.80.0.0/12 (10.80.0.0 - 10.95.255.255: clear of the home/office 10.0.x and 10.1.x, of Kubernetes' 10.96.0.0/12
and of 10.128.0.0/9 cloud defaults), derived from the machine id and the config file's absolute path, so two
configurations on one host and two hosts differ (a collision is 1 in 4,096, and the PPP core refuses it with a
clear message). The pool's first host is the tunnel address. A file that names neither keeps no guess for long:
the store writes both into it on its first change (`fill_document`), so the choice never moves afterwards.
Pure apart from reading the machine id.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
from typing import Any

POOL_SPACE = ipaddress.IPv4Network("10.80.0.0/12")
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def machine_id() -> str:
    """This host's machine id (systemd/dbus), or its host name when there is none."""
    for path in MACHINE_ID_FILES:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text:
            return text
    return socket.gethostname()


def address_defaults(config_path: str | os.PathLike, host_id: str | None = None) -> tuple[str, str]:
    """(address_pool, tunnel_address) for the configuration at CONFIG_PATH on this host (or HOST_ID)."""
    seed = f"{host_id if host_id is not None else machine_id()}\0{os.path.abspath(os.fspath(config_path))}"
    digest = hashlib.sha256(seed.encode("utf-8", "surrogateescape")).digest()
    slots = POOL_SPACE.num_addresses // 256
    index = int.from_bytes(digest[:4], "big") % slots
    net = ipaddress.IPv4Network((int(POOL_SPACE.network_address) + index * 256, 24))
    return str(net), str(net.network_address + 1)


def fill_raw(raw: dict[str, Any], config_path: str | os.PathLike) -> dict[str, Any]:
    """RAW (a parsed file) with the installation's pool and tunnel address where the file names none."""
    server = raw.get("server")
    if server is not None and not isinstance(server, dict):
        return raw                            # validation reports it
    server = dict(server or {})
    if "address_pool" in server and "tunnel_address" in server:
        return raw
    pool, tunnel = address_defaults(config_path)
    if "address_pool" not in server:
        server["address_pool"] = pool
        if "tunnel_address" not in server:
            server["tunnel_address"] = tunnel
    elif "tunnel_address" not in server:
        server["tunnel_address"] = _first_host(server["address_pool"], tunnel)
    return {**raw, "server": server}


def _first_host(pool: Any, fallback: str) -> str:
    try:
        net = ipaddress.IPv4Network(pool, strict=False)
    except (TypeError, ValueError):
        return fallback                       # validation names the bad pool
    return str(next(net.hosts(), net.network_address))

