"""CCP (MPPE option) and IPCP rules beyond what the capture replay covers."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from rrasctl.protocols.ppp.ccp import (
    MPPE_H, MPPE_L, MPPE_S, CcpLayer, CcpPolicy, ResetRequested, bits_length, describe_bits, mppe_bits,
)
from rrasctl.protocols.ppp.frame import Code, ControlPacket
from rrasctl.protocols.ppp.fsm import Negotiator, NegotiationFailed, State
from rrasctl.protocols.ppp.ipcp import IpcpLayer, IpcpPolicy


def test_bits_helpers():
    assert describe_bits(0x010000E1) == "128 56 40 stateless mppc" and describe_bits(0) == "none"
    assert mppe_bits({40, 128}, True) == MPPE_H | MPPE_S | MPPE_L
    assert (bits_length(0x80), bits_length(0x60), bits_length(0)) == (56, 128, 0)


def test_ccp_judging_and_naks():
    strongest = CcpLayer(CcpPolicy(frozenset({128}), False))
    assert strongest.build_request() == bytes.fromhex("120600000040")
    assert strongest.judge_request(bytes.fromhex("120600000020"), True) == (
        Code.CONFIGURE_REJECT, bytes.fromhex("120600000020"))                 # 40-bit only: nothing common
    assert strongest.judge_request(bytes.fromhex("120601000060"), True) == (
        Code.CONFIGURE_NAK, bytes.fromhex("120600000040"))                    # stateless not allowed: stateful
    with pytest.raises(NegotiationFailed, match="peer refused encryption"):
        strongest.nak_received(bytes.fromhex("120600000020"))
    with pytest.raises(NegotiationFailed, match="peer requires stateless MPPE, policy forbids it"):
        strongest.nak_received(bytes.fromhex("120601000040"))
    with pytest.raises(NegotiationFailed, match="peer refused encryption"):
        strongest.reject_received(bytes.fromhex("120600000040"))
    assert CcpLayer(CcpPolicy(frozenset(), True)).build_request() == b""


def _opened_ccp():
    layer = CcpLayer(CcpPolicy(frozenset({128}), True))
    n = Negotiator(0x80FD, layer)
    layer.negotiator = n
    return layer, n


def test_reset_request_and_ack():
    layer, n = _opened_ccp()
    n.open(0.0)
    n.up(0.0)
    n.take_output()
    assert n.receive(ControlPacket(Code.RESET_REQUEST, 4, b"").encode(), 0.1) == []
    assert n.stats["reset-request while not opened"] == 1
    n.state = State.OPENED
    assert n.receive(ControlPacket(Code.RESET_REQUEST, 4, b"").encode(), 0.2) == [ResetRequested(4)]
    assert n.take_output() == [ControlPacket(Code.RESET_ACK, 4, b"").encode()]
    assert n.receive(ControlPacket(Code.RESET_ACK, 9, b"").encode(), 0.3) == [] and n.take_output() == []
    layer.reset_request()
    (out,) = n.take_output()
    assert ControlPacket.decode(out).code == Code.RESET_REQUEST
    n.receive(ControlPacket(Code.ECHO_REQUEST, 1, bytes(4)).encode(), 0.4)     # not a CCP code
    assert ControlPacket.decode(n.take_output()[0]).code == Code.CODE_REJECT


def test_ipcp_rules():
    pending = IpcpLayer(IpcpPolicy(True, IPv4Address("198.51.100.1"), None))
    assert pending.judge_request(bytes.fromhex("030600000000"), True)[0] == Code.CONFIGURE_REJECT
    server = IpcpLayer(IpcpPolicy(True, IPv4Address("198.51.100.1"), IPv4Address("198.51.100.2")))
    server.build_request()
    with pytest.raises(NegotiationFailed, match="peer refused our address 198.51.100.1"):
        server.nak_received(bytes.fromhex("0306c6336409"))
    assert server.judge_request(bytes.fromhex("8106c6336435"), True)[0] == Code.CONFIGURE_REJECT   # no DNS set
    peer = IpcpLayer(IpcpPolicy(False, IPv4Address("198.51.100.9"), None))
    assert peer.build_request()[:6] == bytes.fromhex("0306c6336409")
    assert peer.judge_request(bytes.fromhex("030600000000"), True)[0] == Code.CONFIGURE_REJECT
    assert peer.judge_request(bytes.fromhex("8106c6336435"), True)[0] == Code.CONFIGURE_REJECT     # asks us DNS
    with pytest.raises(NegotiationFailed, match="server offered no address"):
        peer.nak_received(bytes.fromhex("030600000000"))
    assert peer.result() == (IPv4Address("198.51.100.9"), IPv4Address(0), (), ())
    asking = IpcpLayer(IpcpPolicy(False, None, None))
    asking.build_request()
    with pytest.raises(NegotiationFailed, match="server assigned no address"):
        asking.reject_received(bytes.fromhex("030600000000"))
