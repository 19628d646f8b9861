"""The reliable control channel of RFC 2661 §5.8 and Appendix A, without the tunnel's meaning.

Ns/Nr with 16-bit wrap-around; a message is acknowledged by any later message's Nr or by a ZLB; the peer's
receive window bounds what is in flight; slow start and congestion avoidance govern the congestion window;
the oldest unacknowledged message is retransmitted with exponential back-off (1 s doubling to 8 s by default)
and after `max_retries` retransmissions the channel gives up. Duplicates are re-acknowledged; messages that
arrive early (inside our receive window) are queued until the gap fills.

The owner (`L2tpTunnel`) queues message bodies with `queue(session_id, body)`, feeds every received message to
`accept(msg)`, which returns the messages now deliverable in order, and drains datagrams with `flush()`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from rrasctl.protocols.base import Counters
from rrasctl.protocols.l2tp.messages import ControlMessage, encode_control

DEFAULT_PEER_WINDOW = 4          # §5.8: no Receive Window Size AVP means 4


def seq_before(a: int, b: int) -> bool:
    """a < b in 16-bit serial arithmetic (§5.8)."""
    return a != b and ((a - b) & 0xFFFF) >= 0x8000


@dataclass(slots=True)
class _Pending:
    ns: int
    session_id: int
    body: bytes


@dataclass
class ChannelConfig:
    receive_window: int = 16         # what we announce; how far ahead we queue out-of-order messages
    retransmit_s: float = 1.0        # §5.8 recommends 1 s initial timeout
    retransmit_max_s: float = 8.0    # and a cap of no less than 8 s
    max_retries: int = 5             # §5.8 recommends 5 retransmissions by default


@dataclass
class ReliableChannel:
    config: ChannelConfig = field(default_factory=ChannelConfig)
    stats: Counters = field(default_factory=Counters)
    peer_tunnel_id: int = 0
    peer_window: int = DEFAULT_PEER_WINDOW
    ns: int = 0                      # Ns of the next new message we send
    nr: int = 0                      # Ns we expect next from the peer
    cwnd: int = 1
    ssthresh: int = DEFAULT_PEER_WINDOW
    failed: bool = False             # retries exhausted

    def __post_init__(self) -> None:
        self._unsent: deque[tuple[int, bytes]] = deque()
        self._inflight: list[_Pending] = []
        self._early: dict[int, ControlMessage] = {}
        self._ack_pending = False
        self._ca_acks = 0
        self._rtx_deadline: float | None = None
        self._rtx_interval = self.config.retransmit_s
        self._retries = 0
        self._out: list[bytes] = []
        self.retransmissions = 0
        self.retry_limit: int | None = None      # overrides config.max_retries (a responder's unfinished handshake)

    # ---- configuration from the peer ------------------------------------------------------------------------
    def set_peer_window(self, window: int) -> None:
        self.peer_window = max(1, window)
        self.ssthresh = self.peer_window

    # ---- sending ---------------------------------------------------------------------------------------------
    def queue(self, session_id: int, body: bytes) -> None:
        self._unsent.append((session_id, body))

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing unacknowledged."""
        return not self._unsent and not self._inflight

    def unacked(self) -> int:
        return len(self._inflight) + len(self._unsent)

    def flush(self, now: float) -> list[bytes]:
        """Datagrams to send now: new messages the windows allow, then a ZLB if an ack is still owed."""
        limit = min(self.cwnd, self.peer_window)
        while self._unsent and len(self._inflight) < limit:
            session_id, body = self._unsent.popleft()
            p = _Pending(self.ns, session_id, body)
            self.ns = (self.ns + 1) & 0xFFFF
            self._inflight.append(p)
            self._out.append(encode_control(self.peer_tunnel_id, session_id, p.ns, self.nr, body))
            self._ack_pending = False
            if self._rtx_deadline is None:
                self._rtx_deadline = now + self._rtx_interval
        if self._ack_pending:
            self._out.append(encode_control(self.peer_tunnel_id, 0, self.ns, self.nr))
            self._ack_pending = False
        out, self._out = self._out, []
        return out

    def next_timer(self) -> float | None:
        return self._rtx_deadline if self._inflight else None

    def on_timer(self, now: float) -> bool:
        """Retransmit on expiry. Returns False when the retry limit is exceeded (the channel failed)."""
        if not self._inflight or self._rtx_deadline is None or now < self._rtx_deadline:
            return True
        self._retries += 1
        limit = self.config.max_retries if self.retry_limit is None else self.retry_limit
        if self._retries > limit:
            self.failed = True
            self._rtx_deadline = None
            return False
        # Appendix A: on a retransmission timeout, halve the threshold and restart slow start
        self.ssthresh = max(self.cwnd // 2, 1)
        self.cwnd = 1
        self._ca_acks = 0
        p = self._inflight[0]
        # §5.8: a retransmission keeps its Ns but carries the current Nr
        self._out.append(encode_control(self.peer_tunnel_id, p.session_id, p.ns, self.nr, p.body))
        self._ack_pending = False
        self.retransmissions += 1
        self._rtx_interval = min(self._rtx_interval * 2, self.config.retransmit_max_s)
        self._rtx_deadline = now + self._rtx_interval
        return True

    def abandon(self) -> None:
        """Forget everything queued or in flight (the tunnel is gone)."""
        self._unsent.clear()
        self._inflight.clear()
        self._rtx_deadline = None

    # ---- receiving -------------------------------------------------------------------------------------------
    def _on_ack(self, nr: int, now: float) -> None:
        # nr acknowledges every in-flight message with Ns before it; nr beyond what we sent is ignored
        if seq_before(self.ns, nr):
            self.stats.count("Nr beyond what was sent")
            return
        acked = 0
        while self._inflight and seq_before(self._inflight[0].ns, nr):
            self._inflight.pop(0)
            acked += 1
        if not acked:
            return
        for _ in range(acked):
            if self.cwnd < self.ssthresh:
                self.cwnd += 1                       # slow start: one per ack
            else:
                self._ca_acks += 1                   # congestion avoidance: one per window of acks
                if self._ca_acks >= self.cwnd:
                    self._ca_acks = 0
                    self.cwnd += 1
        self.cwnd = min(self.cwnd, self.peer_window)
        self._retries = 0
        self._rtx_interval = self.config.retransmit_s
        self._rtx_deadline = now + self._rtx_interval if self._inflight else None

    def accept(self, msg: ControlMessage, now: float) -> list[ControlMessage]:
        """Process the ack in `msg`; return the messages that are now deliverable, in order."""
        self._on_ack(msg.nr, now)
        if msg.is_zlb:
            return []
        if msg.ns == self.nr:
            out = [msg]
            self.nr = (self.nr + 1) & 0xFFFF
            while self.nr in self._early:
                out.append(self._early.pop(self.nr))
                self.nr = (self.nr + 1) & 0xFFFF
            self._ack_pending = True
            return out
        if seq_before(msg.ns, self.nr):
            self.stats.count("duplicate")
            self._ack_pending = True                 # §5.8: a duplicate is acknowledged again
            return []
        if ((msg.ns - self.nr) & 0xFFFF) < self.config.receive_window:
            self.stats.count("out of order")
            self._early.setdefault(msg.ns, msg)
            self._ack_pending = True                 # tells the peer what we still miss
            return []
        self.stats.count("beyond receive window")
        return []
