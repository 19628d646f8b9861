"""The PPTP control connection core: PAC + PNS pairs over a virtual TCP stream, keepalive, violations."""

from __future__ import annotations

import pytest

import pptp_captures as cap
from rrasctl.protocols.base import CoreMisuse
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.pptp import messages as m
from rrasctl.protocols.pptp.control import (
    CallCleared, CallConnected, CallRefused, CallRequested, ControlClosed, ControlConfig, ControlEstablished,
    ControlState, LinkInfoSet, PptpControl, Role,
)


def rng(n: int) -> bytes:
    return b"\x00" * n


def pair(**kw):
    pac = PptpControl(ControlConfig(Role.PAC, host_name="pac", vendor="rrasctl", **kw), rng=rng)
    pns = PptpControl(ControlConfig(Role.PNS, host_name="pns", vendor="rrasctl", **kw), rng=rng)
    pac.start(0.0)
    pns.start(0.0)
    return pac, pns


def pump(a: PptpControl, b: PptpControl, now: float, *, byte_at_a_time: bool = False):
    """Move bytes both ways until quiet; returns (events at a, events at b)."""
    ev_a, ev_b = [], []
    while True:
        out_a, out_b = b"".join(a.take_output()), b"".join(b.take_output())
        if not out_a and not out_b:
            return ev_a, ev_b
        for src, dst, evs in ((out_a, b, ev_b), (out_b, a, ev_a)):
            if byte_at_a_time:
                for i in range(len(src)):
                    evs += dst.receive(src[i:i + 1], now)
            elif src:
                evs += dst.receive(src, now)


@pytest.mark.parametrize("byte_at_a_time", [False, True])
def test_pac_and_pns_set_up_a_call_and_clear_it(byte_at_a_time):
    pac, pns = pair()
    ev_pac, ev_pns = pump(pac, pns, 0.0, byte_at_a_time=byte_at_a_time)
    assert ev_pac == [ControlEstablished("pns", "rrasctl", 1)]
    assert ev_pns == [ControlEstablished("pac", "rrasctl", 1)]
    assert pac.state is pns.state is ControlState.ESTABLISHED

    pns.place_call(0x1111, 1.0)
    ev_pac, ev_pns = pump(pac, pns, 1.0, byte_at_a_time=byte_at_a_time)
    assert ev_pac == [CallRequested(peer_call_id=0x1111, call_serial=0x1111, recv_window=64, processing_delay=0,
                                    phone_number="")]
    assert ev_pns == [] and pac.pending_requests == (0x1111,)
    pac.accept_call(0x1111, 0x2222, 1.0)
    ev_pac, ev_pns = pump(pac, pns, 1.0, byte_at_a_time=byte_at_a_time)
    assert ev_pns == [CallConnected(local_call_id=0x1111, peer_call_id=0x2222, peer_recv_window=64,
                                    peer_processing_delay=0)]
    assert pac.call(0x2222).peer_call_id == 0x1111

    pns.set_link_info(0x1111, 0, 0xFFFFFFFF, 2.0)
    ev_pac, _ = pump(pac, pns, 2.0, byte_at_a_time=byte_at_a_time)
    assert ev_pac == [LinkInfoSet(0x2222, 0, 0xFFFFFFFF)]

    pns.clear_call(0x1111, 3.0)
    ev_pac, ev_pns = pump(pac, pns, 3.0, byte_at_a_time=byte_at_a_time)
    assert ev_pac == [CallCleared(0x2222, 0x1111, Cause.PEER_DISCONNECTED, "peer cleared the call", m.CdnResult.REQUEST)]
    assert ev_pns == [CallCleared(0x1111, 0x2222, Cause.ADMIN_DISCONNECT, "peer disconnected the call (request)",
                                  m.CdnResult.REQUEST, 0)]
    assert pac.calls == pns.calls == ()

    pns.stop(4.0)
    ev_pac, ev_pns = pump(pac, pns, 4.0, byte_at_a_time=byte_at_a_time)
    assert ev_pac == [ControlClosed(Cause.PEER_DISCONNECTED, "peer stopped the control connection")]
    assert ev_pns == [ControlClosed(Cause.ADMIN_DISCONNECT, "stopped")]
    assert pac.state is pns.state is ControlState.CLOSED
    assert pac.next_timer() is None and pns.next_timer() is None


