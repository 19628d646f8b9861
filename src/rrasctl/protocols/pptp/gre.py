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

Receive window against spoofing (docs/decisions/0140-gre-far-ahead-and-stall-report.md): a data packet is accepted
only when it is 1 .. `max_ahead` (16384, the largest window any peer announces) after the last accepted one. One
further ahead is rejected ("far ahead") and moves nothing: not the sequence state, not the ack state, not the ack
count. Rejected packets are counted by reason (`stats`, folded by the engine; `rejected`, kept) and in `rx_rejected`.
`rejected_only_since(now)` says since when a call has received only rejected data packets (the owner polls it; the
first poll that sees such a run stamps it): a call stalled for `STALL_S` is reported by the engine. The same poll is
the only way back for a stream that really jumped (a Linux peer that lost more than `max_ahead` packets in a row, or a
spoofed packet inside the window that pushed ours ahead of the peer's): once the call has received only rejected
packets for `STALL_S` and they form one consistent run (each 1 .. `max_ahead` after the previous one, at least
`RESYNC_MIN_RUN` of them), the next packet of that run is accepted and the window follows it (`resyncs`). A burst
of spoofed packets while the real peer keeps talking never stalls the call, so never moves it.
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
MAX_AHEAD = 16384       # how far ahead of the last accepted packet one may be (RRAS announces 16384; decision 0140)
STALL_S = 5.0           # only rejected data packets for this long: the call is stalled (reported; may resync)
RESYNC_MIN_RUN = 3      # rejected packets in one consistent run before a stalled call may follow it


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
                 "_hdr_view", "rx_packets", "tx_packets", "rx_lost", "tx_beyond_window", "_v12", "_v16",
                 "max_ahead", "rx_rejected", "rejected", "resyncs", "_rej_mark", "_rej_since", "_rej_since_mark",
                 "_cand_seq", "_cand_run", "_cand_mark", "_resync_armed")

    def __init__(self, local_call_id: int, peer_call_id: int, peer_recv_window: int = 64,
                 recv_window: int = 64, *, ack_delay: float = ACK_DELAY_S, max_ahead: int = MAX_AHEAD) -> None:
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
        # spoofing defence (decision 0140); none of it is touched by the in-order fast path
        self.max_ahead = max(1, min(max_ahead, HALF - 1))
        self.rx_rejected = 0         # packets of this call rejected (malformed, late, duplicate, far ahead)
        self.rejected = Counters()   # the same by reason, kept (the engine folds and clears `stats`)
        self.resyncs = 0             # times a stalled call followed a consistent run of rejected packets
        self._rej_mark = -1          # rx_packets at the last rejection: equal to rx_packets = none accepted since
        self._rej_since: float | None = None    # when a poll first saw the current rejected-only run
        self._rej_since_mark = -1    # rx_packets when _rej_since was stamped (another value: a new run)
        self._cand_seq = 0           # the last sequence number of the current run of rejected data packets
        self._cand_run = 0           # its length
        self._cand_mark = -1         # rx_packets when the run began (another value: a packet was accepted since)
        self._resync_armed = False   # a poll found the call stalled on a consistent run: follow its next packet

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
            return self._reject("short GRE header")
        flags, proto, length, call_id = BASE.unpack_from(data, 0)
        if (flags & _FIXED_MASK) != _FIXED_VALUE or proto != PPP_PROTOCOL_TYPE:
            return self._reject("bad GRE header")
        if call_id != self.local_call_id:
            return self._reject("wrong call id")
        off = 8
        ack = None
        if flags & FLAG_S:
            if flags & FLAG_A:
                if n < 16:
                    return self._reject("short GRE header")
                seq, ack = SEQ_ACK.unpack_from(data, 8)
                off = 16
            else:
                if n < 12:
                    return self._reject("short GRE header")
                seq = U32.unpack_from(data, 8)[0]
                off = 12
        else:
            if flags & FLAG_A:
                if n < 12:
                    return self._reject("short GRE header")
                self._take_ack(U32.unpack_from(data, 8)[0])
            if length:
                return self._reject("GRE payload without sequence number")
            self.stats.count("ack-only")
            return None
        last = self.rx_seq
        gap = 1 if last is None else (seq - last) & 0xFFFFFFFF
        far = HALF > gap > self.max_ahead
        if ack is not None and not far:
            self._take_ack(ack)           # a far-ahead packet moves nothing, not even our send window
        if off + length > n:
            return self._reject("GRE payload length beyond the packet")
        if gap == 0 or gap >= HALF or far:
            if not self._follow(seq):
                return self._reject("far ahead" if far else "late or duplicate", seq)
            if ack is not None and far:
                self._take_ack(ack)
        elif gap > 1:
            self.rx_lost += gap - 1
        self.rx_seq = seq
        self.unacked += 1
        self.rx_packets += 1
        if isinstance(data, memoryview):
            return data[off:off + length]
        return memoryview(data)[off:off + length]

    def _reject(self, reason: str, seq: int | None = None) -> None:
        """Count a rejected packet; a data packet outside the window also extends (or starts) the run of rejected
        sequence numbers a stalled call may resynchronise to."""
        self.stats.count(reason)
        self.rejected.count(reason)
        self.rx_rejected += 1
        self._rej_mark = self.rx_packets
        if seq is not None:
            if (self._cand_run and self._cand_mark == self.rx_packets
                    and 0 < ((seq - self._cand_seq) & 0xFFFFFFFF) <= self.max_ahead):
                self._cand_run += 1
            else:
                self._cand_run, self._cand_mark, self._resync_armed = 1, self.rx_packets, False
            self._cand_seq = seq
        return None

    def _follow(self, seq: int) -> bool:
        """True when `seq` continues the run a stalled call was armed to follow (see `rejected_only_since`)."""
        if not (self._resync_armed and self._cand_mark == self.rx_packets
                and 0 < ((seq - self._cand_seq) & 0xFFFFFFFF) <= self.max_ahead):
            return False
        self._resync_armed = False
        self._cand_run = 0
        self.resyncs += 1
        return True

    def rejected_only_since(self, now: float) -> float | None:
        """Since when this call has received only rejected data packets (None: its last packet was accepted, or
        none was rejected). The first call that sees a run stamps it with `now`, so the answer is as precise as the
        polling. Also the resynchronisation clock: a run older than `STALL_S` whose rejected sequence numbers are
        consistent (at least `RESYNC_MIN_RUN`, each 1 .. `max_ahead` after the previous) arms the window to follow
        the run's next packet."""
        marks = self.rx_packets
        if self._rej_mark != marks:
            self._rej_since = None
            return None
        since = self._rej_since
        if since is None or self._rej_since_mark != marks:
            self._rej_since, self._rej_since_mark = now, marks
            return now
        if (now - since >= STALL_S and self._cand_run >= RESYNC_MIN_RUN and self._cand_mark == marks):
            self._resync_armed = True
        return since

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
