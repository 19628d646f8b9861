"""Every (tunnel state, control message) pair: the RFC 2661 §7.2 transition, or counted as unexpected with the state
left alone (DESIGN.md §10: an exhaustive test for every automaton)."""

from __future__ import annotations

import pytest
from support import fixed_rng

from rrasctl.protocols.l2tp.avp import AvpType as A, MessageType as M, ResultCode, encode_avp_list
from rrasctl.protocols.l2tp.control import L2tpTunnel, TunnelConfig, TunnelRequested, TunnelState as S
from rrasctl.protocols.l2tp.messages import decode_control, encode_control

MINIMAL = {   # the AVPs each message needs to be well formed (§6)
    M.SCCRQ: [(A.PROTOCOL_VERSION, (1, 0)), (A.HOST_NAME, "peer"), (A.FRAMING_CAPABILITIES, 3),
              (A.ASSIGNED_TUNNEL_ID, 77)],
    M.SCCRP: [(A.PROTOCOL_VERSION, (1, 0)), (A.HOST_NAME, "peer"), (A.FRAMING_CAPABILITIES, 3),
              (A.ASSIGNED_TUNNEL_ID, 77)],
    M.STOPCCN: [(A.ASSIGNED_TUNNEL_ID, 77), (A.RESULT_CODE, ResultCode(1))],
    M.ICRQ: [(A.ASSIGNED_SESSION_ID, 5), (A.CALL_SERIAL_NUMBER, 1)],
    M.ICRP: [(A.ASSIGNED_SESSION_ID, 5)],
    M.OCRQ: [(A.ASSIGNED_SESSION_ID, 5), (A.CALL_SERIAL_NUMBER, 1)],
    M.OCRP: [(A.ASSIGNED_SESSION_ID, 5)],
    M.CDN: [(A.RESULT_CODE, ResultCode(3)), (A.ASSIGNED_SESSION_ID, 5)],
    M.WEN: [(A.CALL_ERRORS, bytes(26))],
    M.SLI: [(A.ACCM, bytes(10))],
}

# state -> {message: state after}; a message not listed is "unexpected": counted, state unchanged.
# HELLO is only acknowledged in every state; ICRQ/OCRQ in ESTABLISHED raise CallRequested and keep the state.
TABLE = {
    S.IDLE: {M.SCCRQ: S.WAIT_ADMISSION, M.STOPCCN: S.CLOSED},
    S.WAIT_CTL_REPLY: {M.SCCRP: S.ESTABLISHED, M.STOPCCN: S.CLOSED},
    S.WAIT_ADMISSION: {M.STOPCCN: S.CLOSED},
    S.WAIT_CTL_CONN: {M.SCCCN: S.ESTABLISHED, M.STOPCCN: S.CLOSED},
    S.ESTABLISHED: {M.ICRQ: S.ESTABLISHED, M.OCRQ: S.ESTABLISHED, M.STOPCCN: S.CLOSED},
    S.CLOSING: {M.STOPCCN: S.CLOSED},
}
QUIET = {M.HELLO}


def core_in(state: S) -> L2tpTunnel:
    t = L2tpTunnel(TunnelConfig(host_name="us"), 9, rng=fixed_rng(4))
    if state is S.IDLE:
        return t
    if state in (S.WAIT_CTL_REPLY,):
        t.start(0.0)
        t.take_output()
        return t
    # responder path: feed an SCCRQ
    t.receive(message(t, M.SCCRQ, tunnel_id=0), 0.0)
    if state is S.WAIT_ADMISSION:
        return t
    t.accept_tunnel(0.0)
    t.take_output()
    if state is S.WAIT_CTL_CONN:
        return t
    t.receive(message(t, M.SCCCN), 0.0)
    t.take_output()
    if state is S.ESTABLISHED:
        return t
    t.close(0.0)
    t.take_output()
    assert t.state is S.CLOSING
    return t


def message(t: L2tpTunnel, mtype: M, tunnel_id: int | None = None, session_id: int = 0) -> bytes:
    ch = t.channel
    # in CLOSING, leave our StopCCN unacknowledged (an ack of it alone closes the tunnel)
    nr = (ch.ns - 1) & 0xFFFF if t.state is S.CLOSING else ch.ns
    body = encode_avp_list([(A.MESSAGE_TYPE, int(mtype))] + MINIMAL.get(mtype, []))
    return encode_control(t.local_tunnel_id if tunnel_id is None else tunnel_id, session_id, ch.nr, nr, body)


@pytest.mark.parametrize("state", list(TABLE))
@pytest.mark.parametrize("mtype", list(M))
def test_every_state_and_message(state, mtype):
    t = core_in(state)
    assert t.state is state
    counted = sum(t.stats.values())
    tid = 0 if mtype is M.SCCRQ else None
    events = t.receive(message(t, mtype, tunnel_id=tid), 1.0)
    want = TABLE[state].get(mtype)
    if want is None:
        assert t.state is state
        assert sum(t.stats.values()) == counted + (0 if mtype in QUIET else 1), t.stats
    else:
        assert t.state is want, (state, mtype, t.state, t.stats)
        assert sum(t.stats.values()) == counted
    if state is S.IDLE and mtype is M.SCCRQ:
        assert isinstance(events[0], TunnelRequested)


def test_an_ack_of_our_stopccn_closes_a_closing_tunnel():
    t = core_in(S.CLOSING)
    ch = t.channel
    assert [type(e).__name__ for e in t.receive(encode_control(9, 0, ch.nr, ch.ns), 1.0)] == ["TunnelClosed"]
    assert t.state is S.CLOSED


def test_closed_tunnel_ignores_everything_but_still_acks():
    t = core_in(S.ESTABLISHED)
    t.receive(message(t, M.STOPCCN), 1.0)
    t.take_output()
    assert t.state is S.CLOSED
    for mtype in M:
        assert t.receive(message(t, mtype), 2.0) == []
        assert t.state is S.CLOSED
        (ack,) = t.take_output()
        assert decode_control(ack).is_zlb and decode_control(ack).nr == t.channel.nr
    assert t.next_timer() is None


def test_the_core_table_is_the_rfc_table():
    """The core's own table (control.TUNNEL_TRANSITIONS) says exactly what TABLE above says, cell by cell; session
    messages in an established tunnel go to the session table (test_l2tp_session_states.py)."""
    from rrasctl.protocols.l2tp.control import TUNNEL_TRANSITIONS

    session_messages = {M.ICRP, M.OCRP, M.ICCN, M.OCCN, M.CDN, M.WEN, M.SLI}
    for state in S:
        for mtype in M:
            cell = TUNNEL_TRANSITIONS.get((state, mtype))
            rfc = TABLE.get(state, {}).get(mtype)
            if state is S.CLOSED:
                assert cell is None, (state, mtype)
            elif mtype in QUIET:
                assert cell is not None and cell.to is None, (state, mtype)
            elif rfc is not None:
                assert cell is not None and (cell.to or state) is rfc, (state, mtype, cell)
            elif state is S.ESTABLISHED and mtype in session_messages:
                assert cell is not None and cell.handler is L2tpTunnel._on_session_message and cell.to is None
            else:
                assert cell is None, (state, mtype, cell)
