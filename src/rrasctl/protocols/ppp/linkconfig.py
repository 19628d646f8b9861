"""PppLink's configuration, phases and the link-level events (split from link.py; import them from there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address

from rrasctl.protocols.base import Event
from rrasctl.protocols.causes import Cause

__all__ = ["ENCRYPTION_LEVELS", "Role", "Phase", "PppConfig", "NetworkUp", "Ipv6Up", "LinkDown"]

#: encryption policy words (SPEC §4) -> the MPPE key length they stand for; "none" allows clear data
ENCRYPTION_LEVELS = {"none": 0, "basic": 40, "strong": 56, "strongest": 128}


class Role(Enum):
    """Which side of the authentication we are: the server side, or the client (demand-dial) side."""

    AUTHENTICATOR = "authenticator"
    PEER = "peer"


class Phase(Enum):
    """RFC 1661 §3.2 link phases."""

    DEAD = "dead"
    ESTABLISH = "establish"
    AUTHENTICATE = "authenticate"
    NETWORK = "network"
    TERMINATE = "terminate"


@dataclass(frozen=True)
class PppConfig:
    """What one link may negotiate. Frozen; built by the engine from the config and the matching policy.

    ``methods``: allowed auth methods, in any order. The authenticator asks for the strongest one (EAP-TLS,
    MS-CHAP v2, MS-CHAP, CHAP, PAP: SPEC §4) and, when the peer Naks, moves to the peer's suggestion if allowed,
    else the strongest allowed one not tried; the peer accepts any allowed method and Naks others with its own
    strongest allowed one.
    ``encryption``: allowed levels among "none", "basic" (MPPE-40), "strong" (56), "strongest" (128). Without
    "none", encryption is required: CCP must open with MPPE or the link goes down ("peer refused encryption").
    ``user``/``password``: the PEER role's credentials (left out of repr).
    ``local_address``/``peer_address``: AUTHENTICATOR role: our tunnel address and the one we assign (None: ask the
    owner later via `PppLink.assign_address`). PEER role: an address we would like (None: ask with 0.0.0.0).
    ``own_addresses``: PEER role: this host's own addresses. An authenticator that claims one of them for itself
    (two routers on one default pool) gets a Configure-Nak and the link ends with `Cause.ADDRESS_CLASH`, as it
    does when the address it assigns us is one of them: traffic to it would never leave this host.
    """

    role: Role
    methods: tuple = ()
    encryption: tuple[str, ...] = ("none",)
    mppe_stateless: bool = True
    user: str = ""
    password: str = field(default="", repr=False)
    local_address: IPv4Address | None = None
    peer_address: IPv4Address | None = None
    dns: tuple[IPv4Address, ...] = ()
    nbns: tuple[IPv4Address, ...] = ()
    mru: int = 1400
    echo_interval_s: float = 30.0          # 0 disables LCP keepalive
    echo_failures: int = 4
    restart_s: float = 3.0                 # RFC 1661 §4.6 Restart timer
    max_configure: int = 10                # RFC 1661 §4.6
    max_terminate: int = 2
    max_failure: int = 5
    auth_timeout_s: float = 30.0           # whole authentication phase
    hostname: str = "rrasctl"              # AUTHENTICATOR: the CHAP Name field of our Challenge (RFC 1994 §4.1)
    ipv6: bool = False                     # run IPV6CP (RFC 5072) and carry IPv6; off: IPV6CP is Protocol-Rejected
    own_addresses: frozenset[IPv4Address] = frozenset()


@dataclass(frozen=True, slots=True)
class NetworkUp(Event):
    """IPCP (and CCP when encryption is required) opened: the link carries IP."""

    local_ip: IPv4Address
    peer_ip: IPv4Address
    dns: tuple[IPv4Address, ...]
    nbns: tuple[IPv4Address, ...]
    encryption: str                        # "none" | "mppe-40" | "mppe-56" | "mppe-128"
    auth: str                              # AuthMethod value, e.g. "ms-chap-v2"; "" when not authenticated


@dataclass(frozen=True, slots=True)
class LinkDown(Event):
    """The link ended (emitted once). ``cause`` says why (router/causes.py turns it into the Windows error and the
    operator's text); ``detail`` is free text for people (never parsed); ``error`` is the error number of a failed
    authentication (what the authenticator sent, or, as the authenticator, what we sent), 0 otherwise."""

    cause: Cause
    detail: str = ""
    error: int = 0


@dataclass(frozen=True, slots=True)
class Ipv6Up(Event):
    """IPV6CP opened (only with ``PppConfig.ipv6``): the 64-bit interface identifiers (RFC 5072 §5), so the
    link-local addresses are fe80::<local_id> and fe80::<peer_id>."""

    local_id: bytes
    peer_id: bytes
