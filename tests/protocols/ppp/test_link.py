"""PppLink pairs: authenticator and peer joined by the virtual wire of tests/protocols/pairs.py."""

from __future__ import annotations

import sys
from ipaddress import IPv4Address
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pairs import Pair  # noqa: E402

from rrasctl.protocols.base import CoreMisuse  # noqa: E402
from rrasctl.protocols.ppp.auth import AuthFailed, AuthMethod, AuthRequested, AuthSucceeded  # noqa: E402
from rrasctl.protocols.ppp.frame import Code, ControlPacket, PppProtocol, build_frame, split_frame  # noqa: E402
from rrasctl.protocols.ppp.fsm import State  # noqa: E402
from rrasctl.protocols.causes import Cause  # noqa: E402
from rrasctl.protocols.ppp.link import LinkDown, NetworkUp, Phase, PppConfig, PppLink, Role  # noqa: E402
from tests.conftest import fixed_rng  # noqa: E402

SERVER_IP = IPv4Address("198.51.100.1")
CLIENT_IP = IPv4Address("198.51.100.2")
DNS = (IPv4Address("198.51.100.53"), IPv4Address("198.51.100.54"))
NBNS = (IPv4Address("198.51.100.55"),)
METHODS = (AuthMethod.PAP, AuthMethod.CHAP_MD5, AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2)
MPPE_NAME = {"basic": "mppe-40", "strong": "mppe-56", "strongest": "mppe-128"}
USERS = {"alice": "correct horse"}


def server(methods=(AuthMethod.MSCHAP_V2,), encryption=("strongest",), **kw) -> PppLink:
    kw.setdefault("peer_address", CLIENT_IP)
    return PppLink(PppConfig(Role.AUTHENTICATOR, methods=methods, encryption=encryption, local_address=SERVER_IP,
                             dns=DNS, nbns=NBNS, **kw), rng=fixed_rng(1))


def client(methods=(AuthMethod.MSCHAP_V2,), encryption=("strongest",), password="correct horse", **kw) -> PppLink:
    return PppLink(PppConfig(Role.PEER, methods=methods, encryption=encryption, user="alice", password=password,
                             **kw), rng=fixed_rng(2))


def answer_locally(side, event, pair):
    if isinstance(event, AuthRequested):
        pair.note(side, pair.cores[side].answer_password(USERS.get(event.user), pair.now))


def both_up_or_down(pair):
    """Both sides up, or both down (once one side is down, wait for the other to hear of it)."""
    if pair.saw(LinkDown):
        return pair.saw(LinkDown, "a") and pair.saw(LinkDown, "b")
    return pair.saw(NetworkUp, "a") and pair.saw(NetworkUp, "b")


def connect(a, b, **kw) -> Pair:
    pair = Pair(a, b, on_event=answer_locally, **kw)
    a.open(pair.now)
    b.open(pair.now)
    pair.run(until=lambda: both_up_or_down(pair))
    return pair


def kinds(events):
    return [type(e).__name__ for e in events]


LEVEL_SETS = [("none",), ("basic",), ("strong",), ("strongest",), ("none", "basic", "strong", "strongest"),
              ("basic", "strong", "strongest")]


