"""L2TP header (RFC 2661 §3.1) and control message codec (§3.2, §6).

A control message is the 12-octet header (T, L and S set; O and P clear; version 2) followed by AVPs, the first
of which is Message Type. A message with no AVP at all is a ZLB acknowledgement (§5.8).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.l2tp.avp import AVPS, Avp, AvpType, MessageType, decode_avps
from rrasctl.protocols.wire import Reader

FLAG_T = 0x8000
FLAG_L = 0x4000
FLAG_S = 0x0800
FLAG_O = 0x0200
FLAG_P = 0x0100
VERSION_MASK = 0x000F
VERSION = 2
CONTROL_FLAGS = FLAG_T | FLAG_L | FLAG_S | VERSION    # 0xC802

CONTROL_HEADER = struct.Struct("!HHHHHH")          # flags, length, tunnel, session, Ns, Nr
FLAGS = struct.Struct("!H")
CONTROL_HEADER_LEN = 12


def peek(data: bytes | bytearray | memoryview) -> tuple[bool, int, int]:
    """(is_control, tunnel_id, session_id) of a datagram, for the engine's demultiplexer. Raises Malformed."""
    n = len(data)
    if n < 6:
        raise Malformed("short L2TP header")
    flags = FLAGS.unpack_from(data)[0]
    if flags & VERSION_MASK != VERSION:
        raise Malformed("not L2TP version 2")
    pos = 4 if flags & FLAG_L else 2
    if n < pos + 4:
        raise Malformed("short L2TP header")
    tunnel_id, session_id = struct.unpack_from("!HH", data, pos)
    return bool(flags & FLAG_T), tunnel_id, session_id


@dataclass(frozen=True, slots=True)
class ControlMessage:
    tunnel_id: int                   # the receiver's tunnel id (0 in an SCCRQ)
    session_id: int
    ns: int
    nr: int
    avps: tuple[Avp, ...] = ()

    @property
    def is_zlb(self) -> bool:
        return not self.avps

    @property
    def message_type(self) -> int | None:
        if not self.avps:
            return None
        return self.avps[0].decoded()

    @property
    def name(self) -> str:
        t = self.message_type
        if t is None:
            return "ZLB"
        try:
            return MessageType(t).name
        except ValueError:
            return f"type {t}"

    def avp(self, attr: AvpType) -> Avp | None:
        for a in self.avps:
            if a.vendor == 0 and a.type == attr and not a.reserved_bits:
                return a
        return None

    def get(self, attr: AvpType, default: Any = None) -> Any:
        a = self.avp(attr)
        return default if a is None else a.decoded()

    def unknown_mandatory(self) -> Avp | None:
        """The first AVP we do not know that has the M bit set (§4.1), or None."""
        for a in self.avps:
            if a.mandatory and not a.known:
                return a
        return None


def decode_control(data: bytes | bytearray | memoryview, secret: bytes | None = None) -> ControlMessage:
    """Decode one control message. Raises Malformed (never anything else) on bad input."""
    r = Reader(data, "L2TP control header")
    flags = r.u16()
    if flags & VERSION_MASK != VERSION:
        raise Malformed("not L2TP version 2")
    if flags & (FLAG_T | FLAG_L | FLAG_S) != FLAG_T | FLAG_L | FLAG_S:
        raise Malformed("control message without L and S bits")
    if flags & (FLAG_O | FLAG_P):
        raise Malformed("control message with O or P bit")
    length = r.u16()
    if length < CONTROL_HEADER_LEN or length > len(data):
        raise Malformed("bad control message length")
    tunnel_id, session_id, ns, nr = r.u16(), r.u16(), r.u16(), r.u16()
    body = Reader(data, "AVP", CONTROL_HEADER_LEN, length)
    avps = tuple(decode_avps(body, secret))
    if avps:
        first = avps[0]
        if first.vendor != 0 or first.type != AvpType.MESSAGE_TYPE or first.hidden:
            raise Malformed("first AVP is not Message Type")
        first.decoded()              # length check
    return ControlMessage(tunnel_id, session_id, ns, nr, avps)


def encode_control(tunnel_id: int, session_id: int, ns: int, nr: int, body: bytes = b"") -> bytes:
    """Header + already encoded AVPs (`body`; empty for a ZLB)."""
    return CONTROL_HEADER.pack(CONTROL_FLAGS, CONTROL_HEADER_LEN + len(body), tunnel_id, session_id,
                               ns & 0xFFFF, nr & 0xFFFF) + body


def describe(msg: ControlMessage) -> str:
    """One line for logs and `trace decode`: the message name and its AVPs (hidden ones marked)."""
    parts = []
    for a in msg.avps[1:]:
        try:
            v = a.decoded()
        except Malformed:
            v = a.value.hex()
        if isinstance(v, bytes):
            v = v.hex()
        flag = "H" if a.hidden else ""
        parts.append(f"{a.name}{'*' if flag else ''}={v}")
    return f"{msg.name} tunnel={msg.tunnel_id} session={msg.session_id} Ns={msg.ns} Nr={msg.nr}" + (
        " " + " ".join(parts) if parts else "")


__all__ = ["AVPS", "ControlMessage", "decode_control", "encode_control", "peek", "describe", "CONTROL_FLAGS"]
