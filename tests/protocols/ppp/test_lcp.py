"""LCP specifics: our request, magic numbers and loop-back, MRU, auth protocol rules, Echo, Protocol-Reject."""

from __future__ import annotations

import pytest

from rrasctl.protocols.ppp.auth import AuthMethod
from rrasctl.protocols.ppp.frame import Code, ControlPacket
from rrasctl.protocols.ppp.fsm import LayerDown, Negotiator, NegotiationFailed, State
from rrasctl.protocols.ppp.lcp import LCP_RXR_CODES, EchoReplied, LcpLayer, LcpPolicy, ProtocolRejected
from rrasctl.protocols.wire import U32
from tests.conftest import fixed_rng


def lcp(authenticator=True, methods=(AuthMethod.MSCHAP_V2,), mru=1400, seed=1):
    layer = LcpLayer(LcpPolicy(authenticator, methods, mru, fixed_rng(seed)))
    n = Negotiator(0xC021, layer, rxr_codes=LCP_RXR_CODES)
    layer.negotiator = n
    return layer, n


def opened(**kw):
    layer, n = lcp(**kw)
    n.open(0.0)
    n.up(0.0)
    req = ControlPacket.decode(n.take_output()[0])
    n.receive(ControlPacket(Code.CONFIGURE_ACK, req.id, req.data).encode(), 0.1)
    n.receive(ControlPacket(Code.CONFIGURE_REQUEST, 7, bytes.fromhex("0506cafef00d")).encode(), 0.2)
    assert n.state is State.OPENED
    n.take_output()
    return layer, n


def test_authenticator_request_bytes():
    layer, _ = lcp()
    magic = U32.pack(layer.neg.want["magic-number"])
    assert layer.build_request() == bytes.fromhex("01040578" "0305c22381") + b"\x05\x06" + magic + b"\x07\x02\x08\x02"
    peer, _ = lcp(authenticator=False, mru=1500)
    assert peer.build_request() == b"\x05\x06" + U32.pack(peer.neg.want["magic-number"]) + b"\x07\x02\x08\x02"


def test_looped_back_magic_is_naked_with_a_new_one():
    layer, _ = lcp()
    ours = layer.neg.want["magic-number"]
    code, data = layer.judge_request(b"\x05\x06" + U32.pack(ours), True)
    assert code == Code.CONFIGURE_NAK and data[:2] == b"\x05\x06" and data[2:] != U32.pack(ours)
    assert layer.neg.want["magic-number"] != ours and layer.neg.scratch["looped"] == 1
    code, data = layer.judge_request(bytes.fromhex("050600000000"), True)
    assert code == Code.CONFIGURE_NAK and data[2:] != bytes(4)
    layer.build_request()
    before = layer.neg.want["magic-number"]
    assert layer.nak_received(b"\x05\x06" + U32.pack(before))
    assert layer.neg.want["magic-number"] not in (before, 0)


def test_mru_rules():
    layer, _ = lcp()
    assert layer.judge_request(bytes.fromhex("01040080"), True)[0] == Code.CONFIGURE_ACK
    assert layer.judge_request(bytes.fromhex("0104007f"), True) == (Code.CONFIGURE_NAK, bytes.fromhex("010405dc"))
    layer.build_request()
    layer.nak_received(bytes.fromhex("010405dc"))
    assert layer.neg.want["mru"] == 1500
    layer.nak_received(bytes.fromhex("01040010"))
    assert layer.neg.want["mru"] is None


def test_auth_protocol_rules():
    peer, _ = lcp(authenticator=False, methods=(AuthMethod.MSCHAP_V2, AuthMethod.PAP))
    assert peer.judge_request(bytes.fromhex("0304c023"), True)[0] == Code.CONFIGURE_ACK
    assert peer.judge_request(bytes.fromhex("0305c22305"), True) == (Code.CONFIGURE_NAK, bytes.fromhex("0305c22381"))
    assert peer.judge_request(bytes.fromhex("0306c2230501"), True)[0] == Code.CONFIGURE_NAK   # unknown value
    nobody, _ = lcp(authenticator=False, methods=())
    assert nobody.judge_request(bytes.fromhex("0304c023"), True) == (Code.CONFIGURE_REJECT, bytes.fromhex("0304c023"))
    server, _ = lcp()
    assert server.judge_request(bytes.fromhex("0304c023"), True)[0] == Code.CONFIGURE_REJECT  # we don't authenticate
    server.build_request()
    with pytest.raises(NegotiationFailed, match=r"no common authentication method \(peer offered pap"):
        server.nak_received(bytes.fromhex("0304c023"))
    with pytest.raises(NegotiationFailed, match="peer refused to authenticate"):
        server.reject_received(bytes.fromhex("0305c22381"))
    unknown, _ = lcp()
    unknown.build_request()
    with pytest.raises(NegotiationFailed, match="peer offered 0xc22399"):
        unknown.nak_received(bytes.fromhex("0305c22399"))


def test_echo_request_answered_with_our_magic():
    layer, n = opened()
    n.receive(ControlPacket(Code.ECHO_REQUEST, 5, bytes.fromhex("cafef00d") + b"hello").encode(), 1.0)
    assert n.take_output() == [ControlPacket(Code.ECHO_REPLY, 5, U32.pack(layer.magic) + b"hello").encode()]
    assert layer.peer_magic == 0xCAFEF00D
    n.receive(ControlPacket(Code.ECHO_REQUEST, 6, U32.pack(layer.magic)).encode(), 1.0)   # our own: looped
    assert n.take_output() == [] and n.stats["looped back echo"] == 1
    assert n.receive(ControlPacket(Code.ECHO_REPLY, 9, bytes(4)).encode(), 1.0) == [EchoReplied(9)]
    assert n.receive(ControlPacket(Code.DISCARD_REQUEST, 9, bytes(4)).encode(), 1.0) == []
    assert n.receive(ControlPacket(Code.IDENTIFICATION, 3, bytes.fromhex("0015706a") + b"MSRASV5.00").encode(),
                     1.0) == []
    assert n.take_output() == []                                    # Identification is not Code-Rejected
    layer.echo_request(77)
    assert n.take_output() == [ControlPacket(Code.ECHO_REQUEST, 77, U32.pack(layer.magic)).encode()]


def test_echo_ignored_unless_opened():
    layer, n = lcp()
    n.open(0.0)
    n.up(0.0)
    n.take_output()
    n.receive(ControlPacket(Code.ECHO_REQUEST, 5, bytes(4)).encode(), 1.0)
    assert n.take_output() == [] and n.state is State.REQ_SENT


def test_protocol_reject():
    layer, n = opened()
    assert n.receive(ControlPacket(Code.PROTOCOL_REJECT, 1, bytes.fromhex("80fd0101")).encode(), 1.0) == [
        ProtocolRejected(0x80FD)]
    assert n.state is State.OPENED
    assert n.receive(ControlPacket(Code.PROTOCOL_REJECT, 2, b"\x80").encode(), 1.0) == []
    assert n.stats["short protocol-reject"] == 1
    assert n.receive(ControlPacket(Code.PROTOCOL_REJECT, 3, bytes.fromhex("c021")).encode(), 1.0) == [
        LayerDown(0xC021)]
    assert n.state is State.STOPPING
