"""PPTP control message codecs (RFC 2637 §2), and the result and error codes as IntEnums.

Every control message starts with the same 12 bytes (RFC 2637 §2):

    Length (2) | PPTP Message Type (2) = 1 | Magic Cookie (4) = 0x1A2B3C4D | Control Message Type (2) | Reserved0 (2)

and each of the 15 control messages has a fixed size. `decode()` checks the cookie, the message type and that the
Length field equals the fixed size of the control message it names; anything else raises `Malformed`. String fields
(host name, vendor, phone numbers) are 64-byte NUL-padded; decoders stop at the first NUL and keep the bytes (some
peers, e.g. Windows 2000, leave uninitialised bytes there), so `encode(decode(b)) == b` only for clean peers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import ClassVar

from rrasctl.protocols.base import Malformed

MAGIC_COOKIE = 0x1A2B3C4D
PPTP_PORT = 1723
PROTOCOL_VERSION = 0x0100
HEADER = struct.Struct("!HHIHH")
HEADER_LEN = HEADER.size  # 12


class MessageType(IntEnum):
    """PPTP Message Type (RFC 2637 §2.1)."""

    CONTROL = 1
    MANAGEMENT = 2


class ControlType(IntEnum):
    """Control Message Type (RFC 2637 §1.6 and §2.1)."""

    START_CONTROL_CONNECTION_REQUEST = 1
    START_CONTROL_CONNECTION_REPLY = 2
    STOP_CONTROL_CONNECTION_REQUEST = 3
    STOP_CONTROL_CONNECTION_REPLY = 4
    ECHO_REQUEST = 5
    ECHO_REPLY = 6
    OUTGOING_CALL_REQUEST = 7
    OUTGOING_CALL_REPLY = 8
    INCOMING_CALL_REQUEST = 9
    INCOMING_CALL_REPLY = 10
    INCOMING_CALL_CONNECTED = 11
    CALL_CLEAR_REQUEST = 12
    CALL_DISCONNECT_NOTIFY = 13
    WAN_ERROR_NOTIFY = 14
    SET_LINK_INFO = 15


class GeneralError(IntEnum):
    """General Error Codes, sent with a Result Code of "general error" (RFC 2637 §2.16)."""

    NONE = 0
    NOT_CONNECTED = 1
    BAD_FORMAT = 2
    BAD_VALUE = 3
    NO_RESOURCE = 4
    BAD_CALL_ID = 5
    PAC_ERROR = 6


class SccrpResult(IntEnum):
    """Start-Control-Connection-Reply Result Code (RFC 2637 §2.2)."""

    SUCCESS = 1
    GENERAL_ERROR = 2
    ALREADY_EXISTS = 3
    NOT_AUTHORIZED = 4
    BAD_PROTOCOL_VERSION = 5


class StopReason(IntEnum):
    """Stop-Control-Connection-Request Reason (RFC 2637 §2.3)."""

    NONE = 1
    STOP_PROTOCOL = 2
    STOP_LOCAL_SHUTDOWN = 3


class StopResult(IntEnum):
    """Stop-Control-Connection-Reply Result Code (RFC 2637 §2.4)."""

    OK = 1
    GENERAL_ERROR = 2


class EchoResult(IntEnum):
    """Echo-Reply Result Code (RFC 2637 §2.6)."""

    OK = 1
    GENERAL_ERROR = 2


class OcrpResult(IntEnum):
    """Outgoing-Call-Reply Result Code (RFC 2637 §2.8)."""

    CONNECTED = 1
    GENERAL_ERROR = 2
    NO_CARRIER = 3
    BUSY = 4
    NO_DIAL_TONE = 5
    TIME_OUT = 6
    DO_NOT_ACCEPT = 7


class IcrpResult(IntEnum):
    """Incoming-Call-Reply Result Code (RFC 2637 §2.10)."""

    CONNECT = 1
    GENERAL_ERROR = 2
    DO_NOT_ACCEPT = 3


class CdnResult(IntEnum):
    """Call-Disconnect-Notify Result Code (RFC 2637 §2.13)."""

    LOST_CARRIER = 1
    GENERAL_ERROR = 2
    ADMIN_SHUTDOWN = 3
    REQUEST = 4


class Framing(IntEnum):
    """Framing Capabilities / Framing Type bits (RFC 2637 §2.2, §2.7)."""

    ASYNC = 1
    SYNC = 2
    EITHER = 3


class Bearer(IntEnum):
    """Bearer Capabilities / Bearer Type bits (RFC 2637 §2.2, §2.7)."""

    ANALOG = 1
    DIGITAL = 2
    EITHER = 3


def _text(raw: bytes) -> str:
    """A 64-octet NUL-padded field as text (latin-1, so any byte decodes)."""
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("latin-1")


def _field64(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")[:64]   # a full field has no NUL, as some peers send it
    return raw + b"\0" * (64 - len(raw))


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """Base of the 15 control messages; subclasses declare their body layout once."""

    TYPE: ClassVar[ControlType]
    BODY: ClassVar[struct.Struct]
    # attribute names in BODY order; "_" marks a reserved field (encoded as zero, ignored on decode);
    # names ending in "!" are 64-octet text fields
    LAYOUT: ClassVar[tuple[str, ...]]
    SIZE: ClassVar[int]

    def encode(self) -> bytes:
        values = []
        for name in self.LAYOUT:
            if name == "_":
                values.append(0)
            elif name.endswith("!"):
                values.append(_field64(getattr(self, name[:-1])))
            else:
                values.append(getattr(self, name))
        return HEADER.pack(self.SIZE, MessageType.CONTROL, MAGIC_COOKIE, self.TYPE, 0) + self.BODY.pack(*values)

    @classmethod
    def _decode_body(cls, data: bytes | memoryview) -> "ControlMessage":
        raw = cls.BODY.unpack_from(data, HEADER_LEN)
        kwargs = {}
        for name, value in zip(cls.LAYOUT, raw):
            if name == "_":
                continue
            if name.endswith("!"):
                kwargs[name[:-1]] = _text(value)
            else:
                kwargs[name] = value
        return cls(**kwargs)


def _message(type_: ControlType, fmt: str, layout: tuple[str, ...]):
    def wrap(cls):
        cls.TYPE = type_
        cls.BODY = struct.Struct("!" + fmt)
        cls.LAYOUT = layout
        cls.SIZE = HEADER_LEN + cls.BODY.size
        names = {n.rstrip("!") for n in layout if n != "_"}
        declared = {f.name for f in fields(cls)}
        assert names == declared, (cls.__name__, names ^ declared)
        return cls
    return wrap


@_message(ControlType.START_CONTROL_CONNECTION_REQUEST, "HHIIHH64s64s",
          ("version", "_", "framing", "bearer", "max_channels", "firmware", "host_name!", "vendor!"))
@dataclass(frozen=True, slots=True)
class StartControlConnectionRequest(ControlMessage):
    """SCCRQ, 156 octets (RFC 2637 §2.1)."""

    version: int = PROTOCOL_VERSION
    framing: int = Framing.EITHER
    bearer: int = Bearer.EITHER
    max_channels: int = 0
    firmware: int = 1
    host_name: str = ""
    vendor: str = ""


@_message(ControlType.START_CONTROL_CONNECTION_REPLY, "HBBIIHH64s64s",
          ("version", "result", "error", "framing", "bearer", "max_channels", "firmware", "host_name!", "vendor!"))
@dataclass(frozen=True, slots=True)
class StartControlConnectionReply(ControlMessage):
    """SCCRP, 156 octets (RFC 2637 §2.2)."""

    version: int = PROTOCOL_VERSION
    result: int = SccrpResult.SUCCESS
    error: int = GeneralError.NONE
    framing: int = Framing.EITHER
    bearer: int = Bearer.EITHER
    max_channels: int = 0
    firmware: int = 1
    host_name: str = ""
    vendor: str = ""


@_message(ControlType.STOP_CONTROL_CONNECTION_REQUEST, "BBH", ("reason", "_", "_"))
@dataclass(frozen=True, slots=True)
class StopControlConnectionRequest(ControlMessage):
    """StopCCRQ, 16 octets (RFC 2637 §2.3)."""

    reason: int = StopReason.NONE


@_message(ControlType.STOP_CONTROL_CONNECTION_REPLY, "BBH", ("result", "error", "_"))
@dataclass(frozen=True, slots=True)
class StopControlConnectionReply(ControlMessage):
    """StopCCRP, 16 octets (RFC 2637 §2.4)."""

    result: int = StopResult.OK
    error: int = GeneralError.NONE


@_message(ControlType.ECHO_REQUEST, "I", ("identifier",))
@dataclass(frozen=True, slots=True)
class EchoRequest(ControlMessage):
    """Echo-Request, 16 octets (RFC 2637 §2.5)."""

    identifier: int = 0


@_message(ControlType.ECHO_REPLY, "IBBH", ("identifier", "result", "error", "_"))
@dataclass(frozen=True, slots=True)
class EchoReply(ControlMessage):
    """Echo-Reply, 20 octets (RFC 2637 §2.6)."""

    identifier: int = 0
    result: int = EchoResult.OK
    error: int = GeneralError.NONE


@_message(ControlType.OUTGOING_CALL_REQUEST, "HHIIIIHHHH64s64s",
          ("call_id", "call_serial", "min_bps", "max_bps", "bearer", "framing", "recv_window",
           "processing_delay", "phone_number_length", "_", "phone_number!", "subaddress!"))
@dataclass(frozen=True, slots=True)
class OutgoingCallRequest(ControlMessage):
    """OCRQ, 168 octets (RFC 2637 §2.7). `call_id` is the sender's (the PNS's) call id."""

    call_id: int = 0
    call_serial: int = 0
    min_bps: int = 300
    max_bps: int = 100_000_000
    bearer: int = Bearer.EITHER
    framing: int = Framing.EITHER
    recv_window: int = 64
    processing_delay: int = 0
    phone_number_length: int = 0
    phone_number: str = ""
    subaddress: str = ""


@_message(ControlType.OUTGOING_CALL_REPLY, "HHBBHIHHI",
          ("call_id", "peer_call_id", "result", "error", "cause", "connect_speed", "recv_window",
           "processing_delay", "physical_channel_id"))
@dataclass(frozen=True, slots=True)
class OutgoingCallReply(ControlMessage):
    """OCRP, 32 octets (RFC 2637 §2.8). `call_id` is the PAC's, `peer_call_id` echoes the OCRQ's."""

    call_id: int = 0
    peer_call_id: int = 0
    result: int = OcrpResult.CONNECTED
    error: int = GeneralError.NONE
    cause: int = 0
    connect_speed: int = 100_000_000
    recv_window: int = 64
    processing_delay: int = 0
    physical_channel_id: int = 0


@_message(ControlType.INCOMING_CALL_REQUEST, "HHIIHH64s64s64s",
          ("call_id", "call_serial", "bearer", "physical_channel_id", "dialed_number_length",
           "dialing_number_length", "dialed_number!", "dialing_number!", "subaddress!"))
@dataclass(frozen=True, slots=True)
class IncomingCallRequest(ControlMessage):
    """ICRQ, 220 octets (RFC 2637 §2.9)."""

    call_id: int = 0
    call_serial: int = 0
    bearer: int = Bearer.EITHER
    physical_channel_id: int = 0
    dialed_number_length: int = 0
    dialing_number_length: int = 0
    dialed_number: str = ""
    dialing_number: str = ""
    subaddress: str = ""


@_message(ControlType.INCOMING_CALL_REPLY, "HHBBHHH",
          ("call_id", "peer_call_id", "result", "error", "recv_window", "transmit_delay", "_"))
@dataclass(frozen=True, slots=True)
class IncomingCallReply(ControlMessage):
    """ICRP, 24 octets (RFC 2637 §2.10)."""

    call_id: int = 0
    peer_call_id: int = 0
    result: int = IcrpResult.CONNECT
    error: int = GeneralError.NONE
    recv_window: int = 64
    transmit_delay: int = 0


@_message(ControlType.INCOMING_CALL_CONNECTED, "HHIHHI",
          ("peer_call_id", "_", "connect_speed", "recv_window", "transmit_delay", "framing"))
@dataclass(frozen=True, slots=True)
class IncomingCallConnected(ControlMessage):
    """ICCN, 28 octets (RFC 2637 §2.11)."""

    peer_call_id: int = 0
    connect_speed: int = 0
    recv_window: int = 64
    transmit_delay: int = 0
    framing: int = Framing.EITHER


@_message(ControlType.CALL_CLEAR_REQUEST, "HH", ("call_id", "_"))
@dataclass(frozen=True, slots=True)
class CallClearRequest(ControlMessage):
    """CCRQ, 16 octets (RFC 2637 §2.12). `call_id` is the PNS's own call id."""

    call_id: int = 0


