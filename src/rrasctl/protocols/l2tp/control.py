"""The L2TP tunnel core (RFC 2661 §5, §6, §7): tunnel and session state machines over the reliable channel.

One `L2tpTunnel` is one control connection, initiator or responder, and the sessions inside it, LAC or LNS side.
Sans-I/O (DESIGN.md §3): `receive(datagram, now)` and `handle_timer(now)` return events; commands
(`start`, `accept_tunnel`, `refuse_tunnel`, `place_call`, `accept_call`, `refuse_call`, `close_call`, `close`)
queue messages and return the events they cause; `take_output()` drains datagrams; `next_timer()` names the one
deadline.

The machines are data: `TUNNEL_TRANSITIONS[(tunnel state, message type)]` and `SESSION_TRANSITIONS[(session kind,
session state, message type)]` name the handler and the state a well-formed message leads to; anything else is
counted as unexpected and changes nothing (the exhaustive tests walk both tables).

Tunnel establishment (§5.1, §7.2): SCCRQ → SCCRP → SCCCN; with a secret, each side challenges the other and checks
`MD5(type | secret | challenge)` (§5.1.1). Incoming calls (§5.2, §7.4): ICRQ (LAC) → ICRP (LNS) → ICCN (LAC).
Outgoing calls: OCRQ (LNS) → OCRP → OCCN (LAC). CDN clears a session, StopCCN the tunnel and all its sessions.
§4.1: an unknown AVP with the M bit in a session message clears that session (CDN), in a tunnel message the tunnel
(StopCCN), both with general error 8 (RFC 3438). Retry exhaustion (§5.8) closes the tunnel without a StopCCN.
"""

from __future__ import annotations

import hmac
from typing import Any, Callable, NamedTuple

from rrasctl.protocols.base import CoreMisuse, Counters, Event, Malformed, default_rng
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.l2tp.avp import (
    AvpType, CdnResult, GeneralError, MessageType, ResultCode, StopCcnResult, TUNNEL_MESSAGES, challenge_response,
    encode_avp_list,
)
from rrasctl.protocols.l2tp.channel import ChannelConfig, ReliableChannel
from rrasctl.protocols.l2tp.events import (  # re-exported: the core's public types
    CallRequested, LinkInfo, SessionClosed, SessionKind, SessionRecord, SessionState, SessionUp, TunnelClosed,
    TunnelConfig, TunnelRequested, TunnelState, TunnelUp,
)
from rrasctl.protocols.l2tp.messages import ControlMessage, decode_control
from rrasctl.protocols.l2tp.results import cdn_cause, result_text as _result_text, stopccn_cause

M = MessageType
A = AvpType

# AVPs we hide when `hide_avps` is on: the session-identifying ones (§4.3 leaves the choice to the sender)
# (session AVPs only: xl2tpd 1.3.18 could not unhide our hidden Assigned Tunnel ID in an SCCRQ, "decrypt_avp:
# Decrypted length is too long", while it reads our hidden session AVPs; docs/decisions/0072)
HIDDEN_AVPS = frozenset({A.ASSIGNED_SESSION_ID, A.CALL_SERIAL_NUMBER, A.CALLING_NUMBER, A.CALLED_NUMBER,
                         A.TX_CONNECT_SPEED, A.FRAMING_TYPE, A.BEARER_TYPE})

# AVPs each message must carry (§6); a message lacking one is answered as a protocol error
REQUIRED: dict[int, tuple[AvpType, ...]] = {
    M.SCCRQ: (A.PROTOCOL_VERSION, A.HOST_NAME, A.FRAMING_CAPABILITIES, A.ASSIGNED_TUNNEL_ID),
    M.SCCRP: (A.PROTOCOL_VERSION, A.HOST_NAME, A.FRAMING_CAPABILITIES, A.ASSIGNED_TUNNEL_ID),
    M.ICRQ: (A.ASSIGNED_SESSION_ID,),
    M.ICRP: (A.ASSIGNED_SESSION_ID,),
    M.OCRQ: (A.ASSIGNED_SESSION_ID,),
    M.OCRP: (A.ASSIGNED_SESSION_ID,),
}