@pytest.mark.parametrize("levels", LEVEL_SETS, ids=["+".join(x) for x in LEVEL_SETS])
@pytest.mark.parametrize("method", METHODS, ids=[m.value for m in METHODS])
def test_every_method_and_level_reaches_network_up_or_names_the_refusal(method, levels):
    a, b = server((method,), levels), client((method,), levels)
    pair = connect(a, b)
    mschap = method in (AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2)
    if "none" not in levels and not mschap:
        # PAP and CHAP-MD5 yield no MPPE keys (RFC 3079 derives them from MS-CHAP): required encryption fails.
        reason = LinkDown(Cause.ENCRYPTION_MISMATCH, f"encryption required but {method.value} yields no MPPE keys")
        assert pair.events["a"][-1] == reason and pair.events["b"][-1] == reason    # both policies require it
        return
    order = ["none", "basic", "strong", "strongest"]
    expected = MPPE_NAME[max(levels, key=order.index)] if mschap and levels != ("none",) else "none"
    assert kinds(pair.events["a"]) == ["AuthRequested", "AuthSucceeded", "NetworkUp"]
    assert kinds(pair.events["b"]) == ["AuthSucceeded", "NetworkUp"]
    assert pair.events["a"][-1] == NetworkUp(SERVER_IP, CLIENT_IP, DNS, NBNS, expected, method.value)
    assert pair.events["b"][-1] == NetworkUp(CLIENT_IP, SERVER_IP, DNS, NBNS, expected, method.value)
    assert a.phase is Phase.NETWORK and b.phase is Phase.NETWORK
    assert (a.encryption, a.auth_method, a.user, a.peer_ip) == (expected, method, "alice", CLIENT_IP)
    assert pair.now < 1.0                     # no retransmission was needed on a clean wire
    # data both ways
    for src, dst in ((a, b), (b, a)):
        ip = bytes.fromhex("4500001c00000000400100000a0000010a000002") + b"\x08\x00\xf7\xff\x00\x00\x00\x00"
        frame = src.seal_data(ip)
        assert bytes(dst.open_data(frame)) == ip
        assert split_frame(frame)[0] == (PppProtocol.MPPE if expected != "none" else PppProtocol.IP)


@pytest.mark.parametrize("stateless", [True, False])
@pytest.mark.parametrize("level", ["basic", "strong", "strongest"])
def test_mppe_round_trip_in_both_modes(level, stateless):
    a = server(encryption=(level,), mppe_stateless=stateless)
    b = client(encryption=(level,), mppe_stateless=stateless)
    pair = connect(a, b)
    assert pair.events["a"][-1].encryption == MPPE_NAME[level]
    for i in range(300):
        ip = bytes([0x45, 0, 0, 20]) + i.to_bytes(4, "big") * 4
        assert bytes(b.open_data(a.seal_data(ip))) == ip
        back = b"\x45" + ip[:0:-1]
        assert bytes(a.open_data(b.seal_data(back))) == back
    assert (a.packets_out, a.packets_in, b.bytes_in) == (300, 300, 300 * 20)


def test_stateless_only_when_both_allow_it():
    pair = connect(server(mppe_stateless=True), client(mppe_stateless=False))
    a, b = pair.a, pair.b
    assert a.ccp_layer.directions() == ((128, False), (128, False))
    assert b.ccp_layer.directions() == ((128, False), (128, False))


def test_stateful_resync_after_a_lost_packet():
    a, b = server(mppe_stateless=False), client(mppe_stateless=False)
    pair = connect(a, b)
    ip = bytes(range(40))
    assert bytes(b.open_data(a.seal_data(ip))) == ip
    a.seal_data(ip)                                   # lost on the wire
    frame = a.seal_data(ip)
    got = b.open_data(frame)
    if got is None:                                   # b noticed the gap and asks for a reset
        assert b.receive(frame, pair.now) == []
    resets = [ControlPacket.decode(split_frame(f)[1]) for f in b.take_output()]
    assert [(split_frame(build_frame(PppProtocol.CCP, p.encode()))[0], p.code) for p in resets] == [
        (PppProtocol.CCP, Code.RESET_REQUEST)]
    for f in [build_frame(PppProtocol.CCP, resets[0].encode())]:
        a.receive(f, pair.now)
    acks = [ControlPacket.decode(split_frame(f)[1]) for f in a.take_output()]
    assert [(p.code, p.id) for p in acks] == [(Code.RESET_ACK, resets[0].id)]
    for i in range(5):
        assert bytes(b.open_data(a.seal_data(ip + bytes([i])))) == ip + bytes([i])


