"""Authenticator + peer pairs for PAP, CHAP-MD5, MS-CHAP v1 and v2, wired in memory (no clock, no sleep)."""

from __future__ import annotations

import hashlib

import pytest

from support import fixed_rng
from rrasctl.protocols.base import CoreMisuse
from rrasctl.protocols.ppp.auth import (
    AuthenticatorConfig,
    AuthFailed,
    AuthMethod,
    AuthRequested,
    AuthState,
    AuthSucceeded,
    MppeKeys,
    PeerConfig,
    mschap,
    new_authenticator,
    new_peer,
)
from rrasctl.protocols.ppp.auth.chap import ChapCode
from rrasctl.protocols.ppp.auth.core import decode_packet, encode_packet

CHAP_METHODS = [AuthMethod.CHAP_MD5, AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2]
ALL_METHODS = [AuthMethod.PAP, *CHAP_METHODS]


def pair(method, *, password="s3cret", max_retries=2, peer_retries=0, max_transmits=10, user="alice"):
    auth = new_authenticator(method, AuthenticatorConfig(name="rras", max_retries=max_retries,
                                                         max_transmits=max_transmits), rng=fixed_rng(1))
    peer = new_peer(method, PeerConfig(user, password, max_retries=peer_retries, max_transmits=max_transmits),
                    rng=fixed_rng(2))
    return auth, peer


def run(auth, peer, answers, now=0.0, wire=None):
    """Exchange until quiet; each AuthRequested takes the next answer: a password, None, or a callable."""
    answers = list(answers)
    ev_a, ev_p = auth.start(now), peer.start(now)
    for _ in range(50):
        moved = False
        for pkt in auth.take_output():
            moved = True
            if wire is not None:
                wire.append(("a", pkt))
            ev_p += peer.receive(pkt, now)
        for pkt in peer.take_output():
            moved = True
            if wire is not None:
                wire.append(("p", pkt))
            new = auth.receive(pkt, now)
            ev_a += new
            for event in new:
                if isinstance(event, AuthRequested):
                    answer = answers.pop(0)
                    ev_a += answer(auth) if callable(answer) else auth.answer_password(answer, now)
        if not moved:
            break
    return ev_a, ev_p


@pytest.mark.parametrize("method", ALL_METHODS)
def test_success(method):
    auth, peer = pair(method)
    ev_a, ev_p = run(auth, peer, ["s3cret"])
    assert [type(e) for e in ev_a] == [AuthRequested, AuthSucceeded]
    assert ev_a[0].user == "alice" and ev_a[0].method is method
    assert [type(e) for e in ev_p] == [AuthSucceeded]
    assert auth.state is peer.state is AuthState.SUCCEEDED
    assert auth.next_timer() is None and peer.next_timer() is None
    if method in (AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2):
        a_keys, p_keys = ev_a[1].keys, ev_p[0].keys
        assert a_keys == p_keys.swapped() and len(a_keys.send) == len(a_keys.recv) == 16
        assert (a_keys.send == a_keys.recv) is (method is AuthMethod.MSCHAP_V1)
    else:
        assert ev_a[1].keys is None and ev_p[0].keys is None


def test_mschapv2_packets_are_exact():
    auth, peer = pair(AuthMethod.MSCHAP_V2)
    wire = []
    run(auth, peer, ["s3cret"], wire=wire)
    challenge_rng = fixed_rng(1)
    ident, value = challenge_rng(1)[0], challenge_rng(16)
    assert wire[0] == ("a", encode_packet(ChapCode.CHALLENGE, ident, bytes((16,)) + value + b"rras"))
    code, rid, data = decode_packet(wire[1][1], "r")
    assert (code, rid, data[0], data[-5:]) == (ChapCode.RESPONSE, ident, 49, b"alice")
    peer_challenge = fixed_rng(2)(16)
    nt = mschap.generate_nt_response(value, peer_challenge, "alice", "s3cret")
    assert data[1:50] == peer_challenge + bytes(8) + nt + b"\x00"
    s = mschap.generate_authenticator_response("s3cret", nt, peer_challenge, value, "alice")
    assert wire[2] == ("a", encode_packet(ChapCode.SUCCESS, ident, s.encode() + b" M=Access granted"))
    assert len(wire) == 3


