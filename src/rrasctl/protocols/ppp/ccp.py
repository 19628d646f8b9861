"""CCP (RFC 1962) with the MPPE option only (RFC 3078 §2, RFC 3079), and Reset-Request/Reset-Ack.

MPPE option (type 18, four octets of "supported bits"; pppd's names): H 0x01000000 (stateless), M 0x80 (56-bit),
S 0x40 (128-bit), L 0x20 (40-bit), D 0x10 (obsolete), C 0x01 (MPPC compression, which we never take).

- We ask for every allowed key length, plus H when ``stateless`` is wanted (RFC 3078 §2: the request lists what
  the sender supports; the other side Naks with the single choice it wants).
- Judging the peer's request: the strongest length both allow, with H only when the peer offered it and we
  allow stateless mode; an exact single-choice request is acked, anything else Naked with that choice, and a
  request with no common length rejected.
- A Nak to ours: we take the strongest allowed length it names; none allowed, or a Reject of the option, fails
  CCP with "peer refused encryption" (the link decides whether that ends it: only when "none" is not allowed).
- Reset-Request (RFC 1962 §1, RFC 3078 §8): reported as `ResetRequested`, answered with a Reset-Ack (as pppd,
  whose kernel rekeys when the Ack leaves); a Reset-Ack received is ignored.

Anything else (Deflate, BSD-Compress, Predictor, MPPC without MPPE...) is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rrasctl.protocols.base import Event
from rrasctl.protocols.ppp.frame import Code, ControlPacket
from rrasctl.protocols.ppp.fsm import Input, NegotiationFailed, State
from rrasctl.protocols.ppp.options import ACK, REJECT, U32_CODEC, Nak, Negotiation, OptionLayer, OptionSpec

__all__ = ["CCP_OPTIONS", "CcpPolicy", "CcpLayer", "ResetRequested", "MPPE_H", "MPPE_M", "MPPE_S", "MPPE_L",
           "MPPE_C", "MPPE_D", "mppe_bits", "bits_length", "describe_bits"]

MPPE_H = 0x01000000
MPPE_M = 0x80
MPPE_S = 0x40
MPPE_L = 0x20
MPPE_D = 0x10
MPPE_C = 0x01

_BIT_FOR_LENGTH = {128: MPPE_S, 56: MPPE_M, 40: MPPE_L}
_STRONGEST_FIRST = (128, 56, 40)


def mppe_bits(lengths: frozenset[int] | set[int] | tuple[int, ...], stateless: bool) -> int:
    bits = 0
    for n in lengths:
        bits |= _BIT_FOR_LENGTH[n]
    return bits | (MPPE_H if stateless else 0)


def bits_length(bits: int) -> int:
    """The strongest key length a bit set names (0: none)."""
    for n in _STRONGEST_FIRST:
        if bits & _BIT_FOR_LENGTH[n]:
            return n
    return 0


def describe_bits(bits: int) -> str:
    """Short text of an MPPE option value, e.g. ``"128 stateless"`` (for trace rows)."""
    parts = [str(n) for n in _STRONGEST_FIRST if bits & _BIT_FOR_LENGTH[n]]
    if bits & MPPE_H:
        parts.append("stateless")
    if bits & MPPE_C:
        parts.append("mppc")
    return " ".join(parts) or "none"


@dataclass
class CcpPolicy:
    lengths: frozenset[int]      # allowed MPPE key lengths (40, 56, 128)
    stateless: bool              # offer/accept H


@dataclass(frozen=True, slots=True)
class ResetRequested(Event):
    """The peer sent a CCP Reset-Request: its MPPE receiver lost sync (RFC 3078 §7.3)."""

    id: int


def _ours(neg: Negotiation) -> int | None:
    policy = neg.allow
    return mppe_bits(policy.lengths, policy.stateless) if policy.lengths else None


def _choice(offered: int, policy: CcpPolicy) -> int:
    common = {n for n in policy.lengths if offered & _BIT_FOR_LENGTH[n]}
    if not common:
        return 0
    bits = _BIT_FOR_LENGTH[max(common)]
    if offered & MPPE_H and policy.stateless:
        bits |= MPPE_H
    return bits


def _judge(value: int, neg: Negotiation) -> Any:
    choice = _choice(value, neg.allow)
    if not choice:
        return REJECT
    return ACK if value == choice else Nak(choice)


def _on_nak(ours: int | None, suggested: int, neg: Negotiation) -> int:
    choice = _choice(suggested, neg.allow)
    if not choice:
        raise NegotiationFailed("peer refused encryption")
    if suggested & MPPE_H and not choice & MPPE_H:
        raise NegotiationFailed("peer requires stateless MPPE, policy forbids it")
    return choice


def _on_reject(neg: Negotiation) -> None:
    raise NegotiationFailed("peer refused encryption")


CCP_OPTIONS = (
    OptionSpec(18, "mppe", U32_CODEC, ours=_ours, judge=_judge, on_nak=_on_nak, on_reject=_on_reject),
)


class CcpLayer(OptionLayer):
    def __init__(self, policy: CcpPolicy) -> None:
        super().__init__(CCP_OPTIONS, policy)
        self.negotiator: Any = None

    def directions(self) -> tuple[tuple[int, bool], tuple[int, bool]]:
        """((send_bits, send_stateless), (recv_bits, recv_stateless)) once opened; bits as key length."""
        recv = self.neg.got.get("mppe") or 0            # our request, acked: what we receive
        send = self.neg.peer_got.get("mppe") or 0       # the peer's request, acked: what we send
        return (bits_length(send), bool(send & MPPE_H)), (bits_length(recv), bool(recv & MPPE_H))

    def extra(self, packet: ControlPacket, now: float) -> tuple[list[Event], Input | None] | None:
        if packet.code == Code.RESET_REQUEST:
            if self.negotiator.state is not State.OPENED:
                self.negotiator.stats.count("reset-request while not opened")
                return [], None
            self.negotiator.send(Code.RESET_ACK, packet.id, b"")
            return [ResetRequested(packet.id)], None
        if packet.code == Code.RESET_ACK:
            return [], None
        return None

    def reset_request(self) -> None:
        """Ask the peer's MPPE sender to resynchronise (our receiver lost a packet in stateful mode)."""
        self.negotiator.send(Code.RESET_REQUEST, self.negotiator.new_id(), b"")