@_message(ControlType.CALL_DISCONNECT_NOTIFY, "HBBHH128s",
          ("call_id", "result", "error", "cause", "_", "call_statistics!"))
@dataclass(frozen=True, slots=True)
class CallDisconnectNotify(ControlMessage):
    """CDN, 148 octets (RFC 2637 §2.13). `call_id` is the PAC's own call id."""

    call_id: int = 0
    result: int = CdnResult.REQUEST
    error: int = GeneralError.NONE
    cause: int = 0
    call_statistics: str = ""

    def encode(self) -> bytes:  # the statistics field is 128 octets, not 64
        raw = self.call_statistics.encode("latin-1", "replace")[:127]
        body = self.BODY.pack(self.call_id, self.result, self.error, self.cause, 0, raw)
        return HEADER.pack(self.SIZE, MessageType.CONTROL, MAGIC_COOKIE, self.TYPE, 0) + body


@_message(ControlType.WAN_ERROR_NOTIFY, "HHIIIIII",
          ("peer_call_id", "_", "crc_errors", "framing_errors", "hardware_overruns", "buffer_overruns",
           "timeout_errors", "alignment_errors"))
@dataclass(frozen=True, slots=True)
class WanErrorNotify(ControlMessage):
    """WEN, 40 octets (RFC 2637 §2.14)."""

    peer_call_id: int = 0
    crc_errors: int = 0
    framing_errors: int = 0
    hardware_overruns: int = 0
    buffer_overruns: int = 0
    timeout_errors: int = 0
    alignment_errors: int = 0


