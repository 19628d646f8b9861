"""LCP (RFC 1661): the option table, Echo keepalive, Discard/Identification, Protocol-Reject and Code-Reject.

Options (RFC 1661 §6; type: behaviour):

- 1 MRU: we ask for ``mru`` when it is not the default 1500; we accept any peer MRU >= 128 (else Nak 1500).
- 2 ACCM (RFC 1662 §7.1): negotiated, never applied (PPTP/L2TP links are synchronous); we accept any value.
- 3 Authentication-Protocol: the authenticator asks for the strongest allowed method (EAP-TLS, MS-CHAP v2,
  MS-CHAP, CHAP, PAP: SPEC §4, whatever the order of the list); a Nak moves it to the peer's suggestion when policy
  allows it, else to the strongest allowed method not tried; none left fails the link ("no common authentication
  method"); a Reject fails it ("peer refused to authenticate"). The peer acks an allowed method and Naks others
  with its own strongest allowed method; it rejects the option when it allows none.
- 5 Magic-Number (§6.4): random and non-zero from ``rng``; a peer magic equal to ours means a looped-back link:
  we Nak with a new random value and pick a new magic too (counted in ``stats["looped back"]``).
- 7 PFC, 8 ACFC: requested and accepted. Frames are always accepted in both forms.
- 19 Endpoint-Discriminator (RFC 1990): acked, never asked (Windows sends it; pptpd acks it too).

Anything else (callback, multilink, ...) is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rrasctl.protocols.causes import Cause
from rrasctl.protocols.base import Event, Rng
from rrasctl.protocols.ppp.auth import AuthMethod, strongest_first
from rrasctl.protocols.ppp.frame import Code, ControlPacket
from rrasctl.protocols.ppp.fsm import Input, NegotiationFailed
from rrasctl.protocols.ppp.options import ACK, EMPTY, RAW, REJECT, U16_CODEC, U32_CODEC, Nak, Negotiation, \
    OptionLayer, OptionSpec
from rrasctl.protocols.wire import U16, U32

__all__ = ["LCP_OPTIONS", "LcpPolicy", "LcpLayer", "EchoReplied", "ProtocolRejected", "LCP_RXR_CODES"]

LCP_RXR_CODES = frozenset({Code.ECHO_REQUEST, Code.ECHO_REPLY, Code.DISCARD_REQUEST})
DEFAULT_MRU = 1500
MIN_MRU = 128


@dataclass
class LcpPolicy:
    """What LCP may agree to; read by the option judges (the ``allow`` of the Negotiation)."""

    authenticator: bool                 # True: we ask the peer to authenticate
    methods: tuple[AuthMethod, ...]     # allowed (asked and suggested strongest first, whatever this order)
    mru: int
    rng: Rng

    def new_magic(self) -> int:
        while True:
            magic = U32.unpack(self.rng(4))[0]
            if magic:
                return magic


@dataclass(frozen=True, slots=True)
class EchoReplied(Event):
    """An LCP Echo-Reply arrived (the link resets its keepalive failure count)."""

    id: int


@dataclass(frozen=True, slots=True)
class ProtocolRejected(Event):
    """The peer Protocol-Rejected one of our protocols (RFC 1661 §5.7)."""

    protocol: int


# -- MRU ---------------------------------------------------------------------------------------------------------
def _our_mru(neg: Negotiation) -> int | None:
    return neg.allow.mru if neg.allow.mru != DEFAULT_MRU else None


def _judge_mru(value: int, neg: Negotiation) -> Any:
    return ACK if value >= MIN_MRU else Nak(DEFAULT_MRU)


def _nak_mru(ours: int | None, suggested: int, neg: Negotiation) -> int | None:
    return suggested if MIN_MRU <= suggested <= DEFAULT_MRU else None


# -- authentication protocol -------------------------------------------------------------------------------------
def _our_auth(neg: Negotiation) -> bytes | None:
    policy = neg.allow
    if not policy.authenticator or not policy.methods:
        return None
    first = strongest_first(policy.methods)[0]
    neg.scratch["tried"] = [first]
    return first.option_data


def _judge_auth(value: bytes, neg: Negotiation) -> Any:
    policy = neg.allow
    if policy.authenticator or not policy.methods:
        return REJECT                    # we do not authenticate ourselves to the other side
    method = AuthMethod.from_option_data(value)
    if method in policy.methods:
        neg.scratch.pop("refused_auth", None)
        return ACK
    # remembered: an authenticator that then gives up has no method we allow (the link ends NO_COMMON_AUTH)
    neg.scratch["refused_auth"] = method.value if method is not None else f"0x{value.hex()}"
    return Nak(strongest_first(policy.methods)[0].option_data)


def _nak_auth(ours: bytes | None, suggested: bytes, neg: Negotiation) -> bytes:
    policy = neg.allow
    tried = neg.scratch.setdefault("tried", [])
    method = AuthMethod.from_option_data(suggested)
    if method in policy.methods and method not in tried:
        tried.append(method)
        return method.option_data
    for candidate in strongest_first(policy.methods):
        if candidate not in tried:
            tried.append(candidate)
            return candidate.option_data
    offered = method.value if method is not None else f"0x{suggested.hex()}"
    allowed = ", ".join(m.value for m in strongest_first(policy.methods))
    raise NegotiationFailed(f"no common authentication method (peer offered {offered}, policy allows {allowed})",
                            Cause.NO_COMMON_AUTH)


def _reject_auth(neg: Negotiation) -> None:
    raise NegotiationFailed("peer refused to authenticate", Cause.NO_COMMON_AUTH)


# -- magic number ------------------------------------------------------------------------------------------------
def _our_magic(neg: Negotiation) -> int:
    return neg.allow.new_magic()


def _judge_magic(value: int, neg: Negotiation) -> Any:
    ours = neg.want.get("magic-number")
    if value == 0:
        return Nak(neg.allow.new_magic())
    if ours is not None and value == ours:
        neg.scratch["looped"] = neg.scratch.get("looped", 0) + 1
        neg.want["magic-number"] = neg.allow.new_magic()         # RFC 1661 §6.4: both sides pick anew
        return Nak(neg.allow.new_magic())
    return ACK


def _nak_magic(ours: int | None, suggested: int, neg: Negotiation) -> int:
    return neg.allow.new_magic()                                  # RFC 1661 §6.4: a new random value


def _yes(neg: Negotiation) -> bool:
    return True


LCP_OPTIONS = (
    OptionSpec(1, "mru", U16_CODEC, ours=_our_mru, judge=_judge_mru, on_nak=_nak_mru),
    OptionSpec(2, "accm", U32_CODEC),
    OptionSpec(3, "auth-protocol", RAW, ours=_our_auth, judge=_judge_auth, on_nak=_nak_auth,
               on_reject=_reject_auth),
    OptionSpec(5, "magic-number", U32_CODEC, ours=_our_magic, judge=_judge_magic, on_nak=_nak_magic),
    OptionSpec(7, "pfc", EMPTY, ours=_yes),
    OptionSpec(8, "acfc", EMPTY, ours=_yes),
    OptionSpec(19, "endpoint-discriminator", RAW),       # RFC 1990 §5.1.3: informational, acked as pptpd does
)


class LcpLayer(OptionLayer):
    """LCP's handler for the Negotiator: the option table plus Echo, Discard, Identification, Protocol-Reject."""

    def __init__(self, policy: LcpPolicy) -> None:
        super().__init__(LCP_OPTIONS, policy)
        self.negotiator: Any = None          # set by the owner: echo replies go out through it

    @property
    def magic(self) -> int:
        """Our negotiated magic number (0 when not negotiated, RFC 1661 §5.8)."""
        return self.neg.got.get("magic-number", 0) or 0

    @property
    def peer_magic(self) -> int:
        return self.neg.peer_got.get("magic-number", 0) or 0

    @property
    def auth_method(self) -> AuthMethod | None:
        """The method agreed on: ours (authenticator) or the one we acked (peer)."""
        policy = self.neg.allow
        value = self.neg.got.get("auth-protocol") if policy.authenticator else self.neg.peer_got.get("auth-protocol")
        return AuthMethod.from_option_data(value) if value is not None else None

    def rxr(self, packet: ControlPacket, now: float) -> list[Event]:
        """Opened: answer Echo-Request with our magic (RFC 1661 §5.8); note Echo-Reply; ignore Discard."""
        if packet.code == Code.ECHO_REQUEST:
            if len(packet.data) >= 4:
                peer_magic = U32.unpack_from(packet.data)[0]
                if peer_magic and peer_magic == self.magic:
                    self.negotiator.stats.count("looped back echo")
                    return []
            self.negotiator.send(Code.ECHO_REPLY, packet.id, U32.pack(self.magic) + packet.data[4:])
            return []
        if packet.code == Code.ECHO_REPLY:
            return [EchoReplied(packet.id)]
        return []

    def extra(self, packet: ControlPacket, now: float) -> tuple[list[Event], Input | None] | None:
        code = packet.code
        if code == Code.PROTOCOL_REJECT:
            if len(packet.data) < 2:
                self.negotiator.stats.count("short protocol-reject")
                return [], None
            protocol = U16.unpack_from(packet.data)[0]
            if protocol == 0xC021:
                return [], Input.RXJ_MINUS                    # LCP itself rejected: catastrophic
            return [ProtocolRejected(protocol)], Input.RXJ_PLUS
        if code in (Code.IDENTIFICATION, Code.TIME_REMAINING):
            return [], None                                   # silently ignored (RFC 1570 §2)
        return None

    def echo_request(self, ident: int) -> None:
        self.negotiator.send(Code.ECHO_REQUEST, ident, U32.pack(self.magic))