def test_chap_md5_response_is_rfc1994():
    auth, peer = pair(AuthMethod.CHAP_MD5)
    wire = []
    run(auth, peer, ["s3cret"], wire=wire)
    _, ident, data = decode_packet(wire[0][1], "c")
    _, _, resp = decode_packet(wire[1][1], "r")
    assert resp == bytes((16,)) + hashlib.md5(bytes((ident,)) + b"s3cret" + data[1:17]).digest() + b"alice"


@pytest.mark.parametrize("method", ALL_METHODS)
def test_unknown_user_fails_691(method):
    auth, peer = pair(method, max_retries=0)
    ev_a, ev_p = run(auth, peer, [None])
    assert ev_a[-1] == AuthFailed(method, "alice", 691, "authentication failed (691): wrong user name or password")
    assert isinstance(ev_p[-1], AuthFailed) and ev_p[-1].error == 691 and not ev_p[-1].retry
    assert auth.state is peer.state is AuthState.FAILED


@pytest.mark.parametrize("method", [AuthMethod.PAP, AuthMethod.CHAP_MD5])
def test_wrong_password_is_final_without_ms_chap(method):
    auth, peer = pair(method, password="wrong")
    ev_a, ev_p = run(auth, peer, ["s3cret"])
    assert [(type(e), getattr(e, "retry", None)) for e in ev_a] == [(AuthRequested, None), (AuthFailed, False)]
    assert ev_p[-1].error == 691 and ev_p[-1].reason.startswith("authentication failed (691)")


@pytest.mark.parametrize("method", [AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2])
def test_ms_chap_wrong_password_retries_then_fails(method):
    auth, peer = pair(method, password="wrong", max_retries=2, peer_retries=5)
    wire = []
    ev_a, ev_p = run(auth, peer, ["s3cret"] * 3, wire=wire)
    assert [(type(e).__name__, getattr(e, "retry", None)) for e in ev_a] == [
        ("AuthRequested", None), ("AuthFailed", True), ("AuthRequested", None), ("AuthFailed", True),
        ("AuthRequested", None), ("AuthFailed", False)]
    assert [(e.error, e.retry) for e in ev_p] == [(691, True), (691, True), (691, False)]
    failures = [decode_packet(p, "f") for side, p in wire if side == "a" and p[0] == ChapCode.FAILURE]
    responses = [decode_packet(p, "r") for side, p in wire if side == "p"]
    texts = [mschap.parse_failure(d) for _, _, d in failures]
    assert [(t.error, t.retry, t.version) for t in texts] == [(691, True, texts[0].version)] * 2 + \
        [(691, False, texts[0].version)]
    assert texts[0].version == (3 if method is AuthMethod.MSCHAP_V2 else 2)
    # the retry Response carries the Failure's identifier + 1 and answers the new challenge C=
    assert [r[1] for r in responses] == [failures[0][1], (failures[0][1] + 1) & 0xFF, (failures[0][1] + 2) & 0xFF]
    assert texts[0].challenge != texts[1].challenge
    assert auth.state is peer.state is AuthState.FAILED


@pytest.mark.parametrize("method", [AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2])
def test_ms_chap_retry_can_succeed(method):
    auth, peer = pair(method, password="s3cret", peer_retries=1)
    ev_a, ev_p = run(auth, peer, ["old-password", "s3cret"])
    assert [type(e).__name__ for e in ev_a] == ["AuthRequested", "AuthFailed", "AuthRequested", "AuthSucceeded"]
    assert [type(e).__name__ for e in ev_p] == ["AuthFailed", "AuthSucceeded"]
    assert ev_a[-1].keys == ev_p[-1].keys.swapped()


def test_peer_without_retries_stops_at_the_first_failure():
    auth, peer = pair(AuthMethod.MSCHAP_V2, password="wrong", peer_retries=0)
    ev_a, ev_p = run(auth, peer, ["s3cret"])
    assert ev_p == [AuthFailed(AuthMethod.MSCHAP_V2, "alice", 691,
                               "authentication failed (691): wrong user name or password: Authentication failed")]
    assert ev_a[-1].retry is True and auth.state is AuthState.STARTED
    assert auth.next_timer() == 3.0          # the Failure(R=1) is retransmitted, then the attempt times out


