"""L2tpCall: one L2TP session's data half = its data header + its PppLink (the match of pptp/call.py's PptpCall).

The tunnel core (control.py) runs the session's control messages; this is what carries PPP. Same contract as
PptpCall, so the engine's call runner treats both alike:

    ip = call.open_data(ppp_frame)      # the PPP frame of a received data message -> IP packet for the TUN, or None
    if ip is None and call.pending:     # a PPP control frame arrived (kept until `open` if PPP has not started)
        events = call.receive_pending(now)
    call.take_output()                  # whole L2TP data messages (short header + PPP frame) for the peer
    call.seal_view(ip)                  # TUN -> peer: the data message in the call's buffer (see data.py)

A call exists from the moment the session is placed or requested: frames that overtake the ICCN (the LNS's first
LCP Configure-Request often does) wait in `pending` and reach the link when `open` starts it (decision 0073).
"""

from __future__ import annotations

from rrasctl.protocols.base import Counters, Event
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.l2tp.data import L2tpSession

MAX_PENDING = 64


class L2tpCall:
    """An L2TP session carrying one PPP link."""

    __slots__ = ("data", "link", "local_tunnel_id", "local_session_id", "_pending", "stats", "inbox", "opened")

    def __init__(self, local_tunnel_id: int, local_session_id: int, link, *, peer_tunnel_id: int = 0,
                 peer_session_id: int = 0) -> None:
        self.link = link
        self.local_tunnel_id = local_tunnel_id
        self.local_session_id = local_session_id
        self.data = L2tpSession(local_tunnel_id, local_session_id, peer_tunnel_id, peer_session_id, link)
        self._pending: list[bytes] = []
        self.inbox: list[bytes] = []
        self.stats = Counters()
        self.opened = False

    @property
    def peer_tunnel_id(self) -> int:
        return self.data.peer_tunnel_id

    @property
    def peer_session_id(self) -> int:
        return self.data.peer_session_id

    @property
    def seal_header(self) -> bytes:
        return self.data.seal_header

    # ---- commands -----------------------------------------------------------------------------------------

    def connect(self, peer_tunnel_id: int, peer_session_id: int) -> None:
        """The peer's ids are known (ICRP at the LAC, ICRQ at the LNS): data messages to it can be built."""
        if (peer_tunnel_id, peer_session_id) != (self.data.peer_tunnel_id, self.data.peer_session_id):
            self.data = L2tpSession(self.local_tunnel_id, self.local_session_id, peer_tunnel_id, peer_session_id,
                                    self.link)

    def open(self, now: float) -> list[Event]:
        """The session is up: start PPP (LCP), then hand it the frames that came first."""
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
        return bool(self._pending) and self.opened

    def open_data(self, frame: bytes | bytearray | memoryview) -> bytes | memoryview | None:
        """One PPP frame from a data message -> its IP packet, or None (a control frame is kept for
        `receive_pending`)."""
        ip = self.link.open_data(frame) if self.opened else None
        if ip is None:
            if len(self._pending) < MAX_PENDING:
                self._pending.append(bytes(frame))
            else:
                self.stats.count("control frames backlog full")
        return ip

    def receive_pending(self, now: float) -> list[Event]:
        if not self.opened:
            return []
        frames, self._pending = self._pending, []
        events: list[Event] = []
        receive = self.link.receive
        for frame in frames:
            events += receive(frame, now)
        return events

    def receive(self, frame: bytes | bytearray | memoryview, now: float) -> list[Event]:
        """The slow path: one PPP frame, data or control, fully handled (IP packets go to `inbox`)."""
        ip = self.open_data(frame)
        if ip is not None:
            self.inbox.append(bytes(ip))
        return self.receive_pending(now)

    def handle_timer(self, now: float) -> list[Event]:
        return self.link.handle_timer(now)

    # ---- outputs ------------------------------------------------------------------------------------------

    def take_output(self) -> list[bytes]:
        head = self.data.seal_header
        return [head + frame for frame in self.link.take_output()]

    def next_timer(self) -> float | None:
        return self.link.next_timer()

    def seal_view(self, ip_packet: bytes | bytearray | memoryview) -> memoryview | None:
        return self.data.seal_view(ip_packet)

    def seal_packet(self, ip_packet: bytes | bytearray | memoryview) -> bytes | None:
        frame = self.link.seal_data(ip_packet)
        return None if frame is None else self.data.seal_header + frame


__all__ = ["L2tpCall"]
