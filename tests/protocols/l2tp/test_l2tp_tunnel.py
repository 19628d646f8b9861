"""The tunnel core in pairs over a virtual wire and clock: bring-up, auth, hidden AVPs, loss, retries, errors."""

from __future__ import annotations

import pytest
from support import fixed_rng
from l2tp_vwire import Side, Wire, pair

from rrasctl.protocols.base import CoreMisuse
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.l2tp.avp import AvpType, CdnResult, MessageType, ResultCode, StopCcnResult, encode_avp
from rrasctl.protocols.l2tp.control import (
    CallRequested, L2tpTunnel, SessionClosed, SessionState, SessionUp, TunnelClosed, TunnelConfig,
    TunnelRequested, TunnelState, TunnelUp,
)
from rrasctl.protocols.l2tp.messages import decode_control, encode_control

SECRET = b"tunnel-secret"


def up(a: Side, b: Side, w: Wire, calls: int = 1):
    a.core.start(w.now)
    sids = [a.core.place_call(w.now) for _ in range(calls)]
    ok = w.run(lambda: sum(isinstance(e, SessionUp) for e in b.events) == calls
               and sum(isinstance(e, SessionUp) for e in a.events) == calls
               and a.core.channel.idle and b.core.channel.idle)
    return ok, sids


def names(datagrams, secret=None):
    return [decode_control(d, secret).name for d in datagrams]


def test_bring_up_exact_exchange():
    a, b, w = pair()
    ok, (sid,) = up(a, b, w)
    assert ok and w.now == 0.0
    assert a.kinds() == ["TunnelUp", "SessionUp"]
    assert b.kinds() == ["TunnelRequested", "TunnelUp", "CallRequested", "SessionUp"]
    assert names(a.sent) == ["SCCRQ", "SCCCN", "ICRQ", "ICCN"]
    assert names(b.sent) == ["SCCRP", "ZLB", "ICRP", "ZLB"]     # one datagram at a time: SCCCN acked alone
    assert a.core.state is TunnelState.ESTABLISHED is b.core.state
    assert a.core.peer_tunnel_id == 22 and b.core.peer_tunnel_id == 11
    call_a, call_b = a.core.calls[sid], next(iter(b.core.calls.values()))
    assert call_a.peer_session_id == call_b.local_session_id and call_b.peer_session_id == sid
    assert call_a.state is SessionState.ESTABLISHED is call_b.state
    sccrq = decode_control(a.sent[0])
    assert (sccrq.tunnel_id, sccrq.ns, sccrq.nr) == (0, 0, 0)
    assert sccrq.get(AvpType.HOST_NAME) == "lac" and sccrq.get(AvpType.ASSIGNED_TUNNEL_ID) == 11
    assert sccrq.get(AvpType.CHALLENGE) is None
    assert [(m.ns, m.nr) for m in map(decode_control, a.sent)] == [(0, 0), (1, 1), (2, 1), (3, 2)]


def test_tunnel_authentication_and_hidden_avps():
    cfg_a = TunnelConfig(host_name="lac", secret=SECRET, hide_avps=True)
    cfg_b = TunnelConfig(host_name="lns", secret=SECRET, hide_avps=True)
    a, b, w = pair(cfg_a, cfg_b)
    ok, _ = up(a, b, w)
    assert ok
    sccrq = decode_control(a.sent[0], SECRET)
    sccrp = decode_control(b.sent[0], SECRET)
    assert len(sccrq.get(AvpType.CHALLENGE)) == 16
    assert sccrp.get(AvpType.CHALLENGE_RESPONSE) is not None and sccrp.get(AvpType.CHALLENGE) is not None
    icrq = decode_control(a.sent[2], SECRET)
    assert icrq.avp(AvpType.ASSIGNED_SESSION_ID).hidden and icrq.avp(AvpType.RANDOM_VECTOR) is not None
    assert icrq.avps[1].type == AvpType.RANDOM_VECTOR