def test_forged_authenticator_response_fails_the_peer():
    auth, peer = pair(AuthMethod.MSCHAP_V2)
    forged = b"S=" + b"0" * 40
    ev_a, ev_p = run(auth, peer, [lambda a: a.answer_external(True, authenticator_response=forged, now=0.0)])
    assert isinstance(ev_a[-1], AuthSucceeded)
    assert ev_p == [AuthFailed(AuthMethod.MSCHAP_V2, "alice", 0,
                               "the authenticator's response did not verify (it does not know our password): "
                               "refusing it")]
    assert peer.state is AuthState.FAILED


def test_external_answer_with_keys_and_the_right_response_succeeds():
    auth, peer = pair(AuthMethod.MSCHAP_V2)
    seen = {}

    def radius(a):
        req = seen["req"]
        pc, nt = req.response[:16], req.response[24:48]
        s = mschap.generate_authenticator_response("s3cret", nt, pc, req.challenge, req.user)   # str or bytes
        keys = MppeKeys(b"\x01" * 16, b"\x02" * 16)
        return a.answer_external(True, keys=keys, authenticator_response=s, now=0.0)

    auth.start(0.0)
    peer.start(0.0)
    for pkt in auth.take_output():
        peer.receive(pkt, 0.0)
    [req] = auth.receive(peer.take_output()[0], 0.0)
    seen["req"] = req
    assert "response" not in repr(req) and req.challenge and len(req.response) == 49
    ev_a = radius(auth)
    assert ev_a == [AuthSucceeded(AuthMethod.MSCHAP_V2, "alice", MppeKeys(b"\x01" * 16, b"\x02" * 16))]
    [ev_p] = peer.receive(auth.take_output()[0], 0.0)
    assert isinstance(ev_p, AuthSucceeded)


@pytest.mark.parametrize("error, text", [(649, "no dial-in permission"), (647, "account disabled"),
                                         (646, "logon hours restriction"), (648, "password expired")])
def test_external_refusal_codes_are_final(error, text):
    auth, peer = pair(AuthMethod.MSCHAP_V2, peer_retries=3)
    wire = []
    ev_a, ev_p = run(auth, peer, [lambda a: a.answer_external(False, error=error, message="Denied", now=0.0)],
                     wire=wire)
    assert ev_a[-1] == AuthFailed(AuthMethod.MSCHAP_V2, "alice", error, f"authentication failed ({error}): {text}")
    assert ev_p[-1] == AuthFailed(AuthMethod.MSCHAP_V2, "alice", error,
                                  f"authentication failed ({error}): {text}: Denied")
    text_sent = decode_packet(wire[-1][1], "f")[2]
    assert text_sent.startswith(f"E={error} R=0 C=".encode()) and text_sent.endswith(b" V=3 M=Denied")


def test_mschapv2_external_success_needs_the_authenticator_response():
    auth, peer = pair(AuthMethod.MSCHAP_V2)
    with pytest.raises(CoreMisuse):
        run(auth, peer, [lambda a: a.answer_external(True, now=0.0)])


def test_answer_without_a_request_is_misuse():
    auth, _ = pair(AuthMethod.CHAP_MD5)
    auth.start(0.0)
    with pytest.raises(CoreMisuse):
        auth.answer_password("x", 0.0)
    with pytest.raises(CoreMisuse):
        auth.start(0.0)


def test_mschap_v1_lm_only_response_is_refused():
    auth, _ = pair(AuthMethod.MSCHAP_V1, max_retries=0)
    auth.start(0.0)
    _, ident, data = decode_packet(auth.take_output()[0], "c")
    challenge = data[1:9]
    lm_only = mschap.lm_challenge_response(challenge, "s3cret") + bytes(24) + b"\x00"
    [req] = auth.receive(encode_packet(ChapCode.RESPONSE, ident, bytes((49,)) + lm_only + b"bob"), 0.0)
    assert req.user == "bob"
    assert auth.answer_password("s3cret", 0.0)[0].error == 691


def test_chap_challenge_retransmission_and_timeout():
    auth, _ = pair(AuthMethod.MSCHAP_V2, max_transmits=3)
    assert auth.start(0.0) == []
    [first] = auth.take_output()
    for t in (3.0, 6.0):
        assert auth.next_timer() == t
        assert auth.handle_timer(t - 0.5) == []
        assert auth.handle_timer(t) == []
        assert auth.take_output() == [first]
    assert auth.next_timer() == 9.0
    assert auth.handle_timer(9.0) == [AuthFailed(AuthMethod.MSCHAP_V2, "", 0, "peer did not answer the CHAP challenge")]
    assert auth.next_timer() is None and auth.take_output() == []


