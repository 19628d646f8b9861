"""L2TP data messages (RFC 2661 §3.1, §5.4): header views, and one session = header + PPP link.

A data message is `flags [length] tunnel session [Ns Nr] [offset-size offset-pad] PPP-frame`. We send the short
form (flags 0x0002, 6 octets: no L, S, O or P), which the RFC allows unless the peer sent Sequencing Required;
we read every form (the ISP capture has O and P set with offset 0).

The per-packet path is straight-line: `payload_offset()` reads the header with `unpack_from` on the receive
buffer and returns where the PPP frame starts; `L2tpSession.seal_header` is built once per session, and
`L2tpSession.seal_view` writes header + PPP frame into a per-session buffer (the IP packet copied once, no
concatenation).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.l2tp.messages import FLAG_L, FLAG_O, FLAG_P, FLAG_S, FLAG_T, VERSION, VERSION_MASK

_HHH = struct.Struct("!HHH")
_H = struct.Struct("!H")
SHORT_FLAGS = VERSION                      # 0x0002


@dataclass(frozen=True, slots=True)
class DataHeader:
    tunnel_id: int
    session_id: int
    length: int | None
    ns: int | None
    nr: int | None
    offset_size: int | None
    priority: bool
    payload_offset: int                   # where the PPP frame starts


def decode_data(data: bytes | bytearray | memoryview) -> DataHeader:
    n = len(data)
    if n < 6:
        raise Malformed("short data header")
    flags = _H.unpack_from(data)[0]
    if flags & VERSION_MASK != VERSION:
        raise Malformed("not L2TP version 2")
    if flags & FLAG_T:
        raise Malformed("control message on the data path")
    pos = 2
    length = None
    if flags & FLAG_L:
        length = _H.unpack_from(data, 2)[0]
        pos = 4
        if length > n or length < 6:
            raise Malformed("bad data message length")
        n = length
    if n < pos + 4:
        raise Malformed("short data header")
    tunnel_id, session_id = struct.unpack_from("!HH", data, pos)
    pos += 4
    ns = nr = None
    if flags & FLAG_S:
        if n < pos + 4:
            raise Malformed("short data header")
        ns, nr = struct.unpack_from("!HH", data, pos)
        pos += 4
    offset = None
    if flags & FLAG_O:
        if n < pos + 2:
            raise Malformed("short data header")
        offset = _H.unpack_from(data, pos)[0]
        pos += 2 + offset
        if pos > n:
            raise Malformed("offset beyond the message")
    return DataHeader(tunnel_id, session_id, length, ns, nr, offset, bool(flags & FLAG_P), pos)


def payload_bounds(buf: bytes | bytearray | memoryview, n: int) -> tuple[int, int, int]:
    """(session_id, start, end) of the PPP frame in the first `n` bytes of `buf`; the fast path for the short
    header, the general decoder for the rest. Raises Malformed."""
    if n >= 6:
        flags, _tunnel, session = _HHH.unpack_from(buf)
        if flags == SHORT_FLAGS:
            return session, 6, n
    h = decode_data(memoryview(buf)[:n])
    return h.session_id, h.payload_offset, h.length if h.length is not None else n


def encode_data(tunnel_id: int, session_id: int, frame: bytes, *, ns: int | None = None, nr: int = 0,
                length: bool = False, offset: int | None = None, priority: bool = False) -> bytes:
    """A data message in any form (tests and tools; the engine uses the prebuilt short header)."""
    flags = VERSION
    head = b""
    if ns is not None:
        flags |= FLAG_S
        head += struct.pack("!HH", ns, nr)
    if offset is not None:
        flags |= FLAG_O
        head += struct.pack("!H", offset) + b"\0" * offset
    if priority:
        flags |= FLAG_P
    ids = struct.pack("!HH", tunnel_id, session_id)
    if length:
        flags |= FLAG_L
        total = 4 + len(ids) + len(head) + len(frame)
        return struct.pack("!HH", flags, total) + ids + head + frame
    return struct.pack("!H", flags) + ids + head + frame


class L2tpSession:
    """One session's data path: the peer's ids in a prebuilt header, and the PPP link that carries its frames.

    `link` is any object with `receive(frame, now)` (H4's PppLink); `seal(frame)` returns the datagram for a PPP
    frame produced by the link.
    """

    __slots__ = ("local_tunnel_id", "local_session_id", "peer_tunnel_id", "peer_session_id", "link",
                 "seal_header", "frames_in", "frames_out", "bytes_in", "bytes_out", "_tx", "_txv")

    def __init__(self, local_tunnel_id: int, local_session_id: int, peer_tunnel_id: int, peer_session_id: int,
                 link: object = None) -> None:
        self.local_tunnel_id = local_tunnel_id
        self.local_session_id = local_session_id
        self.peer_tunnel_id = peer_tunnel_id
        self.peer_session_id = peer_session_id
        self.link = link
        self.seal_header = _HHH.pack(SHORT_FLAGS, peer_tunnel_id, peer_session_id)
        self.frames_in = self.frames_out = self.bytes_in = self.bytes_out = 0
        self._tx: bytearray | None = None        # seal_view's buffer (header prebuilt), allocated on first use
        self._txv: memoryview | None = None

    def seal(self, frame: bytes | bytearray | memoryview) -> bytes:
        self.frames_out += 1
        self.bytes_out += len(frame)
        return self.seal_header + frame

    def seal_view(self, ip_packet: bytes | bytearray | memoryview) -> memoryview | None:
        """The whole data message for ``ip_packet``: the prebuilt short header, then the PPP frame that
        ``self.link.seal_into`` writes after it (PppLink: None when the link carries no data now). Built in this
        session's buffer (2 KiB, grown for larger packets), so, like `seal_header` + `link.seal_data`, without
        counting ``frames_out``. Contract: the view aliases that buffer, which the next call overwrites: send it
        first. ``ip_packet`` may be reused as soon as this returns."""
        buf = self._tx
        if buf is None or len(ip_packet) > len(buf) - 14:
            buf = self._tx = bytearray(max(2048, len(ip_packet) + 14))
            buf[:6] = self.seal_header
            self._txv = memoryview(buf)
        view = self._txv
        end = self.link.seal_into(ip_packet, buf, view, 6)  # type: ignore[union-attr]
        if end < 0:
            return None
        return view[:end]


__all__ = ["DataHeader", "decode_data", "encode_data", "payload_bounds", "L2tpSession", "FLAG_P", "FLAG_L"]