TX_CONNECT_SPEED = 100_000_000
FRAMING_SYNC = 1


def _safe_get(msg: ControlMessage, attr: AvpType, default: Any) -> Any:
    try:
        return msg.get(attr, default)
    except Malformed:
        return default



class L2tpTunnel:
    """One control connection and its sessions (see the module docstring)."""

    def __init__(self, config: TunnelConfig, local_tunnel_id: int, *,
                 rng: Callable[[int], bytes] = default_rng) -> None:
        if not 0 < local_tunnel_id <= 0xFFFF:
            raise CoreMisuse("tunnel id must be 1..65535")
        self.config = config
        self.local_tunnel_id = local_tunnel_id
        self.peer_host_name = ""
        self.state = TunnelState.IDLE
        self.initiator = False
        self.stats = Counters()
        self.calls: dict[int, SessionRecord] = {}
        self.close_cause: Cause | None = None
        self.close_reason: str | None = None
        self._rng = rng
        self._channel = ReliableChannel(ChannelConfig(config.receive_window, config.retransmit_s,
                                                      config.retransmit_max_s, config.max_retries), self.stats)
        self._challenge: bytes | None = None          # what we asked the peer
        self._peer_challenge: bytes | None = None     # what the peer asked us
        self._now = 0.0
        self._last_rx = 0.0
        self._idle_since: float | None = None         # no session since then (idle_timeout_s)
        self._serial = 0
        self._closed_emitted = False
        self._events: list[Event] = []               # what the current input or command caused
        self._stop_result: tuple[int, int | None] = (StopCcnResult.CLEAR, None)

    # ---- properties ------------------------------------------------------------------------------------------
    @property
    def peer_tunnel_id(self) -> int:
        return self._channel.peer_tunnel_id

    @property
    def channel(self) -> ReliableChannel:
        return self._channel

    # ---- commands --------------------------------------------------------------------------------------------
    def start(self, now: float) -> list[Event]:
        """Initiate the tunnel: SCCRQ."""
        if self.state is not TunnelState.IDLE:
            raise CoreMisuse(f"start in {self.state}")
        self._now = self._last_rx = now
        self.initiator = True
        items = self._sccrx_avps(M.SCCRQ)
        if self.config.secret is not None:
            self._challenge = self._rng(16)
            items.append((A.CHALLENGE, self._challenge))
        self._send(0, items, M.SCCRQ)
        self.state = TunnelState.WAIT_CTL_REPLY
        return self._take_events()

    def accept_tunnel(self, now: float) -> list[Event]:
        if self.state is not TunnelState.WAIT_ADMISSION:
            raise CoreMisuse(f"accept_tunnel in {self.state}")
        self._now = now
        items = self._sccrx_avps(M.SCCRP)
        if self._peer_challenge is not None:
            items.append((A.CHALLENGE_RESPONSE, challenge_response(M.SCCRP, self.config.secret or b"",
                                                                   self._peer_challenge)))
        if self.config.secret is not None:
            self._challenge = self._rng(16)
            items.append((A.CHALLENGE, self._challenge))
        self._send(0, items, M.SCCRP)
        self.state = TunnelState.WAIT_CTL_CONN
        self._channel.retry_limit = min(self.config.handshake_retries, self.config.max_retries)
        return self._take_events()

    def refuse_tunnel(self, result: int, error: int | None, message: str, now: float,
                      cause: Cause = Cause.TUNNEL_REFUSED) -> list[Event]:
        """StopCCN to a requester we will not serve (e.g. no tunnel can be admitted); CAUSE is ours, for the
        TunnelClosed event that follows."""
        if self.state is not TunnelState.WAIT_ADMISSION:
            raise CoreMisuse(f"refuse_tunnel in {self.state}")
        self._now = now
        self._stop(result, error, message, f"refused: {message}", cause)
        return self._take_events()

    def close(self, now: float, result: int = StopCcnResult.CLEAR, error: int | None = None,
              message: str = "", cause: Cause = Cause.ADMIN_DISCONNECT) -> list[Event]:
        """Clear the tunnel and all its sessions: StopCCN, then CLOSED when it is acknowledged."""
        self._now = now
        if self.state in (TunnelState.CLOSING, TunnelState.CLOSED):
            return self._take_events()
        if self.state is TunnelState.IDLE:
            self.state = TunnelState.CLOSED
            return self._take_events()
        self._stop(result, error, message, message or "closed locally", cause)
        return self._take_events()

    def place_call(self, now: float, calling_number: str = "") -> int:
        """LAC: an incoming call towards the LNS (ICRQ). Returns the local session id (the ICRQ waits until the
        tunnel is up). It causes no event."""
        self._now = now
        if self.state in (TunnelState.CLOSING, TunnelState.CLOSED):
            raise CoreMisuse("place_call on a closed tunnel")
        sid = self._new_session_id()
        call = SessionRecord(sid, SessionState.WAIT_TUNNEL, lac=True)
        self._serial += 1
        call.serial = self._serial
        self.calls[sid] = call
        self._idle_since = None
        if self.state is TunnelState.ESTABLISHED:
            self._send_icrq(call)
        return sid

    def place_outgoing_call(self, now: float, called_number: str = "") -> int:
        """LNS: ask the LAC to place an outgoing call (OCRQ). It causes no event."""
        self._now = now
        if self.state is not TunnelState.ESTABLISHED:
            raise CoreMisuse("place_outgoing_call before the tunnel is up")
        sid = self._new_session_id()
        self._serial += 1
        call = SessionRecord(sid, SessionState.WAIT_REPLY, lac=False, outgoing=True, serial=self._serial)
        self.calls[sid] = call
        self._idle_since = None
        self._send(0, [(A.ASSIGNED_SESSION_ID, sid), (A.CALL_SERIAL_NUMBER, call.serial),
                       (A.MINIMUM_BPS, 0), (A.MAXIMUM_BPS, TX_CONNECT_SPEED), (A.BEARER_TYPE, 0),
                       (A.FRAMING_TYPE, FRAMING_SYNC), (A.CALLED_NUMBER, called_number)], M.OCRQ)
        return sid

    def accept_call(self, local_session_id: int, now: float) -> list[Event]:
        """Answer a CallRequested: ICRP (we are the LNS), or OCRP + OCCN (we are the LAC: the session is up at
        once, so SessionUp comes back from this command)."""
        call = self._call_in(local_session_id, SessionState.WAIT_ADMISSION)
        self._now = now
        if call.outgoing:               # we are the LAC: reply, and the "dialling" is immediate
            self._send(call.peer_session_id, [(A.ASSIGNED_SESSION_ID, call.local_session_id)], M.OCRP)
            self._send(call.peer_session_id, [(A.TX_CONNECT_SPEED, TX_CONNECT_SPEED),
                                              (A.FRAMING_TYPE, FRAMING_SYNC)], M.OCCN)
            call.state = SessionState.ESTABLISHED
            self._events.append(SessionUp(call.local_session_id, call.peer_session_id))
        else:
            self._send(call.peer_session_id, [(A.ASSIGNED_SESSION_ID, call.local_session_id)], M.ICRP)
            call.state = SessionState.WAIT_CONNECT
        return self._take_events()

    def refuse_call(self, local_session_id: int, now: float, result: int = CdnResult.TEMPORARY_LACK,
                    error: int | None = None, message: str = "") -> list[Event]:
        call = self._call_in(local_session_id, SessionState.WAIT_ADMISSION)
        self._now = now
        self._send_cdn(call, result, error, message)
        return self._take_events()

    def close_call(self, local_session_id: int, now: float, result: int = CdnResult.ADMIN,
                   error: int | None = None, message: str = "") -> list[Event]:
        """CDN for one session (no SessionClosed: the owner asked for it)."""
        call = self.calls.get(local_session_id)
        if call is None:
            return self._take_events()
        self._now = now
        if call.state is SessionState.WAIT_TUNNEL:
            del self.calls[local_session_id]
            self._note_idle()
            return self._take_events()
        self._send_cdn(call, result, error, message)
        return self._take_events()

    def set_link_info(self, local_session_id: int, send_accm: int, recv_accm: int, now: float) -> list[Event]:
        """LNS → LAC: SLI with the ACCM negotiated by PPP (§6.14)."""
        call = self.calls.get(local_session_id)
        if call is None or call.state is not SessionState.ESTABLISHED:
            return self._take_events()
        self._now = now
        self._send(call.peer_session_id, [(A.ACCM, b"\0\0" + send_accm.to_bytes(4, "big") +
                                           recv_accm.to_bytes(4, "big"))], M.SLI)
        return self._take_events()

    # ---- outputs ---------------------------------------------------------------------------------------------
    def take_output(self) -> list[bytes]:
        return self._channel.flush(self._now)

    def next_timer(self) -> float | None:
        if self.state is TunnelState.CLOSED:
            return None
        deadlines = [d for d in (self._channel.next_timer(), self._hello_deadline(), self._idle_deadline())
                     if d is not None]
        return min(deadlines) if deadlines else None

    def _hello_deadline(self) -> float | None:
        if self.state is TunnelState.ESTABLISHED and self._channel.idle and self.config.hello_s > 0:
            return self._last_rx + self.config.hello_s
        return None

    def _idle_deadline(self) -> float | None:
        if (self.state is not TunnelState.ESTABLISHED or self.config.idle_timeout_s <= 0 or self.calls
                or self._idle_since is None):
            return None
        return self._idle_since + self.config.idle_timeout_s

    def _note_idle(self) -> None:
        if not self.calls and self._idle_since is None:
            self._idle_since = self._now

    # ---- inputs ----------------------------------------------------------------------------------------------
    def receive(self, data: bytes | memoryview, now: float) -> list[Event]:
        self._now = now
        try:
            msg = decode_control(data, self.config.secret)
        except Malformed as exc:
            self.stats.count(exc.reason)
            return self._take_events()
        if msg.tunnel_id not in (self.local_tunnel_id, 0) or (msg.tunnel_id == 0 and not msg.avps):
            self.stats.count("wrong tunnel id")
            return self._take_events()
        self._last_rx = now
        for m in self._channel.accept(msg, now):
            if self.state is TunnelState.CLOSED:
                break
            self._dispatch(m)
        if self.state is TunnelState.CLOSING and self._channel.idle:
            self._finish(StopCcnResult.CLEAR, None, self.close_reason or "closed", by_peer=False,
                         cause=self.close_cause or Cause.ADMIN_DISCONNECT)
        return self._take_events()

    def handle_timer(self, now: float) -> list[Event]:
        self._now = now
        if self.state is TunnelState.CLOSED:
            return self._take_events()
        if not self._channel.on_timer(now):
            self._channel.abandon()
            n = self._channel.retry_limit if self._channel.retry_limit is not None else self.config.max_retries
            if self.state is TunnelState.CLOSING:
                cause = self.close_cause or Cause.ADMIN_DISCONNECT
            elif self.state is TunnelState.ESTABLISHED:
                cause = Cause.LINK_LOST
            else:
                cause = Cause.NO_ANSWER
            self._finish(StopCcnResult.GENERAL_ERROR, None,
                         f"peer did not acknowledge after {n} retransmissions", by_peer=False, cause=cause)
            return self._take_events()
        hello = self._hello_deadline()
        if hello is not None and now >= hello:
            self._last_rx = now
            self._send(0, [], M.HELLO)
        idle = self._idle_deadline()
        if idle is not None and now >= idle:
            self.stats.count("idle tunnel closed")
            self._stop(StopCcnResult.CLEAR, None, "no session", "no session for the idle time", Cause.IDLE_TIMEOUT)
        return self._take_events()

    def _take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # ---- message handling ------------------------------------------------------------------------------------
    def _dispatch(self, msg: ControlMessage) -> None:
        mtype = msg.message_type
        try:
            mtype = MessageType(mtype)
        except ValueError:
            if msg.avps[0].mandatory:
                self._protocol_error(msg, f"unknown mandatory message type {mtype}",
                                     GeneralError.UNKNOWN_MANDATORY_AVP)
            else:
                self.stats.count("unknown message type ignored")
            return
        unknown = msg.unknown_mandatory()
        if unknown is not None:
            self._protocol_error(msg, f"unknown mandatory AVP {unknown.name} in {mtype.name}",
                                 GeneralError.UNKNOWN_MANDATORY_AVP)
            return
        for attr in REQUIRED.get(mtype, ()):
            if msg.avp(attr) is None:
                self._protocol_error(msg, f"{mtype.name} without {attr.name}", GeneralError.BAD_VALUE)
                return
        transition = TUNNEL_TRANSITIONS.get((self.state, mtype))
        if transition is None:
            self._unexpected(msg)
            return
        try:
            transition.handler(self, msg)
        except Malformed as exc:            # an AVP of the right type with a bad value
            self._protocol_error(msg, f"{mtype.name}: {exc.reason}", GeneralError.BAD_LENGTH)
            return
        if transition.to is not None and self.state not in (TunnelState.CLOSING, TunnelState.CLOSED):
            self.state = transition.to

    def _on_session_message(self, msg: ControlMessage) -> None:
        """A session message in an established tunnel: the session named by the header, then the session table."""
        call = self.calls.get(msg.session_id)
        if call is None:
            # a CDN answering our ICRQ before ICRP carries our session id in the header; anything else is stray
            self.stats.count(f"{msg.name} for an unknown session")
            return
        transition = SESSION_TRANSITIONS.get((call.kind, call.state, MessageType(msg.message_type)))
        if transition is None:
            self._unexpected(msg)
            return
        transition.handler(self, call, msg)
        if transition.to is not None and self.calls.get(call.local_session_id) is call:
            call.state = transition.to

    def _protocol_error(self, msg: ControlMessage, reason: str, error: int) -> None:
        self.stats.count(reason)
        mtype = msg.message_type
        if mtype in TUNNEL_MESSAGES or (msg.session_id == 0 and mtype not in (M.ICRQ, M.OCRQ)):
            if self.state is TunnelState.WAIT_ADMISSION or self.state is TunnelState.IDLE:
                self._channel.peer_tunnel_id = _safe_get(msg, A.ASSIGNED_TUNNEL_ID, 0)
            self._stop(StopCcnResult.GENERAL_ERROR, error, reason, reason, Cause.PROTOCOL_ERROR)
            return
        call = self.calls.get(msg.session_id)
        if call is None and mtype in (M.ICRQ, M.OCRQ):
            peer_sid = _safe_get(msg, A.ASSIGNED_SESSION_ID, 0)
            if peer_sid:
                self._send(peer_sid, [(A.RESULT_CODE, ResultCode(CdnResult.GENERAL_ERROR, error, reason[:64])),
                                      (A.ASSIGNED_SESSION_ID, 0)], M.CDN)
            return
        if call is not None:
            self._send_cdn(call, CdnResult.GENERAL_ERROR, error, reason[:64])
            self._events.append(SessionClosed(call.local_session_id, CdnResult.GENERAL_ERROR, error,
                                              Cause.PROTOCOL_ERROR, reason, by_peer=False))

    def _unexpected(self, msg: ControlMessage) -> None:
        self.stats.count(f"unexpected {msg.name} in {self.state.value}")

    # -- tunnel messages --
    def _on_sccrq(self, msg: ControlMessage) -> None:
        self._channel.peer_tunnel_id = msg.get(A.ASSIGNED_TUNNEL_ID)
        self._channel.set_peer_window(msg.get(A.RECEIVE_WINDOW_SIZE, 4))
        self.peer_host_name = msg.get(A.HOST_NAME)
        challenge = msg.get(A.CHALLENGE)
        if challenge is not None and self.config.secret is None:
            self._stop(StopCcnResult.NOT_AUTHORIZED, None, "challenged but no tunnel secret is configured",
                       "peer asked for tunnel authentication; no secret configured", Cause.TUNNEL_AUTH_FAILED)
            return
        self._peer_challenge = challenge
        self._events.append(TunnelRequested(self.peer_tunnel_id, self.peer_host_name, msg.get(A.VENDOR_NAME, "")))

    def _check_response(self, msg: ControlMessage, mtype: int) -> bool:
        if self._challenge is None:
            return True
        got = msg.get(A.CHALLENGE_RESPONSE)
        want = challenge_response(mtype, self.config.secret or b"", self._challenge)
        if got is None or not hmac.compare_digest(got, want):
            reason = "tunnel authentication failed" if got is not None else "no Challenge Response from the peer"
            self._stop(StopCcnResult.NOT_AUTHORIZED, None, "tunnel authentication failed", reason,
                       Cause.TUNNEL_AUTH_FAILED)
            return False
        return True

    def _on_sccrp(self, msg: ControlMessage) -> None:
        self._channel.peer_tunnel_id = msg.get(A.ASSIGNED_TUNNEL_ID)
        self._channel.set_peer_window(msg.get(A.RECEIVE_WINDOW_SIZE, 4))
        self.peer_host_name = msg.get(A.HOST_NAME)
        if not self._check_response(msg, M.SCCRP):
            return
        items: list[tuple[AvpType, Any]] = []
        challenge = msg.get(A.CHALLENGE)
        if challenge is not None:
            if self.config.secret is None:
                self._stop(StopCcnResult.NOT_AUTHORIZED, None, "challenged but no tunnel secret is configured",
                           "peer asked for tunnel authentication; no secret configured", Cause.TUNNEL_AUTH_FAILED)
                return
            items.append((A.CHALLENGE_RESPONSE, challenge_response(M.SCCCN, self.config.secret, challenge)))
        self._send(0, items, M.SCCCN)
        self._established()

    def _on_scccn(self, msg: ControlMessage) -> None:
        if self._check_response(msg, M.SCCCN):
            self._established()

    def _established(self) -> None:
        self.state = TunnelState.ESTABLISHED
        self._channel.retry_limit = None
        self._idle_since = None if self.calls else self._now
        self._events.append(TunnelUp(self.peer_tunnel_id, self.peer_host_name))
        for call in list(self.calls.values()):
            if call.state is SessionState.WAIT_TUNNEL:
                self._send_icrq(call)

    def _on_stopccn(self, msg: ControlMessage) -> None:
        if not self._channel.peer_tunnel_id:     # refused before SCCRP: its StopCCN names the tunnel to ack to
            self._channel.peer_tunnel_id = _safe_get(msg, A.ASSIGNED_TUNNEL_ID, 0)
        rc = msg.get(A.RESULT_CODE)
        result = rc.result if rc else 0
        error = rc.error if rc else None
        cause = stopccn_cause(result, error, established=self.state is TunnelState.ESTABLISHED,
                              have_secret=self.config.secret is not None)
        self._finish(result, error, f"peer sent StopCCN: {_result_text(rc)}", by_peer=True, cause=cause)

    def _on_hello(self, msg: ControlMessage) -> None:
        pass                                  # the ack is all it needs

    def _on_icrq(self, msg: ControlMessage) -> None:
        self._on_call_request(msg, outgoing=False)

    def _on_ocrq(self, msg: ControlMessage) -> None:
        self._on_call_request(msg, outgoing=True)

    def _on_call_request(self, msg: ControlMessage, outgoing: bool) -> None:
        peer_sid = msg.get(A.ASSIGNED_SESSION_ID)
        for call in self.calls.values():
            if call.peer_session_id == peer_sid and call.lac == outgoing:
                self.stats.count("call request for an existing session")
                return
        sid = self._new_session_id()
        call = SessionRecord(sid, SessionState.WAIT_ADMISSION, lac=outgoing, outgoing=outgoing,
                             peer_session_id=peer_sid, serial=msg.get(A.CALL_SERIAL_NUMBER, 0))
        self.calls[sid] = call
        self._idle_since = None
        self._events.append(CallRequested(sid, peer_sid, call.serial, outgoing,
                                          msg.get(A.CALLING_NUMBER, ""), msg.get(A.CALLED_NUMBER, "")))

    # -- session messages (call = the session the header names) --
    def _on_icrp(self, call: SessionRecord, msg: ControlMessage) -> None:
        call.peer_session_id = msg.get(A.ASSIGNED_SESSION_ID)
        self._send(call.peer_session_id, [(A.TX_CONNECT_SPEED, TX_CONNECT_SPEED),
                                          (A.FRAMING_TYPE, FRAMING_SYNC)], M.ICCN)
        self._events.append(SessionUp(call.local_session_id, call.peer_session_id))

    def _on_ocrp(self, call: SessionRecord, msg: ControlMessage) -> None:
        call.peer_session_id = msg.get(A.ASSIGNED_SESSION_ID)

    def _on_connected(self, call: SessionRecord, msg: ControlMessage) -> None:   # ICCN (LNS), OCCN (LNS-outgoing)
        self._events.append(SessionUp(call.local_session_id, call.peer_session_id))

    def _on_cdn(self, call: SessionRecord, msg: ControlMessage) -> None:
        del self.calls[call.local_session_id]
        self._note_idle()
        rc = msg.get(A.RESULT_CODE)
        result = rc.result if rc else 0
        cause = cdn_cause(result, established=call.state is SessionState.ESTABLISHED)
        self._events.append(SessionClosed(call.local_session_id, result, rc.error if rc else None, cause,
                                          f"peer sent CDN: {_result_text(rc)}", by_peer=True))

    def _on_link_info(self, call: SessionRecord, msg: ControlMessage) -> None:     # WEN, SLI
        attr = A.CALL_ERRORS if msg.message_type == M.WEN else A.ACCM
        self._events.append(LinkInfo(call.local_session_id, msg.message_type, msg.get(attr, b"")))

    # ---- helpers ---------------------------------------------------------------------------------------------
    def _call_in(self, sid: int, state: SessionState) -> SessionRecord:
        call = self.calls.get(sid)
        if call is None or call.state is not state:
            raise CoreMisuse(f"session {sid} is not in {state}")
        return call

    def _new_session_id(self) -> int:
        while True:
            sid = int.from_bytes(self._rng(2), "big")
            if sid and sid not in self.calls:
                return sid

    def _sccrx_avps(self, mtype: MessageType) -> list[tuple[AvpType, Any]]:
        c = self.config
        return [(A.PROTOCOL_VERSION, (1, 0)), (A.FRAMING_CAPABILITIES, c.framing_capabilities),
                (A.BEARER_CAPABILITIES, c.bearer_capabilities), (A.FIRMWARE_REVISION, 0x0100),
                (A.HOST_NAME, c.host_name), (A.VENDOR_NAME, c.vendor_name),
                (A.ASSIGNED_TUNNEL_ID, self.local_tunnel_id), (A.RECEIVE_WINDOW_SIZE, c.receive_window)]

    def _send(self, session_id: int, items: list[tuple[AvpType, Any]], mtype: MessageType) -> None:
        body_items = [(A.MESSAGE_TYPE, int(mtype))] + list(items)
        secret = self.config.secret if self.config.hide_avps else None
        body = encode_avp_list(body_items, secret=secret, hide_types=HIDDEN_AVPS, rng=self._rng)
        self._channel.queue(session_id, body)

    def _send_icrq(self, call: SessionRecord) -> None:
        self._send(0, [(A.ASSIGNED_SESSION_ID, call.local_session_id), (A.CALL_SERIAL_NUMBER, call.serial),
                       (A.BEARER_TYPE, 0)], M.ICRQ)
        call.state = SessionState.WAIT_REPLY

    def _send_cdn(self, call: SessionRecord, result: int, error: int | None, message: str) -> None:
        self.calls.pop(call.local_session_id, None)
        self._note_idle()
        self._send(call.peer_session_id, [(A.RESULT_CODE, ResultCode(result, error, message)),
                                          (A.ASSIGNED_SESSION_ID, call.local_session_id)], M.CDN)

    def _stop(self, result: int, error: int | None, message: str, reason: str, cause: Cause) -> None:
        """Send StopCCN and wait for its ack (CLOSING); sessions are gone with the tunnel."""
        self.close_reason = reason
        self.close_cause = cause
        for call in list(self.calls.values()):
            if call.state is SessionState.ESTABLISHED:
                self._events.append(SessionClosed(call.local_session_id, CdnResult.ADMIN, None, cause,
                                                  "tunnel closed", by_peer=False))
        self.calls.clear()
        self._send(0, [(A.ASSIGNED_TUNNEL_ID, self.local_tunnel_id),
                       (A.RESULT_CODE, ResultCode(result, error, message[:64]))], M.STOPCCN)
        self.state = TunnelState.CLOSING
        self._stop_result = (result, error)

    def _finish(self, result: int, error: int | None, reason: str, by_peer: bool, cause: Cause) -> None:
        if self._closed_emitted:
            self.state = TunnelState.CLOSED
            return
        for call in list(self.calls.values()):
            if call.state is SessionState.ESTABLISHED:
                self._events.append(SessionClosed(call.local_session_id, CdnResult.LOST_CARRIER
                                                  if not by_peer else CdnResult.ADMIN, None,
                                                  cause, reason, by_peer))
        self.calls.clear()
        if not by_peer and self.state is TunnelState.CLOSING:
            result, error = self._stop_result
            cause = self.close_cause or cause
            reason = self.close_reason or reason
        self.state = TunnelState.CLOSED
        self.close_reason = reason
        self.close_cause = cause
        self._closed_emitted = True
        self._events.append(TunnelClosed(result, error, cause, reason, by_peer))


