"""PptpCall: one PPTP call = its GRE window + its PppLink (DESIGN.md §2: the unit the session table holds).

Same contract as every core: `receive(gre_packet, now)` / `handle_timer(now)` return events (the PppLink's:
AuthRequested, NetworkUp, LinkDown ...); `take_output()` returns whole GRE packets (no IP header) to send to the
peer; `next_timer()` is the link's deadline.

Data path (DESIGN.md §5), no events and no avoidable allocation:

    ip = call.open_data(gre_view)        # IP packet for the TUN, or None
    if ip is None and call.pending:      # a PPP control frame (or a data frame the link dropped) arrived
        events = call.receive_pending(now)
    ...after a batch...
    ack = call.poll_ack(now)             # an ack-only packet when half our window waits for its ack, or the
    if ack is None:                      # delayed-ack deadline passed (decision 0066); else arm a timer for
        at = call.ack_deadline(now)      # `at` (None: nothing owed) and poll again when it fires

    parts = call.seal_data(ip_packet)    # (gre_header_view, ppp_frame) for sock.sendmsg, or None
    pkt = call.seal_view(ip_packet)      # or: the whole GRE packet in the call's transmit buffer (no allocation
                                         # but the view): sock.sendto(pkt, addr) before the next seal_view
"""

from __future__ import annotations

from rrasctl.protocols.base import Counters, Event
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.pptp.gre import GreWindow

GRE_ROOM = 16                 # the largest enhanced GRE header (sequence and ack): the PPP frame starts after it
PPP_ROOM = 8                  # PPP head (at most 4) + MPPE header (2) + inner protocol (2)
TX_BUFFER = 2048              # per call; grows for a larger packet (TUN MTU above ~2,000)


class PptpCall:
    """A PPTP call carrying one PPP link."""

    __slots__ = ("window", "link", "local_call_id", "peer_call_id", "_pending", "stats", "inbox", "_tx", "_txv",
                 "opened")

    def __init__(self, window: GreWindow, link) -> None:
        self.window = window
        self.link = link
        self.local_call_id = window.local_call_id
        self.peer_call_id = window.peer_call_id
        self._pending: list[bytes] = []
        self.inbox: list[bytes] = []        # IP packets received through the slow path `receive`
        self.stats = Counters()
        self._tx: bytearray | None = None   # seal_view's transmit buffer, allocated on first use
        self._txv: memoryview | None = None
        self.opened = False                 # PPP started: before that, control frames wait in `_pending`

    # ---- commands -----------------------------------------------------------------------------------------

    def connect(self, peer_call_id: int, peer_recv_window: int) -> None:
        """The peer's Outgoing-Call-Reply named its call id and window (a call made before the request went out,
        so that its first GRE packets find us ready)."""
        self.window.set_peer(peer_call_id, peer_recv_window)
        self.peer_call_id = peer_call_id

    def open(self, now: float) -> list[Event]:
        """The call is connected: start PPP (LCP), then hand it the PPP frames that arrived first. Returns the
        link's events (PppLink commands return events)."""
        self.opened = True
        events = self.link.open(now) or []
        return events + self.receive_pending(now) if self._pending else events

    def close(self, cause: Cause, now: float, detail: str = "") -> list[Event]:
        return self.link.close(cause, now, detail) or []

    def lower_down(self, now: float, cause: Cause = Cause.LOWER_LAYER_DOWN, detail: str = "") -> list[Event]:
        return self.link.lower_down(now, cause, detail)

    # ---- inputs -------------------------------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def open_data(self, gre: bytes | bytearray | memoryview) -> bytes | memoryview | None:
        """A received GRE packet -> its IP packet, or None. A non-data PPP frame is kept for `receive_pending`."""
        payload = self.window.open(gre)
        if payload is None:
            return None
        ip = self.link.open_data(payload)
        if ip is None:
            if len(self._pending) < 64:
                self._pending.append(bytes(payload))
            else:
                self.stats.count("control frames backlog full")
        return ip

    def receive_pending(self, now: float) -> list[Event]:
        """Give the PPP frames kept by `open_data` to the link (they wait until `open`)."""
        if not self.opened:
            return []
        frames, self._pending = self._pending, []
        events: list[Event] = []
        receive = self.link.receive
        for frame in frames:
            events += receive(frame, now)
        return events

    def receive(self, gre: bytes | bytearray | memoryview, now: float) -> list[Event]:
        """The slow path: one GRE packet, data or control, fully handled (IP packets go to `inbox`)."""
        ip = self.open_data(gre)
        if ip is not None:
            self.inbox.append(bytes(ip))
        return self.receive_pending(now) if self._pending else []

    def handle_timer(self, now: float) -> list[Event]:
        return self.link.handle_timer(now)

    # ---- outputs ------------------------------------------------------------------------------------------

    def take_output(self) -> list[bytes]:
        """The link's PPP frames, each in a GRE packet (control frames carry sequence numbers too)."""
        seal = self.window.seal
        return [seal(frame) for frame in self.link.take_output()]

    def take_ack(self) -> bytes | None:
        """The ack-only packet owed now, whatever the delayed-ack policy (None when nothing is owed)."""
        return self.window.take_ack()

    def poll_ack(self, now: float) -> bytes | None:
        """The ack-only packet due at `now` under the delayed-ack policy (GreWindow.poll_ack), or None."""
        return self.window.poll_ack(now)

    def ack_deadline(self, now: float) -> float | None:
        """When the delayed ack is due (GreWindow.ack_deadline), or None when nothing is owed."""
        return self.window.ack_deadline(now)

    def next_timer(self) -> float | None:
        return self.link.next_timer()

    def seal_data(self, ip_packet: bytes | bytearray | memoryview):
        """(GRE header view, PPP frame) for `sock.sendmsg`, or None when the link does not carry data now.
        The header view is reused by the next call: send before sealing again."""
        frame = self.link.seal_data(ip_packet)
        if frame is None:
            return None
        return self.window.header(len(frame)), frame

    def seal_view(self, ip_packet: bytes | bytearray | memoryview) -> memoryview | None:
        """The whole GRE packet for ``ip_packet`` (header, PPP, MPPE; `seal_packet`'s bytes), built in this call's
        preallocated transmit buffer: the IP packet is copied once and encrypted in place. None when the link does
        not carry data now. Contract: the view aliases that buffer, which the next `seal_view` overwrites; send
        (or copy) it before sealing again. ``ip_packet`` itself may be reused as soon as this returns."""
        buf = self._tx
        if buf is None or len(ip_packet) > len(buf) - GRE_ROOM - PPP_ROOM:
            buf = self._tx = bytearray(max(TX_BUFFER, GRE_ROOM + PPP_ROOM + len(ip_packet)))
            self._txv = memoryview(buf)
        view = self._txv
        end = self.link.seal_into(ip_packet, buf, view, GRE_ROOM)
        if end < 0:
            return None
        return view[self.window.header_into(buf, GRE_ROOM, end - GRE_ROOM):end]

    def seal_packet(self, ip_packet: bytes | bytearray | memoryview) -> bytes | None:
        """The whole GRE packet for `ip_packet` (tests and simple senders)."""
        parts = self.seal_data(ip_packet)
        if parts is None:
            return None
        return bytes(parts[0]) + bytes(parts[1])
