"""ISAKMP/IKEv1 message and payload codecs (RFC 2408 §3, RFC 2407 §4.6, RFC 3947 §3-4).

A message is the 28-octet header and a chain of payloads, each starting with the generic payload header
(next payload, reserved, length). `decode_message` reads the header; an encrypted body (E flag) is returned
as ciphertext for `keys.IsakmpCipher` to open, after which `decode_chain` walks the clear payloads. Every payload
class has `encode()` (its body) and `decode(reader)`; `encode_chain` links a sequence of payloads.

`Chain` keeps the span of each payload in the body, because the IKE hashes cover raw bytes: SAi_b and IDii_b
are payload bodies without the generic header (RFC 2409 §5), Quick Mode's HASH(1) covers every payload after
the HASH payload (§5.5). Bodies of encrypted messages end in padding, which the chain walk skips.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, TypeVar, Union

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ipsec.ike.constants import (DOI_IPSEC, HEADER_LEN, ISAKMP_VERSION, SIT_IDENTITY_ONLY, Flags,
                                                   IdType, PayloadType, ProtocolId)
from rrasctl.protocols.wire import Reader

_HEADER = struct.Struct("!8s8sBBBBII")
_GENERIC = struct.Struct("!BBH")
MAX_PAYLOADS = 64       # more in one message is an attack, not IKE

# ----------------------------------------------------------------------------------------------- header


@dataclass(frozen=True, slots=True)
class Header:
    """RFC 2408 §3.1. `ispi`/`rspi` are the initiator and responder cookies."""
    ispi: bytes
    rspi: bytes
    next_payload: int
    exchange: int
    flags: int
    message_id: int
    length: int
    version: int = ISAKMP_VERSION

    @property
    def cookies(self) -> bytes:
        return self.ispi + self.rspi

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & Flags.ENCRYPTION)

    def encode(self) -> bytes:
        return _HEADER.pack(self.ispi, self.rspi, self.next_payload, self.version, self.exchange, self.flags,
                            self.message_id, self.length)


def decode_header(data: bytes | memoryview) -> Header:
    if len(data) < HEADER_LEN:
        raise Malformed("short ISAKMP header")
    ispi, rspi, nxt, version, exchange, flags, msgid, length = _HEADER.unpack_from(data, 0)
    if version >> 4 != 1:
        raise Malformed("ISAKMP major version not 1")
    if length < HEADER_LEN or length > len(data):
        raise Malformed("bad ISAKMP length")
    return Header(ispi, rspi, nxt, exchange, flags, msgid, length, version)


# ----------------------------------------------------------------------------------------------- attributes


@dataclass(frozen=True, slots=True)
class Attribute:
    """A data attribute (RFC 2408 §3.3): an int value is sent TV (basic, 16 bits), bytes TLV (variable)."""
    type: int
    value: int | bytes

    def as_int(self) -> int:
        if isinstance(self.value, int):
            return self.value
        if not 0 < len(self.value) <= 8:
            raise Malformed("attribute value not an integer")
        return int.from_bytes(self.value, "big")

    def encode(self) -> bytes:
        if isinstance(self.value, int):
            if not 0 <= self.value <= 0xFFFF:
                raise ValueError("a TV attribute holds 16 bits; give bytes for a longer value")
            return struct.pack("!HH", 0x8000 | self.type, self.value)
        return struct.pack("!HH", self.type & 0x7FFF, len(self.value)) + self.value


def number(type_: int, value: int) -> Attribute:
    """An integer attribute: basic (TV) when it fits 16 bits, else a 4-octet variable one (life durations)."""
    return Attribute(type_, value if value <= 0xFFFF else value.to_bytes(4, "big"))


def decode_attributes(r: Reader) -> tuple[Attribute, ...]:
    out = []
    while r.remaining:
        af_type, value = r.u16(), r.u16()
        if af_type & 0x8000:
            out.append(Attribute(af_type & 0x7FFF, value))
        else:
            out.append(Attribute(af_type, r.take(value)))
    return tuple(out)


# ----------------------------------------------------------------------------------------------- SA


@dataclass(frozen=True, slots=True)
class Transform:
    """RFC 2408 §3.6; attributes in the order sent."""
    number: int
    transform_id: int
    attributes: tuple[Attribute, ...] = ()

    def attrs(self) -> dict[int, Attribute]:
        """Attributes by type; the first of a repeated type (life type/duration pairs are read by `lifetimes`)."""
        out: dict[int, Attribute] = {}
        for a in self.attributes:
            out.setdefault(a.type, a)
        return out

    def lifetimes(self, life_type_attr: int, duration_attr: int) -> dict[int, int]:
        """{life type: duration} from the Life Type / Life Duration pairs (RFC 2409 App. A, RFC 2407 §4.5)."""
        out, kind = {}, None
        for a in self.attributes:
            if a.type == life_type_attr:
                kind = a.as_int()
            elif a.type == duration_attr and kind is not None:
                out[kind] = a.as_int()
                kind = None
        return out

    def encode(self) -> bytes:
        return struct.pack("!BBH", self.number, self.transform_id, 0) + b"".join(a.encode() for a in self.attributes)


@dataclass(frozen=True, slots=True)
class Proposal:
    """RFC 2408 §3.5: one protocol, its SPI (the sender's inbound SPI; empty in phase 1) and transforms."""
    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]

    def encode(self) -> bytes:
        out = bytearray(struct.pack("!BBBB", self.number, self.protocol, len(self.spi), len(self.transforms)))
        out += self.spi
        for i, t in enumerate(self.transforms):
            body = t.encode()
            nxt = PayloadType.TRANSFORM if i + 1 < len(self.transforms) else PayloadType.NONE
            out += _GENERIC.pack(nxt, 0, 4 + len(body)) + body
        return bytes(out)


