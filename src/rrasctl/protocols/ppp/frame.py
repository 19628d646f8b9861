"""PPP framing: protocol numbers, control packet header, address/control and protocol field compression.

A PPP frame as carried by PPTP's GRE and L2TP data messages (RFC 2637 §4.1, RFC 2661 §4.3) is HDLC-like framing
without flags, FCS or octet stuffing: ``[FF 03] protocol information``. The address/control bytes ``FF 03`` may be
absent (ACFC, RFC 1661 §6.6) and the protocol field may be one byte when its value is odd in the first byte
(PFC, RFC 1661 §6.5). Receivers must accept both forms whatever was negotiated (RFC 1661 §6.5, §6.6), so
`split_frame` always does; `build_frame` compresses only when asked.

LCP, IPCP, CCP, PAP and CHAP packets share one header (RFC 1661 §5): code, identifier, length, data. Octets past
Length are link padding and are ignored; a Length shorter than 4 or longer than the packet is `Malformed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.wire import U16

__all__ = [
    "PppProtocol", "Code", "ControlPacket", "split_frame", "build_frame", "protocol_name", "HEADER_LEN",
]

HEADER_LEN = 4  # code, identifier, length (RFC 1661 §5)


class PppProtocol(IntEnum):
    """PPP protocol field values (RFC 1661 §2, IANA "PPP DLL Protocol Numbers")."""

    IP = 0x0021
    IPV6 = 0x0057
    MPPE = 0x00FD            # compressed/encrypted datagram (RFC 1962 §2, RFC 3078 §3)
    IPCP = 0x8021            # RFC 1332
    IPV6CP = 0x8057          # RFC 5072
    CCP = 0x80FD             # RFC 1962
    LCP = 0xC021             # RFC 1661
    PAP = 0xC023             # RFC 1334
    LQR = 0xC025
    CHAP = 0xC223            # RFC 1994 (MS-CHAP v1/v2 too, by algorithm)
    EAP = 0xC227             # RFC 3748


class Code(IntEnum):
    """Control packet codes (RFC 1661 §5; RFC 1962 §1 for Reset-Request/Ack)."""

    CONFIGURE_REQUEST = 1
    CONFIGURE_ACK = 2
    CONFIGURE_NAK = 3
    CONFIGURE_REJECT = 4
    TERMINATE_REQUEST = 5
    TERMINATE_ACK = 6
    CODE_REJECT = 7
    PROTOCOL_REJECT = 8      # LCP only
    ECHO_REQUEST = 9         # LCP only
    ECHO_REPLY = 10          # LCP only
    DISCARD_REQUEST = 11     # LCP only
    IDENTIFICATION = 12      # LCP, RFC 1570
    TIME_REMAINING = 13      # LCP, RFC 1570
    RESET_REQUEST = 14       # CCP, RFC 1962 §1
    RESET_ACK = 15           # CCP, RFC 1962 §1


def protocol_name(protocol: int) -> str:
    """``"LCP"``, ``"IPCP"``..., or ``"0x8281"`` for a number we do not know."""
    try:
        return PppProtocol(protocol).name
    except ValueError:
        return f"0x{protocol:04x}"


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """One LCP/IPCP/CCP/PAP/CHAP packet: the information field of a control frame (RFC 1661 §5)."""

    code: int
    id: int
    data: bytes = b""

    @classmethod
    def decode(cls, payload: bytes | memoryview) -> "ControlPacket":
        n = len(payload)
        if n < HEADER_LEN:
            raise Malformed("short control packet")
        length = U16.unpack_from(payload, 2)[0]
        if length < HEADER_LEN:
            raise Malformed("control packet length below 4")
        if length > n:
            raise Malformed("control packet length beyond frame")
        return cls(payload[0], payload[1], bytes(payload[HEADER_LEN:length]))

    def encode(self) -> bytes:
        length = HEADER_LEN + len(self.data)
        if length > 0xFFFF:
            raise ValueError("control packet too long")
        return bytes((self.code, self.id)) + U16.pack(length) + self.data


def split_frame(frame: bytes | memoryview) -> tuple[int, memoryview]:
    """Split a PPP frame into (protocol, information field). Accepts FF 03 or not, 1- or 2-byte protocol.

    Raises `Malformed` on an empty frame, a lone address byte, or a protocol field whose last byte is even
    (RFC 1661 §2: protocol values are odd in the least significant bit of the last byte, even in the first).
    """
    view = memoryview(frame)
    n = len(view)
    pos = 0
    if n >= 2 and view[0] == 0xFF:
        if view[1] != 0x03:
            raise Malformed("bad HDLC control byte")
        pos = 2
    if pos >= n:
        raise Malformed("empty PPP frame")
    first = view[pos]
    if first & 1:                          # PFC: one-byte protocol (RFC 1661 §6.5)
        return first, view[pos + 1:]
    if pos + 2 > n:
        raise Malformed("short protocol field")
    second = view[pos + 1]
    if not second & 1:
        raise Malformed("bad protocol field")
    return (first << 8) | second, view[pos + 2:]


def build_frame(protocol: int, info: bytes | memoryview, *, acfc: bool = False, pfc: bool = False) -> bytes:
    """One PPP frame. With ``acfc`` the FF 03 is left out; with ``pfc`` a protocol below 0x100 takes one byte.

    LCP frames must always be sent with both fields (RFC 1661 §6.5, §6.6): callers pass False for them.
    """
    if pfc and protocol < 0x100:
        head = bytes((protocol,))
    else:
        head = U16.pack(protocol)
    if not acfc:
        head = b"\xff\x03" + head
    return head + bytes(info)
