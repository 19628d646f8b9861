"""Configuration options as data: one `OptionSpec` per option, and the generic Request/Ack/Nak/Reject logic.

RFC 1661 §5.1-§5.4 and §6: options are type-length-value; a Configure-Request lists what the sender wants to
*receive*; the receiver answers with an Ack (every option acceptable, echoed verbatim), a Nak (acceptable options
left out, unacceptable values replaced by acceptable ones), or a Reject (options it does not know or will not
negotiate, verbatim). A Reject wins over a Nak: when both are due only the Reject is sent (§5.4, pppd does the same).

Each option is declared once (DESIGN.md §4, §12: no per-direction copies):

- ``codec`` decodes/encodes the value (wrong length raises `Malformed`: the option is rejected when judging);
- ``ours(neg)`` is what we ask for initially (None: do not ask);
- ``judge(value, neg)`` rules on the peer's value: `ACK`, `Nak(better)` or `REJECT`;
- ``on_nak(ours, suggested, neg)`` gives the value to ask next (None: stop asking; may raise NegotiationFailed);
- ``on_reject(neg)`` runs when the peer rejects it (default: stop asking; may raise NegotiationFailed).

`Negotiation` keeps pppd's four sets by name: ``want`` (what we ask now), ``got`` (what the peer acked of ours),
``allow`` (the policy object the judges read), ``peer_got`` (what we acked of the peer's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any, Callable

from rrasctl.protocols.base import Event, Malformed
from rrasctl.protocols.ppp.frame import Code, ControlPacket
from rrasctl.protocols.ppp.fsm import Input, NegotiationFailed
from rrasctl.protocols.wire import U16, U32

__all__ = [
    "Codec", "EMPTY", "U8_CODEC", "U16_CODEC", "U32_CODEC", "IPV4", "RAW", "OptionSpec", "Negotiation", "ACK",
    "REJECT", "Nak", "OptionLayer", "parse_options", "encode_option", "take_suggestion", "never",
]


@dataclass(frozen=True)
class Codec:
    name: str
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]


def _fixed(n: int, what: str) -> Callable[[bytes], bytes]:
    def check(data: bytes) -> bytes:
        if len(data) != n:
            raise Malformed(f"{what} option length")
        return data
    return check


def _empty_decode(data: bytes) -> bool:
    _fixed(0, "empty")(data)
    return True


EMPTY = Codec("empty", _empty_decode, lambda v: b"")
U8_CODEC = Codec("u8", lambda d: _fixed(1, "u8")(d)[0], lambda v: bytes((v,)))
U16_CODEC = Codec("u16", lambda d: U16.unpack(_fixed(2, "u16")(d))[0], U16.pack)
U32_CODEC = Codec("u32", lambda d: U32.unpack(_fixed(4, "u32")(d))[0], U32.pack)
IPV4 = Codec("ipv4", lambda d: IPv4Address(_fixed(4, "ipv4")(d)), lambda v: IPv4Address(v).packed)
RAW = Codec("raw", bytes, bytes)


@dataclass(frozen=True, slots=True)
class _Ack:
    pass


@dataclass(frozen=True, slots=True)
class _Reject:
    pass


@dataclass(frozen=True, slots=True)
class Nak:
    """Judge's answer: the value we would accept instead."""

    value: Any


ACK = _Ack()
REJECT = _Reject()
Verdict = _Ack | _Reject | Nak


def take_suggestion(ours: Any, suggested: Any, neg: "Negotiation") -> Any:
    """Default on_nak: ask for what the peer suggested."""
    return suggested


def never(neg: "Negotiation") -> None:
    """Default ours: do not ask for this option."""
    return None


def _accept(value: Any, neg: "Negotiation") -> Verdict:
    return ACK


@dataclass(frozen=True)
class OptionSpec:
    type: int
    name: str
    codec: Codec
    ours: Callable[["Negotiation"], Any] = never
    judge: Callable[[Any, "Negotiation"], Verdict] = _accept
    on_nak: Callable[[Any, Any, "Negotiation"], Any] = take_suggestion
    on_reject: Callable[["Negotiation"], None] | None = None


@dataclass
class Negotiation:
    """pppd's four option sets, by option name, plus the policy object (``allow``) the judges read."""

    allow: Any
    want: dict[str, Any] = field(default_factory=dict)
    got: dict[str, Any] = field(default_factory=dict)
    peer_got: dict[str, Any] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    scratch: dict[str, Any] = field(default_factory=dict)   # per-protocol memory (e.g. auth methods tried)