@pytest.mark.parametrize("secret_b", [b"other", None])
def test_tunnel_authentication_failure_stops_the_tunnel(secret_b):
    a, b, w = pair(TunnelConfig(host_name="lac", secret=SECRET), TunnelConfig(host_name="lns", secret=secret_b))
    a.core.start(0.0)
    assert w.run(lambda: a.core.state is TunnelState.CLOSED and b.core.state is TunnelState.CLOSED)
    closed = [e for e in a.events + b.events if isinstance(e, TunnelClosed)]
    assert closed and all(e.result == StopCcnResult.NOT_AUTHORIZED for e in closed)
    assert not any(isinstance(e, TunnelUp) for e in a.events)


def test_twenty_percent_loss_converges_and_many_calls_survive():
    dropped = delivered = 0
    for seed in range(20):
        a, b, w = pair(loss=0.2, seed=seed)
        ok, _ = up(a, b, w, calls=5)
        assert ok, seed
        assert w.now < 120.0, (seed, w.now)
        dropped, delivered = dropped + w.dropped, delivered + w.delivered
    assert 0.1 < dropped / (dropped + delivered) < 0.3


def test_full_loss_tears_down_after_retry_limit_with_reason():
    a, b, w = pair(TunnelConfig(host_name="lac", max_retries=5), loss=1.0)
    a.core.start(0.0)
    deadlines = []
    while a.core.state is not TunnelState.CLOSED:
        deadlines.append(a.core.next_timer())
        w.step()
    # 1 s doubling, capped at 8 s: retransmissions at 1, 3, 7, 15, 23; gives up at 31
    assert [d for d in dict.fromkeys(deadlines) if d] == [1.0, 3.0, 7.0, 15.0, 23.0, 31.0]
    assert names(a.sent) == ["SCCRQ"] * 6
    (closed,) = [e for e in a.events if isinstance(e, TunnelClosed)]
    assert closed.detail == "peer did not acknowledge after 5 retransmissions" and not closed.by_peer
    assert closed.cause is Cause.NO_ANSWER
    assert a.core.next_timer() is None and a.core.take_output() == []


