"""The RFC 1661 §4 option-negotiation automaton, as a table, and the `Negotiator` that runs it (DESIGN.md §4).

One automaton serves LCP, IPCP and CCP. `TRANSITIONS` is RFC 1661 §4.1's state transition table transcribed cell
by cell: ``(State, Input) -> (actions, next state)``. A "-" cell (an event that cannot occur in that state) is
absent: reaching it changes nothing and is counted in ``stats["illegal <input> in <state>"]``. The footnotes of
§4.1 are not separate behaviour here: "p" (passive) and "r" (restart) are options we do not offer, and "x"
(crossed connection) needs no special action.

A `Negotiator` owns the state, the restart timer and counters (§4.6: Restart 3 s, Max-Terminate 2,
Max-Configure 10, Max-Failure 5), the packet identifiers, and drives a per-protocol `LayerHandler`
(options.OptionLayer for the option logic, plus extra codes: LCP Echo/Discard/Protocol-Reject, CCP Reset). Its
this-layer actions become events for link.py: `LayerUp`, `LayerDown`, `LayerStarted`, `LayerFinished`; a
negotiation that cannot succeed (no common authentication method, peer refused encryption) adds
`LayerFailed(protocol, reason)` and closes the layer.

Identifier rules (RFC 1661 §5.2-§5.4): a Configure-Ack/Nak/Reject whose identifier is not the outstanding
request's is dropped and counted; so is an Ack that does not echo our request exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, Callable, Protocol

from rrasctl.protocols.base import Counters, Event, Malformed
from rrasctl.protocols.ppp.frame import Code, ControlPacket

__all__ = [
    "State", "Input", "Action", "TRANSITIONS", "TIMER_STATES", "Negotiator", "LayerHandler", "NegotiationFailed",
    "LayerUp", "LayerDown", "LayerStarted", "LayerFinished", "LayerFailed",
    "RESTART_S", "MAX_CONFIGURE", "MAX_TERMINATE", "MAX_FAILURE",
]

RESTART_S = 3.0       # RFC 1661 §4.6
MAX_TERMINATE = 2
MAX_CONFIGURE = 10
MAX_FAILURE = 5


class State(IntEnum):
    """RFC 1661 §4.2, numbered as in the RFC."""

    INITIAL = 0
    STARTING = 1
    CLOSED = 2
    STOPPED = 3
    CLOSING = 4
    STOPPING = 5
    REQ_SENT = 6
    ACK_RCVD = 7
    ACK_SENT = 8
    OPENED = 9


class Input(Enum):
    """RFC 1661 §4.3 events."""

    UP = "Up"
    DOWN = "Down"
    OPEN = "Open"
    CLOSE = "Close"
    TO_PLUS = "TO+"
    TO_MINUS = "TO-"
    RCR_PLUS = "RCR+"
    RCR_MINUS = "RCR-"
    RCA = "RCA"
    RCN = "RCN"
    RTR = "RTR"
    RTA = "RTA"
    RUC = "RUC"
    RXJ_PLUS = "RXJ+"
    RXJ_MINUS = "RXJ-"
    RXR = "RXR"


class Action(Enum):
    """RFC 1661 §4.4 actions."""

    TLU = "tlu"
    TLD = "tld"
    TLS = "tls"
    TLF = "tlf"
    IRC = "irc"
    ZRC = "zrc"
    SCR = "scr"
    SCA = "sca"
    SCN = "scn"
    STR = "str"
    STA = "sta"
    SCJ = "scj"
    SER = "ser"


S, I, A = State, Input, Action

#: RFC 1661 §4.1, cell by cell. Absent pairs are the table's "-" cells.
TRANSITIONS: dict[tuple[State, Input], tuple[tuple[Action, ...], State]] = {
    # UP
    (S.INITIAL, I.UP): ((), S.CLOSED),
    (S.STARTING, I.UP): ((A.IRC, A.SCR,), S.REQ_SENT),
    # DOWN
    (S.CLOSED, I.DOWN): ((), S.INITIAL),
    (S.STOPPED, I.DOWN): ((A.TLS,), S.STARTING),
    (S.CLOSING, I.DOWN): ((), S.INITIAL),
    (S.STOPPING, I.DOWN): ((), S.STARTING),
    (S.REQ_SENT, I.DOWN): ((), S.STARTING),
    (S.ACK_RCVD, I.DOWN): ((), S.STARTING),
    (S.ACK_SENT, I.DOWN): ((), S.STARTING),
    (S.OPENED, I.DOWN): ((A.TLD,), S.STARTING),
    # OPEN
    (S.INITIAL, I.OPEN): ((A.TLS,), S.STARTING),
    (S.STARTING, I.OPEN): ((), S.STARTING),
    (S.CLOSED, I.OPEN): ((A.IRC, A.SCR,), S.REQ_SENT),
    (S.STOPPED, I.OPEN): ((), S.STOPPED),
    (S.CLOSING, I.OPEN): ((), S.STOPPING),
    (S.STOPPING, I.OPEN): ((), S.STOPPING),
    (S.REQ_SENT, I.OPEN): ((), S.REQ_SENT),
    (S.ACK_RCVD, I.OPEN): ((), S.ACK_RCVD),
    (S.ACK_SENT, I.OPEN): ((), S.ACK_SENT),
    (S.OPENED, I.OPEN): ((), S.OPENED),
    # CLOSE
    (S.INITIAL, I.CLOSE): ((), S.INITIAL),
    (S.STARTING, I.CLOSE): ((A.TLF,), S.INITIAL),
    (S.CLOSED, I.CLOSE): ((), S.CLOSED),
    (S.STOPPED, I.CLOSE): ((), S.CLOSED),
    (S.CLOSING, I.CLOSE): ((), S.CLOSING),
    (S.STOPPING, I.CLOSE): ((), S.CLOSING),
    (S.REQ_SENT, I.CLOSE): ((A.IRC, A.STR,), S.CLOSING),
    (S.ACK_RCVD, I.CLOSE): ((A.IRC, A.STR,), S.CLOSING),
    (S.ACK_SENT, I.CLOSE): ((A.IRC, A.STR,), S.CLOSING),
    (S.OPENED, I.CLOSE): ((A.TLD, A.IRC, A.STR,), S.CLOSING),
    # TO_PLUS
    (S.CLOSING, I.TO_PLUS): ((A.STR,), S.CLOSING),
    (S.STOPPING, I.TO_PLUS): ((A.STR,), S.STOPPING),
    (S.REQ_SENT, I.TO_PLUS): ((A.SCR,), S.REQ_SENT),
    (S.ACK_RCVD, I.TO_PLUS): ((A.SCR,), S.REQ_SENT),
    (S.ACK_SENT, I.TO_PLUS): ((A.SCR,), S.ACK_SENT),
    # TO_MINUS
    (S.CLOSING, I.TO_MINUS): ((A.TLF,), S.CLOSED),
    (S.STOPPING, I.TO_MINUS): ((A.TLF,), S.STOPPED),
    (S.REQ_SENT, I.TO_MINUS): ((A.TLF,), S.STOPPED),
    (S.ACK_RCVD, I.TO_MINUS): ((A.TLF,), S.STOPPED),
    (S.ACK_SENT, I.TO_MINUS): ((A.TLF,), S.STOPPED),
    # RCR_PLUS
    (S.CLOSED, I.RCR_PLUS): ((A.STA,), S.CLOSED),
    (S.STOPPED, I.RCR_PLUS): ((A.IRC, A.SCR, A.SCA,), S.ACK_SENT),
    (S.CLOSING, I.RCR_PLUS): ((), S.CLOSING),
    (S.STOPPING, I.RCR_PLUS): ((), S.STOPPING),
    (S.REQ_SENT, I.RCR_PLUS): ((A.SCA,), S.ACK_SENT),
    (S.ACK_RCVD, I.RCR_PLUS): ((A.SCA, A.TLU,), S.OPENED),
    (S.ACK_SENT, I.RCR_PLUS): ((A.SCA,), S.ACK_SENT),
    (S.OPENED, I.RCR_PLUS): ((A.TLD, A.SCR, A.SCA,), S.ACK_SENT),
    # RCR_MINUS
    (S.CLOSED, I.RCR_MINUS): ((A.STA,), S.CLOSED),
    (S.STOPPED, I.RCR_MINUS): ((A.IRC, A.SCR, A.SCN,), S.REQ_SENT),
    (S.CLOSING, I.RCR_MINUS): ((), S.CLOSING),
    (S.STOPPING, I.RCR_MINUS): ((), S.STOPPING),
    (S.REQ_SENT, I.RCR_MINUS): ((A.SCN,), S.REQ_SENT),
    (S.ACK_RCVD, I.RCR_MINUS): ((A.SCN,), S.ACK_RCVD),
    (S.ACK_SENT, I.RCR_MINUS): ((A.SCN,), S.REQ_SENT),
    (S.OPENED, I.RCR_MINUS): ((A.TLD, A.SCR, A.SCN,), S.REQ_SENT),
    # RCA
    (S.CLOSED, I.RCA): ((A.STA,), S.CLOSED),
    (S.STOPPED, I.RCA): ((A.STA,), S.STOPPED),
    (S.CLOSING, I.RCA): ((), S.CLOSING),
    (S.STOPPING, I.RCA): ((), S.STOPPING),
    (S.REQ_SENT, I.RCA): ((A.IRC,), S.ACK_RCVD),
    (S.ACK_RCVD, I.RCA): ((A.SCR,), S.REQ_SENT),
    (S.ACK_SENT, I.RCA): ((A.IRC, A.TLU,), S.OPENED),
    (S.OPENED, I.RCA): ((A.TLD, A.SCR,), S.REQ_SENT),
    # RCN
    (S.CLOSED, I.RCN): ((A.STA,), S.CLOSED),
    (S.STOPPED, I.RCN): ((A.STA,), S.STOPPED),
    (S.CLOSING, I.RCN): ((), S.CLOSING),
    (S.STOPPING, I.RCN): ((), S.STOPPING),
    (S.REQ_SENT, I.RCN): ((A.IRC, A.SCR,), S.REQ_SENT),
    (S.ACK_RCVD, I.RCN): ((A.SCR,), S.REQ_SENT),
    (S.ACK_SENT, I.RCN): ((A.IRC, A.SCR,), S.ACK_SENT),
    (S.OPENED, I.RCN): ((A.TLD, A.SCR,), S.REQ_SENT),
    # RTR
    (S.CLOSED, I.RTR): ((A.STA,), S.CLOSED),
    (S.STOPPED, I.RTR): ((A.STA,), S.STOPPED),
    (S.CLOSING, I.RTR): ((A.STA,), S.CLOSING),
    (S.STOPPING, I.RTR): ((A.STA,), S.STOPPING),
    (S.REQ_SENT, I.RTR): ((A.STA,), S.REQ_SENT),
    (S.ACK_RCVD, I.RTR): ((A.STA,), S.REQ_SENT),
    (S.ACK_SENT, I.RTR): ((A.STA,), S.REQ_SENT),
    (S.OPENED, I.RTR): ((A.TLD, A.ZRC, A.STA,), S.STOPPING),
    # RTA
    (S.CLOSED, I.RTA): ((), S.CLOSED),
    (S.STOPPED, I.RTA): ((), S.STOPPED),
    (S.CLOSING, I.RTA): ((A.TLF,), S.CLOSED),
    (S.STOPPING, I.RTA): ((A.TLF,), S.STOPPED),
    (S.REQ_SENT, I.RTA): ((), S.REQ_SENT),
    (S.ACK_RCVD, I.RTA): ((), S.REQ_SENT),
    (S.ACK_SENT, I.RTA): ((), S.ACK_SENT),
    (S.OPENED, I.RTA): ((A.TLD, A.SCR,), S.REQ_SENT),
    # RUC
    (S.CLOSED, I.RUC): ((A.SCJ,), S.CLOSED),
    (S.STOPPED, I.RUC): ((A.SCJ,), S.STOPPED),
    (S.CLOSING, I.RUC): ((A.SCJ,), S.CLOSING),
    (S.STOPPING, I.RUC): ((A.SCJ,), S.STOPPING),
    (S.REQ_SENT, I.RUC): ((A.SCJ,), S.REQ_SENT),
    (S.ACK_RCVD, I.RUC): ((A.SCJ,), S.ACK_RCVD),
    (S.ACK_SENT, I.RUC): ((A.SCJ,), S.ACK_SENT),
    (S.OPENED, I.RUC): ((A.SCJ,), S.OPENED),
    # RXJ_PLUS
    (S.CLOSED, I.RXJ_PLUS): ((), S.CLOSED),
    (S.STOPPED, I.RXJ_PLUS): ((), S.STOPPED),
    (S.CLOSING, I.RXJ_PLUS): ((), S.CLOSING),
    (S.STOPPING, I.RXJ_PLUS): ((), S.STOPPING),
    (S.REQ_SENT, I.RXJ_PLUS): ((), S.REQ_SENT),
    (S.ACK_RCVD, I.RXJ_PLUS): ((), S.REQ_SENT),
    (S.ACK_SENT, I.RXJ_PLUS): ((), S.ACK_SENT),
    (S.OPENED, I.RXJ_PLUS): ((), S.OPENED),
    # RXJ_MINUS
    (S.CLOSED, I.RXJ_MINUS): ((A.TLF,), S.CLOSED),
    (S.STOPPED, I.RXJ_MINUS): ((A.TLF,), S.STOPPED),
    (S.CLOSING, I.RXJ_MINUS): ((A.TLF,), S.CLOSED),
    (S.STOPPING, I.RXJ_MINUS): ((A.TLF,), S.STOPPED),
    (S.REQ_SENT, I.RXJ_MINUS): ((A.TLF,), S.STOPPED),
    (S.ACK_RCVD, I.RXJ_MINUS): ((A.TLF,), S.STOPPED),
    (S.ACK_SENT, I.RXJ_MINUS): ((A.TLF,), S.STOPPED),
    (S.OPENED, I.RXJ_MINUS): ((A.TLD, A.IRC, A.STR,), S.STOPPING),
    # RXR
    (S.CLOSED, I.RXR): ((), S.CLOSED),
    (S.STOPPED, I.RXR): ((), S.STOPPED),
    (S.CLOSING, I.RXR): ((), S.CLOSING),
    (S.STOPPING, I.RXR): ((), S.STOPPING),
    (S.REQ_SENT, I.RXR): ((), S.REQ_SENT),
    (S.ACK_RCVD, I.RXR): ((), S.ACK_RCVD),
    (S.ACK_SENT, I.RXR): ((), S.ACK_SENT),
    (S.OPENED, I.RXR): ((A.SER,), S.OPENED),
}

del S, I, A

#: states in which the restart timer runs (RFC 1661 §4.6)
TIMER_STATES = frozenset({State.CLOSING, State.STOPPING, State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT})

#: a Code-Reject of one of these codes is catastrophic (RXJ-): the automaton cannot work without them
_ESSENTIAL_CODES = frozenset(range(1, 8))


@dataclass(frozen=True, slots=True)
class LayerUp(Event):
    """This-Layer-Up: the protocol reached Opened."""

    protocol: int


@dataclass(frozen=True, slots=True)
class LayerDown(Event):
    """This-Layer-Down: the protocol left Opened."""

    protocol: int


@dataclass(frozen=True, slots=True)
class LayerStarted(Event):
    """This-Layer-Started: the protocol wants its lower layer up."""

    protocol: int


@dataclass(frozen=True, slots=True)
class LayerFinished(Event):
    """This-Layer-Finished: the protocol is done with its lower layer (Closed/Stopped/Initial/Starting)."""

    protocol: int


@dataclass(frozen=True, slots=True)
class LayerFailed(Event):
    """The negotiation cannot succeed; the layer is being closed. ``reason`` is for operators; ``cause`` a typed
    cause (linkconfig.LinkCause) when the failure has one of its own."""

    protocol: int
    reason: str
    cause: Any = None


class NegotiationFailed(Exception):
    """Raised by option logic when no agreement is possible (caught by the Negotiator)."""

    def __init__(self, reason: str, cause: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class LayerHandler(Protocol):
    """What a protocol plugs into the Negotiator (options.OptionLayer implements the option part)."""

    def reset(self) -> None: ...                        # a new negotiation starts: forget the last one
    def build_request(self) -> bytes: ...               # our Configure-Request options
    def judge_request(self, data: bytes, nak_allowed: bool) -> tuple[Code, bytes]: ...   # may raise Malformed
    def ack_received(self, data: bytes) -> bool: ...    # False: not an echo of our request -> dropped
    def nak_received(self, data: bytes) -> bool: ...    # may raise Malformed / NegotiationFailed
    def reject_received(self, data: bytes) -> bool: ...
    def rxr(self, packet: ControlPacket, now: float) -> list[Event]: ...   # Echo/Discard in Opened (SER)
    def extra(self, packet: ControlPacket, now: float) -> tuple[list[Event], Input | None] | None: ...


class Negotiator:
    """One RFC 1661 automaton instance (one per protocol per link)."""

    def __init__(self, protocol: int, handler: LayerHandler, *, restart_s: float = RESTART_S,
                 max_configure: int = MAX_CONFIGURE, max_terminate: int = MAX_TERMINATE,
                 max_failure: int = MAX_FAILURE, rxr_codes: frozenset[int] = frozenset(),
                 sink: Callable[[int, bytes], None] | None = None, first_id: int = 1) -> None:
        self.protocol = protocol
        self.handler = handler
        self.restart_s = restart_s
        self.max_configure = max_configure
        self.max_terminate = max_terminate
        self.max_failure = max_failure
        self.rxr_codes = rxr_codes
        self.state = State.INITIAL
        self.stats = Counters()
        self.restart_count = 0
        self.failures = 0                   # Configure-Naks sent since our last Configure-Ack (Max-Failure)
        self.naks_received = 0              # Naks/Rejects taken since this layer last opened (loop guard)
        self.deadline: float | None = None
        self.failure_reason = ""            # set with LayerFailed
        self._next_id = first_id & 0xFF
        self._req_id: int | None = None     # identifier of the outstanding Configure-Request
        self._req_data = b""
        self._term_id = 0
        self._rx: ControlPacket | None = None
        self._reply: tuple[Code, bytes] = (Code.CONFIGURE_ACK, b"")
        self._acked: tuple[int, bytes] | None = None     # (id, options) of the last request we acked
        self._peer_was_closed = False       # a Terminate-Ack answered our Configure-Request
        self._raw = b""
        self._out: list[bytes] = []
        self._sink = sink

    # -- output ---------------------------------------------------------------------------------------------
    def send(self, code: int, ident: int, data: bytes = b"") -> None:
        payload = ControlPacket(code, ident, data).encode()
        if self._sink is not None:
            self._sink(self.protocol, payload)
        else:
            self._out.append(payload)

    def take_output(self) -> list[bytes]:
        """Information fields queued when no sink was given (standalone use, tests)."""
        out, self._out = self._out, []
        return out

    def next_timer(self) -> float | None:
        return self.deadline

    def new_id(self) -> int:
        ident = self._next_id
        self._next_id = (ident + 1) & 0xFF
        return ident

    # -- administrative events -------------------------------------------------------------------------------
    def up(self, now: float) -> list[Event]:
        return self.event(Input.UP, now)

    def down(self, now: float) -> list[Event]:
        return self.event(Input.DOWN, now)

    def open(self, now: float) -> list[Event]:
        return self.event(Input.OPEN, now)

    def close(self, now: float) -> list[Event]:
        return self.event(Input.CLOSE, now)

    def rejected(self, now: float) -> list[Event]:
        """The peer sent an LCP Protocol-Reject for this protocol (RXJ-, RFC 1661 §5.7)."""
        return self.event(Input.RXJ_MINUS, now)

    def fail(self, reason: str, now: float, cause: Any = None) -> list[Event]:
        """Give up on this layer with an operator-facing reason: `LayerFailed`, then Close."""
        self.failure_reason = reason
        return [LayerFailed(self.protocol, reason, cause)] + self.event(Input.CLOSE, now)

    def handle_timer(self, now: float) -> list[Event]:
        if self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        return self.event(Input.TO_PLUS if self.restart_count > 0 else Input.TO_MINUS, now)

    # -- the automaton ---------------------------------------------------------------------------------------
    def event(self, inp: Input, now: float) -> list[Event]:
        cell = TRANSITIONS.get((self.state, inp))
        if cell is None:
            self.stats.count(f"illegal {inp.value} in {self.state.name}")
            return []
        actions, nxt = cell
        events: list[Event] = []
        was_negotiating = self.state in (State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT)
        for i, action in enumerate(actions):
            if action is Action.IRC:
                terminating = Action.STR in actions[i:]
                self.restart_count = self.max_terminate if terminating else self.max_configure
            elif action is Action.ZRC:
                self.restart_count = 0
                self.deadline = now + self.restart_s
            elif action is Action.SCR:
                if not was_negotiating:
                    self.handler.reset()
                self._send_configure_request(now)
            elif action is Action.SCA or action is Action.SCN:
                code, data = self._reply
                ident = self._rx.id if self._rx else 0
                self.send(code, ident, data)
                self._acked = (ident, data) if code == Code.CONFIGURE_ACK else None
                if code == Code.CONFIGURE_ACK:
                    self.failures = 0           # Max-Failure counts Naks sent without an Ack between (§4.6)
            elif action is Action.STR:
                self._term_id = self.new_id()
                self.send(Code.TERMINATE_REQUEST, self._term_id, b"")
                self.restart_count -= 1
                self.deadline = now + self.restart_s
            elif action is Action.STA:
                self.send(Code.TERMINATE_ACK, self._rx.id if self._rx else 0, b"")
            elif action is Action.SCJ:
                self.send(Code.CODE_REJECT, self.new_id(), self._raw[:1400])
            elif action is Action.SER:
                if self._rx is not None:
                    events += self.handler.rxr(self._rx, now)
            elif action is Action.TLU:
                self.naks_received = 0
                events.append(LayerUp(self.protocol))
            elif action is Action.TLD:
                events.append(LayerDown(self.protocol))
            elif action is Action.TLS:
                self.naks_received = self.failures = 0
                self.handler.reset()
                events.append(LayerStarted(self.protocol))
            elif action is Action.TLF:
                events.append(LayerFinished(self.protocol))
        self.state = nxt
        if nxt not in TIMER_STATES:
            self.deadline = None
        return events

    def _send_configure_request(self, now: float) -> None:
        self._req_id = self.new_id()
        self._req_data = self.handler.build_request()
        self.send(Code.CONFIGURE_REQUEST, self._req_id, self._req_data)
        self.restart_count -= 1
        self.deadline = now + self.restart_s

    # -- received packets ------------------------------------------------------------------------------------
    def receive(self, payload: bytes | memoryview, now: float) -> list[Event]:
        """One packet of this protocol (the frame's information field). Never raises because of the peer."""
        try:
            return self._receive(payload, now)
        except Malformed as exc:
            self.stats.count(exc.reason)
            return []

    def _receive(self, payload: bytes | memoryview, now: float) -> list[Event]:
        if self.state in (State.INITIAL, State.STARTING):
            self.stats.count("packet while lower layer down")   # RFC 1661 §4.1: not possible; pppd drops
            return []
        pkt = ControlPacket.decode(payload)
        self._rx = pkt
        code = pkt.code
        if code == Code.CONFIGURE_REQUEST:
            if self.state is State.OPENED and (pkt.id, pkt.data) == self._acked:
                # RFC 1661 §5.1: a peer MUST change the Identifier once it got a valid reply, so the same id and
                # options again is a retransmission whose Ack was lost (or a duplicate): Ack again, stay Opened,
                # instead of the table's tld,scr,sca that would tear every upper layer down for nothing.
                self.stats.count("duplicate configure-request re-acked")
                self.send(Code.CONFIGURE_ACK, pkt.id, pkt.data)
                return []
            if self.state in (State.CLOSED, State.CLOSING, State.STOPPING):
                return self.event(Input.RCR_PLUS, now)          # answered by sta or ignored: no judging
            nak_allowed = self.failures < self.max_failure
            reply = self.handler.judge_request(pkt.data, nak_allowed)
            self._reply = reply
            if reply[0] == Code.CONFIGURE_ACK:
                events = self.event(Input.RCR_PLUS, now)
            else:
                if reply[0] == Code.CONFIGURE_NAK:
                    self.failures += 1
                events = self.event(Input.RCR_MINUS, now)
            if self._peer_was_closed and self.state in (State.REQ_SENT, State.ACK_SENT):
                # Our request met a closed layer (Terminate-Ack: pppd keeps IPCP closed until MPPE is up);
                # now that the peer talks, send it again rather than wait for the restart timer (a retransmission).
                self._peer_was_closed = False
                self.stats.count("configure-request resent early")
                self._send_configure_request(now)
            return events
        if code in (Code.CONFIGURE_ACK, Code.CONFIGURE_NAK, Code.CONFIGURE_REJECT):
            if self.state in (State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT, State.OPENED):
                if pkt.id != self._req_id:
                    self.stats.count("reply id mismatch")
                    return []
                if self.state is not State.OPENED:
                    try:
                        ok = (self.handler.ack_received(pkt.data) if code == Code.CONFIGURE_ACK
                              else self.handler.nak_received(pkt.data) if code == Code.CONFIGURE_NAK
                              else self.handler.reject_received(pkt.data))
                    except NegotiationFailed as exc:
                        return self.fail(exc.reason, now, exc.cause)
                    if not ok:
                        self.stats.count(f"bad configure-{Code(code).name.split('_')[1].lower()}")
                        return []
                    if code != Code.CONFIGURE_ACK:
                        # RCN restarts the counter (irc,scr), so a peer that never agrees would loop forever;
                        # pppd bounds this too. Max-Configure Naks in a row end the layer.
                        self.naks_received += 1
                        if self.naks_received > self.max_configure:
                            return self.fail("peer kept refusing our options", now)
                self._req_id = None             # answered: later copies are duplicates
            return self.event(Input.RCA if code == Code.CONFIGURE_ACK else Input.RCN, now)
        if code == Code.TERMINATE_REQUEST:
            return self.event(Input.RTR, now)
        if code == Code.TERMINATE_ACK:
            if self.state in (State.REQ_SENT, State.ACK_SENT):
                self._peer_was_closed = True
            return self.event(Input.RTA, now)
        if code == Code.CODE_REJECT:
            rejected = pkt.data[0] if pkt.data else 0
            return self.event(Input.RXJ_MINUS if rejected in _ESSENTIAL_CODES else Input.RXJ_PLUS, now)
        if code in self.rxr_codes:
            return self.event(Input.RXR, now)
        extra = self.handler.extra(pkt, now)
        if extra is None:
            self._raw = bytes(payload[:len(pkt.data) + 4])
            return self.event(Input.RUC, now)
        events, inp = extra
        if inp is not None:
            events = events + self.event(inp, now)
        return events
