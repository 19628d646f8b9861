"""The RFC 1661 automaton: every (State, Input) cell against the RFC's own table, and the timer/counter rules."""

from __future__ import annotations

import pytest

from rrasctl.protocols.ppp.frame import Code, ControlPacket
from rrasctl.protocols.ppp.fsm import (
    TIMER_STATES, TRANSITIONS, Action, Input, LayerDown, LayerFailed, LayerFinished, LayerStarted, LayerUp,
    Negotiator, NegotiationFailed, State,
)

# RFC 1661 §4.1, copied as printed (both halves), footnote letters included. The test parses this text; fsm.py
# has its own transcription as a dict, so a typo in either shows up here.
RFC_TABLE_A = """
      |    0         1         2         3         4         5
Events| Initial   Starting  Closed    Stopped   Closing   Stopping
------+-----------------------------------------------------------
 Up   |    2     irc,scr/6     -         -         -         -
 Down |    -         -         0       tls/1       0         1
 Open |  tls/1       1     irc,scr/6     3r        5r        5r
 Close|    0       tlf/0       2         2         4         4
  TO+ |    -         -         -         -       str/4     str/5
  TO- |    -         -         -         -       tlf/2     tlf/3
 RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
 RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
 RCA  |    -         -       sta/2     sta/3       4         5
 RCN  |    -         -       sta/2     sta/3       4         5
 RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
 RTA  |    -         -         2         3       tlf/2     tlf/3
 RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
 RXJ+ |    -         -         2         3         4         5
 RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
 RXR  |    -         -         2         3         4         5
"""
RFC_TABLE_B = """
      |    6         7         8           9
Events| Req-Sent  Ack-Rcvd  Ack-Sent    Opened
------+-----------------------------------------
 Up   |    -         -         -           -
 Down |    1         1         1         tld/1
 Open |    6         7         8           9r
 Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
  TO+ |  scr/6     scr/6     scr/8         -
  TO- |  tlf/3p    tlf/3p    tlf/3p        -
 RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
 RCA  |  irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
 RTR  |  sta/6     sta/6     sta/6   tld,zrc,sta/5
 RTA  |    6         6         8       tld,scr/6
 RUC  |  scj/6     scj/7     scj/8       scj/9
 RXJ+ |    6         6         8           9
 RXJ- |  tlf/3     tlf/3     tlf/3   tld,irc,str/5
 RXR  |    6         7         8         ser/9
"""
_INPUT_BY_LABEL = {i.value: i for i in Input}


def _parse(text: str, first_state: int) -> dict[tuple[State, Input], tuple[tuple[Action, ...], State] | None]:
    cells = {}
    for line in text.strip().splitlines()[3:]:
        label, _, row = line.partition("|")
        inp = _INPUT_BY_LABEL[label.strip()]
        for offset, cell in enumerate(row.split()):
            state = State(first_state + offset)
            if cell == "-":
                cells[state, inp] = None
                continue
            acts, _, nxt = cell.rpartition("/")
            nxt = nxt.rstrip("prx") if not nxt.isdigit() else nxt
            actions = tuple(Action(a) for a in acts.split(",") if a)
            cells[state, inp] = (actions, State(int(nxt)))
    return cells


RFC = _parse(RFC_TABLE_A, 0) | _parse(RFC_TABLE_B, 6)
ALL_CELLS = [(s, i) for s in State for i in Input]


def test_rfc_text_covers_every_cell():
    assert len(RFC) == 160 and set(RFC) == set(ALL_CELLS)
    assert sum(v is not None for v in RFC.values()) == len(TRANSITIONS) == 120


@pytest.mark.parametrize("state,inp", ALL_CELLS, ids=[f"{s.name}-{i.name}" for s, i in ALL_CELLS])
def test_table_matches_rfc(state, inp):
    assert TRANSITIONS.get((state, inp)) == RFC[state, inp]