def test_refused_call_carries_the_result_code_and_leaves_other_calls_alone():
    pac, pns = pair()
    pump(pac, pns, 0.0)
    pns.place_call(1, 0.0)
    pump(pac, pns, 0.0)
    pac.accept_call(1, 100, 0.0)
    pns.place_call(2, 0.0)
    ev_pac, ev_pns = pump(pac, pns, 0.0)
    assert [type(e) for e in ev_pns] == [CallConnected] and ev_pac[0].peer_call_id == 2
    pac.refuse_call(2, m.OcrpResult.BUSY, 0.0)
    out = pac.take_output()
    assert m.decode(out[0]) == m.OutgoingCallReply(call_id=0, peer_call_id=2, result=m.OcrpResult.BUSY,
                                                   connect_speed=0, recv_window=0)
    assert pns.receive(out[0], 0.0) == [CallRefused(2, m.OcrpResult.BUSY, 0, 0, Cause.PEER_BUSY)]
    assert [c.local_call_id for c in pac.calls] == [100] and [c.local_call_id for c in pns.calls] == [1]


def test_coalesced_messages_in_one_read():
    pac, pns = pair()
    pump(pac, pns, 0.0)
    pns.place_call(5, 0.0)
    pns.place_call(6, 0.0)
    pns.place_call(7, 0.0)
    events = pac.receive(b"".join(pns.take_output()), 0.0)
    assert [e.peer_call_id for e in events] == [5, 6, 7]


def test_echo_keepalive_and_timeout():
    pac, pns = pair(echo_interval_s=60.0, echo_timeout_s=60.0)
    pump(pac, pns, 0.0)
    assert pac.next_timer() == pns.next_timer() == 60.0
    assert pns.handle_timer(60.0) == []
    echo = pns.take_output()
    assert echo == [m.EchoRequest(identifier=1).encode()]
    assert pac.receive(echo[0], 60.5) == []
    reply = pac.take_output()
    assert reply == [m.EchoReply(identifier=1).encode()]
    assert pns.next_timer() == 120.0
    assert pns.receive(reply[0], 61.0) == []
    assert pns.next_timer() == 121.0 and pac.next_timer() == 120.5
    # the PAC sends its own echo; nobody answers
    assert pac.handle_timer(120.5) == [] and len(pac.take_output()) == 1
    assert pac.next_timer() == 180.5
    pns.place_call(9, 121.0)
    pac.receive(b"".join(pns.take_output()), 121.0)
    pac.accept_call(9, 90, 121.0)
    assert pac.handle_timer(180.5) == [CallCleared(90, 9, Cause.LOWER_LAYER_DOWN, "echo timeout"),
                                         ControlClosed(Cause.LINK_LOST, "echo timeout")]
    assert pac.stats["echo timeout"] == 1 and pac.next_timer() is None


def test_bad_cookie_loses_framing_and_closes():
    pac, pns = pair()
    pump(pac, pns, 0.0)
    bad = bytearray(m.EchoRequest(identifier=1).encode())
    bad[7] ^= 1
    assert pac.receive(bytes(bad), 1.0) == [ControlClosed(Cause.PROTOCOL_ERROR, "bad magic cookie")]
    assert pac.stats["bad magic cookie"] == 1 and pac.state is ControlState.CLOSED
    assert pac.receive(m.EchoRequest().encode(), 2.0) == []


@pytest.mark.parametrize("length", [0, 11, 15, 221, 0xFFFF])
def test_impossible_length_closes(length):
    pac, pns = pair()
    pump(pac, pns, 0.0)
    raw = length.to_bytes(2, "big") + m.EchoRequest().encode()[2:]
    assert pac.receive(raw, 1.0) == [ControlClosed(Cause.PROTOCOL_ERROR, "bad control message length")]


def test_wrong_length_for_type_and_unknown_type_are_counted_and_dropped():
    pac, pns = pair()
    pump(pac, pns, 0.0)
    echo20 = b"\x00\x14" + m.EchoRequest().encode()[2:] + b"\0\0\0\0"
    unknown = m.EchoRequest().encode()[:8] + b"\x00\x63" + m.EchoRequest().encode()[10:]
    mgmt = m.EchoRequest().encode()[:2] + b"\x00\x02" + m.EchoRequest().encode()[4:]
    assert pac.receive(echo20 + unknown + mgmt + m.EchoRequest(identifier=3).encode(), 1.0) == []
    assert pac.take_output() == [m.EchoReply(identifier=3).encode()]
    assert pac.stats["wrong length for message type"] == 1
    assert pac.stats["unknown control message type"] == 1
    assert pac.stats["not a control message"] == 1
    assert pac.state is ControlState.ESTABLISHED


