"""The PPTP control connection core (RFC 2637 §3.1), for both roles, over the TCP byte stream.

The PAC (our server) waits for Start-Control-Connection-Request, answers Outgoing-Call-Requests as its owner decides
(`accept_call` / `refuse_call`) and sends Call-Disconnect-Notify; the PNS (our demand-dial client) starts the
connection, places calls (`place_call`) and clears them with Call-Clear-Request. Both send Echo-Request after
`echo_interval_s` without a message from the peer (RFC 2637 §2.5: 60 s) and give up after `echo_timeout_s` more.
A connection that carries no call for `idle_timeout_s` is stopped (Stop-Control-Connection-Request), so a peer cannot
keep control connections without calls forever (docs/decisions/0082).

Stream input is reassembled here: partial and coalesced reads are fine; the buffer never holds more than one message
(the largest is 220 octets). A bad magic cookie or an impossible Length field loses the framing, so the connection
closes (`ControlClosed` with `Cause.PROTOCOL_ERROR`); a well-framed message that does not decode is counted and dropped.

The machine is data: `TRANSITIONS[(role, state, message type)]` names the handler and the state a well-formed message
moves to; a message with no entry is counted as "unexpected <Name>" and changes nothing (the exhaustive test walks
every role x state x message). Sans-I/O (DESIGN.md §3): inputs and commands return the events they cause; bytes queue
for `take_output()`; `next_timer()` names one deadline. After `ControlClosed` the owner writes the pending output and
closes the socket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import Callable, NamedTuple

from rrasctl.protocols.base import CoreMisuse, Counters, Event, Malformed, Rng
from rrasctl.protocols.causes import Cause
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
    idle_timeout_s: float = 0.0      # stop a connection that carries no call for this long; 0 = never


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
    """PNS: the PAC answered our Outgoing-Call-Request with another result than Connected (or never answered:
    result TIME_OUT, cause NO_ANSWER)."""
    local_call_id: int
    result: int
    error: int
    cause_code: int
    cause: Cause = Cause.TUNNEL_REFUSED


@dataclass(frozen=True, slots=True)
class CallCleared(Event):
    """A call is gone (peer's CCRQ or CDN, the control connection closed, a timeout)."""
    local_call_id: int | None
    peer_call_id: int
    cause: Cause
    detail: str
    result: int | None = None
    cause_code: int | None = None


@dataclass(frozen=True, slots=True)
class LinkInfoSet(Event):
    local_call_id: int
    send_accm: int
    recv_accm: int


@dataclass(frozen=True, slots=True)
class ControlClosed(Event):
    cause: Cause
    detail: str


Handler = Callable[["PptpControl", m.ControlMessage, float], list[Event]]


class Transition(NamedTuple):
    handler: Handler
    to: ControlState | None       # the state a well-formed message leads to (None: unchanged); a handler may close


_BUSY = frozenset({OcrpResult.BUSY, OcrpResult.DO_NOT_ACCEPT})


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
        self._idle_since: float | None = None          # no call since then (idle_timeout_s)
        self._echo_id: int | None = None
        self._echo_sent = 0.0
        self._echo_counter = int.from_bytes(rng(4), "big")
        self.close_cause: Cause | None = None
        self.close_reason: str | None = None

    # ---- commands ---------------------------------------------------------------------------------------------

    def start(self, now: float) -> list[Event]:
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
        return []

    def accept_call(self, peer_call_id: int, local_call_id: int, now: float) -> list[Event]:
        """PAC: answer the peer's OCRQ with Connected; GRE to us will carry `local_call_id`. A request the peer
        withdrew meanwhile (CCRQ in the same read, connection closed) is ignored: check `pending_requests`."""
        call = self._take_requested(peer_call_id)
        if call is None:
            return []
        if local_call_id in self._calls:
            raise CoreMisuse(f"local call id {local_call_id} in use")
        c = self.config
        call.local_call_id, call.state = local_call_id, CallState.ESTABLISHED
        self._calls[local_call_id] = call
        self._idle_since = None
        self._send(m.OutgoingCallReply(
            call_id=local_call_id, peer_call_id=peer_call_id, result=OcrpResult.CONNECTED,
            connect_speed=c.connect_speed, recv_window=c.recv_window, processing_delay=c.processing_delay))
        return []

    def refuse_call(self, peer_call_id: int, result: OcrpResult, now: float,
                    error: GeneralError = GeneralError.NONE, cause: int = 0) -> list[Event]:
        """PAC: answer the peer's OCRQ with BUSY, DO_NOT_ACCEPT, GENERAL_ERROR... (RFC 2637 §2.8)."""
        if result is OcrpResult.CONNECTED:
            raise CoreMisuse("refuse_call with CONNECTED")
        if self._take_requested(peer_call_id) is None:
            return []
        self._send(m.OutgoingCallReply(call_id=0, peer_call_id=peer_call_id, result=result, error=error,
                                       cause=cause, connect_speed=0, recv_window=0))
        self._note_idle(now)
        return []

    def place_call(self, local_call_id: int, now: float, *, serial: int | None = None) -> list[Event]:
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
        self._idle_since = None
        self._send(m.OutgoingCallRequest(call_id=local_call_id, call_serial=serial, recv_window=c.recv_window,
                                         processing_delay=c.processing_delay))
        return []

    def clear_call(self, local_call_id: int, now: float, result: CdnResult = CdnResult.ADMIN_SHUTDOWN) -> list[Event]:
        """Hang up one call: the PAC sends Call-Disconnect-Notify (the call is gone at once, no event: the owner
        asked); the PNS sends Call-Clear-Request and reports CallCleared when the PAC's CDN arrives (or after
        setup_timeout_s)."""
        call = self._calls.get(local_call_id)
        if call is None:
            return []
        if self.role is Role.PAC:
            del self._calls[local_call_id]
            self._send(m.CallDisconnectNotify(call_id=local_call_id, result=result))
            self._note_idle(now)
        elif call.state is CallState.ESTABLISHED or call.state is CallState.WAIT_REPLY:
            call.state, call.deadline = CallState.CLEARING, now + self.config.setup_timeout_s
            self._send(m.CallClearRequest(call_id=local_call_id))
        return []

    def set_link_info(self, local_call_id: int, send_accm: int, recv_accm: int, now: float) -> list[Event]:
        call = self._calls.get(local_call_id)
        if call is not None and self.state is ControlState.ESTABLISHED:
            self._send(m.SetLinkInfo(peer_call_id=call.peer_call_id, send_accm=send_accm, recv_accm=recv_accm))
        return []

    def stop(self, now: float, reason: StopReason = StopReason.NONE, cause: Cause = Cause.ADMIN_DISCONNECT,
             detail: str = "stopped") -> list[Event]:
        """Clear every call (CDN from the PAC, CCRQ from the PNS), then Stop-Control-Connection-Request; CAUSE is
        what `ControlClosed` will say. Before the connection is established there is nothing to stop on the wire:
        it closes at once (ControlClosed)."""
        if self.state in (ControlState.CLOSED, ControlState.WAIT_STOP_REPLY):
            return []
        if self.close_cause is None:
            self.close_cause, self.close_reason = cause, detail
        if self.state in (ControlState.IDLE, ControlState.WAIT_START_REQUEST, ControlState.WAIT_START_REPLY):
            return self._close(cause, "stopped before start")
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
        return []

    def connection_lost(self, now: float) -> list[Event]:
        """The TCP connection ended (EOF or error): every call is gone."""
        if self.state is ControlState.CLOSED:
            return []
        return self._close(Cause.LOWER_LAYER_DOWN, "peer closed the control connection")

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
                return events + self._close(Cause.PROTOCOL_ERROR, "bad control message length")
            if len(buf) >= 8 and int.from_bytes(buf[4:8], "big") != m.MAGIC_COOKIE:
                self.stats.count("bad magic cookie")
                return events + self._close(Cause.PROTOCOL_ERROR, "bad magic cookie")
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
            events += self._dispatch(msg, now)
        return events

    def handle_timer(self, now: float) -> list[Event]:
        st = self.state
        if st is ControlState.CLOSED:
            return []
        if self._deadline is not None and now >= self._deadline and st is not ControlState.ESTABLISHED:
            if st is ControlState.WAIT_STOP_REPLY:
                return self._close(Cause.ADMIN_DISCONNECT, "stopped (no Stop-Control-Connection-Reply)")
            return self._close(Cause.NO_ANSWER, "timeout waiting for Start-Control-Connection")
        events: list[Event] = []
        if st is ControlState.ESTABLISHED and self.config.echo_interval_s > 0:
            if self._echo_id is not None:
                if now >= self._echo_sent + self.config.echo_timeout_s:
                    self.stats.count("echo timeout")
                    return self._close(Cause.LINK_LOST, "echo timeout")
            elif now >= self._last_rx + self.config.echo_interval_s:
                self._echo_counter = (self._echo_counter + 1) & 0xFFFFFFFF
                self._echo_id, self._echo_sent = self._echo_counter, now
                self._send(m.EchoRequest(identifier=self._echo_id))
        if st is ControlState.ESTABLISHED:
            for call in list(self._calls.values()):
                if call.deadline is not None and now >= call.deadline:
                    del self._calls[call.local_call_id]
                    if call.state is CallState.WAIT_REPLY:
                        events.append(CallRefused(call.local_call_id, OcrpResult.TIME_OUT, GeneralError.NONE, 0,
                                                  Cause.NO_ANSWER))
                    else:
                        events.append(CallCleared(call.local_call_id, call.peer_call_id, Cause.NO_ANSWER,
                                                  "no Call-Disconnect-Notify"))
                    self._note_idle(now)
            idle = self._idle_deadline()
            if idle is not None and now >= idle:
                self.stats.count("idle control connection stopped")
                events += self.stop(now, cause=Cause.IDLE_TIMEOUT, detail="no call for the idle time")
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
        for d in [c.deadline for c in self._calls.values()] + [self._idle_deadline()]:
            if d is not None and (deadline is None or d < deadline):
                deadline = d
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

    def _idle_deadline(self) -> float | None:
        if self.config.idle_timeout_s <= 0 or self._idle_since is None or self._calls or self._requested:
            return None
        return self._idle_since + self.config.idle_timeout_s

    def _note_idle(self, now: float) -> None:
        if not self._calls and not self._requested and self._idle_since is None:
            self._idle_since = now

    def _take_requested(self, peer_call_id: int) -> Call | None:
        call = self._requested.pop(peer_call_id, None)
        if call is None:
            self.stats.count("answer to a withdrawn call request")
        return call

    def _close(self, cause: Cause, reason: str) -> list[Event]:
        events: list[Event] = [CallCleared(c.local_call_id, c.peer_call_id, Cause.LOWER_LAYER_DOWN, reason)
                               for c in self._calls.values()]
        self._calls.clear()
        self._requested.clear()
        self._buf.clear()
        self.state = ControlState.CLOSED
        if self.close_cause is None:
            self.close_cause, self.close_reason = cause, reason
        self._deadline = None
        events.append(ControlClosed(self.close_cause, self.close_reason or reason))
        return events

    def _dispatch(self, msg: m.ControlMessage, now: float) -> list[Event]:
        transition = TRANSITIONS.get((self.role, self.state, type(msg)))
        if transition is None:
            return self._unexpected(msg, now)
        events = transition.handler(self, msg, now)
        if transition.to is not None and self.state is not ControlState.CLOSED:
            self.state = transition.to
        return events

    def _unexpected(self, msg: m.ControlMessage, now: float) -> list[Event]:
        self.stats.count("unexpected " + type(msg).__name__)
        return []

    def _call_by_peer(self, peer_call_id: int) -> Call | None:
        for call in self._calls.values():
            if call.peer_call_id == peer_call_id:
                return call
        return None

    # ---- handlers (one per table entry) -----------------------------------------------------------------------

    def _on_sccrq(self, msg: m.StartControlConnectionRequest, now: float) -> list[Event]:
        c = self.config
        if msg.version != m.PROTOCOL_VERSION:
            self._send(m.StartControlConnectionReply(
                result=SccrpResult.BAD_PROTOCOL_VERSION, max_channels=c.max_channels, firmware=c.firmware,
                host_name=c.host_name, vendor=c.vendor))
            return self._close(Cause.PROTOCOL_ERROR, f"unsupported protocol version {msg.version:#06x}")
        self._send(m.StartControlConnectionReply(
            max_channels=c.max_channels, firmware=c.firmware, host_name=c.host_name, vendor=c.vendor))
        return self._established(msg, now)

    def _on_sccrp(self, msg: m.StartControlConnectionReply, now: float) -> list[Event]:
        if msg.result != SccrpResult.SUCCESS:
            return self._close(Cause.TUNNEL_REFUSED,
                               f"Start-Control-Connection refused (result {msg.result}, error {msg.error})")
        return self._established(msg, now)

    def _established(self, msg: m.ControlMessage, now: float) -> list[Event]:
        self.peer, self._deadline = msg, None
        self._idle_since = now
        return [ControlEstablished(msg.host_name, msg.vendor, msg.firmware)]  # type: ignore[attr-defined]

    def _on_stopccrq(self, msg: m.StopControlConnectionRequest, now: float) -> list[Event]:
        self._send(m.StopControlConnectionReply(result=StopResult.OK))
        return self._close(Cause.PEER_DISCONNECTED, "peer stopped the control connection")

    def _on_stopccrp(self, msg: m.StopControlConnectionReply, now: float) -> list[Event]:
        return self._close(Cause.ADMIN_DISCONNECT, "stopped")

    def _on_echo_request(self, msg: m.EchoRequest, now: float) -> list[Event]:
        if self.state is ControlState.ESTABLISHED or self.state is ControlState.WAIT_STOP_REPLY:
            self._send(m.EchoReply(identifier=msg.identifier))
        else:
            self._send(m.EchoReply(identifier=msg.identifier, result=EchoResult.GENERAL_ERROR,
                                   error=GeneralError.NOT_CONNECTED))
        return []

    def _on_echo_reply(self, msg: m.EchoReply, now: float) -> list[Event]:
        if self._echo_id is not None and msg.identifier == self._echo_id:
            self._echo_id = None
            return []
        return self._unexpected(msg, now)

    def _on_ocrq(self, msg: m.OutgoingCallRequest, now: float) -> list[Event]:
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
        self._idle_since = None
        return [CallRequested(msg.call_id, msg.call_serial, msg.recv_window, msg.processing_delay,
                              msg.phone_number)]

    def _on_ocrq_as_pns(self, msg: m.OutgoingCallRequest, now: float) -> list[Event]:
        self._send(m.OutgoingCallReply(peer_call_id=msg.call_id, result=OcrpResult.DO_NOT_ACCEPT,
                                       connect_speed=0, recv_window=0))
        return self._unexpected(msg, now)

    def _on_ocrp(self, msg: m.OutgoingCallReply, now: float) -> list[Event]:
        call = self._calls.get(msg.peer_call_id)
        if call is None or call.state is not CallState.WAIT_REPLY:
            self.stats.count("unknown call id")
            return self._unexpected(msg, now)
        if msg.result != OcrpResult.CONNECTED:
            del self._calls[call.local_call_id]
            self._note_idle(now)
            cause = Cause.PEER_BUSY if msg.result in _BUSY else Cause.TUNNEL_REFUSED
            return [CallRefused(call.local_call_id, msg.result, msg.error, msg.cause, cause)]
        call.peer_call_id, call.state, call.deadline = msg.call_id, CallState.ESTABLISHED, None
        call.peer_recv_window, call.peer_processing_delay = msg.recv_window, msg.processing_delay
        return [CallConnected(call.local_call_id, msg.call_id, msg.recv_window, msg.processing_delay)]

    def _on_icrq_as_pns(self, msg: m.IncomingCallRequest, now: float) -> list[Event]:
        # we never take incoming calls as a PNS
        self._send(m.IncomingCallReply(peer_call_id=msg.call_id, result=m.IcrpResult.DO_NOT_ACCEPT, recv_window=0))
        return self._unexpected(msg, now)

    def _on_ccrq(self, msg: m.CallClearRequest, now: float) -> list[Event]:
        call = self._call_by_peer(msg.call_id)
        if call is not None:
            del self._calls[call.local_call_id]
            self._send(m.CallDisconnectNotify(call_id=call.local_call_id, result=CdnResult.REQUEST))
            self._note_idle(now)
            return [CallCleared(call.local_call_id, call.peer_call_id, Cause.PEER_DISCONNECTED,
                                "peer cleared the call", CdnResult.REQUEST)]
        pending = self._requested.pop(msg.call_id, None)
        if pending is not None:
            self._note_idle(now)
            return [CallCleared(None, msg.call_id, Cause.PEER_ABORTED,
                                "peer cleared the call before it was answered", CdnResult.REQUEST)]
        self.stats.count("unknown call id")
        return []

    def _on_cdn(self, msg: m.CallDisconnectNotify, now: float) -> list[Event]:
        # RFC: the PAC's call id; Windows RRAS sends the PNS's own (capture), so try both
        call = self._call_by_peer(msg.call_id) or self._calls.get(msg.call_id)
        if call is None:
            self.stats.count("unknown call id")
            return self._unexpected(msg, now)
        del self._calls[call.local_call_id]
        self._note_idle(now)
        if call.state is CallState.CLEARING:
            cause = Cause.ADMIN_DISCONNECT              # the CDN that answers our own Call-Clear-Request
        elif call.state is CallState.WAIT_REPLY:
            cause = Cause.PEER_ABORTED
        else:
            cause = Cause.PEER_DISCONNECTED
        return [CallCleared(call.local_call_id, call.peer_call_id, cause, _cdn_reason(msg), msg.result, msg.cause)]

    def _on_sli(self, msg: m.SetLinkInfo, now: float) -> list[Event]:
        call = self._calls.get(msg.peer_call_id)
        if call is None:
            self.stats.count("unknown call id")
            return []
        return [LinkInfoSet(call.local_call_id, msg.send_accm, msg.recv_accm)]

    def _on_wen(self, msg: m.WanErrorNotify, now: float) -> list[Event]:
        self.stats.count("wan error notify")
        return []


def _cdn_reason(msg: m.CallDisconnectNotify) -> str:
    try:
        name = CdnResult(msg.result).name.lower().replace("_", " ")
    except ValueError:
        name = f"result {msg.result}"
    return f"peer disconnected the call ({name})"


# ---- the machine as data ------------------------------------------------------------------------------------------
# (role, state, message type) -> (handler, state after a well-formed message). Anything else: "unexpected", no change.

S, P = ControlState, PptpControl


def _table() -> dict[tuple[Role, ControlState, type[m.ControlMessage]], Transition]:
    t: dict[tuple[Role, ControlState, type[m.ControlMessage]], Transition] = {}
    for role in Role:
        starting = S.WAIT_START_REQUEST if role is Role.PAC else S.WAIT_START_REPLY
        for st in (starting, S.ESTABLISHED, S.WAIT_STOP_REPLY):
            t[(role, st, m.StopControlConnectionRequest)] = Transition(P._on_stopccrq, S.CLOSED)
            t[(role, st, m.EchoRequest)] = Transition(P._on_echo_request, None)
            t[(role, st, m.EchoReply)] = Transition(P._on_echo_reply, None)
        t[(role, S.WAIT_STOP_REPLY, m.StopControlConnectionReply)] = Transition(P._on_stopccrp, S.CLOSED)
        t[(role, S.ESTABLISHED, m.SetLinkInfo)] = Transition(P._on_sli, None)
        t[(role, S.ESTABLISHED, m.WanErrorNotify)] = Transition(P._on_wen, None)
    pac, pns = Role.PAC, Role.PNS
    t[(pac, S.WAIT_START_REQUEST, m.StartControlConnectionRequest)] = Transition(P._on_sccrq, S.ESTABLISHED)
    t[(pac, S.ESTABLISHED, m.OutgoingCallRequest)] = Transition(P._on_ocrq, None)
    t[(pac, S.ESTABLISHED, m.CallClearRequest)] = Transition(P._on_ccrq, None)
    t[(pns, S.WAIT_START_REPLY, m.StartControlConnectionReply)] = Transition(P._on_sccrp, S.ESTABLISHED)
    t[(pns, S.ESTABLISHED, m.OutgoingCallReply)] = Transition(P._on_ocrp, None)
    t[(pns, S.ESTABLISHED, m.CallDisconnectNotify)] = Transition(P._on_cdn, None)
    t[(pns, S.ESTABLISHED, m.OutgoingCallRequest)] = Transition(P._on_ocrq_as_pns, None)
    t[(pns, S.ESTABLISHED, m.IncomingCallRequest)] = Transition(P._on_icrq_as_pns, None)
    return t


TRANSITIONS = _table()
del S, P