class StubHandler:
    """A handler whose answers are fixed; records resets."""

    def __init__(self):
        self.resets = 0
        self.negotiator = None

    def reset(self):
        self.resets += 1

    def build_request(self):
        return b"\x01\x04\x05\xdc"

    def judge_request(self, data, nak_allowed):
        return (Code.CONFIGURE_ACK, data) if data == b"" else (Code.CONFIGURE_NAK, b"\x01\x04\x05\xdc")

    def ack_received(self, data):
        return data == b"\x01\x04\x05\xdc"

    def nak_received(self, data):
        if data == b"\xff\x02":
            raise NegotiationFailed("no way")
        return True

    def reject_received(self, data):
        return True

    def rxr(self, packet, now):
        self.negotiator.send(Code.ECHO_REPLY, packet.id, b"\0\0\0\0")
        return []

    def extra(self, packet, now):
        return None


def _machine(state: State, **kw) -> Negotiator:
    handler = StubHandler()
    n = Negotiator(0xC021, handler, rxr_codes=frozenset({Code.ECHO_REQUEST}), max_configure=10,
                   max_terminate=2, **kw)
    handler.negotiator = n
    n.state = state
    n._rx = ControlPacket(Code.ECHO_REQUEST, 42, b"\0\0\0\0")
    n._raw = b"\x63\x2a\x00\x04"
    return n


_CODE_OF = {Action.SCR: Code.CONFIGURE_REQUEST, Action.SCA: Code.CONFIGURE_ACK, Action.SCN: Code.CONFIGURE_ACK,
            Action.STR: Code.TERMINATE_REQUEST, Action.STA: Code.TERMINATE_ACK, Action.SCJ: Code.CODE_REJECT,
            Action.SER: Code.ECHO_REPLY}
_EVENT_OF = {Action.TLU: LayerUp, Action.TLD: LayerDown, Action.TLS: LayerStarted, Action.TLF: LayerFinished}


@pytest.mark.parametrize("state,inp", ALL_CELLS, ids=[f"{s.name}-{i.name}" for s, i in ALL_CELLS])
def test_every_cell_runs_its_actions(state, inp):
    n = _machine(state)
    events = n.event(inp, now=100.0)
    out = [ControlPacket.decode(p) for p in n.take_output()]
    expected = RFC[state, inp]
    if expected is None:       # "-": nothing happens, but it is counted
        assert n.state is state and out == [] and events == []
        assert n.stats == {f"illegal {inp.value} in {state.name}": 1}
        return
    actions, nxt = expected
    assert n.state is nxt
    assert [p.code for p in out] == [_CODE_OF[a] for a in actions if a in _CODE_OF]
    assert [type(e) for e in events] == [_EVENT_OF[a] for a in actions if a in _EVENT_OF]
    assert all(e.protocol == 0xC021 for e in events)
    sends = sum(a in (Action.SCR, Action.STR) for a in actions)
    if Action.IRC in actions:
        full = 2 if Action.STR in actions else 10
        assert n.restart_count == full - sends
    if Action.ZRC in actions:
        assert n.restart_count == 0 and n.deadline == 103.0
    if nxt in TIMER_STATES and (sends or Action.ZRC in actions):
        assert n.deadline == 103.0
    if nxt not in TIMER_STATES:
        assert n.deadline is None
    for p in out:
        if p.code in (Code.TERMINATE_ACK, Code.ECHO_REPLY):
            assert p.id == 42          # answers carry the identifier of what they answer
        if p.code == Code.CODE_REJECT:
            assert p.data == b"\x63\x2a\x00\x04"


def test_gives_up_after_max_configure():
    n = Negotiator(0x8021, StubHandler(), restart_s=3.0, max_configure=3)
    n.open(0.0)
    n.up(0.0)
    assert [ControlPacket.decode(p).code for p in n.take_output()] == [Code.CONFIGURE_REQUEST]
    for t in (3.0, 6.0):
        assert n.next_timer() == t
        assert n.handle_timer(t - 0.5) == []
        n.handle_timer(t)
        assert [ControlPacket.decode(p).code for p in n.take_output()] == [Code.CONFIGURE_REQUEST]
    assert n.handle_timer(9.0) == [LayerFinished(0x8021)]
    assert n.state is State.STOPPED and n.next_timer() is None