def test_calls_before_start_and_unknown_call_ids_are_counted():
    pac = PptpControl(ControlConfig(Role.PAC), rng=rng)
    pac.start(0.0)
    assert pac.receive(m.OutgoingCallRequest(call_id=1).encode(), 0.0) == []
    assert pac.stats["unexpected OutgoingCallRequest"] == 1
    pac.receive(m.StartControlConnectionRequest().encode(), 0.0)
    pac.take_output()
    assert pac.receive(m.CallClearRequest(call_id=44).encode(), 0.0) == []
    assert pac.stats["unknown call id"] == 1


def test_duplicate_peer_call_id_is_refused_with_bad_call_id():
    pac, pns = pair()
    pump(pac, pns, 0.0)
    ocrq = m.OutgoingCallRequest(call_id=3).encode()
    assert len(pac.receive(ocrq, 0.0)) == 1
    assert pac.receive(ocrq, 0.0) == []
    assert m.decode(pac.take_output()[-1]) == m.OutgoingCallReply(
        peer_call_id=3, result=m.OcrpResult.GENERAL_ERROR, error=m.GeneralError.BAD_CALL_ID, connect_speed=0,
        recv_window=0)


def test_pending_calls_are_bounded():
    pac, pns = pair(max_pending_calls=2)
    pump(pac, pns, 0.0)
    events = pac.receive(b"".join(m.OutgoingCallRequest(call_id=i).encode() for i in range(3)), 0.0)
    assert [e.peer_call_id for e in events] == [0, 1]
    assert m.decode(pac.take_output()[-1]).error == m.GeneralError.NO_RESOURCE


def test_bad_protocol_version_is_answered_and_closes():
    pac = PptpControl(ControlConfig(Role.PAC), rng=rng)
    pac.start(0.0)
    events = pac.receive(m.StartControlConnectionRequest(version=0x0200).encode(), 0.0)
    assert events == [ControlClosed(Cause.PROTOCOL_ERROR, "unsupported protocol version 0x0200")]
    assert m.decode(pac.take_output()[0]).result == m.SccrpResult.BAD_PROTOCOL_VERSION


def test_start_timeouts():
    pac = PptpControl(ControlConfig(Role.PAC, setup_timeout_s=60.0), rng=rng)
    pac.start(10.0)
    assert pac.next_timer() == 70.0
    assert pac.handle_timer(69.9) == []
    assert pac.handle_timer(70.0) == [ControlClosed(Cause.NO_ANSWER, "timeout waiting for Start-Control-Connection")]
    pns = PptpControl(ControlConfig(Role.PNS, setup_timeout_s=5.0), rng=rng)
    pns.start(0.0)
    pns.take_output()
    assert pns.handle_timer(5.0) == [ControlClosed(Cause.NO_ANSWER, "timeout waiting for Start-Control-Connection")]


def test_sccrp_failure_closes_the_pns():
    pns = PptpControl(ControlConfig(Role.PNS), rng=rng)
    pns.start(0.0)
    reply = m.StartControlConnectionReply(result=m.SccrpResult.NOT_AUTHORIZED).encode()
    assert pns.receive(reply, 0.0) == [ControlClosed(Cause.TUNNEL_REFUSED,
                                                         "Start-Control-Connection refused (result 4, error 0)")]


def test_outgoing_call_reply_timeout_and_clear_without_cdn():
    pac, pns = pair(setup_timeout_s=30.0)
    pump(pac, pns, 0.0)
    pns.place_call(1, 1.0)
    pns.take_output()
    assert pns.next_timer() == 31.0
    assert pns.handle_timer(31.0) == [CallRefused(1, m.OcrpResult.TIME_OUT, 0, 0, Cause.NO_ANSWER)]
    pns.place_call(2, 32.0)
    pac.receive(b"".join(pns.take_output()), 32.0)
    pac.accept_call(2, 20, 32.0)
    pns.receive(b"".join(pac.take_output()), 32.0)
    pns.clear_call(2, 33.0)
    pns.take_output()                                    # the CCRQ is lost
    assert pns.handle_timer(63.0) == [CallCleared(2, 20, Cause.NO_ANSWER, "no Call-Disconnect-Notify")]


def test_stop_sends_cdn_for_every_call_then_stopccrq():
    pac, pns = pair(stop_timeout_s=10.0)
    pump(pac, pns, 0.0)
    for i in (1, 2):
        pns.place_call(i, 0.0)
    pac.receive(b"".join(pns.take_output()), 0.0)
    pac.accept_call(1, 11, 0.0)
    pac.accept_call(2, 12, 0.0)
    pns.receive(b"".join(pac.take_output()), 0.0)
    pac.stop(5.0, m.StopReason.STOP_LOCAL_SHUTDOWN)
    sent = [m.decode(raw) for raw in pac.take_output()]
    assert sent == [m.CallDisconnectNotify(call_id=11, result=m.CdnResult.ADMIN_SHUTDOWN),
                    m.CallDisconnectNotify(call_id=12, result=m.CdnResult.ADMIN_SHUTDOWN),
                    m.StopControlConnectionRequest(reason=m.StopReason.STOP_LOCAL_SHUTDOWN)]
    assert pac.state is ControlState.WAIT_STOP_REPLY and pac.next_timer() == 15.0
    assert pac.handle_timer(15.0) == [ControlClosed(Cause.ADMIN_DISCONNECT, "stopped")]


