"""L2TP tunnel core types: states, configuration, events and the per-session record (RFC 2661 §7).

Split from `control.py` (which re-exports every name here) so that the machine itself stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rrasctl.protocols.base import Event
from rrasctl.protocols.causes import Cause


class TunnelState(Enum):
    IDLE = "idle"
    WAIT_CTL_REPLY = "wait-ctl-reply"      # initiator: SCCRQ sent
    WAIT_ADMISSION = "wait-admission"      # responder: SCCRQ received, owner to accept or refuse
    WAIT_CTL_CONN = "wait-ctl-conn"        # responder: SCCRP sent
    ESTABLISHED = "established"
    CLOSING = "closing"                    # StopCCN sent, waiting for its ack
    CLOSED = "closed"


class SessionState(Enum):
    WAIT_TUNNEL = "wait-tunnel"            # call placed before the tunnel is up
    WAIT_REPLY = "wait-reply"              # ICRQ / OCRQ sent
    WAIT_ADMISSION = "wait-admission"      # ICRQ / OCRQ received, owner to accept or refuse
    WAIT_CONNECT = "wait-connect"          # ICRP sent (LNS), waiting for ICCN
    ESTABLISHED = "established"


@dataclass(frozen=True, slots=True)
class TunnelConfig:
    host_name: str = "rrasctl"
    vendor_name: str = "rrasctl"
    secret: bytes | None = None            # tunnel authentication and hidden AVPs (§5.1.1, §4.3)
    hide_avps: bool = False
    receive_window: int = 16
    retransmit_s: float = 1.0
    retransmit_max_s: float = 8.0
    max_retries: int = 5
    handshake_retries: int = 2             # SCCRP retransmissions to a peer that has not answered with SCCCN yet
    hello_s: float = 60.0                  # §6.5: a HELLO after this long without a message from the peer; 0 = off
    idle_timeout_s: float = 0.0            # close a tunnel that carries no session for this long; 0 = never
    framing_capabilities: int = 3          # sync and async
    bearer_capabilities: int = 0

    def __repr__(self) -> str:             # never show the secret
        return f"TunnelConfig(host_name={self.host_name!r}, secret={'********' if self.secret else None})"


# ---- events ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TunnelRequested(Event):
    """SCCRQ from a new peer (we are the responder): the owner answers with accept_tunnel / refuse_tunnel."""
    peer_tunnel_id: int
    peer_host_name: str
    peer_vendor: str


@dataclass(frozen=True, slots=True)
class TunnelUp(Event):
    peer_tunnel_id: int
    peer_host_name: str


@dataclass(frozen=True, slots=True)
class TunnelClosed(Event):
    result: int
    error: int | None
    cause: Cause
    detail: str
    by_peer: bool


@dataclass(frozen=True, slots=True)
class CallRequested(Event):
    """ICRQ (incoming call at the LNS) or OCRQ (outgoing call asked of the LAC): accept_call / refuse_call."""
    local_session_id: int
    peer_session_id: int
    serial: int
    outgoing: bool = False
    calling_number: str = ""
    called_number: str = ""


@dataclass(frozen=True, slots=True)
class SessionUp(Event):
    local_session_id: int
    peer_session_id: int


@dataclass(frozen=True, slots=True)
class SessionClosed(Event):
    local_session_id: int
    result: int
    error: int | None
    cause: Cause
    detail: str
    by_peer: bool


@dataclass(frozen=True, slots=True)
class LinkInfo(Event):
    """SLI (ACCM) or WEN (call errors) received for a session."""
    local_session_id: int
    message_type: int
    value: bytes


class SessionKind(Enum):
    """Which side of which kind of call a session is (RFC 2661 §7.4, §7.5)."""

    LAC_INCOMING = "lac-incoming"          # we sent ICRQ (our demand-dial side)
    LNS_INCOMING = "lns-incoming"          # we received ICRQ (the server side)
    LNS_OUTGOING = "lns-outgoing"          # we sent OCRQ
    LAC_OUTGOING = "lac-outgoing"          # we received OCRQ


@dataclass(slots=True)
class SessionRecord:
    """One session inside the tunnel core (the control half; the data half is protocols/l2tp/call.py)."""

    local_session_id: int
    state: SessionState
    lac: bool                              # we are the LAC side of this session
    outgoing: bool = False
    peer_session_id: int = 0
    serial: int = 0

    @property
    def kind(self) -> SessionKind:
        if self.lac:
            return SessionKind.LAC_OUTGOING if self.outgoing else SessionKind.LAC_INCOMING
        return SessionKind.LNS_OUTGOING if self.outgoing else SessionKind.LNS_INCOMING