def test_data_refused_before_network_up_and_clear_ip_refused_when_encrypted():
    a, b = server(), client()
    assert a.seal_data(b"\x45" + bytes(19)) is None
    assert a.open_data(build_frame(PppProtocol.IP, b"\x45" + bytes(19))) is None
    assert a.stats["data before network up"] == 1
    connect(a, b)
    clear = build_frame(PppProtocol.IP, b"\x45" + bytes(19))
    assert a.open_data(clear) is None and a.stats["clear IP refused"] == 1
    assert a.open_data(build_frame(PppProtocol.LCP, b"\x09\x01\x00\x08\0\0\0\0")) is None   # control: not data
    assert a.receive(clear, 1.0) == []                  # a data frame given to receive is not handled twice


def test_clear_data_when_policy_allows_none_and_peer_has_no_ccp():
    a = server(encryption=("none", "strongest"))
    b = client(encryption=("none",))
    pair = connect(a, b)
    assert pair.events["a"][-1].encryption == "none" and pair.events["b"][-1].encryption == "none"
    assert b.stats["protocol rejected"] == 1            # b has no CCP: Protocol-Reject, a falls back to clear
    ip = b"\x45" + bytes(19)
    assert bytes(a.open_data(b.seal_data(ip))) == ip
    assert b.seal_data(ip) == b"\x21" + ip             # both asked for PFC and ACFC: one-byte header


def test_peer_refusing_required_encryption_fails_within_max_configure():
    a = server(encryption=("strongest",))
    b = client(encryption=("none",))
    pair = connect(a, b)
    assert pair.events["a"][-1] == LinkDown(Cause.ENCRYPTION_MISMATCH, "peer refused encryption")
    # the client refused CCP and the server hung up before any data: both sides name the same cause
    assert pair.events["b"][-1] == LinkDown(Cause.ENCRYPTION_MISMATCH,
                                            "peer terminated after we refused its encryption (CCP)")
    assert not pair.saw(NetworkUp)
    assert pair.now < a.config.restart_s * a.config.max_configure


def test_peer_offering_only_weaker_mppe_is_refused():
    pair = connect(server(encryption=("strongest",)), client(encryption=("basic",)))
    assert pair.events["a"][-1] == LinkDown(Cause.ENCRYPTION_MISMATCH, "peer refused encryption")
    assert pair.now < 30.0


@pytest.mark.parametrize("server_methods,client_methods,reason,asked", [
    ((AuthMethod.PAP,), (AuthMethod.MSCHAP_V2,),
     "no common authentication method (peer offered ms-chap-v2, policy allows pap)", "pap"),
    ((AuthMethod.MSCHAP_V2,), (AuthMethod.PAP,),
     "no common authentication method (peer offered pap, policy allows ms-chap-v2)", "ms-chap-v2"),
])
def test_policy_forbidding_the_method_fails_with_reason(server_methods, client_methods, reason, asked):
    pair = connect(server(server_methods, ("none",)), client(client_methods, ("none",)))
    assert pair.events["a"] == [LinkDown(Cause.NO_COMMON_AUTH, reason)]
    # the client Naked what the server asked for and the server gave up: the same cause on both sides
    assert pair.events["b"] == [LinkDown(Cause.NO_COMMON_AUTH,
                                         f"no common authentication method (peer asked for {asked})")]
    assert pair.now < 30.0


def test_authenticator_falls_back_along_its_preference_list():
    a = server((AuthMethod.MSCHAP_V2, AuthMethod.MSCHAP_V1), ("strong",))
    b = client((AuthMethod.MSCHAP_V1,), ("strong",))
    pair = connect(a, b)
    assert pair.events["a"][-1] == NetworkUp(SERVER_IP, CLIENT_IP, DNS, NBNS, "mppe-56", "ms-chap")


def test_wrong_password_fails_with_691():
    pair = connect(server(), client(password="wrong"))
    assert [(e.error, e.retry) for e in pair.events["a"] if isinstance(e, AuthFailed)] == [(691, True)]
    assert [(e.error, e.retry) for e in pair.events["b"] if isinstance(e, AuthFailed)] == [(691, False)]
    # the peer gave up instead of retrying
    assert pair.events["a"][-1] == LinkDown(Cause.AUTH_FAILED, "authentication failed (691)", 691)
    assert pair.events["b"][-1] == LinkDown(Cause.AUTH_FAILED, "authentication failed (691)", 691)
    assert not pair.saw(NetworkUp) and not pair.saw(AuthSucceeded, "b")