def test_connection_lost_clears_every_call():
    pac, pns = pair()
    pump(pac, pns, 0.0)
    pns.place_call(1, 0.0)
    pac.receive(b"".join(pns.take_output()), 0.0)
    pac.accept_call(1, 10, 0.0)
    assert pac.connection_lost(1.0) == [
        CallCleared(10, 1, Cause.LOWER_LAYER_DOWN, "peer closed the control connection"),
        ControlClosed(Cause.LOWER_LAYER_DOWN, "peer closed the control connection")]
    assert pac.connection_lost(2.0) == []


def test_misuse_raises():
    pac, pns = pair()
    with pytest.raises(CoreMisuse):
        pac.refuse_call(1, m.OcrpResult.CONNECTED, 0.0)
    with pytest.raises(CoreMisuse):
        pac.place_call(1, 0.0)
    with pytest.raises(CoreMisuse):
        pns.place_call(1, 0.0)             # not established yet
    pac.accept_call(9, 1, 0.0)             # nothing requested (withdrawn): ignored, counted
    pac.refuse_call(9, m.OcrpResult.BUSY, 0.0)
    assert pac.take_output() == [] and pac.stats["answer to a withdrawn call request"] == 2
    with pytest.raises(CoreMisuse):
        pac.start(0.0)


def test_pac_answers_the_windows_2000_client_stream():
    flows = {f.src: f.data for f in cap.tcp_flows("pptp-win2000-poptop-mschapv2-mppe128.pcap")}
    pac = PptpControl(ControlConfig(Role.PAC), rng=rng)
    pac.start(0.0)
    events = []
    client = flows["192.168.1.3"]
    for i in range(0, len(client), 7):                   # odd-sized reads across message boundaries
        events += pac.receive(client[i:i + 7], 0.0)
        for e in events:
            if isinstance(e, CallRequested) and not pac.calls:
                pac.accept_call(e.peer_call_id, 4, 0.0)
    assert [type(e) for e in events] == [ControlEstablished, CallRequested, LinkInfoSet, LinkInfoSet]
    assert events[1] == CallRequested(peer_call_id=0, call_serial=49611, recv_window=64, processing_delay=0,
                                      phone_number="")
    assert events[3] == LinkInfoSet(4, 0, 0xFFFFFFFF)
    replies = [m.decode(r) for r in pac.take_output()]
    assert [type(r) for r in replies] == [m.StartControlConnectionReply, m.OutgoingCallReply]
    assert (replies[1].call_id, replies[1].peer_call_id, replies[1].result) == (4, 0, m.OcrpResult.CONNECTED)


def test_pns_follows_the_windows_rras_server_stream():
    flows = {f.src: f.data for f in cap.tcp_flows("pptp-ctrl-linux-to-windows-rras.pcap")}
    pns = PptpControl(ControlConfig(Role.PNS), rng=rng)
    pns.start(0.0)
    pns.take_output()
    server = cap.split_messages(flows["191.101.61.1"])
    assert pns.receive(server[0], 0.0) == [ControlEstablished("", "Microsoft", 0)]
    pns.place_call(0, 0.0)
    assert pns.receive(server[1], 0.0) == [CallConnected(0, 11755, 16384, 0)]
    assert pns.receive(server[2] + server[3], 0.0) == [LinkInfoSet(0, 0, 0xFFFFFFFF),
                                                       LinkInfoSet(0, 0xFFFFFFFF, 0xFFFFFFFF)]
    pns.clear_call(0, 1.0)
    # RRAS puts the PNS's call id (0) in its CDN, not its own (11755): still the call
    assert pns.receive(server[4], 1.0) == [CallCleared(0, 11755, Cause.ADMIN_DISCONNECT,
                                                             "peer disconnected the call (result 0)", 0, 0)]


def test_echo_interval_zero_turns_keepalive_off():
    pac, pns = pair(echo_interval_s=0.0)
    pump(pac, pns, 0.0)
    assert pac.next_timer() is None and pns.next_timer() is None
    assert pns.handle_timer(10_000.0) == [] and pns.take_output() == []
    pns.place_call(1, 5.0)
    assert pns.next_timer() == 65.0            # the call's setup deadline still counts