@dataclass(frozen=True, slots=True)
class SaPayload:
    """RFC 2408 §3.4 with the IPsec DOI situation (RFC 2407 §4.6.1)."""
    TYPE: ClassVar[int] = PayloadType.SA
    proposals: tuple[Proposal, ...]
    doi: int = DOI_IPSEC
    situation: int = SIT_IDENTITY_ONLY

    def encode(self) -> bytes:
        out = bytearray(struct.pack("!II", self.doi, self.situation))
        for i, p in enumerate(self.proposals):
            body = p.encode()
            nxt = PayloadType.PROPOSAL if i + 1 < len(self.proposals) else PayloadType.NONE
            out += _GENERIC.pack(nxt, 0, 4 + len(body)) + body
        return bytes(out)

    @classmethod
    def decode(cls, r: Reader) -> "SaPayload":
        doi, situation = r.u32(), r.u32()
        if doi != DOI_IPSEC:
            raise Malformed("SA DOI not IPsec")
        if situation & ~SIT_IDENTITY_ONLY:
            raise Malformed("SA situation with secrecy/integrity labels")
        proposals, nxt = [], PayloadType.PROPOSAL if r.remaining else PayloadType.NONE
        while nxt == PayloadType.PROPOSAL:
            nxt, body = _generic(r, "proposal")
            if nxt not in (PayloadType.PROPOSAL, PayloadType.NONE):
                raise Malformed("bad next payload in proposal")
            number, protocol, spi_size, count = body.u8(), body.u8(), body.u8(), body.u8()
            spi = body.take(spi_size)
            transforms, tnext = [], PayloadType.TRANSFORM if count else PayloadType.NONE
            while tnext == PayloadType.TRANSFORM:
                tnext, tb = _generic(body, "transform")
                if tnext not in (PayloadType.TRANSFORM, PayloadType.NONE):
                    raise Malformed("bad next payload in transform")
                tnum, tid = tb.u8(), tb.u8()
                tb.skip(2)
                transforms.append(Transform(tnum, tid, decode_attributes(tb)))
            if len(transforms) != count:
                raise Malformed("transform count does not match")
            _end(body, "bytes after the transforms")
            proposals.append(Proposal(number, protocol, spi, tuple(transforms)))
        _end(r, "bytes after the proposals")
        if not proposals:
            raise Malformed("SA without proposals")
        return cls(tuple(proposals), doi, situation)


# ----------------------------------------------------------------------------------------------- simple payloads


@dataclass(frozen=True, slots=True)
class _Opaque:
    data: bytes

    def encode(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, r: Reader):
        return cls(r.rest())


@dataclass(frozen=True, slots=True)
class KePayload(_Opaque):
    """RFC 2408 §3.7: g^x mod p, left-padded to the prime's length."""
    TYPE: ClassVar[int] = PayloadType.KE


@dataclass(frozen=True, slots=True)
class NoncePayload(_Opaque):
    """RFC 2408 §3.13: 8 to 256 octets."""
    TYPE: ClassVar[int] = PayloadType.NONCE

    @classmethod
    def decode(cls, r: Reader):
        data = r.rest()
        if not 8 <= len(data) <= 256:
            raise Malformed("nonce length outside 8..256")
        return cls(data)


