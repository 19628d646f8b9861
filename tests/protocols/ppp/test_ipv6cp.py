"""IPV6CP (RFC 5072) and IPv6 data, when PppConfig.ipv6 is set."""

from __future__ import annotations

import sys
from pathlib import Path

from rrasctl.protocols.ppp.frame import Code, PppProtocol, split_frame
from rrasctl.protocols.ppp.ipv6cp import Ipv6cpLayer, Ipv6cpPolicy
from rrasctl.protocols.ppp.link import Ipv6Up, NetworkUp
from tests.conftest import fixed_rng

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.protocols.ppp.test_link import client, connect, server  # noqa: E402

IPV6 = bytes.fromhex("6000000000083a40fe800000000000000000000000000001fe800000000000000000000000000002") + bytes(8)


def test_interface_identifier_rules():
    layer = Ipv6cpLayer(Ipv6cpPolicy(fixed_rng(3)))
    ours = layer.neg.want["interface-identifier"]
    assert len(ours) == 8 and ours != bytes(8) and layer.build_request() == b"\x01\x0a" + ours
    assert layer.judge_request(b"\x01\x0a" + bytes.fromhex("0211223344556677"), True)[0] == Code.CONFIGURE_ACK
    for bad in (bytes(8), ours, b"\x01\x02\x03"):
        code, data = layer.judge_request(bytes((1, len(bad) + 2)) + bad, True)
        assert code == Code.CONFIGURE_NAK and data[:2] == b"\x01\x0a" and data[2:] not in (bytes(8), ours)
    assert layer.nak_received(b"\x01\x0a" + bytes.fromhex("0a0b0c0d0e0f1011"))
    assert layer.neg.want["interface-identifier"] == bytes.fromhex("0a0b0c0d0e0f1011")
    layer.neg.peer_got["interface-identifier"] = bytes.fromhex("0211223344556677")
    assert layer.nak_received(b"\x01\x0a" + bytes.fromhex("0211223344556677"))   # the peer's own: refuse it
    assert layer.neg.want["interface-identifier"] not in (bytes.fromhex("0211223344556677"), bytes(8))
    assert layer.judge_request(b"\x02\x04\x00\x2d", True)[0] == Code.CONFIGURE_REJECT


def test_ipv6_link_both_ways_clear_and_encrypted():
    for levels in (("none",), ("strongest",)):
        a, b = server(encryption=levels, ipv6=True), client(encryption=levels, ipv6=True)
        pair = connect(a, b)
        pair.run(until=lambda: pair.saw(Ipv6Up, "a") and pair.saw(Ipv6Up, "b"))
        up_a, up_b = pair.first(Ipv6Up, "a"), pair.first(Ipv6Up, "b")
        assert (up_a.local_id, up_a.peer_id) == (up_b.peer_id, up_b.local_id) and len(up_a.local_id) == 8
        frame = a.seal_data(IPV6)
        expected = PppProtocol.MPPE if levels == ("strongest",) else PppProtocol.IPV6
        assert split_frame(frame)[0] == expected
        assert bytes(b.open_data(frame)) == IPV6
        assert bytes(a.open_data(b.seal_data(IPV6))) == IPV6


def test_ipv6_off_on_one_side_keeps_ipv4():
    a, b = server(encryption=("none",), ipv6=True), client(encryption=("none",))
    pair = connect(a, b)
    pair.run(until=lambda: a.ipv6cp.state.name in ("STOPPED", "CLOSED"))
    assert pair.saw(NetworkUp, "a") and not pair.saw(Ipv6Up) and b.stats["protocol rejected"] == 1
    assert a.seal_data(IPV6) is None and b.seal_data(IPV6) is None
    assert b.open_data(b"\x00\x57" + IPV6) is None and b.stats["IPv6 without IPV6CP"] == 1
    assert a.network_up and b.network_up