def parse_options(data: bytes) -> list[tuple[int, bytes]]:
    """Split an options field into (type, value) pairs; a length below 2 or past the end is `Malformed`."""
    out = []
    pos, n = 0, len(data)
    while pos < n:
        if pos + 2 > n:
            raise Malformed("short option header")
        typ, length = data[pos], data[pos + 1]
        if length < 2 or pos + length > n:
            raise Malformed("bad option length")
        out.append((typ, bytes(data[pos + 2:pos + length])))
        pos += length
    return out


def encode_option(typ: int, value: bytes) -> bytes:
    if len(value) > 253:
        raise ValueError("option too long")
    return bytes((typ, len(value) + 2)) + value


class OptionLayer:
    """The option half of a `fsm.LayerHandler`, driven by a table of `OptionSpec`s.

    Protocols subclass it to add extra codes (``rxr``, ``extra``); the Negotiator calls the methods below.
    """

    def __init__(self, specs: tuple[OptionSpec, ...], allow: Any) -> None:
        self.specs = specs
        self.by_type = {spec.type: spec for spec in specs}
        self.neg = Negotiation(allow=allow)
        self._last_request = b""
        self.reset()

    # -- our request -----------------------------------------------------------------------------------------
    def reset(self) -> None:
        neg = self.neg
        neg.rejected = set()
        neg.got = {}
        neg.scratch = {}
        neg.want = {spec.name: spec.ours(neg) for spec in self.specs}

    def build_request(self) -> bytes:
        neg = self.neg
        parts = []
        for spec in self.specs:
            value = neg.want.get(spec.name)
            if value is not None and spec.name not in neg.rejected:
                parts.append(encode_option(spec.type, spec.codec.encode(value)))
        self._last_request = b"".join(parts)
        return self._last_request

    def ack_received(self, data: bytes) -> bool:
        if data != self._last_request:
            return False
        self.neg.got = {k: v for k, v in self.neg.want.items() if v is not None and k not in self.neg.rejected}
        return True

    def nak_received(self, data: bytes) -> bool:
        neg = self.neg
        options = parse_options(data)
        asked = {t for t, _ in parse_options(self._last_request)}
        for typ, raw in options:
            spec = self.by_type.get(typ)
            if spec is None or typ not in asked:
                continue            # hints for options we did not ask for: ignored (RFC 1661 §5.3 allows them)
            try:
                suggested = spec.codec.decode(raw)
            except Malformed:
                return False
            neg.want[spec.name] = spec.on_nak(neg.want.get(spec.name), suggested, neg)
        return True

    def reject_received(self, data: bytes) -> bool:
        neg = self.neg
        options = parse_options(data)
        sent = parse_options(self._last_request)
        if any(opt not in sent for opt in options):
            return False            # RFC 1661 §5.4: a Reject must list options of our request, unmodified
        for typ, _ in options:
            spec = self.by_type[typ]
            neg.rejected.add(spec.name)
            neg.want[spec.name] = None
            if spec.on_reject is not None:
                spec.on_reject(neg)
        return True

    # -- the peer's request ----------------------------------------------------------------------------------
    def judge_request(self, data: bytes, nak_allowed: bool) -> tuple[Code, bytes]:
        neg = self.neg
        options = parse_options(data)       # Malformed: the whole packet is dropped and counted
        rejects, naks = [], []
        accepted: dict[str, Any] = {}
        for typ, raw in options:
            spec = self.by_type.get(typ)
            if spec is None:
                rejects.append(encode_option(typ, raw))
                continue
            try:
                value = spec.codec.decode(raw)
            except Malformed:
                rejects.append(encode_option(typ, raw))
                continue
            verdict = spec.judge(value, neg)
            if verdict is ACK:
                accepted[spec.name] = value
            elif isinstance(verdict, Nak):
                if nak_allowed:
                    naks.append(encode_option(typ, spec.codec.encode(verdict.value)))
                else:
                    rejects.append(encode_option(typ, raw))     # Max-Failure: Naks become Rejects (§4.6)
            else:
                rejects.append(encode_option(typ, raw))
        if rejects:
            return Code.CONFIGURE_REJECT, b"".join(rejects)
        if naks:
            return Code.CONFIGURE_NAK, b"".join(naks)
        neg.peer_got = accepted
        return Code.CONFIGURE_ACK, bytes(data)

    # -- extra codes: none by default ------------------------------------------------------------------------
    def rxr(self, packet: ControlPacket, now: float) -> list[Event]:
        return []

    def extra(self, packet: ControlPacket, now: float) -> tuple[list[Event], Input | None] | None:
        return None


def fail(reason: str) -> None:
    """Helper for on_nak/on_reject callbacks that cannot continue."""
    raise NegotiationFailed(reason)