@_message(ControlType.SET_LINK_INFO, "HHII", ("peer_call_id", "_", "send_accm", "recv_accm"))
@dataclass(frozen=True, slots=True)
class SetLinkInfo(ControlMessage):
    """SLI, 24 octets (RFC 2637 §2.15)."""

    peer_call_id: int = 0
    send_accm: int = 0xFFFFFFFF
    recv_accm: int = 0xFFFFFFFF


MESSAGES: dict[int, type[ControlMessage]] = {
    cls.TYPE: cls for cls in (
        StartControlConnectionRequest, StartControlConnectionReply, StopControlConnectionRequest,
        StopControlConnectionReply, EchoRequest, EchoReply, OutgoingCallRequest, OutgoingCallReply,
        IncomingCallRequest, IncomingCallReply, IncomingCallConnected, CallClearRequest, CallDisconnectNotify,
        WanErrorNotify, SetLinkInfo)
}
MAX_MESSAGE = max(cls.SIZE for cls in MESSAGES.values())  # 220 (ICRQ)
MIN_MESSAGE = min(cls.SIZE for cls in MESSAGES.values())  # 16


def peek_length(data: bytes | bytearray | memoryview) -> int | None:
    """The Length field of the message at the start of `data`, or None when fewer than 2 octets are there."""
    if len(data) < 2:
        return None
    return (data[0] << 8) | data[1]


def check_header(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Check the 12-octet header: returns (length, control type). Raises Malformed on a bad cookie or type."""
    if len(data) < HEADER_LEN:
        raise Malformed("short control header")
    length, msg_type, cookie, ctl_type, _ = HEADER.unpack_from(data, 0)
    if cookie != MAGIC_COOKIE:
        raise Malformed("bad magic cookie")
    if length < MIN_MESSAGE or length > MAX_MESSAGE:
        raise Malformed("bad control length")
    if msg_type != MessageType.CONTROL:
        raise Malformed("not a control message")
    return length, ctl_type


def decode(data: bytes | bytearray | memoryview) -> ControlMessage:
    """One whole control message (exactly its Length octets) -> the message. Raises Malformed."""
    length, ctl_type = check_header(data)
    cls = MESSAGES.get(ctl_type)
    if cls is None:
        raise Malformed("unknown control message type")
    if length != cls.SIZE:
        raise Malformed("wrong length for message type")
    if len(data) != length:
        raise Malformed("short control message" if len(data) < length else "trailing bytes after message")
    return cls._decode_body(data)
