"""The PPTP control connection core (RFC 2637 §3.1), for both roles, over the TCP byte stream.

The PAC (our server) waits for Start-Control-Connection-Request, answers Outgoing-Call-Requests as its owner decides
(`accept_call` / `refuse_call`) and sends Call-Disconnect-Notify; the PNS (our demand-dial client) starts the
connection, places calls (`place_call`) and clears them with Call-Clear-Request. Both send Echo-Request after
`echo_interval_s` without a message from the peer (RFC 2637 §2.5: 60 s) and give up after `echo_timeout_s` more.

Stream input is reassembled here: partial and coalesced reads are fine; the buffer never holds more than one message
(the largest is 220 octets). A bad magic cookie or an impossible Length field loses the framing, so the connection
closes (`ControlClosed`); a well-framed message that does not decode is counted and dropped.

Sans-I/O (DESIGN.md §3): `receive(data, now)` / `handle_timer(now)` return events; commands queue bytes for
`take_output()`; `next_timer()` names one deadline. When `ControlClosed` comes out the owner writes the pending output
and closes the socket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum

from rrasctl.protocols.base import CoreMisuse, Counters, Event, Malformed, Rng
from rrasctl.protocols.pptp import messages as m
from rrasctl.protocols.pptp.messages import (
    CdnResult,
    EchoResult,
    GeneralError,
    OcrpResult,
    SccrpResult,
    StopReason,
    StopResult,
)


class Role(Enum):
    PAC = "pac"  # the server: answers calls
    PNS = "pns"  # the client: places calls


class ControlState(Enum):
    IDLE = "idle"
    WAIT_START_REQUEST = "wait-start-request"  # PAC, TCP accepted
    WAIT_START_REPLY = "wait-start-reply"      # PNS, SCCRQ sent
    ESTABLISHED = "established"
    WAIT_STOP_REPLY = "wait-stop-reply"
    CLOSED = "closed"


class CallState(Enum):
    REQUESTED = "requested"      # PAC: OCRQ received, the owner has not answered yet
    WAIT_REPLY = "wait-reply"    # PNS: OCRQ sent
    ESTABLISHED = "established"
    CLEARING = "clearing"        # PNS: CCRQ sent, waiting for CDN


@dataclass(frozen=True, slots=True)
class ControlConfig:
    role: Role
    host_name: str = "rrasctl"
    vendor: str = "rrasctl"
    firmware: int = 1
    max_channels: int = 0
    recv_window: int = 64            # our Packet Recv Window Size, announced in OCRQ/OCRP
    processing_delay: int = 0
    connect_speed: int = 100_000_000
    echo_interval_s: float = 60.0    # RFC 2637 §2.5; 0 = no keepalive
    echo_timeout_s: float = 60.0
    setup_timeout_s: float = 60.0    # SCCRQ->SCCRP, OCRQ->OCRP, CCRQ->CDN
    stop_timeout_s: float = 10.0
    max_pending_calls: int = 64      # OCRQs awaiting the owner's answer; more are refused with NO_RESOURCE


@dataclass(slots=True)
class Call:
    local_call_id: int
    peer_call_id: int
    state: CallState
    serial: int = 0
    peer_recv_window: int = 0
    peer_processing_delay: int = 0
    deadline: float | None = None


# ---- events -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ControlEstablished(Event):
    peer_host_name: str
    peer_vendor: str
    peer_firmware: int


@dataclass(frozen=True, slots=True)
class CallRequested(Event):
    """PAC: the peer asks for a call; answer with accept_call or refuse_call."""
    peer_call_id: int
    call_serial: int
    recv_window: int
    processing_delay: int
    phone_number: str


@dataclass(frozen=True, slots=True)
class CallConnected(Event):
    """PNS: the PAC accepted our call."""
    local_call_id: int
    peer_call_id: int
    peer_recv_window: int
    peer_processing_delay: int


@dataclass(frozen=True, slots=True)
class CallRefused(Event):
    """PNS: the PAC answered our Outgoing-Call-Request with another result than Connected."""
    local_call_id: int
    result: int
    error: int
    cause: int


@dataclass(frozen=True, slots=True)
class CallCleared(Event):
    """A call is gone (peer's CCRQ or CDN, the control connection closed, a timeout)."""
    local_call_id: int | None
    peer_call_id: int
    reason: str
    result: int | None = None
    cause: int | None = None


@dataclass(frozen=True, slots=True)
class LinkInfoSet(Event):
    local_call_id: int
    send_accm: int
    recv_accm: int


@dataclass(frozen=True, slots=True)
class ControlClosed(Event):
    reason: str


_UNSET = object()


class PptpControl:
    """One PPTP control connection (one TCP connection), either role."""

    def __init__(self, config: ControlConfig, *, rng: Rng = os.urandom) -> None:
        self.config = config
        self.role = config.role
        self.state = ControlState.IDLE
        self.stats = Counters()
        self.peer: m.ControlMessage | None = None     # the peer's SCCRQ or SCCRP
        self._rng = rng
        self._buf = bytearray()
        self._out: list[bytes] = []
        self._calls: dict[int, Call] = {}              # local_call_id -> call (established / waiting)
        self._requested: dict[int, Call] = {}          # PAC: peer_call_id -> call awaiting the owner
        self._deadline: float | None = None            # start or stop deadline
        self._last_rx = 0.0
        self._echo_id: int | None = None
        self._echo_sent = 0.0
        self._echo_counter = int.from_bytes(rng(4), "big")
        self.close_reason: str | None = None

    # ---- commands ---------------------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """The TCP connection is up: the PNS sends SCCRQ, the PAC starts waiting for one."""
        if self.state is not ControlState.IDLE:
            raise CoreMisuse("start() twice")
        self._last_rx = now
        self._deadline = now + self.config.setup_timeout_s
        if self.role is Role.PNS:
            c = self.config
            self._send(m.StartControlConnectionRequest(
                max_channels=c.max_channels, firmware=c.firmware, host_name=c.host_name, vendor=c.vendor))
            self.state = ControlState.WAIT_START_REPLY
        else:
            self.state = ControlState.WAIT_START_REQUEST

    def accept_call(self, peer_call_id: int, local_call_id: int, now: float) -> None:
        """PAC: answer the peer's OCRQ with Connected; GRE to us will carry `local_call_id`. A request the peer
        withdrew meanwhile (CCRQ in the same read, connection closed) is ignored: check `pending_requests`."""
        call = self._take_requested(peer_call_id)
        if call is None:
            return
        if local_call_id in self._calls:
            raise CoreMisuse(f"local call id {local_call_id} in use")
        c = self.config
        call.local_call_id, call.state = local_call_id, CallState.ESTABLISHED
        self._calls[local_call_id] = call
        self._send(m.OutgoingCallReply(
            call_id=local_call_id, peer_call_id=peer_call_id, result=OcrpResult.CONNECTED,
            connect_speed=c.connect_speed, recv_window=c.recv_window, processing_delay=c.processing_delay))

    def refuse_call(self, peer_call_id: int, result: OcrpResult, now: float,
                    error: GeneralError = GeneralError.NONE, cause: int = 0) -> None:
        """PAC: answer the peer's OCRQ with BUSY, DO_NOT_ACCEPT, GENERAL_ERROR... (RFC 2637 §2.8)."""
        if result is OcrpResult.CONNECTED:
            raise CoreMisuse("refuse_call with CONNECTED")
        if self._take_requested(peer_call_id) is None:
            return
        self._send(m.OutgoingCallReply(call_id=0, peer_call_id=peer_call_id, result=result, error=error,
                                       cause=cause, connect_speed=0, recv_window=0))

    def place_call(self, local_call_id: int, now: float, *, serial: int | None = None) -> None:
        """PNS: send an Outgoing-Call-Request; CallConnected or CallRefused follows."""
        if self.role is not Role.PNS:
            raise CoreMisuse("only the PNS places calls")
        if self.state is not ControlState.ESTABLISHED:
            raise CoreMisuse(f"place_call in state {self.state.value}")
        if local_call_id in self._calls:
            raise CoreMisuse(f"local call id {local_call_id} in use")
        serial = local_call_id if serial is None else serial
        c = self.config
        self._calls[local_call_id] = Call(local_call_id, 0, CallState.WAIT_REPLY, serial,
                                          deadline=now + c.setup_timeout_s)
        self._send(m.OutgoingCallRequest(call_id=local_call_id, call_serial=serial, recv_window=c.recv_window,
                                         processing_delay=c.processing_delay))

    def clear_call(self, local_call_id: int, now: float, result: CdnResult = CdnResult.ADMIN_SHUTDOWN) -> None:
        """Hang up one call: the PAC sends Call-Disconnect-Notify (the call is gone at once); the PNS sends
        Call-Clear-Request and reports CallCleared when the PAC's CDN arrives (or after setup_timeout_s)."""
        call = self._calls.get(local_call_id)
        if call is None:
            return
        if self.role is Role.PAC:
            del self._calls[local_call_id]
            self._send(m.CallDisconnectNotify(call_id=local_call_id, result=result))
        elif call.state is CallState.ESTABLISHED or call.state is CallState.WAIT_REPLY:
            call.state, call.deadline = CallState.CLEARING, now + self.config.setup_timeout_s
            self._send(m.CallClearRequest(call_id=local_call_id))

    def set_link_info(self, local_call_id: int, send_accm: int, recv_accm: int, now: float) -> None:
        call = self._calls.get(local_call_id)
        if call is not None and self.state is ControlState.ESTABLISHED:
            self._send(m.SetLinkInfo(peer_call_id=call.peer_call_id, send_accm=send_accm, recv_accm=recv_accm))

    def stop(self, now: float, reason: StopReason = StopReason.NONE) -> None:
        """Clear every call (CDN from the PAC, CCRQ from the PNS), then Stop-Control-Connection-Request."""
        if self.state in (ControlState.CLOSED, ControlState.WAIT_STOP_REPLY):
            return
        if self.state in (ControlState.IDLE, ControlState.WAIT_START_REQUEST, ControlState.WAIT_START_REPLY):
            self._close("stopped before start")
            return
        for call in list(self._calls.values()):
            if self.role is Role.PAC:
                self._send(m.CallDisconnectNotify(call_id=call.local_call_id, result=CdnResult.ADMIN_SHUTDOWN))
            elif call.state is not CallState.CLEARING:
                self._send(m.CallClearRequest(call_id=call.local_call_id))
        self._calls.clear()
        for call in list(self._requested.values()):
            self._send(m.OutgoingCallReply(peer_call_id=call.peer_call_id, result=OcrpResult.GENERAL_ERROR,
                                           error=GeneralError.NOT_CONNECTED, connect_speed=0, recv_window=0))
        self._requested.clear()
        self._send(m.StopControlConnectionRequest(reason=reason))
        self.state = ControlState.WAIT_STOP_REPLY
        self._deadline = now + self.config.stop_timeout_s

    def connection_lost(self, now: float) -> list[Event]:
        """The TCP connection ended (EOF or error): every call is gone."""
        if self.state is ControlState.CLOSED:
            return []
        return self._close("peer closed the control connection")

    # ---- inputs -----------------------------------------------------------------------------------------------

    def receive(self, data: bytes | bytearray | memoryview, now: float) -> list[Event]:
        if self.state is ControlState.CLOSED:
            self.stats.count("bytes after close", len(data))
            return []
        buf = self._buf
        buf += data
        events: list[Event] = []
        while len(buf) >= 2 and self.state is not ControlState.CLOSED:
            length = (buf[0] << 8) | buf[1]
            if length < m.MIN_MESSAGE or length > m.MAX_MESSAGE:
                self.stats.count("bad control length")
                return events + self._close("bad control message length")
            if len(buf) >= 8 and int.from_bytes(buf[4:8], "big") != m.MAGIC_COOKIE:
                self.stats.count("bad magic cookie")
                return events + self._close("bad magic cookie")
            if len(buf) < length:
                break
            raw = bytes(buf[:length])
            del buf[:length]
            try:
                msg = m.decode(raw)
            except Malformed as exc:
                self.stats.count(exc.reason)
                continue
            self._last_rx = now
            self.stats.count("rx " + type(msg).__name__)
            events += self._handle(msg, now)
        return events

    def handle_timer(self, now: float) -> list[Event]:
        st = self.state
        if st is ControlState.CLOSED:
            return []
        if self._deadline is not None and now >= self._deadline and st is not ControlState.ESTABLISHED:
            if st is ControlState.WAIT_STOP_REPLY:
                return self._close("stopped (no Stop-Control-Connection-Reply)")
            return self._close("timeout waiting for Start-Control-Connection")
        events: list[Event] = []
        if st is ControlState.ESTABLISHED and self.config.echo_interval_s > 0:
            if self._echo_id is not None:
                if now >= self._echo_sent + self.config.echo_timeout_s:
                    self.stats.count("echo timeout")
                    return self._close("echo timeout")
            elif now >= self._last_rx + self.config.echo_interval_s:
                self._echo_counter = (self._echo_counter + 1) & 0xFFFFFFFF
                self._echo_id, self._echo_sent = self._echo_counter, now
                self._send(m.EchoRequest(identifier=self._echo_id))
        if st is ControlState.ESTABLISHED:
            for call in list(self._calls.values()):
                if call.deadline is not None and now >= call.deadline:
                    del self._calls[call.local_call_id]
                    if call.state is CallState.WAIT_REPLY:
                        events.append(CallRefused(call.local_call_id, OcrpResult.TIME_OUT, GeneralError.NONE, 0))
                    else:
                        events.append(CallCleared(call.local_call_id, call.peer_call_id, "no Call-Disconnect-Notify"))
        return events

    def take_output(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_timer(self) -> float | None:
        st = self.state
        if st is ControlState.CLOSED or st is ControlState.IDLE:
            return None
        if st is not ControlState.ESTABLISHED:
            return self._deadline
        deadline: float | None
        if self.config.echo_interval_s <= 0:
            deadline = None                  # keepalive off (`server set --pptp-echo-interval 0`)
        elif self._echo_id is not None:
            deadline = self._echo_sent + self.config.echo_timeout_s
        else:
            deadline = self._last_rx + self.config.echo_interval_s
        for call in self._calls.values():
            if call.deadline is not None and (deadline is None or call.deadline < deadline):
                deadline = call.deadline
        return deadline

    # ---- views ------------------------------------------------------------------------------------------------

    def call(self, local_call_id: int) -> Call | None:
        return self._calls.get(local_call_id)

    @property
    def calls(self) -> tuple[Call, ...]:
        return tuple(self._calls.values())

    @property
    def pending_requests(self) -> tuple[int, ...]:
        return tuple(self._requested)

    # ---- internals --------------------------------------------------------------------------------------------

    def _send(self, msg: m.ControlMessage) -> None:
        self._out.append(msg.encode())

    def _take_requested(self, peer_call_id: int) -> Call | None:
        call = self._requested.pop(peer_call_id, None)
        if call is None:
            self.stats.count("answer to a withdrawn call request")
        return call

    def _close(self, reason: str) -> list[Event]:
        events: list[Event] = [CallCleared(c.local_call_id, c.peer_call_id, reason) for c in self._calls.values()]
        self._calls.clear()
        self._requested.clear()
        self._buf.clear()
        self.state = ControlState.CLOSED
        self.close_reason = reason
        self._deadline = None
        events.append(ControlClosed(reason))
        return events

    def _unexpected(self, msg: m.ControlMessage) -> list[Event]:
        self.stats.count("unexpected " + type(msg).__name__)
        return []

    def _call_by_peer(self, peer_call_id: int) -> Call | None:
        for call in self._calls.values():
            if call.peer_call_id == peer_call_id:
                return call
        return None

    def _handle(self, msg: m.ControlMessage, now: float) -> list[Event]:  # noqa: C901 (a dispatch table)
        st = self.state
        pac = self.role is Role.PAC
        if isinstance(msg, m.StartControlConnectionRequest):
            if not pac or st is not ControlState.WAIT_START_REQUEST:
                return self._unexpected(msg)
            c = self.config
            if msg.version != m.PROTOCOL_VERSION:
                self._send(m.StartControlConnectionReply(
                    result=SccrpResult.BAD_PROTOCOL_VERSION, max_channels=c.max_channels, firmware=c.firmware,
                    host_name=c.host_name, vendor=c.vendor))
                return self._close(f"unsupported protocol version {msg.version:#06x}")
            self._send(m.StartControlConnectionReply(
                max_channels=c.max_channels, firmware=c.firmware, host_name=c.host_name, vendor=c.vendor))
            self.peer, self.state, self._deadline = msg, ControlState.ESTABLISHED, None
            return [ControlEstablished(msg.host_name, msg.vendor, msg.firmware)]
        if isinstance(msg, m.StartControlConnectionReply):
            if pac or st is not ControlState.WAIT_START_REPLY:
                return self._unexpected(msg)
            if msg.result != SccrpResult.SUCCESS:
                return self._close(f"Start-Control-Connection refused (result {msg.result}, error {msg.error})")
            self.peer, self.state, self._deadline = msg, ControlState.ESTABLISHED, None
            return [ControlEstablished(msg.host_name, msg.vendor, msg.firmware)]
        if isinstance(msg, m.StopControlConnectionRequest):
            self._send(m.StopControlConnectionReply(result=StopResult.OK))
            return self._close("peer stopped the control connection")
        if isinstance(msg, m.StopControlConnectionReply):
            if st is not ControlState.WAIT_STOP_REPLY:
                return self._unexpected(msg)
            return self._close("stopped")
        if isinstance(msg, m.EchoRequest):
            if st is ControlState.ESTABLISHED or st is ControlState.WAIT_STOP_REPLY:
                self._send(m.EchoReply(identifier=msg.identifier))
            else:
                self._send(m.EchoReply(identifier=msg.identifier, result=EchoResult.GENERAL_ERROR,
                                       error=GeneralError.NOT_CONNECTED))
            return []
        if isinstance(msg, m.EchoReply):
            if self._echo_id is not None and msg.identifier == self._echo_id:
                self._echo_id = None
                return []
            return self._unexpected(msg)
        if st is not ControlState.ESTABLISHED:
            return self._unexpected(msg)
        # ---- call management (established connections only) ----
        if isinstance(msg, m.OutgoingCallRequest):
            if not pac:
                self._send(m.OutgoingCallReply(peer_call_id=msg.call_id, result=OcrpResult.DO_NOT_ACCEPT,
                                               connect_speed=0, recv_window=0))
                return self._unexpected(msg)
            if msg.call_id in self._requested or self._call_by_peer(msg.call_id) is not None:
                self.stats.count("duplicate peer call id")
                self._send(m.OutgoingCallReply(peer_call_id=msg.call_id, result=OcrpResult.GENERAL_ERROR,
                                               error=GeneralError.BAD_CALL_ID, connect_speed=0, recv_window=0))
                return []
            if len(self._requested) >= self.config.max_pending_calls:
                self.stats.count("too many pending calls")
                self._send(m.OutgoingCallReply(peer_call_id=msg.call_id, result=OcrpResult.GENERAL_ERROR,
                                               error=GeneralError.NO_RESOURCE, connect_speed=0, recv_window=0))
                return []
            self._requested[msg.call_id] = Call(0, msg.call_id, CallState.REQUESTED, msg.call_serial,
                                                msg.recv_window, msg.processing_delay)
            return [CallRequested(msg.call_id, msg.call_serial, msg.recv_window, msg.processing_delay,
                                  msg.phone_number)]
        if isinstance(msg, m.OutgoingCallReply):
            call = self._calls.get(msg.peer_call_id)
            if pac or call is None or call.state is not CallState.WAIT_REPLY:
                self.stats.count("unknown call id")
                return self._unexpected(msg)
            if msg.result != OcrpResult.CONNECTED:
                del self._calls[call.local_call_id]
                return [CallRefused(call.local_call_id, msg.result, msg.error, msg.cause)]
            call.peer_call_id, call.state, call.deadline = msg.call_id, CallState.ESTABLISHED, None
            call.peer_recv_window, call.peer_processing_delay = msg.recv_window, msg.processing_delay
            return [CallConnected(call.local_call_id, msg.call_id, msg.recv_window, msg.processing_delay)]
        if isinstance(msg, m.IncomingCallRequest):
            if not pac:   # we never take incoming calls as a PNS
                self._send(m.IncomingCallReply(peer_call_id=msg.call_id, result=m.IcrpResult.DO_NOT_ACCEPT,
                                               recv_window=0))
            return self._unexpected(msg)
        if isinstance(msg, m.CallClearRequest):
            if not pac:
                return self._unexpected(msg)
            call = self._call_by_peer(msg.call_id)
            if call is not None:
                del self._calls[call.local_call_id]
                self._send(m.CallDisconnectNotify(call_id=call.local_call_id, result=CdnResult.REQUEST))
                return [CallCleared(call.local_call_id, call.peer_call_id, "peer cleared the call",
                                    CdnResult.REQUEST)]
            pending = self._requested.pop(msg.call_id, None)
            if pending is not None:
                return [CallCleared(None, msg.call_id, "peer cleared the call before it was answered",
                                    CdnResult.REQUEST)]
            self.stats.count("unknown call id")
            return []
        if isinstance(msg, m.CallDisconnectNotify):
            call = None
            if not pac:  # RFC: the PAC's call id; Windows RRAS sends the PNS's own (capture), so try both
                call = self._call_by_peer(msg.call_id) or self._calls.get(msg.call_id)
            if call is None:
                self.stats.count("unknown call id")
                return self._unexpected(msg)
            del self._calls[call.local_call_id]
            return [CallCleared(call.local_call_id, call.peer_call_id, _cdn_reason(msg), msg.result, msg.cause)]
        if isinstance(msg, m.SetLinkInfo):
            call = self._calls.get(msg.peer_call_id)
            if call is None:
                self.stats.count("unknown call id")
                return []
            return [LinkInfoSet(call.local_call_id, msg.send_accm, msg.recv_accm)]
        if isinstance(msg, m.WanErrorNotify):
            self.stats.count("wan error notify")
            return []
        return self._unexpected(msg)


def _cdn_reason(msg: m.CallDisconnectNotify) -> str:
    try:
        name = CdnResult(msg.result).name.lower().replace("_", " ")
    except ValueError:
        name = f"result {msg.result}"
    return f"peer disconnected the call ({name})"
