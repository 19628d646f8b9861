"""Every (session state, session message) pair of RFC 2661 §7.4-7.5 (incoming and outgoing calls, both sides):
the RFC transition, or counted as unexpected with the session left as it was."""

from __future__ import annotations

import pytest
from support import fixed_rng
from test_l2tp_states import MINIMAL

from rrasctl.protocols.l2tp.avp import AvpType as A, MessageType as M, encode_avp_list
from rrasctl.protocols.l2tp.control import (
    CallRequested, L2tpTunnel, LinkInfo, SessionClosed, SessionState as SS, SessionUp, TunnelConfig,
    TunnelState,
)
from rrasctl.protocols.l2tp.messages import encode_control

SESSION_MESSAGES = (M.ICRP, M.ICCN, M.OCRP, M.OCCN, M.CDN, M.WEN, M.SLI)
GONE = "gone"

# (case, state) -> {message: (state after | GONE, event type or None)}; anything else: unexpected, unchanged
TABLE = {
    ("lac-incoming", SS.WAIT_REPLY): {M.ICRP: (SS.ESTABLISHED, SessionUp)},
    ("lns-outgoing", SS.WAIT_REPLY): {M.OCRP: (SS.WAIT_CONNECT, None)},
    ("lns-incoming", SS.WAIT_ADMISSION): {},
    ("lns-incoming", SS.WAIT_CONNECT): {M.ICCN: (SS.ESTABLISHED, SessionUp)},
    ("lns-outgoing", SS.WAIT_CONNECT): {M.OCCN: (SS.ESTABLISHED, SessionUp)},
    ("lac-incoming", SS.ESTABLISHED): {},
    ("lns-incoming", SS.ESTABLISHED): {},
}
ALWAYS = {M.CDN: (GONE, SessionClosed)}                       # CDN clears a session in any state
WHEN_KNOWN = {M.WEN: LinkInfo, M.SLI: LinkInfo}               # reported for any session we know


def established_pair():
    a = L2tpTunnel(TunnelConfig(host_name="a"), 11, rng=fixed_rng(1))
    b = L2tpTunnel(TunnelConfig(host_name="b"), 22, rng=fixed_rng(2))
    a.start(0.0)
    shuttle(a, b)
    return a, b


def shuttle(a, b, accept_calls=True):
    for _ in range(8):
        for src, dst in ((a, b), (b, a)):
            for d in src.take_output():
                for e in dst.receive(d, 0.0):
                    if type(e).__name__ == "TunnelRequested":
                        dst.accept_tunnel(0.0)
                    elif isinstance(e, CallRequested) and accept_calls:
                        dst.accept_call(e.local_session_id, 0.0)


def session_in(case: str, state: SS):
    """(core under test, its local session id, the peer core) with the session in `state`."""
    a, b = established_pair()
    assert a.state is TunnelState.ESTABLISHED
    if case == "lac-incoming":
        sid = a.place_call(0.0)
        if state is SS.WAIT_REPLY:
            a.take_output()
            return a, sid, b
        shuttle(a, b)
        return a, sid, b
    if case == "lns-outgoing":
        sid = b.place_outgoing_call(0.0)
        if state is SS.WAIT_REPLY:
            b.take_output()
            return b, sid, a
        # deliver the OCRQ, let a accept; deliver only its OCRP (the OCCN is dropped)
        for d in b.take_output():
            for e in a.receive(d, 0.0):
                if isinstance(e, CallRequested):
                    a.accept_call(e.local_session_id, 0.0)
        ocrp, _occn = a.take_output()
        b.receive(ocrp, 0.0)
        b.take_output()
        return b, sid, a
    # lns-incoming
    a.place_call(0.0)
    for d in a.take_output():
        events = b.receive(d, 0.0)
    (req,) = [e for e in events if isinstance(e, CallRequested)]
    if state is SS.WAIT_ADMISSION:
        return b, req.local_session_id, a
    b.accept_call(req.local_session_id, 0.0)
    if state is SS.WAIT_CONNECT:
        b.take_output()                                  # the ICRP is lost: the LAC never sends ICCN
        return b, req.local_session_id, a
    shuttle(a, b)
    return b, req.local_session_id, a


def send(core: L2tpTunnel, sid: int, mtype: M) -> list:
    ch = core.channel
    body = encode_avp_list([(A.MESSAGE_TYPE, int(mtype))] + MINIMAL.get(mtype, [])
                           + ([(A.TX_CONNECT_SPEED, 1), (A.FRAMING_TYPE, 1)] if mtype in (M.ICCN, M.OCCN) else []))
    return core.receive(encode_control(core.local_tunnel_id, sid, ch.nr, ch.ns, body), 1.0)


@pytest.mark.parametrize("case,state", list(TABLE))
@pytest.mark.parametrize("mtype", SESSION_MESSAGES)
def test_every_session_state_and_message(case, state, mtype):
    core, sid, _ = session_in(case, state)
    assert core.calls[sid].state is state
    counted = sum(core.stats.values())
    events = send(core, sid, mtype)
    want = TABLE[(case, state)].get(mtype) or ALWAYS.get(mtype)
    if want is not None:
        after, event = want
        if after == GONE:
            assert sid not in core.calls
        else:
            assert core.calls[sid].state is after
        assert [type(e) for e in events] == ([event] if event else [])
        assert sum(core.stats.values()) == counted
    elif mtype in WHEN_KNOWN:
        assert [type(e) for e in events] == [WHEN_KNOWN[mtype]] and core.calls[sid].state is state
    else:
        assert events == [] and core.calls[sid].state is state
        assert sum(core.stats.values()) == counted + 1, core.stats
    assert core.state is TunnelState.ESTABLISHED


def test_session_message_for_an_unknown_session_is_counted():
    a, b = established_pair()
    for mtype in SESSION_MESSAGES:
        counted = sum(a.stats.values())
        assert send(a, 4242, mtype) == []
        assert sum(a.stats.values()) == counted + 1
    assert a.state is TunnelState.ESTABLISHED


def test_the_core_session_table_is_the_rfc_table():
    """control.SESSION_TRANSITIONS says what TABLE/ALWAYS/WHEN_KNOWN above say, for every kind, state and message."""
    from rrasctl.protocols.l2tp.control import SESSION_TRANSITIONS
    from rrasctl.protocols.l2tp.events import SessionKind

    for kind in SessionKind:
        for state in SS:
            for mtype in SESSION_MESSAGES:
                cell = SESSION_TRANSITIONS.get((kind, state, mtype))
                want = TABLE.get((kind.value, state), {}).get(mtype)
                if mtype in ALWAYS or mtype in WHEN_KNOWN:
                    assert cell is not None and cell.to is None, (kind, state, mtype)
                elif want is not None:
                    assert cell is not None and cell.to is want[0], (kind, state, mtype, cell)
                else:
                    assert cell is None, (kind, state, mtype, cell)