def test_unknown_user_fails_with_691():
    b = PppLink(PppConfig(Role.PEER, methods=(AuthMethod.PAP,), encryption=("none",), user="mallory",
                          password="x"), rng=fixed_rng(2))
    pair = connect(server((AuthMethod.PAP,), ("none",)), b)
    assert pair.events["a"][-1] == LinkDown(Cause.AUTH_FAILED, "authentication failed (691)", 691)


def test_lcp_without_answer_gives_up_after_max_configure():
    a = server()
    a.open(0.0)
    sent = []
    now = 0.0
    events = []
    while a.next_timer() is not None:
        sent += a.take_output()
        now = a.next_timer()
        events += a.handle_timer(now)
    assert events == [LinkDown(Cause.NO_ANSWER, "peer did not answer LCP")]
    assert len(sent) == 10 and now == 30.0 and a.phase is Phase.DEAD
    assert a.take_output() == [] and a.next_timer() is None


def test_echo_timeout_when_the_peer_goes_silent():
    a, b = server(echo_interval_s=10.0, echo_failures=3), client(echo_interval_s=0)
    pair = connect(a, b)
    pair.filter = lambda src, data: False             # the wire goes dead
    pair.run(until=lambda: pair.saw(LinkDown, "a"))
    assert pair.events["a"][-1] == LinkDown(Cause.LINK_LOST, "echo timeout")
    # LCP opened at 0.01; 3 unanswered Echo-Requests at +10, +20, +30; at +40 we give up, then Terminate-Request
    # twice (Max-Terminate 2, Restart 3 s): down at 0.01 + 46
    assert pair.now == pytest.approx(46.01, abs=1e-9)


def test_echo_is_answered_and_keeps_the_link_up():
    a, b = server(echo_interval_s=10.0, echo_failures=2), client(echo_interval_s=10.0)
    pair = connect(a, b)
    start = pair.now
    pair.run(until=lambda: pair.now > start + 200)
    assert not pair.saw(LinkDown) and a.network_up and b.network_up
    echoes = [d for _, _, d in pair.log if d[:2] == b"\xff\x03" and d[2:4] == b"\xc0\x21" and d[4] in (9, 10)]
    assert len(echoes) >= 4 * 19


def test_close_terminates_both_sides():
    a, b = server(), client()
    pair = connect(a, b)
    pair.note("b", b.close(Cause.ADMIN_DISCONNECT, pair.now, "user hung up"))
    pair.run(until=lambda: pair.saw(LinkDown, "a") and pair.saw(LinkDown, "b"))
    assert pair.events["b"][-1] == LinkDown(Cause.ADMIN_DISCONNECT, "user hung up")
    assert pair.events["a"][-1] == LinkDown(Cause.PEER_DISCONNECTED, "peer terminated")
    assert a.seal_data(b"\x45" + bytes(19)) is None and a.next_timer() is None and b.next_timer() is None
    assert a.receive(b"\xff\x03\xc0\x21\x01\x01\x00\x04", pair.now) == [] and a.stats["frame after link down"] == 1
    assert b.close(Cause.ADMIN_DISCONNECT, pair.now) == [] and b.lower_down(pair.now) == []


def test_close_before_open_and_lower_down():
    a = server()
    assert a.close(Cause.ADMIN_DISCONNECT, 0.0, "admin") == [LinkDown(Cause.ADMIN_DISCONNECT, "admin")]
    b = client()
    b.open(0.0)
    assert b.lower_down(1.0) == [LinkDown(Cause.LOWER_LAYER_DOWN)] and b.take_output() == []
    with pytest.raises(CoreMisuse):
        b.open(2.0)