def test_lost_response_is_answered_again_and_lost_success_resent():
    auth, peer = pair(AuthMethod.MSCHAP_V2)
    auth.start(0.0)
    peer.start(0.0)
    [challenge] = auth.take_output()
    peer.receive(challenge, 0.0)
    [response] = peer.take_output()           # lost: the authenticator retransmits its challenge
    auth.handle_timer(3.0)
    [again] = auth.take_output()
    assert again == challenge
    assert peer.receive(again, 3.0) == []
    assert peer.take_output() == [response]   # the same Response (same peer challenge)
    [req] = auth.receive(response, 3.0)
    auth.answer_password("s3cret", 3.0)
    [success] = auth.take_output()            # lost on the way to the peer
    assert auth.receive(response, 4.0) == []  # a retransmitted Response gets the same Success
    assert auth.take_output() == [success]
    assert isinstance(peer.receive(success, 4.0)[0], AuthSucceeded)
    assert peer.receive(success, 4.0) == [] and peer.stats.as_dict() == {"chap: reply id mismatch": 1}


def test_pap_peer_retransmits_and_gives_up():
    _, peer = pair(AuthMethod.PAP, max_transmits=2)
    peer.start(0.0)
    [req] = peer.take_output()
    assert req == encode_packet(1, fixed_rng(2)(1)[0], b"\x05alice\x06s3cret")
    assert peer.next_timer() == 3.0
    peer.handle_timer(3.0)
    assert peer.take_output() == [req]
    assert peer.handle_timer(6.0) == [AuthFailed(AuthMethod.PAP, "alice", 0,
                                                 "authenticator did not answer the PAP request")]


def test_pap_authenticator_resends_ack_for_a_retransmitted_request_and_times_out_alone():
    auth, peer = pair(AuthMethod.PAP)
    ev_a, ev_p = run(auth, peer, ["s3cret"])
    [req] = [e for e in ev_a if isinstance(e, AuthRequested)]
    assert req.response == b"s3cret" and "s3cret" not in repr(req)
    peer_request = encode_packet(1, fixed_rng(2)(1)[0], b"\x05alice\x06s3cret")
    assert auth.receive(peer_request, 1.0) == []
    assert auth.take_output() == [encode_packet(2, peer_request[1], b"\x00")]
    lonely, _ = pair(AuthMethod.PAP, max_transmits=2)
    lonely.start(0.0)
    assert lonely.next_timer() == 6.0
    assert lonely.handle_timer(6.0)[0].reason == "peer sent no PAP Authenticate-Request"


def test_chap_peer_times_out_without_challenge():
    _, peer = pair(AuthMethod.CHAP_MD5, max_transmits=2)
    peer.start(0.0)
    assert peer.handle_timer(6.0) == [AuthFailed(AuthMethod.CHAP_MD5, "alice", 0,
                                                 "authenticator sent no CHAP challenge")]


def test_packet_before_start_starts_the_core():
    auth, peer = pair(AuthMethod.CHAP_MD5)
    auth.start(0.0)
    [challenge] = auth.take_output()
    assert peer.receive(challenge, 0.0) == [] and peer.state is AuthState.STARTED
    assert len(peer.take_output()) == 1


def test_bad_packets_are_counted_not_raised():
    auth, peer = pair(AuthMethod.MSCHAP_V2)
    auth.start(0.0)
    _, ident, _ = decode_packet(auth.take_output()[0], "c")
    assert auth.receive(b"\x02", 0.0) == []
    assert auth.receive(encode_packet(2, ident, b"\x05abcde"), 0.0) == []           # wrong value size
    assert auth.receive(encode_packet(2, (ident + 1) & 0xFF, b"\x01a"), 0.0) == []  # wrong id
    assert auth.receive(encode_packet(9, ident), 0.0) == []
    assert auth.stats.as_dict() == {"short chap packet": 1, "chap response: bad value size": 1,
                                    "chap: response id mismatch": 1, "chap: unexpected code": 1}
    peer.start(0.0)
    assert peer.receive(encode_packet(1, 1, b"\x08abcdefgh"), 0.0) == []             # v2 needs 16 octets
    assert peer.stats.as_dict() == {"chap challenge: bad value size": 1}