# ---- the machines as data ---------------------------------------------------------------------------------------

class Transition(NamedTuple):
    handler: Callable[..., None]
    to: Any                  # TunnelState / SessionState after a well-formed message, None = unchanged


def _tunnel_table() -> dict[tuple[TunnelState, MessageType], Transition]:
    T, S = L2tpTunnel, TunnelState
    t: dict[tuple[TunnelState, MessageType], Transition] = {
        (S.IDLE, M.SCCRQ): Transition(T._on_sccrq, S.WAIT_ADMISSION),
        (S.WAIT_CTL_REPLY, M.SCCRP): Transition(T._on_sccrp, S.ESTABLISHED),
        (S.WAIT_CTL_CONN, M.SCCCN): Transition(T._on_scccn, S.ESTABLISHED),
        (S.ESTABLISHED, M.ICRQ): Transition(T._on_icrq, None),
        (S.ESTABLISHED, M.OCRQ): Transition(T._on_ocrq, None),
    }
    for st in S:
        if st is not S.CLOSED:
            t[(st, M.STOPCCN)] = Transition(T._on_stopccn, S.CLOSED)
            t[(st, M.HELLO)] = Transition(T._on_hello, None)
    for mtype in (M.ICRP, M.OCRP, M.ICCN, M.OCCN, M.CDN, M.WEN, M.SLI):
        t[(S.ESTABLISHED, mtype)] = Transition(T._on_session_message, None)
    return t


