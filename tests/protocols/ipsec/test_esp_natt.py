"""RFC 3948 framing on UDP 4500 and the transport-mode checksum fix-up (RFC 3948 §3.1.2) on real checksums:
UDP datagrams from the Cisco IKE capture and TCP segments from the PPTP capture, whose checksums verify."""

from __future__ import annotations

import json

import pytest

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ipsec.esp import EspSa, EspSuite
from rrasctl.protocols.ipsec.natt import (KEEPALIVE, NON_ESP_MARKER, EncapKind, classify, fix_transport_checksum,
                                          frame_ike, ike_message, inet_checksum, ones_complement_sum,
                                          transport_checksum)
from rrasctl.trace import layers, pcap
from support import CAPTURES, VECTORS


def test_classify_keepalive_ike_and_esp():
    assert classify(KEEPALIVE) is EncapKind.KEEPALIVE
    ike = bytes(range(1, 29))
    assert classify(frame_ike(ike)) is EncapKind.IKE
    assert ike_message(frame_ike(ike)) == ike
    sa = EspSa(0x100, EspSuite.NULL_SHA1, bytes(20))
    assert classify(sa.seal(b"", 17)) is EncapKind.ESP
    assert classify(b"\x00\x00\x00\x01" + bytes(4)) is EncapKind.ESP         # any non-zero SPI octet


@pytest.mark.parametrize("payload,reason", [(b"\x00", "one-octet datagram that is not a NAT-keepalive"),
                                            (b"", "short UDP-encapsulated datagram"),
                                            (b"\xff\xff", "short UDP-encapsulated datagram"),
                                            (NON_ESP_MARKER + b"\x01\x02\x03", "short UDP-encapsulated datagram")])
def test_classify_rejects_what_rfc3948_does_not_define(payload, reason):
    with pytest.raises(Malformed) as exc:
        classify(payload)
    assert exc.value.reason == reason


def test_ike_message_needs_the_marker():
    with pytest.raises(Malformed, match="no non-ESP marker"):
        ike_message(b"\x01\x00\x00\x00" + bytes(28))


def test_rfc1071_example():
    v = json.loads((VECTORS / "inet_checksum.json").read_text())
    data = bytes.fromhex(v["data"])
    assert ones_complement_sum(data) == int(v["ones_complement_sum"], 16)
    assert inet_checksum(data) == int(v["checksum_field_derived"], 16)


def _segments(name: str, protocol: int):
    for p in pcap.read_packets((CAPTURES / name).read_bytes()):
        link = layers.decode_link(p.linktype, p.data)
        if link.kind != "ip":
            continue
        ip = layers.decode_ip(link.payload, layers.Reassembler())
        if ip.protocol == protocol:
            yield ip


@pytest.mark.parametrize("name,protocol,count", [("ikev1-cisco-ios-mm-qm-psk.pcap", 17, 9),
                                                 ("pptp-ctrl-linux-to-windows-rras.pcap", 6, 24)])
def test_fix_up_on_real_checksums(name, protocol, count):
    """Each captured segment's checksum is valid for its real addresses. Pretend both ends were NATed: the fix-up
    turns it into exactly the checksum a full recomputation over the received addresses gives, and back."""
    offset = 6 if protocol == 17 else 16
    received_src, received_dst = "203.0.113.77", "198.51.100.200"
    n = 0
    for ip in _segments(name, protocol):
        seg = ip.payload
        real = int.from_bytes(seg[offset:offset + 2], "big")
        assert transport_checksum(seg, protocol, ip.src, ip.dst) == real        # the capture's checksum is genuine
        fixed = fix_transport_checksum(seg, protocol, received_src, received_dst, ip.src, ip.dst)
        assert fixed[:offset] == seg[:offset] and fixed[offset + 2:] == seg[offset + 2:]
        assert int.from_bytes(fixed[offset:offset + 2], "big") == \
            transport_checksum(seg, protocol, received_src, received_dst)
        assert int.from_bytes(fixed[offset:offset + 2], "big") != real
        # only the source NATed (the usual L2TP/IPsec client behind NAT): the destination words cancel
        one = fix_transport_checksum(seg, protocol, received_src, ip.dst, ip.src, ip.dst)
        assert int.from_bytes(one[offset:offset + 2], "big") == transport_checksum(seg, protocol, received_src, ip.dst)
        assert fix_transport_checksum(fixed, protocol, ip.src, ip.dst, received_src, received_dst) == seg
        assert fix_transport_checksum(seg, protocol, ip.src, ip.dst, ip.src, ip.dst) == seg   # no NAT: unchanged
        n += 1
    assert n == count


def test_udp_checksum_zero_stays_zero_and_other_protocols_pass():
    seg = b"\x06\xa5\x06\xa5\x00\x0c\x00\x00" + b"\xc8\x02\x00\x0c"
    assert fix_transport_checksum(seg, 17, "10.0.0.1", "10.0.0.2", "192.168.1.5", "10.0.0.2") == seg
    assert fix_transport_checksum(b"\x08\x00\xf7\xff", 1, "10.0.0.1", "10.0.0.2", "1.2.3.4", "10.0.0.2") == \
        b"\x08\x00\xf7\xff"


def test_ipv6_udp_fix_up_matches_recomputation():
    seg = bytearray(b"\x11\x94\x11\x94\x00\x10\x00\x00" + b"L2TP-ish")
    seg[6:8] = transport_checksum(seg, 17, "2001:db8::1", "2001:db8::2").to_bytes(2, "big")
    fixed = fix_transport_checksum(bytes(seg), 17, "2001:db8:ffff::9", "2001:db8::2", "2001:db8::1", "2001:db8::2")
    assert int.from_bytes(fixed[6:8], "big") == transport_checksum(seg, 17, "2001:db8:ffff::9", "2001:db8::2")


def test_short_segments_are_malformed():
    with pytest.raises(Malformed, match="short transport header"):
        fix_transport_checksum(b"\x00" * 7, 17, "1.1.1.1", "2.2.2.2", "3.3.3.3", "2.2.2.2")
