"""L2TP attribute-value pairs (RFC 2661 §4): the dictionary as a table, hidden AVPs (§4.3), Result Code.

Every AVP is declared once in `AVPS` with its codec and its rules: whether the RFC requires the M bit, and
whether we may hide it. Decoding is table-driven; an AVP we do not know is kept as raw bytes with its M bit, so
the tunnel core can apply §4.1 (unknown mandatory AVP: tear down the session or the tunnel).

Hidden AVPs (§4.3): the value becomes `original length (2) | value | padding`, XORed with
`MD5(attribute type (2) | secret | random vector)` for the first 16 octets and `MD5(secret | previous cipher block)`
for each next 16 octets. The random vector is the value of the most recent Random Vector AVP before it.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable, Iterable

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.wire import Reader

AVP_HEADER = struct.Struct("!HHH")
FLAG_M = 0x8000
FLAG_H = 0x4000
FLAG_RESERVED = 0x3C00
LENGTH_MASK = 0x03FF


class MessageType(IntEnum):
    """Control message types, RFC 2661 §3.2."""

    SCCRQ = 1
    SCCRP = 2
    SCCCN = 3
    STOPCCN = 4
    HELLO = 6
    OCRQ = 7
    OCRP = 8
    OCCN = 9
    ICRQ = 10
    ICRP = 11
    ICCN = 12
    CDN = 14
    WEN = 15
    SLI = 16


TUNNEL_MESSAGES = frozenset({MessageType.SCCRQ, MessageType.SCCRP, MessageType.SCCCN, MessageType.STOPCCN,
                             MessageType.HELLO})


class AvpType(IntEnum):
    """IETF attribute types (vendor 0), RFC 2661 §4.4."""

    MESSAGE_TYPE = 0
    RESULT_CODE = 1
    PROTOCOL_VERSION = 2
    FRAMING_CAPABILITIES = 3
    BEARER_CAPABILITIES = 4
    TIE_BREAKER = 5
    FIRMWARE_REVISION = 6
    HOST_NAME = 7
    VENDOR_NAME = 8
    ASSIGNED_TUNNEL_ID = 9
    RECEIVE_WINDOW_SIZE = 10
    CHALLENGE = 11
    Q931_CAUSE_CODE = 12
    CHALLENGE_RESPONSE = 13
    ASSIGNED_SESSION_ID = 14
    CALL_SERIAL_NUMBER = 15
    MINIMUM_BPS = 16
    MAXIMUM_BPS = 17
    BEARER_TYPE = 18
    FRAMING_TYPE = 19
    CALLED_NUMBER = 21
    CALLING_NUMBER = 22
    SUB_ADDRESS = 23
    TX_CONNECT_SPEED = 24
    PHYSICAL_CHANNEL_ID = 25
    INITIAL_RECEIVED_LCP_CONFREQ = 26
    LAST_SENT_LCP_CONFREQ = 27
    LAST_RECEIVED_LCP_CONFREQ = 28
    PROXY_AUTHEN_TYPE = 29
    PROXY_AUTHEN_NAME = 30
    PROXY_AUTHEN_CHALLENGE = 31
    PROXY_AUTHEN_ID = 32
    PROXY_AUTHEN_RESPONSE = 33
    CALL_ERRORS = 34
    ACCM = 35
    RANDOM_VECTOR = 36
    PRIVATE_GROUP_ID = 37
    RX_CONNECT_SPEED = 38
    SEQUENCING_REQUIRED = 39


class StopCcnResult(IntEnum):
    """Result codes of StopCCN, RFC 2661 §4.4.2."""

    CLEAR = 1                 # general request to clear control connection
    GENERAL_ERROR = 2         # see the error code
    ALREADY_EXISTS = 3        # control channel already exists
    NOT_AUTHORIZED = 4        # requester is not authorized to establish a control channel
    BAD_VERSION = 5           # protocol version not supported
    SHUTTING_DOWN = 6         # requester is being shut down
    FSM_ERROR = 7             # finite state machine error


class CdnResult(IntEnum):
    """Result codes of CDN, RFC 2661 §4.4.2."""

    LOST_CARRIER = 1
    GENERAL_ERROR = 2
    ADMIN = 3                 # session disconnected for administrative reasons
    TEMPORARY_LACK = 4        # temporary lack of facilities/resources
    PERMANENT_LACK = 5
    INVALID_DESTINATION = 6
    NO_CARRIER = 7
    BUSY = 8
    NO_DIAL_TONE = 9
    TIMEOUT = 10
    NO_FRAMING = 11


class GeneralError(IntEnum):
    """General error codes, RFC 2661 §4.4.2; 8 was added by RFC 3438 §2.2 (unknown mandatory AVP)."""

    NONE = 0
    NO_CONTROL_CONNECTION = 1
    BAD_LENGTH = 2
    BAD_VALUE = 3
    NO_RESOURCES = 4          # insufficient resources to handle this operation now
    BAD_SESSION_ID = 5
    VENDOR_ERROR = 6
    TRY_ANOTHER = 7
    UNKNOWN_MANDATORY_AVP = 8


@dataclass(frozen=True, slots=True)
class ResultCode:
    """Result Code AVP (§4.4.2): result, optional error, optional message. Parsed leniently (see `decode_result`)."""

    result: int
    error: int | None = None
    message: str = ""


# ---- codecs -------------------------------------------------------------------------------------------------

def _u8(data: bytes) -> int:
    if len(data) != 1:
        raise Malformed("bad AVP value length")
    return data[0]


def _u16(data: bytes) -> int:
    if len(data) != 2:
        raise Malformed("bad AVP value length")
    return struct.unpack("!H", data)[0]


def _u32(data: bytes) -> int:
    if len(data) != 4:
        raise Malformed("bad AVP value length")
    return struct.unpack("!I", data)[0]


def _raw(data: bytes) -> bytes:
    return bytes(data)


def _text(data: bytes) -> str:
    return bytes(data).decode("utf-8", "replace")


def _version(data: bytes) -> tuple[int, int]:
    if len(data) != 2:
        raise Malformed("bad AVP value length")
    return data[0], data[1]


def _tie(data: bytes) -> bytes:
    if len(data) != 8:
        raise Malformed("bad AVP value length")
    return bytes(data)


def _message_type(data: bytes) -> int:
    return _u16(data)


def decode_result(data: bytes) -> ResultCode:
    """Result Code: result (2), then error (2) and a message when present.

    Lenient on purpose: SoftEther 5.01 sends `00 00 06 00 00 00 00 00` in its StopCCN (result 0, error 0x0600,
    four stray octets). We read what fits and never reject a result code because of its tail.
    """
    if len(data) < 2:
        raise Malformed("short result code")
    result = struct.unpack_from("!H", data)[0]
    if len(data) < 4:
        return ResultCode(result)
    error = struct.unpack_from("!H", data, 2)[0]
    return ResultCode(result, error, bytes(data[4:]).decode("utf-8", "replace"))


def encode_result(value: ResultCode) -> bytes:
    out = struct.pack("!H", value.result)
    if value.error is not None or value.message:
        out += struct.pack("!H", value.error or 0) + value.message.encode()
    return out


def _p_u8(v: int) -> bytes:
    return struct.pack("!B", v)


def _p_u16(v: int) -> bytes:
    return struct.pack("!H", v)


def _p_u32(v: int) -> bytes:
    return struct.pack("!I", v)


def _p_raw(v: bytes) -> bytes:
    return bytes(v)


def _p_text(v: str) -> bytes:
    return v.encode()


def _p_version(v: tuple[int, int]) -> bytes:
    return bytes(v)


@dataclass(frozen=True, slots=True)
class AvpSpec:
    type: AvpType
    name: str
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    mandatory: bool            # the M bit we set when we send it (RFC 2661 §4.4)
    hideable: bool             # we may hide it; Message Type and Random Vector never (§4.3)


def _spec(t: AvpType, name: str, dec, enc, mandatory: bool = True, hideable: bool = True) -> AvpSpec:
    return AvpSpec(t, name, dec, enc, mandatory, hideable)


A = AvpType
AVPS: dict[int, AvpSpec] = {s.type: s for s in (
    _spec(A.MESSAGE_TYPE, "Message Type", _message_type, _p_u16, hideable=False),
    _spec(A.RESULT_CODE, "Result Code", decode_result, encode_result),
    _spec(A.PROTOCOL_VERSION, "Protocol Version", _version, _p_version, hideable=False),
    _spec(A.FRAMING_CAPABILITIES, "Framing Capabilities", _u32, _p_u32),
    _spec(A.BEARER_CAPABILITIES, "Bearer Capabilities", _u32, _p_u32),
    _spec(A.TIE_BREAKER, "Tie Breaker", _tie, _p_raw, mandatory=False, hideable=False),
    _spec(A.FIRMWARE_REVISION, "Firmware Revision", _u16, _p_u16, mandatory=False),
    _spec(A.HOST_NAME, "Host Name", _text, _p_text, hideable=False),
    _spec(A.VENDOR_NAME, "Vendor Name", _text, _p_text, mandatory=False),
    _spec(A.ASSIGNED_TUNNEL_ID, "Assigned Tunnel ID", _u16, _p_u16),
    _spec(A.RECEIVE_WINDOW_SIZE, "Receive Window Size", _u16, _p_u16, hideable=False),
    _spec(A.CHALLENGE, "Challenge", _raw, _p_raw),
    _spec(A.Q931_CAUSE_CODE, "Q.931 Cause Code", _raw, _p_raw),
    _spec(A.CHALLENGE_RESPONSE, "Challenge Response", _raw, _p_raw),
    _spec(A.ASSIGNED_SESSION_ID, "Assigned Session ID", _u16, _p_u16),
    _spec(A.CALL_SERIAL_NUMBER, "Call Serial Number", _u32, _p_u32),
    _spec(A.MINIMUM_BPS, "Minimum BPS", _u32, _p_u32),
    _spec(A.MAXIMUM_BPS, "Maximum BPS", _u32, _p_u32),
    _spec(A.BEARER_TYPE, "Bearer Type", _u32, _p_u32),
    _spec(A.FRAMING_TYPE, "Framing Type", _u32, _p_u32),
    _spec(A.CALLED_NUMBER, "Called Number", _text, _p_text),
    _spec(A.CALLING_NUMBER, "Calling Number", _text, _p_text),
    _spec(A.SUB_ADDRESS, "Sub-Address", _text, _p_text),
    _spec(A.TX_CONNECT_SPEED, "Tx Connect Speed", _u32, _p_u32),
    _spec(A.PHYSICAL_CHANNEL_ID, "Physical Channel ID", _u32, _p_u32, mandatory=False),
    _spec(A.INITIAL_RECEIVED_LCP_CONFREQ, "Initial Received LCP CONFREQ", _raw, _p_raw, mandatory=False),
    _spec(A.LAST_SENT_LCP_CONFREQ, "Last Sent LCP CONFREQ", _raw, _p_raw, mandatory=False),
    _spec(A.LAST_RECEIVED_LCP_CONFREQ, "Last Received LCP CONFREQ", _raw, _p_raw, mandatory=False),
    _spec(A.PROXY_AUTHEN_TYPE, "Proxy Authen Type", _u16, _p_u16, mandatory=False),
    _spec(A.PROXY_AUTHEN_NAME, "Proxy Authen Name", _text, _p_text, mandatory=False),
    _spec(A.PROXY_AUTHEN_CHALLENGE, "Proxy Authen Challenge", _raw, _p_raw, mandatory=False),
    _spec(A.PROXY_AUTHEN_ID, "Proxy Authen ID", _u16, _p_u16, mandatory=False),
    _spec(A.PROXY_AUTHEN_RESPONSE, "Proxy Authen Response", _raw, _p_raw, mandatory=False),
    _spec(A.CALL_ERRORS, "Call Errors", _raw, _p_raw),
    _spec(A.ACCM, "ACCM", _raw, _p_raw),
    _spec(A.RANDOM_VECTOR, "Random Vector", _raw, _p_raw, hideable=False),
    _spec(A.PRIVATE_GROUP_ID, "Private Group ID", _raw, _p_raw, mandatory=False),
    _spec(A.RX_CONNECT_SPEED, "Rx Connect Speed", _u32, _p_u32, mandatory=False),
    _spec(A.SEQUENCING_REQUIRED, "Sequencing Required", _raw, _p_raw),
)}
del A


@dataclass(frozen=True, slots=True)
class Avp:
    """One AVP as read from the wire; `value` is the plain (unhidden) value bytes."""

    vendor: int
    type: int
    value: bytes
    mandatory: bool = True
    hidden: bool = False
    reserved_bits: bool = False

    @property
    def known(self) -> bool:
        return self.vendor == 0 and self.type in AVPS and not self.reserved_bits

    @property
    def name(self) -> str:
        if self.known:
            return AVPS[self.type].name
        return f"vendor {self.vendor} type {self.type}"

    def decoded(self) -> Any:
        if not self.known:
            return self.value
        return AVPS[self.type].decode(self.value)


# ---- hidden AVPs (§4.3) --------------------------------------------------------------------------------------

def _keystream_xor(attr_type: int, data: bytes, secret: bytes, vector: bytes, decrypt: bool) -> bytes:
    out = bytearray()
    prev = None
    for i in range(0, len(data), 16):
        if prev is None:
            b = hashlib.md5(struct.pack("!H", attr_type) + secret + vector).digest()
        else:
            b = hashlib.md5(secret + prev).digest()
        block = data[i:i + 16]
        x = bytes(a ^ k for a, k in zip(block, b))
        out += x
        prev = block if decrypt else x      # the chain runs over cipher text
    return bytes(out)


def hide(attr_type: int, value: bytes, secret: bytes, vector: bytes, padding: bytes = b"") -> bytes:
    """The hidden form of `value`: original length, value and optional padding, XORed per §4.3."""
    return _keystream_xor(attr_type, struct.pack("!H", len(value)) + value + padding, secret, vector, False)


def unhide(attr_type: int, data: bytes, secret: bytes, vector: bytes) -> bytes:
    plain = _keystream_xor(attr_type, bytes(data), secret, vector, True)
    if len(plain) < 2:
        raise Malformed("short hidden AVP")
    n = struct.unpack_from("!H", plain)[0]
    if n > len(plain) - 2:
        raise Malformed("hidden AVP length beyond value (wrong secret?)")
    return plain[2:2 + n]


# ---- AVP lists -----------------------------------------------------------------------------------------------

def decode_avps(reader: Reader, secret: bytes | None = None) -> list[Avp]:
    """All AVPs to the end of `reader`; hidden ones unhidden with `secret` and the latest Random Vector."""
    avps: list[Avp] = []
    vector: bytes | None = None
    while reader.remaining:
        flags_len, vendor, attr = AVP_HEADER.unpack(reader.take(6))
        length = flags_len & LENGTH_MASK
        if length < 6:
            raise Malformed("AVP length under 6")
        value = reader.take(length - 6)
        mandatory = bool(flags_len & FLAG_M)
        hidden = bool(flags_len & FLAG_H)
        if hidden:
            if secret is None:
                raise Malformed("hidden AVP without a tunnel secret")
            if vector is None:
                raise Malformed("hidden AVP before a Random Vector")
            value = unhide(attr, value, secret, vector)
        if vendor == 0 and attr == AvpType.RANDOM_VECTOR:
            vector = value
        # §4.1: an AVP with a reserved bit set is treated as unrecognised (kept, judged by its M bit)
        avps.append(Avp(vendor, attr, value, mandatory, hidden, bool(flags_len & FLAG_RESERVED)))
    return avps


def encode_avp(attr: int, value: bytes, *, mandatory: bool = True, vendor: int = 0,
               hidden_with: tuple[bytes, bytes] | None = None) -> bytes:
    """One AVP. `hidden_with=(secret, random_vector)` hides it (the vector's AVP must come earlier)."""
    flags = FLAG_M if mandatory else 0
    if hidden_with is not None:
        value = hide(attr, value, hidden_with[0], hidden_with[1])
        flags |= FLAG_H
    length = 6 + len(value)
    if length > LENGTH_MASK:
        raise ValueError("AVP value too long")
    return AVP_HEADER.pack(flags | length, vendor, attr) + value


def encode_avp_list(items: Iterable[tuple[AvpType, Any]], *, secret: bytes | None = None,
                    hide_types: frozenset[int] = frozenset(), rng: Callable[[int], bytes] | None = None) -> bytes:
    """Encode `(type, value)` pairs through the table. AVPs in `hide_types` are hidden (needs `secret` and
    `rng`): a Random Vector AVP is inserted after the Message Type, before the first hidden AVP."""
    out = bytearray()
    vector: bytes | None = None
    for attr, value in items:
        spec = AVPS[attr]
        hidden = None
        if secret is not None and attr in hide_types and spec.hideable:
            if vector is None:
                if rng is None:
                    raise ValueError("hiding AVPs needs an rng")
                vector = rng(16)
                out += encode_avp(AvpType.RANDOM_VECTOR, vector)
            hidden = (secret, vector)
        out += encode_avp(attr, spec.encode(value), mandatory=spec.mandatory, hidden_with=hidden)
    return bytes(out)


def challenge_response(message_type: int, secret: bytes, challenge: bytes) -> bytes:
    """Tunnel authentication (§4.4.3, §5.1.1): MD5 over the CHAP-style ID (the type of the message carrying the
    response: SCCRP = 2, SCCCN = 3), the secret and the peer's challenge."""
    return hashlib.md5(bytes([message_type]) + secret + challenge).digest()