def _session_table() -> dict[tuple[SessionKind, SessionState, MessageType], Transition]:
    T, K, SS = L2tpTunnel, SessionKind, SessionState
    t: dict[tuple[SessionKind, SessionState, MessageType], Transition] = {
        (K.LAC_INCOMING, SS.WAIT_REPLY, M.ICRP): Transition(T._on_icrp, SS.ESTABLISHED),
        (K.LNS_OUTGOING, SS.WAIT_REPLY, M.OCRP): Transition(T._on_ocrp, SS.WAIT_CONNECT),
        (K.LNS_INCOMING, SS.WAIT_CONNECT, M.ICCN): Transition(T._on_connected, SS.ESTABLISHED),
        (K.LNS_OUTGOING, SS.WAIT_CONNECT, M.OCCN): Transition(T._on_connected, SS.ESTABLISHED),
    }
    for kind in K:
        for st in SS:
            t[(kind, st, M.CDN)] = Transition(T._on_cdn, None)           # clears a session in any state
            t[(kind, st, M.WEN)] = Transition(T._on_link_info, None)
            t[(kind, st, M.SLI)] = Transition(T._on_link_info, None)
    return t


TUNNEL_TRANSITIONS = _tunnel_table()
SESSION_TRANSITIONS = _session_table()