def test_request_ids_increase_and_stale_replies_are_dropped():
    n = Negotiator(0xC021, StubHandler(), restart_s=3.0)
    n.open(0.0)
    n.up(0.0)
    first = ControlPacket.decode(n.take_output()[0])
    n.handle_timer(3.0)
    second = ControlPacket.decode(n.take_output()[0])
    assert second.id == (first.id + 1) & 0xFF and second.data == first.data
    stale = ControlPacket(Code.CONFIGURE_ACK, first.id, first.data).encode()
    assert n.receive(stale, 3.1) == [] and n.state is State.REQ_SENT
    assert n.stats["reply id mismatch"] == 1
    wrong = ControlPacket(Code.CONFIGURE_ACK, second.id, b"\x01\x04\x05\xdd").encode()
    assert n.receive(wrong, 3.2) == [] and n.stats["bad configure-ack"] == 1
    good = ControlPacket(Code.CONFIGURE_ACK, second.id, second.data).encode()
    assert n.receive(good, 3.3) == [] and n.state is State.ACK_RCVD
    # a duplicate of the same Ack is not a second RCA (which would restart negotiation: scr/6)
    assert n.receive(good, 3.4) == [] and n.state is State.ACK_RCVD
    assert n.receive(ControlPacket(Code.CONFIGURE_REQUEST, 9, b"").encode(), 3.5) == [LayerUp(0xC021)]
    assert n.state is State.OPENED and n.next_timer() is None
    assert ControlPacket.decode(n.take_output()[-1]) == ControlPacket(Code.CONFIGURE_ACK, 9, b"")


def test_naks_become_rejects_after_max_failure():
    seen = []

    class Judge(StubHandler):
        def judge_request(self, data, nak_allowed):
            seen.append(nak_allowed)
            return (Code.CONFIGURE_NAK, b"\x01\x04\x05\xdc") if nak_allowed else (Code.CONFIGURE_REJECT, data)

    n = Negotiator(0xC021, Judge(), max_failure=2)
    n.open(0.0)
    n.up(0.0)
    n.take_output()
    for i in range(4):
        n.receive(ControlPacket(Code.CONFIGURE_REQUEST, i, b"\x01\x04\x00\x10").encode(), 0.1 * i)
    assert seen == [True, True, False, False]
    assert [ControlPacket.decode(p).code for p in n.take_output()] == [
        Code.CONFIGURE_NAK, Code.CONFIGURE_NAK, Code.CONFIGURE_REJECT, Code.CONFIGURE_REJECT]


def test_negotiation_failure_closes_with_reason():
    n = Negotiator(0x80FD, StubHandler())
    n.open(0.0)
    n.up(0.0)
    req = ControlPacket.decode(n.take_output()[0])
    events = n.receive(ControlPacket(Code.CONFIGURE_NAK, req.id, b"\xff\x02").encode(), 1.0)
    assert events == [LayerFailed(0x80FD, "no way")]
    assert n.state is State.CLOSING and n.failure_reason == "no way"
    assert [ControlPacket.decode(p).code for p in n.take_output()] == [Code.TERMINATE_REQUEST]


def test_endless_naks_end_the_layer():
    n = Negotiator(0x8021, StubHandler(), max_configure=3)
    n.open(0.0)
    n.up(0.0)
    events = []
    for i in range(5):
        req = ControlPacket.decode(n.take_output()[-1])
        events += n.receive(ControlPacket(Code.CONFIGURE_NAK, req.id, b"\x01\x04\x05\xdc").encode(), float(i))
    assert events == [LayerFailed(0x8021, "peer kept refusing our options")]


def test_code_reject_of_essential_code_is_catastrophic():
    n = _machine(State.OPENED)
    assert n.receive(ControlPacket(Code.CODE_REJECT, 1, b"\x01\x01\x00\x04").encode(), 0.0) == [LayerDown(0xC021)]
    assert n.state is State.STOPPING
    m = _machine(State.OPENED)
    assert m.receive(ControlPacket(Code.CODE_REJECT, 1, b"\x09\x01\x00\x08").encode(), 0.0) == []
    assert m.state is State.OPENED