def test_address_assigned_later():
    a = server(peer_address=None)
    b = client()
    pair = Pair(a, b, on_event=answer_locally)
    a.open(0.0)
    b.open(0.0)
    pair.run(until=lambda: pair.saw(AuthSucceeded, "b") and a.ccp.state is State.OPENED)
    assert a.ipcp.state is State.INITIAL and not pair.saw(NetworkUp)
    pair.note("a", a.assign_address(IPv4Address("198.51.100.77"), pair.now))
    pair.run(until=lambda: both_up_or_down(pair))
    assert pair.events["b"][-1].local_ip == IPv4Address("198.51.100.77")
    with pytest.raises(CoreMisuse):
        b.assign_address(IPv4Address("198.51.100.9"), pair.now)


def test_unknown_protocol_in_network_phase_is_protocol_rejected():
    a, b = server(), client()
    pair = connect(a, b)
    a.take_output()
    ipv6cp = build_frame(PppProtocol.IPV6CP, bytes.fromhex("0101000e010a0000000000000001"))
    assert a.receive(ipv6cp, pair.now) == []
    (out,) = a.take_output()
    protocol, info = split_frame(out)
    packet = ControlPacket.decode(info)
    assert protocol == PppProtocol.LCP and packet.code == Code.PROTOCOL_REJECT
    assert packet.data == bytes.fromhex("8057") + bytes.fromhex("0101000e010a0000000000000001")


def test_gates_before_lcp_opens_and_during_authentication():
    a = server()
    a.open(0.0)
    a.take_output()
    ipcp = build_frame(PppProtocol.IPCP, bytes.fromhex("0101000a0306c6336402"))
    assert a.receive(ipcp, 0.1) == [] and a.take_output() == []
    assert a.stats["0x8021 in establish phase"] == 1
    assert a.receive(b"", 0.1) == [] and a.stats["empty PPP frame"] == 1


def test_answer_without_request_is_misuse():
    with pytest.raises(CoreMisuse):
        server().answer_password("x", 0.0)
    with pytest.raises(CoreMisuse):
        server().answer_external(True, now=0.0)
    with pytest.raises(CoreMisuse):
        PppConfig(Role.PEER) and PppLink(PppConfig(Role.PEER, encryption=("bogus",)))


def test_password_not_in_repr():
    assert "correct horse" not in repr(client().config)


def test_no_authentication_when_methods_empty():
    a = PppLink(PppConfig(Role.AUTHENTICATOR, encryption=("none",), local_address=SERVER_IP,
                          peer_address=CLIENT_IP), rng=fixed_rng(1))
    b = PppLink(PppConfig(Role.PEER, encryption=("none",)), rng=fixed_rng(2))
    pair = connect(a, b)
    assert pair.events["a"] == [NetworkUp(SERVER_IP, CLIENT_IP, (), (), "none", "")]
    assert pair.events["b"] == [NetworkUp(CLIENT_IP, SERVER_IP, (), (), "none", "")]


def test_external_decisions():
    def radius(verdict):
        def hook(side, event, pair):
            if isinstance(event, AuthRequested):
                pair.note(side, pair.cores[side].answer_external(verdict[0], now=pair.now, **verdict[1]))
        return hook

    a, b = server((AuthMethod.PAP,), ("none",)), client((AuthMethod.PAP,), ("none",))
    pair = Pair(a, b, on_event=radius((True, {})))
    a.open(0.0), b.open(0.0)
    pair.run(until=lambda: both_up_or_down(pair))
    assert pair.events["a"][-1].auth == "pap" and pair.saw(NetworkUp, "b")
    a, b = server((AuthMethod.PAP,), ("none",)), client((AuthMethod.PAP,), ("none",))
    pair = Pair(a, b, on_event=radius((False, {"error": 649})))
    a.open(0.0), b.open(0.0)
    pair.run(until=lambda: both_up_or_down(pair))
    assert pair.events["a"][-1] == LinkDown(Cause.AUTH_FAILED, "authentication failed (649)", 649)


def test_authentication_times_out_when_nobody_decides():
    a, b = server(auth_timeout_s=20.0), client()
    pair = Pair(a, b)                                   # no on_event: AuthRequested is never answered
    a.open(0.0), b.open(0.0)
    pair.run(until=lambda: pair.saw(LinkDown, "a"))
    assert pair.events["a"][-1] == LinkDown(Cause.AUTH_TIMEOUT, "authentication timed out")
    assert 20.0 <= pair.now < 30.0