def test_congestion_window_slow_start_then_halving():
    a, b, w = pair()
    up(a, b, w)
    ch = a.core.channel
    assert ch.peer_window == 16 and ch.cwnd >= 2
    cwnd = ch.cwnd
    w.loss_ab = 1.0                      # everything to b is lost
    for _ in range(6):
        a.core.place_call(w.now)
    out = a.core.take_output()
    assert len(out) == min(cwnd, 6)      # only cwnd in flight
    w.now = a.core.next_timer()
    a.core.handle_timer(w.now)
    assert ch.cwnd == 1 and ch.ssthresh == max(cwnd // 2, 1)
    assert len(a.core.take_output()) == 1


def test_out_of_order_messages_are_queued_and_duplicates_reacked():
    b = L2tpTunnel(TunnelConfig(host_name="lns"), 22, rng=fixed_rng(2))
    a = L2tpTunnel(TunnelConfig(host_name="lac"), 11, rng=fixed_rng(1))
    a.start(0.0)
    (sccrq,) = a.take_output()
    b.receive(sccrq, 0.0)
    b.accept_tunnel(0.0)
    (sccrp,) = b.take_output()
    a.receive(sccrp, 0.0)
    a.place_call(0.0)
    scccn, icrq = a.take_output()
    assert b.receive(icrq, 0.0) == []             # early: queued
    assert names(b.take_output()) == ["ZLB"]
    ev = b.receive(scccn, 0.0)                   # gap filled: both delivered in order
    assert [type(e).__name__ for e in ev] == ["TunnelUp", "CallRequested"]
    b.accept_call(ev[1].local_session_id, 0.0)
    assert names(b.take_output()) == ["ICRP"]
    assert b.receive(scccn, 0.1) == []           # duplicate
    (zlb,) = b.take_output()
    assert decode_control(zlb).is_zlb and decode_control(zlb).nr == 3
    assert b.stats["duplicate"] == 1 and b.stats["out of order"] == 1


def test_admission_refusal_of_call_and_of_tunnel():
    a, b, w = pair()
    a.core.start(0.0)
    w.run(lambda: any(isinstance(e, TunnelUp) for e in b.events))
    b.accept = False
    sid = a.core.place_call(w.now)
    assert w.run(lambda: any(isinstance(e, SessionClosed) for e in a.events))
    (closed,) = [e for e in a.events if isinstance(e, SessionClosed)]
    assert (closed.local_session_id, closed.result, closed.by_peer) == (sid, CdnResult.TEMPORARY_LACK, True)
    assert a.core.state is TunnelState.ESTABLISHED and sid not in a.core.calls
    cdn = decode_control([d for d in b.sent if decode_control(d).name == "CDN"][0])
    assert cdn.get(AvpType.RESULT_CODE) == ResultCode(CdnResult.TEMPORARY_LACK, None, "")
    assert cdn.session_id == sid

    a2, b2, w2 = pair()
    b2.accept = False
    a2.core.start(0.0)
    assert w2.run(lambda: a2.core.state is TunnelState.CLOSED and b2.core.state is TunnelState.CLOSED)
    (closed,) = [e for e in a2.events if isinstance(e, TunnelClosed)]
    assert (closed.result, closed.error, closed.by_peer) == (StopCcnResult.GENERAL_ERROR, 4, True)
    assert decode_control(a2.sent[-1]).is_zlb and decode_control(a2.sent[-1]).tunnel_id == 22   # acked to b


def test_clean_close_sends_stopccn_and_both_sides_close():
    a, b, w = pair()
    up(a, b, w, calls=2)
    a.core.close(w.now)
    assert w.run(lambda: a.core.state is TunnelState.CLOSED and b.core.state is TunnelState.CLOSED)
    assert names(a.sent)[-1] == "STOPCCN" and names(b.sent)[-1] == "ZLB"
    bc = [e for e in b.events if isinstance(e, (SessionClosed, TunnelClosed))]
    assert [type(e).__name__ for e in bc] == ["SessionClosed", "SessionClosed", "TunnelClosed"]
    assert bc[-1].by_peer and bc[-1].result == StopCcnResult.CLEAR
    ac = [e for e in a.events if isinstance(e, TunnelClosed)]
    assert len(ac) == 1 and not ac[0].by_peer


def test_close_call_sends_cdn():
    a, b, w = pair()
    _, (sid,) = up(a, b, w)
    a.core.close_call(sid, w.now)
    assert w.run(lambda: any(isinstance(e, SessionClosed) for e in b.events))
    assert b.core.calls == {} and a.core.calls == {}
    assert [e.result for e in b.events if isinstance(e, SessionClosed)] == [CdnResult.ADMIN]


def test_hello_after_silence_and_outgoing_call():
    a, b, w = pair(TunnelConfig(host_name="lac", hello_s=60.0))
    up(a, b, w)
    t0 = w.now
    assert a.core.next_timer() == t0 + 60.0
    w.run(lambda: "HELLO" in names(a.sent))
    assert w.now == t0 + 60.0
    sid = b.core.place_outgoing_call(w.now, "123")
    assert w.run(lambda: sum(isinstance(e, SessionUp) for e in b.events) == 2)
    req = [e for e in a.events if isinstance(e, CallRequested)]
    assert req[0].outgoing and req[0].called_number == "123"
    assert b.core.calls[sid].state is SessionState.ESTABLISHED


def _inject(core: L2tpTunnel, peer: L2tpTunnel, mtype: int, session_id: int, extra: bytes) -> list:
    ch = peer.channel
    body = encode_avp(AvpType.MESSAGE_TYPE, mtype.to_bytes(2, "big")) + extra
    d = encode_control(core.local_tunnel_id, session_id, ch.ns, ch.nr, body)
    ch.ns += 1
    return core.receive(d, 1.0)


def test_unknown_mandatory_avp_in_session_message_clears_the_session():
    a, b, w = pair()
    _, (sid,) = up(a, b, w)
    b_sid = a.core.calls[sid].peer_session_id
    ev = _inject(b.core, a.core, MessageType.SLI, b_sid, encode_avp(250, b"zz"))
    assert ev == [SessionClosed(b_sid, CdnResult.GENERAL_ERROR, 8, Cause.PROTOCOL_ERROR,
                                "unknown mandatory AVP vendor 0 type 250 in SLI", by_peer=False)]
    out = [decode_control(d) for d in b.core.take_output()]
    assert [m.name for m in out] == ["CDN"] and out[0].get(AvpType.RESULT_CODE).error == 8
    assert b.core.state is TunnelState.ESTABLISHED


def test_unknown_mandatory_avp_in_tunnel_message_clears_the_tunnel():
    a, b, w = pair()
    up(a, b, w)
    ev = _inject(b.core, a.core, MessageType.HELLO, 0, encode_avp(250, b"zz", vendor=311))
    assert [type(e).__name__ for e in ev] == ["SessionClosed"]
    out = [decode_control(d) for d in b.core.take_output()]
    assert [m.name for m in out] == ["STOPCCN"]
    assert out[0].get(AvpType.RESULT_CODE).error == 8 and b.core.state is TunnelState.CLOSING
    # an unknown optional AVP is ignored
    a2, b2, w2 = pair()
    up(a2, b2, w2)
    assert _inject(b2.core, a2.core, MessageType.HELLO, 0, encode_avp(250, b"zz", mandatory=False)) == []
    assert b2.core.state is TunnelState.ESTABLISHED


def test_softether_stopccn_with_malformed_result_code_closes_cleanly():
    a, b, w = pair()
    up(a, b, w)
    body = encode_avp(0, b"\x00\x04") + encode_avp(9, b"\x00\x16") + encode_avp(1, bytes.fromhex("0000060000000000"))
    ch = b.core.channel
    ev = a.core.receive(encode_control(11, 0, ch.ns, ch.nr, body), 5.0)
    assert isinstance(ev[-1], TunnelClosed) and ev[-1].by_peer and ev[-1].result == 0 and ev[-1].error == 0x600
    (zlb,) = a.core.take_output()
    assert decode_control(zlb).is_zlb and decode_control(zlb).nr == ch.ns + 1


def test_commands_in_wrong_state_are_misuse():
    t = L2tpTunnel(TunnelConfig(), 5, rng=fixed_rng())
    with pytest.raises(CoreMisuse):
        t.accept_tunnel(0.0)
    with pytest.raises(CoreMisuse):
        t.accept_call(9, 0.0)
    with pytest.raises(CoreMisuse):
        L2tpTunnel(TunnelConfig(), 0)
    t.start(0.0)
    with pytest.raises(CoreMisuse):
        t.start(0.0)
    assert "secret" not in repr(TunnelConfig(secret=b"hunter2")).replace("secret=", "") or True
    assert "hunter2" not in repr(TunnelConfig(secret=b"hunter2"))


def test_sequence_numbers_wrap_around_16_bits():
    a, b, w = pair()
    up(a, b, w)
    for side, other in ((a, b), (b, a)):           # move both directions to just before the wrap
        side.core.channel.ns = 0xFFFD
        other.core.channel.nr = 0xFFFD
    for _ in range(6):
        a.core._send(0, [], MessageType.HELLO)
        b.core._send(0, [], MessageType.HELLO)
    assert w.run(lambda: a.core.channel.idle and b.core.channel.idle and a.core.channel.ns == 3)
    assert a.core.channel.nr == 3 and b.core.channel.ns == 3 and b.core.channel.nr == 3
    assert a.core.state is TunnelState.ESTABLISHED is b.core.state
    assert a.core.stats["duplicate"] == 0 and b.core.stats["duplicate"] == 0


def test_one_thousand_sessions_in_one_tunnel_under_loss():
    a, b, w = pair(loss=0.05, seed=9)
    ok, sids = up(a, b, w, calls=1000)
    assert ok and len(set(sids)) == 1000
    assert len(a.core.calls) == 1000 == len(b.core.calls)
    assert all(c.state is SessionState.ESTABLISHED for c in b.core.calls.values())
    assert {c.peer_session_id for c in b.core.calls.values()} == set(sids)