def test_unknown_code_is_code_rejected_with_the_packet():
    n = _machine(State.OPENED)
    n.take_output()
    packet = bytes.fromhex("63070006abcd") + b"pad"
    assert n.receive(packet, 0.0) == []
    out = ControlPacket.decode(n.take_output()[0])
    assert out.code == Code.CODE_REJECT and out.data == bytes.fromhex("63070006abcd")


def test_malformed_and_early_packets_are_counted():
    n = _machine(State.REQ_SENT)
    assert n.receive(b"\x01\x01\x00", 0.0) == []
    assert n.receive(b"\x01\x01\x00\x09\x00", 0.0) == []
    assert n.receive(b"\x01\x01\x00\x03", 0.0) == []
    assert n.stats == {"short control packet": 1, "control packet length beyond frame": 1,
                       "control packet length below 4": 1}
    early = _machine(State.STARTING)
    assert early.receive(ControlPacket(1, 1, b"").encode(), 0.0) == []
    assert early.stats == {"packet while lower layer down": 1}


def test_duplicate_request_in_opened_is_acked_again_without_renegotiating():
    n = _machine(State.REQ_SENT)
    n._req_id = 3
    n.receive(ControlPacket(Code.CONFIGURE_ACK, 3, b"\x01\x04\x05\xdc").encode(), 0.0)
    assert n.receive(ControlPacket(Code.CONFIGURE_REQUEST, 8, b"").encode(), 0.1) == [LayerUp(0xC021)]
    n.take_output()
    assert n.receive(ControlPacket(Code.CONFIGURE_REQUEST, 8, b"").encode(), 0.2) == []
    assert n.state is State.OPENED and n.stats["duplicate configure-request re-acked"] == 1
    assert n.take_output() == [ControlPacket(Code.CONFIGURE_ACK, 8, b"").encode()]
    # a new identifier is a real renegotiation (RFC 1661 §5.1): the table's tld,scr,sca/8
    assert n.receive(ControlPacket(Code.CONFIGURE_REQUEST, 9, b"").encode(), 0.3) == [LayerDown(0xC021)]
    assert n.state is State.ACK_SENT


def test_max_failure_counts_naks_since_our_last_ack():
    seen = []

    class Judge(StubHandler):
        def judge_request(self, data, nak_allowed):
            seen.append(nak_allowed)
            if data == b"":
                return Code.CONFIGURE_ACK, data
            return (Code.CONFIGURE_NAK, b"\x01\x04\x05\xdc") if nak_allowed else (Code.CONFIGURE_REJECT, data)

    n = Negotiator(0xC021, Judge(), max_failure=2)
    n.open(0.0)
    n.up(0.0)
    for i, data in enumerate([b"\x01\x04\x00\x10", b"\x01\x04\x00\x10", b"", b"\x01\x04\x00\x10"]):
        n.receive(ControlPacket(Code.CONFIGURE_REQUEST, i, data).encode(), 0.1 * i)
    assert seen == [True, True, False, True]         # the Ack sent in between reset the count


def test_request_resent_when_a_closed_peer_starts_talking():
    # pppd answers IPCP with Terminate-Ack while its IPCP waits for MPPE, then sends its own request
    n = Negotiator(0x8021, StubHandler(), restart_s=3.0)
    n.open(0.0)
    n.up(0.0)
    first = ControlPacket.decode(n.take_output()[0])
    assert n.receive(ControlPacket(Code.TERMINATE_ACK, first.id, b"").encode(), 0.1) == []
    n.receive(ControlPacket(Code.CONFIGURE_REQUEST, 1, b"").encode(), 0.2)
    out = [ControlPacket.decode(p) for p in n.take_output()]
    assert [(p.code, p.id) for p in out] == [(Code.CONFIGURE_ACK, 1), (Code.CONFIGURE_REQUEST, first.id + 1)]
    assert n.state is State.ACK_SENT and n.next_timer() == 3.2 and n.restart_count == 8