def test_unreadable_ms_chap_failure_is_final():
    auth, peer = pair(AuthMethod.MSCHAP_V2, peer_retries=2)
    auth.start(0.0)
    peer.receive(auth.take_output()[0], 0.0)
    _, ident, _ = decode_packet(peer.take_output()[0], "r")
    [ev] = peer.receive(encode_packet(4, ident, b"nonsense"), 0.0)
    assert (ev.error, ev.retry) == (691, False) and "unreadable" in ev.reason


def test_chap_md5_rechallenge_after_success_is_answered():
    auth, peer = pair(AuthMethod.CHAP_MD5)
    run(auth, peer, ["s3cret"])
    assert peer.receive(encode_packet(1, 77, b"\x04abcdrras"), 10.0) == []
    [resp] = peer.take_output()
    assert resp == encode_packet(2, 77, b"\x10" + hashlib.md5(b"\x4ds3cretabcd").digest() + b"alice")
    assert peer.next_timer() is None and peer.state is AuthState.SUCCEEDED


@pytest.mark.parametrize("method, data", [
    (AuthMethod.PAP, b"\xc0\x23"), (AuthMethod.CHAP_MD5, b"\xc2\x23\x05"),
    (AuthMethod.MSCHAP_V1, b"\xc2\x23\x80"), (AuthMethod.MSCHAP_V2, b"\xc2\x23\x81"),
    (AuthMethod.EAP_TLS, b"\xc2\x27")])
def test_lcp_option_data(method, data):
    assert method.option_data == data
    assert AuthMethod.from_option_data(data) is method
    assert AuthMethod.from_option_data(b"\xc2\x23\x06") is None


def test_secrets_are_not_in_reprs():
    config = PeerConfig("alice", "hunter2")
    assert "hunter2" not in repr(config)
    assert "01" * 16 not in repr(MppeKeys(b"\x01" * 16, b"\x01" * 16))


def test_peer_accepts_a_secret_object():
    class Secret:
        def reveal(self):
            return "s3cret"

    auth, _ = pair(AuthMethod.MSCHAP_V2)
    peer = new_peer(AuthMethod.MSCHAP_V2, PeerConfig("alice", Secret()), rng=fixed_rng(2))
    _, ev_p = run(auth, peer, ["s3cret"])
    assert isinstance(ev_p[0], AuthSucceeded)
    with pytest.raises(ValueError):
        new_peer(AuthMethod.EAP_TLS, PeerConfig("alice", "x"))
    with pytest.raises(ValueError):
        new_authenticator(AuthMethod.EAP_TLS)


def test_peer_repeats_its_response_until_the_verdict_arrives():
    auth, peer = pair(AuthMethod.MSCHAP_V2, max_transmits=3)
    auth.start(0.0)
    peer.receive(auth.take_output()[0], 0.0)
    [response] = peer.take_output()
    auth.receive(response, 0.0)
    auth.answer_password("s3cret", 0.0)
    auth.take_output()                                   # the Success is lost
    assert peer.next_timer() == 3.0
    assert peer.handle_timer(3.0) == [] and peer.take_output() == [response]
    assert auth.receive(response, 3.0) == []
    [success] = auth.take_output()
    assert isinstance(peer.receive(success, 3.0)[0], AuthSucceeded) and peer.next_timer() is None


def test_peer_gives_up_after_max_transmits_of_its_response():
    auth, peer = pair(AuthMethod.CHAP_MD5, max_transmits=2)
    auth.start(0.0)
    peer.receive(auth.take_output()[0], 0.0)
    [response] = peer.take_output()
    peer.handle_timer(3.0)
    assert peer.take_output() == [response]
    assert peer.handle_timer(6.0) == [AuthFailed(AuthMethod.CHAP_MD5, "alice", 0,
                                                 "authenticator did not answer the CHAP response")]


def test_authenticator_ignores_repeats_while_deciding():
    auth, peer = pair(AuthMethod.MSCHAP_V2)
    auth.start(0.0)
    peer.receive(auth.take_output()[0], 0.0)
    [response] = peer.take_output()
    assert isinstance(auth.receive(response, 0.0)[0], AuthRequested)
    assert auth.receive(response, 1.0) == [] and auth.take_output() == []
    assert auth.stats.as_dict() == {"chap: response repeated while deciding": 1}