def test_protocol_reject_of_ipcp_ends_the_link():
    a, b = server(), client()
    pair = connect(a, b)
    reject = ControlPacket(Code.PROTOCOL_REJECT, 99, bytes.fromhex("8021") + bytes.fromhex("0101000a0306c6336401"))
    pair.note("a", a.receive(build_frame(PppProtocol.LCP, reject.encode()), pair.now))
    pair.run(until=lambda: pair.saw(LinkDown, "a"))
    assert pair.events["a"][-1] == LinkDown(Cause.NCP_FAILED, "peer rejected IPCP")


def test_stale_challenge_after_lcp_renegotiation_is_ignored():
    a, b = server(), client()
    pair = connect(a, b)
    (challenge,) = [d for _, way, d in pair.log if way == "a->b" and split_frame(d)[0] == PppProtocol.CHAP
                    and split_frame(d)[1][0] == 1]
    (request,) = [d for _, way, d in pair.log if way == "a->b" and split_frame(d)[0] == PppProtocol.LCP
                  and split_frame(d)[1][0] == 1]
    renegotiate = ControlPacket(1, 200, ControlPacket.decode(split_frame(request)[1]).data)
    pair.note("b", b.receive(build_frame(PppProtocol.LCP, renegotiate.encode()), pair.now))
    assert b.phase is Phase.ESTABLISH and not b.network_up
    pair.run(until=lambda: b.phase is Phase.AUTHENTICATE)
    assert b.receive(challenge, pair.now) == [] and b.stats["stale CHAP challenge"] == 1
    pair.run(until=lambda: b.network_up and a.network_up)
    assert [type(e).__name__ for e in pair.events["b"]].count("NetworkUp") == 1      # announced once


def test_small_gates_and_misuse():
    a = server()
    assert a.receive(b"\xff\x03\xc0\x21\x01\x01\x00\x04", 0.0) == [] and a.stats["frame while dead"] == 1
    a.open(0.0)
    assert a.open(0.0) == []
    with pytest.raises(CoreMisuse):
        PppLink(PppConfig(Role.PEER, encryption=()))
    pending = server(peer_address=None)
    assert pending.assign_address(IPv4Address("198.51.100.8"), 0.0) == []
    assert pending.ipcp_layer.neg.allow.peer_address == IPv4Address("198.51.100.8")


def test_ccp_from_a_peer_without_keys_is_dropped():
    a, b = server((AuthMethod.PAP,), ("none", "strongest")), client((AuthMethod.PAP,), ("none", "strongest"))
    pair = connect(a, b)
    assert pair.events["a"][-1].encryption == "none"
    ccp = build_frame(PppProtocol.CCP, ControlPacket(1, 1, bytes.fromhex("120601000040")).encode())
    assert a.receive(ccp, pair.now) == [] and a.stats["CCP before keys"] == 1


def test_peer_terminate_moves_to_terminate_phase_at_once():
    a, b = server(), client()
    pair = connect(a, b)
    assert b.close("bye", pair.now) == []
    (terminate,) = b.take_output()
    assert ControlPacket.decode(split_frame(terminate)[1]).code == Code.TERMINATE_REQUEST
    assert a.receive(terminate, pair.now) == []
    assert a.phase is Phase.TERMINATE and not a.network_up and a.seal_data(b"\x45" + bytes(19)) is None


def test_challenge_carries_our_hostname():
    pair = connect(server(hostname="rras-east"), client())
    (challenge,) = [d for _, way, d in pair.log if way == "a->b" and split_frame(d)[0] == PppProtocol.CHAP
                    and split_frame(d)[1][0] == 1]
    assert challenge.endswith(b"rras-east")


def test_all_stats_merges_the_layers():
    a, b = server(), client()
    connect(a, b)
    a.receive(b"", 1.0)
    a.receive(build_frame(PppProtocol.IPCP, b"\x01\x01\x00"), 1.0)
    assert a.all_stats() == {"empty PPP frame": 1, "ipcp: short control packet": 1}
