"""The edition table of SPEC §3 (Windows Server 2003 RRAS limits). Deliberately imports nothing.

- ``PORT_LIMITS[edition][protocol]``: the most ports a pool may have.
- ``MAX_CONCURRENT[edition]``: concurrently accepted inbound VPN connections, all protocols together;
  ``None`` means no edition cap (only the ports bound them).
"""

EDITIONS = ("web", "standard", "enterprise", "datacenter")
DEFAULT_EDITION = "standard"
PROTOCOLS = ("pptp", "l2tp")

PORT_LIMITS = {
    "web": {"pptp": 1000, "l2tp": 1000},
    "standard": {"pptp": 1000, "l2tp": 1000},
    "enterprise": {"pptp": 16384, "l2tp": 30000},
    "datacenter": {"pptp": 16384, "l2tp": 30000},
}

MAX_CONCURRENT = {
    "web": 1,
    "standard": 1000,
    "enterprise": None,
    "datacenter": None,
}


def port_limit(edition, protocol):
    """The most ports PROTOCOL's pool may have on EDITION (KeyError for an unknown name)."""
    return PORT_LIMITS[edition][protocol]


def max_concurrent(edition):
    """The edition's cap on concurrent inbound connections, or None for no cap."""
    return MAX_CONCURRENT[edition]
