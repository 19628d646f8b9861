"""PppLink: one PPP link, both roles, sans-I/O (DESIGN.md §3, §4).

The owner (a PPTP call, an L2TP session) feeds whole PPP frames and the time; the link answers with events and
queues frames. Phases follow RFC 1661 §3.2 with pppd's gates:

    Dead --open()--> Establish (LCP) --LCP opened--> Authenticate (LCP + the agreed auth protocol)
         --auth ok--> Network (LCP, auth, IPCP, CCP; IP data) --close()/failure--> Terminate --> Dead

Owner's loop (the engine drivers do exactly this)::

    link = PppLink(PppConfig(role=Role.AUTHENTICATOR, methods=(AuthMethod.MSCHAP_V2,),
                             encryption=("strongest",), local_address=..., peer_address=...), rng=os.urandom)
    link.open(now)                                    # lower layer up: LCP starts
    for event in link.receive(frame, now):            # or link.handle_timer(now) at link.next_timer()
        if isinstance(event, AuthRequested):          # authenticator: look the user up, then ...
            link.answer_password(password_or_None, now)   # ... or answer_external(accepted, now=..., keys=...)
        elif isinstance(event, NetworkUp): ...        # addresses, DNS, encryption, auth method
        elif isinstance(event, LinkDown): ...         # event.reason is for operators
    for out in link.take_output(): send(out)          # whole PPP frames, in order

Data path (allocation-light, no events): ``ip = link.open_data(frame)`` returns the IP packet of an IP or MPPE frame,
or None -- then give the same frame to ``receive(frame, now)``: it handles control frames, and for a data frame that
open_data dropped (counted in ``stats``) it only flushes pending work (an MPPE resync's CCP Reset-Request); it never
decrypts twice. ``frame = link.seal_data(ip)`` returns the PPP frame to send, or None when the network phase is not
up or the policy forbids clear data.

Events are facts: the auth events come from the auth cores (``rrasctl.protocols.ppp.auth``) unchanged;
`NetworkUp` once IPCP opens (and CCP, when encryption is required); `LinkDown(reason)` once, at the end, with a
reason an operator understands ("peer did not answer LCP", "authentication failed (691)", "peer refused
encryption", "echo timeout", "peer terminated", or the reason given to ``close``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address
from typing import Any

from rrasctl.protocols.base import Counters, Event, Rng

try:  # H3's auth cores; the link composes them.
    from rrasctl.protocols.ppp.auth import AuthFailed, AuthMethod, AuthRequested, AuthSucceeded, MppeKeys
except ImportError:  # pragma: no cover - only while the auth package is being written
    AuthMethod = Any  # type: ignore[misc,assignment]
    MppeKeys = Any  # type: ignore[misc,assignment]

    @dataclass(frozen=True, slots=True)
    class AuthRequested(Event):  # type: ignore[no-redef]
        method: Any
        user: str

    @dataclass(frozen=True, slots=True)
    class AuthSucceeded(Event):  # type: ignore[no-redef]
        method: Any
        user: str
        keys: Any = None

    @dataclass(frozen=True, slots=True)
    class AuthFailed(Event):  # type: ignore[no-redef]
        method: Any
        user: str
        error: int
        reason: str
        retry: bool = False

__all__ = [
    "Role", "Phase", "PppConfig", "PppLink", "NetworkUp", "LinkDown", "AuthRequested", "AuthSucceeded",
    "AuthFailed", "ENCRYPTION_LEVELS",
]

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

    ``methods``: allowed auth methods in order of preference. The authenticator asks for the first one and, when
    the peer Naks, moves to the peer's suggestion if allowed, else the next allowed one; the peer accepts any
    allowed method and Naks others with its own first allowed one.
    ``encryption``: allowed levels among "none", "basic" (MPPE-40), "strong" (56), "strongest" (128). Without
    "none", encryption is required: CCP must open with MPPE or the link goes down ("peer refused encryption").
    ``user``/``password``: the PEER role's credentials (left out of repr).
    ``local_address``/``peer_address``: AUTHENTICATOR role: our tunnel address and the one we assign (None: ask the
    owner later via `PppLink.assign_address`). PEER role: an address we would like (None: ask with 0.0.0.0).
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
    """The link ended (emitted once). ``reason`` is written for operators."""

    reason: str


class PppLink:
    """One PPP link (both roles). See the module docstring for the owner's loop."""

    def __init__(self, config: PppConfig, *, rng: Rng = os.urandom) -> None:
        self.config = config
        self.stats = Counters()
        self.phase = Phase.DEAD
        raise NotImplementedError

    # -- commands -------------------------------------------------------------------------------------------
    def open(self, now: float) -> None:
        """The lower layer (PPTP call / L2TP session) is up: start LCP (Up + Open)."""
        raise NotImplementedError

    def close(self, reason: str, now: float) -> None:
        """Close administratively: LCP Terminate-Request, then `LinkDown(reason)` on Terminate-Ack or timeout."""
        raise NotImplementedError

    def lower_down(self, now: float) -> list[Event]:
        """The lower layer went away: no more output; returns [LinkDown("lower layer down")] unless already down."""
        raise NotImplementedError

    def answer_password(self, password: str | None, now: float) -> None:
        """Answer an `AuthRequested`: the user's clear password (verified locally), or None (unknown user: 691)."""
        raise NotImplementedError

    def answer_external(self, accepted: bool, *, now: float, **kw: Any) -> None:
        """Answer an `AuthRequested` from outside (RADIUS): keyword arguments go to the auth core unchanged
        (error=691, message="", keys=MppeKeys, authenticator_response=...)."""
        raise NotImplementedError

    def assign_address(self, peer_address: IPv4Address, now: float) -> None:
        """AUTHENTICATOR with ``peer_address=None``: the address to give the peer (IPCP starts once known)."""
        raise NotImplementedError

    # -- inputs ---------------------------------------------------------------------------------------------
    def receive(self, frame: bytes | memoryview, now: float) -> list[Event]:
        """One whole PPP frame (FF 03 optional, PFC accepted). Never raises because of the peer."""
        raise NotImplementedError

    def handle_timer(self, now: float) -> list[Event]:
        """Run every deadline at or before ``now``."""
        raise NotImplementedError

    # -- outputs --------------------------------------------------------------------------------------------
    def take_output(self) -> list[bytes]:
        """PPP frames to send, in order (drains)."""
        raise NotImplementedError

    def next_timer(self) -> float | None:
        """The earliest deadline, or None."""
        raise NotImplementedError

    # -- data path ------------------------------------------------------------------------------------------
    def open_data(self, frame: bytes | memoryview) -> bytes | memoryview | None:
        """The IP packet carried by an IP or MPPE frame; None for anything else (give it to `receive`) or a drop."""
        raise NotImplementedError

    def seal_data(self, ip_packet: bytes | memoryview) -> bytes | None:
        """The PPP frame carrying ``ip_packet`` (MPPE when negotiated); None when not up or clear data is forbidden."""
        raise NotImplementedError

    # -- read-only state: state / phase / stats / encryption / auth_method / peer_ip / local_ip / user ----------
