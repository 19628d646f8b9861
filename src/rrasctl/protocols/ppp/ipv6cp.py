"""IPV6CP (RFC 5072): the Interface-Identifier option, for links whose config enables IPv6.

- 1 Interface-Identifier (8 octets, RFC 5072 §4.1): we ask for a random non-zero identifier from ``rng``. A peer
  identifier that is zero or equal to ours is Naked with a new random one; a Nak to ours is taken unless it is zero
  or the peer's own identifier; a Reject stops us asking (the peer then picks both, which RFC 5072 allows).
- 2 IPv6-Compression-Protocol and anything else: rejected.

The link runs IPV6CP beside IPCP when ``PppConfig.ipv6`` is set and Protocol-Rejects it otherwise (as before).
IPv6 is an extra: its failure never ends the link; its success is reported as `Ipv6Up`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rrasctl.protocols.base import Rng
from rrasctl.protocols.ppp.options import ACK, RAW, Nak, Negotiation, OptionLayer, OptionSpec

__all__ = ["IPV6CP_OPTIONS", "Ipv6cpPolicy", "Ipv6cpLayer"]

_ZERO = bytes(8)


@dataclass
class Ipv6cpPolicy:
    rng: Rng

    def new_identifier(self, avoid: bytes | None = None) -> bytes:
        while True:
            value = bytes(self.rng(8))
            if value != _ZERO and value != avoid:
                return value


def _ours(neg: Negotiation) -> bytes:
    return neg.allow.new_identifier()


def _judge(value: bytes, neg: Negotiation) -> Any:
    if len(value) != 8:
        return Nak(neg.allow.new_identifier(neg.want.get("interface-identifier")))
    if value == _ZERO or value == neg.want.get("interface-identifier"):
        return Nak(neg.allow.new_identifier(neg.want.get("interface-identifier")))
    return ACK


def _on_nak(ours: bytes | None, suggested: bytes, neg: Negotiation) -> bytes:
    peer = neg.peer_got.get("interface-identifier")
    if len(suggested) != 8 or suggested == _ZERO or suggested == peer:
        return neg.allow.new_identifier(peer)
    return suggested


IPV6CP_OPTIONS = (
    OptionSpec(1, "interface-identifier", RAW, ours=_ours, judge=_judge, on_nak=_on_nak),
)


class Ipv6cpLayer(OptionLayer):
    def __init__(self, policy: Ipv6cpPolicy) -> None:
        super().__init__(IPV6CP_OPTIONS, policy)

    def result(self) -> tuple[bytes, bytes]:
        """(local interface identifier, peer interface identifier) once opened (zeros when not negotiated)."""
        return (self.neg.got.get("interface-identifier") or _ZERO,
                self.neg.peer_got.get("interface-identifier") or _ZERO)
