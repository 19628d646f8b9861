"""Enhanced GRE (RFC 2637 §4.1): header views and the per-call sequence/acknowledgement window.

    0                   1                   2                   3
    |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type (0x880B)    |
    |    Key (HW) Payload Length    |       Key (LW) Call ID            |
    |                 Sequence Number (Optional, S)                     |
    |               Acknowledgment Number (Optional, A)                 |

C, R, s and Recur are 0, K is 1, Ver is 1. The Call ID is the *receiver's* call id (the one it chose), so a packet
we receive carries our `local_call_id` and a packet we send carries the `peer_call_id`. A packet without S carries no
payload (an ack-only packet). Sequence and acknowledgement numbers are 32-bit and wrap: comparisons are modulo 2^32
(a number is "newer" when it is 1 .. 2^31-1 ahead).

`GreWindow` is the data path (DESIGN.md §5): `open()` parses with one `unpack_from`, drops late and duplicate
packets, takes the peer's ack, and returns the payload view; `header()` writes our header into a preallocated buffer.
Ack policy (delayed acknowledgements, RFC 2637 §4.4; docs/decisions/0066-pptp-delayed-acks.md): an ack is
piggybacked on the next packet we send. Otherwise the window counts the data packets received and not yet acknowledged
(`unacked`), and an ack-only packet is owed when that count reaches half the smaller of the receive window we
announced and the peer's own (`ack_threshold`: a sender that honours our window never waits for credit, nor one
whose send window is no larger than the window it announces for itself), or when the delayed-ack deadline
passes (`ack_delay`, 20 ms after the owner first asked `ack_deadline(now)` about an unacknowledged packet). The owner
asks `poll_ack(now)` after each batch of received packets and when the deadline it armed fires, and sends what it
returns; a piggybacked ack clears the count and the deadline.
The peer's receive window (from its OCRQ/OCRP) is tracked: packets beyond it are counted, not dropped, because
peers that never send ack-only packets (the Linux kernel's pptp) would otherwise stall a one-way flow
(docs/decisions/0061-gre-window-counted-not-enforced.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rrasctl.protocols.base import Counters, Malformed

GRE_PROTOCOL = 47
PPP_PROTOCOL_TYPE = 0x880B
FLAG_C, FLAG_R, FLAG_K, FLAG_S, FLAG_SSR = 0x8000, 0x4000, 0x2000, 0x1000, 0x0800
RECUR_MASK = 0x0700
FLAG_A = 0x0080
FLAGS_MASK = 0x0078
VERSION_MASK = 0x0007
VERSION = 1
# bits that must be exactly so, whatever S and A are: C=0 R=0 K=1 s=0 Recur=0 Flags=0 Ver=1
_FIXED_MASK = FLAG_C | FLAG_R | FLAG_K | FLAG_SSR | RECUR_MASK | FLAGS_MASK | VERSION_MASK
_FIXED_VALUE = FLAG_K | VERSION

BASE = struct.Struct("!HHHH")           # flags+ver, protocol, payload length, call id
U32 = struct.Struct("!I")
SEQ_ACK = struct.Struct("!II")
_HDR12 = struct.Struct("!HHHHI")
_HDR16 = struct.Struct("!HHHHII")
_FLAGS_S = _FIXED_VALUE | FLAG_S
_FLAGS_SA = _FIXED_VALUE | FLAG_S | FLAG_A
MOD = 1 << 32
HALF = 1 << 31
ACK_DELAY_S = 0.02      # the longest an accepted packet waits for its ack (decision 0066)


def newer(a: int, b: int) -> bool:
    """True when sequence number `a` is after `b` (RFC 1982 serial arithmetic over 32 bits)."""
    return 0 < ((a - b) & 0xFFFFFFFF) < HALF


@dataclass(frozen=True, slots=True)
class GreHeader:
    """A decoded enhanced GRE header (control path, tests, `trace decode`)."""

    call_id: int
    payload_length: int
    seq: int | None = None
    ack: int | None = None

    @property
    def size(self) -> int:
        return 8 + (4 if self.seq is not None else 0) + (4 if self.ack is not None else 0)

    def encode(self, payload: bytes = b"") -> bytes:
        flags = _FIXED_VALUE
        tail = b""
        if self.seq is not None:
            flags |= FLAG_S
            tail += U32.pack(self.seq)
        if self.ack is not None:
            flags |= FLAG_A
            tail += U32.pack(self.ack)
        return BASE.pack(flags, PPP_PROTOCOL_TYPE, self.payload_length, self.call_id) + tail + payload


def decode(data: bytes | bytearray | memoryview) -> tuple[GreHeader, memoryview]:
    """A GRE packet (no IP header) -> (header, payload view). Raises Malformed."""
    n = len(data)
    if n < 8:
        raise Malformed("short GRE header")
    flags, proto, length, call_id = BASE.unpack_from(data, 0)
    if (flags & _FIXED_MASK) != _FIXED_VALUE:
        raise Malformed("not enhanced GRE (flags or version)" if (flags & VERSION_MASK) == VERSION
                        else "GRE version is not 1")
    if proto != PPP_PROTOCOL_TYPE:
        raise Malformed("GRE protocol is not PPP")
    off = 8
    seq = ack = None
    if flags & FLAG_S:
        if n < off + 4:
            raise Malformed("short GRE header")
        seq = U32.unpack_from(data, off)[0]
        off += 4
    if flags & FLAG_A:
        if n < off + 4:
            raise Malformed("short GRE header")
        ack = U32.unpack_from(data, off)[0]
        off += 4
    if seq is None and length:
        raise Malformed("GRE payload without sequence number")
    if off + length > n:
        raise Malformed("GRE payload length beyond the packet")
    return GreHeader(call_id, length, seq, ack), memoryview(data)[off:off + length]


def peek_call_id(data: bytes | bytearray | memoryview, offset: int = 0) -> int:
    """The Call ID field of a GRE header at `offset` (no checks: the caller checked the length)."""
    return (data[offset + 6] << 8) | data[offset + 7]


class GreWindow:
    """One call's GRE sequence state, both directions. `local_call_id` is ours, `peer_call_id` the peer's."""

    __slots__ = ("local_call_id", "peer_call_id", "peer_recv_window", "recv_window", "tx_seq", "tx_acked",
                 "rx_seq", "unacked", "ack_threshold", "ack_delay", "ack_at", "acks_sent", "stats", "_hdr",
                 "_hdr_view", "rx_packets", "tx_packets", "rx_lost", "tx_beyond_window", "_v12", "_v16")

    def __init__(self, local_call_id: int, peer_call_id: int, peer_recv_window: int = 64,
                 recv_window: int = 64, *, ack_delay: float = ACK_DELAY_S) -> None:
        self.local_call_id = local_call_id
        self.peer_call_id = peer_call_id
        self.peer_recv_window = peer_recv_window if peer_recv_window > 0 else 64
        self.recv_window = recv_window
        self.tx_seq = 0              # the next sequence number we send
        self.tx_acked = MOD - 1      # the highest of ours the peer acked (-1: none yet)
        self.rx_seq: int | None = None   # the highest sequence number we accepted
        self.unacked = 0             # data packets accepted since our last ack (piggybacked or ack-only)
        # half the smaller window: ours (what the peer may send) and the peer's own (its likely send-window cap)
        self.ack_threshold = max(1, min(recv_window, self.peer_recv_window) // 2)
        self.ack_delay = ack_delay
        self.ack_at: float | None = None   # when the delayed ack is due (set by ack_deadline)
        self.acks_sent = 0           # ack-only packets built
        self.stats = Counters()
        self.rx_packets = self.tx_packets = self.rx_lost = self.tx_beyond_window = 0
        self._hdr = bytearray(16)
        self._hdr_view = memoryview(self._hdr)
        self._v12, self._v16 = self._hdr_view[4:16], self._hdr_view[:16]     # as header_into(self._hdr, 16) writes them

    def set_peer(self, peer_call_id: int, peer_recv_window: int) -> None:
        """The peer's call id and receive window, once its Outgoing-Call-Reply names them (a window made before the
        call was placed, so that GRE arriving with the reply is not lost)."""
        self.peer_call_id = peer_call_id
        self.peer_recv_window = peer_recv_window if peer_recv_window > 0 else 64
        self.ack_threshold = max(1, min(self.recv_window, self.peer_recv_window) // 2)

    # ---- receive ------------------------------------------------------------------------------------------

    def open(self, data: bytes | bytearray | memoryview) -> memoryview | None:
        """A received GRE packet (no IP header) -> the PPP payload, or None (ack-only, late, duplicate or bad;
        counted). Takes the peer's acknowledgement either way.

        The common case (a data packet of ours, S or S+A, in order) takes one `unpack_from` and no call; anything
        else goes through `_open_checked`, which decides and counts exactly as before."""
        n = len(data)
        if n < 16:
            return self._open_checked(data, n)
        flags, proto, length, call_id, seq, ack = _HDR16.unpack_from(data, 0)
        if proto != PPP_PROTOCOL_TYPE or call_id != self.local_call_id:
            return self._open_checked(data, n)
        if flags == _FLAGS_SA:
            off = 16
        elif flags == _FLAGS_S:
            off = 12
        else:
            return self._open_checked(data, n)
        end = off + length
        last = self.rx_seq
        if end > n or last is None or ((seq - last) & 0xFFFFFFFF) != 1:
            return self._open_checked(data, n)
        if off == 16 and ack != self.tx_acked:
            self._take_ack(ack)
        self.rx_seq = seq
        self.unacked += 1
        self.rx_packets += 1
        if type(data) is memoryview:
            return data[off:end]
        return memoryview(data)[off:end]

    def _open_checked(self, data: bytes | bytearray | memoryview, n: int) -> memoryview | None:
        """`open` for every packet the fast path does not take (the fast path has not touched the window then)."""
        if n < 8:
            self.stats.count("short GRE header")
            return None
        flags, proto, length, call_id = BASE.unpack_from(data, 0)
        if (flags & _FIXED_MASK) != _FIXED_VALUE or proto != PPP_PROTOCOL_TYPE:
            self.stats.count("bad GRE header")
            return None
        if call_id != self.local_call_id:
            self.stats.count("wrong call id")
            return None
        off = 8
        if flags & FLAG_S:
            if flags & FLAG_A:
                if n < 16:
                    self.stats.count("short GRE header")
                    return None
                seq, ack = SEQ_ACK.unpack_from(data, 8)
                off = 16
                self._take_ack(ack)
            else:
                if n < 12:
                    self.stats.count("short GRE header")
                    return None
                seq = U32.unpack_from(data, 8)[0]
                off = 12
        else:
            if flags & FLAG_A:
                if n < 12:
                    self.stats.count("short GRE header")
                    return None
                self._take_ack(U32.unpack_from(data, 8)[0])
            if length:
                self.stats.count("GRE payload without sequence number")
            else:
                self.stats.count("ack-only")
            return None
        if off + length > n:
            self.stats.count("GRE payload length beyond the packet")
            return None
        last = self.rx_seq
        if last is not None:
            gap = (seq - last) & 0xFFFFFFFF
            if gap == 0 or gap >= HALF:
                self.stats.count("late or duplicate")
                return None
            if gap > 1:
                self.rx_lost += gap - 1
        self.rx_seq = seq
        self.unacked += 1
        self.rx_packets += 1
        if isinstance(data, memoryview):
            return data[off:off + length]
        return memoryview(data)[off:off + length]

    @property
    def ack_pending(self) -> bool:
        """An accepted packet has not been acknowledged yet."""
        return self.unacked > 0

    def ack_deadline(self, now: float) -> float | None:
        """When the delayed ack for the unacknowledged packets is due: fixed at `now + ack_delay` by the first call
        after one arrived, kept until an ack goes out. None when nothing is owed."""
        if not self.unacked:
            return None
        at = self.ack_at
        if at is None:
            at = self.ack_at = now + self.ack_delay
        return at

    def poll_ack(self, now: float) -> bytes | None:
        """The ack-only packet due at `now`: when `ack_threshold` packets wait for their ack, or the deadline set by
        `ack_deadline` has passed. None otherwise (the ack may still go out piggybacked, or later)."""
        u = self.unacked
        if not u:
            return None
        if u >= self.ack_threshold or (self.ack_at is not None and now >= self.ack_at):
            return self.take_ack()
        return None

    def _take_ack(self, ack: int) -> None:
        d = (ack - self.tx_acked) & 0xFFFFFFFF
        if d == 0:
            return
        if d >= HALF or ((self.tx_seq - 1 - ack) & 0xFFFFFFFF) >= HALF:
            self.stats.count("ack for a packet never sent" if d < HALF else "old ack")
            return
        self.tx_acked = ack

    # ---- send ---------------------------------------------------------------------------------------------

    def header(self, payload_length: int) -> memoryview:
        """Our header for a payload of `payload_length` octets, with the next sequence number and a piggybacked
        ack when one is due. The view is into a buffer reused by the next call: send it first."""
        return self._v16 if self.header_into(self._hdr, 16, payload_length) == 0 else self._v12

    def header_into(self, buf: bytearray, end: int, payload_length: int) -> int:
        """`header` written into ``buf`` so that it ends at ``end`` (the payload follows it there): 16 octets with a
        piggybacked ack, else 12. Returns where the header starts. Same sequence and ack bookkeeping as `header`."""
        seq = self.tx_seq
        if ((seq - self.tx_acked - 1) & 0xFFFFFFFF) >= self.peer_recv_window:
            self.tx_beyond_window += 1
        self.tx_seq = (seq + 1) & 0xFFFFFFFF
        self.tx_packets += 1
        if self.unacked:
            self.unacked = 0
            self.ack_at = None
            _HDR16.pack_into(buf, end - 16, _FLAGS_SA, PPP_PROTOCOL_TYPE, payload_length, self.peer_call_id, seq,
                             self.rx_seq)
            return end - 16
        _HDR12.pack_into(buf, end - 12, _FLAGS_S, PPP_PROTOCOL_TYPE, payload_length, self.peer_call_id, seq)
        return end - 12

    def seal(self, payload: bytes | bytearray | memoryview) -> bytes:
        """A whole GRE packet carrying `payload` (control frames; the data path uses `header` + scatter send)."""
        return bytes(self.header(len(payload))) + bytes(payload)

    def take_ack(self) -> bytes | None:
        """The ack-only packet owed to the peer now, whatever the policy, or None when every accepted packet was acked
        already. Clears the count and the deadline."""
        if not self.unacked or self.rx_seq is None:
            return None
        self.unacked = 0
        self.ack_at = None
        self.acks_sent += 1
        return BASE.pack(_FIXED_VALUE | FLAG_A, PPP_PROTOCOL_TYPE, 0, self.peer_call_id) + U32.pack(self.rx_seq)