@dataclass(frozen=True, slots=True)
class HashPayload(_Opaque):
    TYPE: ClassVar[int] = PayloadType.HASH


@dataclass(frozen=True, slots=True)
class SigPayload(_Opaque):
    TYPE: ClassVar[int] = PayloadType.SIG


@dataclass(frozen=True, slots=True)
class VendorIdPayload(_Opaque):
    TYPE: ClassVar[int] = PayloadType.VENDOR_ID


@dataclass(frozen=True, slots=True)
class NatDPayload:
    """RFC 3947 §3.2 NAT-D (20), or the drafts' 130: HASH(CKY-I | CKY-R | IP | Port)."""
    data: bytes
    draft: bool = False

    @property
    def TYPE(self) -> int:           # noqa: N802 - the same name as the other payloads' class attribute
        return PayloadType.NAT_D_DRAFT if self.draft else PayloadType.NAT_D

    def encode(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class _CertLike:
    encoding: int
    data: bytes

    def encode(self) -> bytes:
        return bytes([self.encoding]) + self.data

    @classmethod
    def decode(cls, r: Reader):
        return cls(r.u8(), r.rest())


@dataclass(frozen=True, slots=True)
class CertPayload(_CertLike):
    """RFC 2408 §3.9 (decoded, never built: rrasctl authenticates with a pre-shared key)."""
    TYPE: ClassVar[int] = PayloadType.CERT


@dataclass(frozen=True, slots=True)
class CrPayload(_CertLike):
    """RFC 2408 §3.10 Certificate Request."""
    TYPE: ClassVar[int] = PayloadType.CR


@dataclass(frozen=True, slots=True)
class IdPayload:
    """RFC 2407 §4.6.2: type, protocol, port and the identification data."""
    TYPE: ClassVar[int] = PayloadType.ID
    id_type: int
    data: bytes
    protocol: int = 0
    port: int = 0

    def encode(self) -> bytes:
        return struct.pack("!BBH", self.id_type, self.protocol, self.port) + self.data

    @classmethod
    def decode(cls, r: Reader) -> "IdPayload":
        id_type, protocol, port = r.u8(), r.u8(), r.u16()
        data = r.rest()
        need = {IdType.IPV4_ADDR: 4, IdType.IPV6_ADDR: 16, IdType.IPV4_ADDR_SUBNET: 8,
                IdType.IPV4_ADDR_RANGE: 8, IdType.IPV6_ADDR_SUBNET: 32, IdType.IPV6_ADDR_RANGE: 32}.get(id_type)
        if need is not None and len(data) != need:
            raise Malformed("ID data length does not match its type")
        return cls(id_type, data, protocol, port)

    @classmethod
    def address(cls, ip: str, protocol: int = 0, port: int = 0) -> "IdPayload":
        a = ipaddress.ip_address(ip)
        return cls(IdType.IPV4_ADDR if a.version == 4 else IdType.IPV6_ADDR, a.packed, protocol, port)

    def text(self) -> str:
        """The identity as an operator reads it: an address, a subnet, a name, or hex."""
        t, d = self.id_type, self.data
        if t in (IdType.IPV4_ADDR, IdType.IPV6_ADDR):
            return str(ipaddress.ip_address(d))
        if t in (IdType.IPV4_ADDR_SUBNET, IdType.IPV6_ADDR_SUBNET):
            half = len(d) // 2
            return str(ipaddress.ip_network((ipaddress.ip_address(d[:half]),
                                             bin(int.from_bytes(d[half:], "big")).count("1")), strict=False))
        if t in (IdType.IPV4_ADDR_RANGE, IdType.IPV6_ADDR_RANGE):
            half = len(d) // 2
            return f"{ipaddress.ip_address(d[:half])}-{ipaddress.ip_address(d[half:])}"
        if t in (IdType.FQDN, IdType.USER_FQDN) and all(32 <= c < 127 for c in d):
            return d.decode("ascii")
        return d.hex()


@dataclass(frozen=True, slots=True)
class NatOaPayload:
    """RFC 3947 §5.2 NAT-OA (21), or the drafts' 131: ID type, 3 reserved octets, the original address."""
    id_type: int
    address: bytes
    draft: bool = False

    @property
    def TYPE(self) -> int:           # noqa: N802
        return PayloadType.NAT_OA_DRAFT if self.draft else PayloadType.NAT_OA

    def encode(self) -> bytes:
        return bytes([self.id_type, 0, 0, 0]) + self.address

    @classmethod
    def of(cls, ip: str, draft: bool = False) -> "NatOaPayload":
        a = ipaddress.ip_address(ip)
        return cls(IdType.IPV4_ADDR if a.version == 4 else IdType.IPV6_ADDR, a.packed, draft)

    def text(self) -> str:
        return str(ipaddress.ip_address(self.address))


@dataclass(frozen=True, slots=True)
class NotifyPayload:
    """RFC 2408 §3.14: DOI, protocol, SPI (cookies for ISAKMP), type and data."""
    TYPE: ClassVar[int] = PayloadType.NOTIFY
    notify_type: int
    protocol: int = ProtocolId.ISAKMP
    spi: bytes = b""
    data: bytes = b""
    doi: int = DOI_IPSEC

    def encode(self) -> bytes:
        return struct.pack("!IBBH", self.doi, self.protocol, len(self.spi), self.notify_type) + self.spi + self.data

    @classmethod
    def decode(cls, r: Reader) -> "NotifyPayload":
        doi, protocol, spi_size, ntype = r.u32(), r.u8(), r.u8(), r.u16()
        spi = r.take(spi_size)
        return cls(ntype, protocol, spi, r.rest(), doi)


@dataclass(frozen=True, slots=True)
class DeletePayload:
    """RFC 2408 §3.15: the SPIs (or, for ISAKMP, the 16-octet cookie pairs) the sender no longer uses."""
    TYPE: ClassVar[int] = PayloadType.DELETE
    protocol: int
    spis: tuple[bytes, ...]
    doi: int = DOI_IPSEC

    def encode(self) -> bytes:
        size = len(self.spis[0]) if self.spis else 0
        return struct.pack("!IBBH", self.doi, self.protocol, size, len(self.spis)) + b"".join(self.spis)

    @classmethod
    def decode(cls, r: Reader) -> "DeletePayload":
        doi, protocol, size, count = r.u32(), r.u8(), r.u8(), r.u16()
        spis = tuple(r.take(size) for _ in range(count))
        _end(r, "bytes after the SPIs")
        return cls(protocol, spis, doi)


@dataclass(frozen=True, slots=True)
class RawPayload:
    """A payload type this codec does not interpret (kept whole, so a chain still re-encodes)."""
    type: int
    data: bytes

    @property
    def TYPE(self) -> int:           # noqa: N802
        return self.type

    def encode(self) -> bytes:
        return self.data


Payload = Union[SaPayload, KePayload, NoncePayload, HashPayload, SigPayload, VendorIdPayload, NatDPayload,
                CertPayload, CrPayload, IdPayload, NatOaPayload, NotifyPayload, DeletePayload, RawPayload]
P = TypeVar("P")

_DECODERS = {
    PayloadType.SA: SaPayload.decode, PayloadType.KE: KePayload.decode, PayloadType.NONCE: NoncePayload.decode,
    PayloadType.HASH: HashPayload.decode, PayloadType.SIG: SigPayload.decode, PayloadType.ID: IdPayload.decode,
    PayloadType.VENDOR_ID: VendorIdPayload.decode, PayloadType.CERT: CertPayload.decode,
    PayloadType.CR: CrPayload.decode, PayloadType.NOTIFY: NotifyPayload.decode,
    PayloadType.DELETE: DeletePayload.decode,
    PayloadType.NAT_D: lambda r: NatDPayload(r.rest()),
    PayloadType.NAT_D_DRAFT: lambda r: NatDPayload(r.rest(), draft=True),
    PayloadType.NAT_OA: lambda r: _nat_oa(r, False), PayloadType.NAT_OA_DRAFT: lambda r: _nat_oa(r, True),
}
# Types a chain may carry without this codec interpreting them (RFC 2408 §3.1 reserves 14-127; 128-255 private).
_OPAQUE_OK = frozenset({PayloadType.FRAGMENT, 14, 15, 16, 17, 18, 19})


def _nat_oa(r: Reader, draft: bool) -> NatOaPayload:
    id_type = r.u8()
    r.skip(3)
    address = r.rest()
    if len(address) != {IdType.IPV4_ADDR: 4, IdType.IPV6_ADDR: 16}.get(id_type, -1):
        raise Malformed("NAT-OA address does not match its type")
    return NatOaPayload(id_type, address, draft)


def _end(r: Reader, reason: str) -> None:
    if r.remaining:
        raise Malformed(reason)


def _generic(r: Reader, what: str) -> tuple[int, Reader]:
    nxt, _reserved, length = r.u8(), r.u8(), r.u16()
    if length < 4:
        raise Malformed(f"{what} length below 4")
    if length - 4 > r.remaining:
        raise Malformed(f"{what} longer than its container")
    return nxt, r.sub(length - 4, what)


# ----------------------------------------------------------------------------------------------- chains


@dataclass(frozen=True, slots=True)
class Chain:
    """Decoded payloads with their spans (start of the generic header, end) in `body`."""
    payloads: tuple[Payload, ...]
    spans: tuple[tuple[int, int], ...]
    body: bytes
    padding: int = 0

    def __iter__(self) -> Iterator[Payload]:
        return iter(self.payloads)

    def __len__(self) -> int:
        return len(self.payloads)

    def all(self, kind: type[P]) -> list[P]:
        return [p for p in self.payloads if isinstance(p, kind)]

    def one(self, kind: type[P]) -> P | None:
        found = self.all(kind)
        return found[0] if found else None

    def need(self, kind: type[P], what: str) -> tuple[P, int]:
        """The first payload of `kind` and its index, or Malformed naming what is missing."""
        for i, p in enumerate(self.payloads):
            if isinstance(p, kind):
                return p, i
        raise Malformed(f"{what} payload missing")

    def raw_body(self, index: int) -> bytes:
        """The payload's body without its generic header (SAi_b, IDii_b, Ni_b ... of RFC 2409)."""
        start, end = self.spans[index]
        return self.body[start + 4:end]

    def after(self, index: int) -> bytes:
        """Every payload after `index`, generic headers included, padding excluded (Quick Mode HASH(1)/(2))."""
        return self.body[self.spans[index][1]:self.spans[-1][1]] if self.spans else b""

    def types(self) -> list[int]:
        return [p.TYPE for p in self.payloads]


def decode_chain(first: int, body: bytes, *, padded: bool = False) -> Chain:
    """Walk the payload chain starting with type `first`. With `padded` (a decrypted body) bytes after the last
    payload are block padding; otherwise they are an error."""
    r = Reader(body, "payload chain")
    payloads, spans, nxt = [], [], first
    while nxt != PayloadType.NONE:
        if len(payloads) >= MAX_PAYLOADS:
            raise Malformed("too many payloads")
        start = r.pos
        kind = nxt
        nxt, pr = _generic(r, "payload")
        decoder = _DECODERS.get(kind)
        if decoder is not None:
            payload = decoder(pr)
        elif kind in _OPAQUE_OK or kind >= 128:
            payload = RawPayload(kind, pr.rest())
        else:
            raise Malformed("unknown payload type")
        payloads.append(payload)
        spans.append((start, r.pos))
    if r.remaining and not padded:
        raise Malformed("bytes after the last payload")
    return Chain(tuple(payloads), tuple(spans), bytes(body), r.remaining)


def encode_chain(payloads: list[Payload] | tuple[Payload, ...]) -> tuple[int, bytes]:
    """(type of the first payload, the linked bodies)."""
    out = bytearray()
    for i, p in enumerate(payloads):
        body = p.encode()
        nxt = payloads[i + 1].TYPE if i + 1 < len(payloads) else PayloadType.NONE
        if 4 + len(body) > 0xFFFF:
            raise ValueError("payload longer than 65535 octets")
        out += _GENERIC.pack(nxt, 0, 4 + len(body)) + body
    return (payloads[0].TYPE if payloads else PayloadType.NONE), bytes(out)


def payload_bytes(payload: Payload) -> bytes:
    """One payload with a generic header whose next-payload field is NONE (the form HASH inputs need when the
    payload is hashed alone)."""
    return encode_chain([payload])[1]


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded message. `chain` is None while the body is still encrypted (`ciphertext` holds it)."""
    header: Header
    chain: Chain | None = None
    ciphertext: bytes = b""
    raw: bytes = field(default=b"", repr=False)


def decode_message(data: bytes | memoryview) -> Message:
    """Header and, for a clear message, the payload chain; an encrypted body stays ciphertext."""
    header = decode_header(data)
    raw = bytes(data[:header.length])
    body = raw[HEADER_LEN:]
    if header.encrypted:
        return Message(header, None, body, raw)
    return Message(header, decode_chain(header.next_payload, body), b"", raw)


def encode_message(ispi: bytes, rspi: bytes, exchange: int, message_id: int, flags: int,
                   first: int, body: bytes) -> bytes:
    """Header + body, the length filled in (the body is already encrypted when the E flag is set)."""
    header = Header(ispi, rspi, first, exchange, flags, message_id, HEADER_LEN + len(body))
    return header.encode() + body
