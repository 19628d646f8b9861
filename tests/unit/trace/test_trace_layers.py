"""Link types, IP fragments and GRE/L2TP/PPP dissection on frames built here."""

from __future__ import annotations

import struct

import pytest

from rrasctl.protocols.base import Malformed
from rrasctl.trace import pcap
from rrasctl.trace.dissect import Dissector
from rrasctl.trace.layers import Link, Reassembler, decode_ip, decode_link
from rrasctl.trace.pcap import Packet

LCP_ECHO = bytes.fromhex("ff03c021") + bytes.fromhex("09070008") + bytes.fromhex("01020304")


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1, frag: int = 0) -> bytes:
    total = 20 + len(payload)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, frag, 64, proto, 0,
                       bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))) + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def gre(call_id: int, frame: bytes, seq: int | None = 7, ack: int | None = None) -> bytes:
    flags = 0x2001 | (0x1000 if seq is not None else 0) | (0x0080 if ack is not None else 0)
    out = struct.pack("!HHHH", flags, 0x880B, len(frame), call_id)
    if seq is not None:
        out += struct.pack("!I", seq)
    if ack is not None:
        out += struct.pack("!I", ack)
    return out + frame


def test_link_types():
    ip = ipv4("198.51.100.1", "198.51.100.2", 17, udp(1, 2, b""))
    assert decode_link(pcap.LINKTYPE_RAW, ip) == Link("ip", ip)
    assert decode_link(pcap.LINKTYPE_IPV4, ip) == Link("ip", ip)
    assert decode_link(pcap.LINKTYPE_NULL, struct.pack("<I", 2) + ip) == Link("ip", ip)
    assert decode_link(pcap.LINKTYPE_NULL, struct.pack(">I", 2) + ip) == Link("ip", ip)
    assert decode_link(pcap.LINKTYPE_LINUX_SLL, bytes(14) + b"\x08\x00" + ip) == Link("ip", ip)
    assert decode_link(pcap.LINKTYPE_LINUX_SLL2, b"\x08\x00" + bytes(18) + ip) == Link("ip", ip)
    vlan = bytes(12) + b"\x81\x00\x00\x05\x08\x00" + ip
    assert decode_link(pcap.LINKTYPE_ETHERNET, vlan).payload == ip
    assert decode_link(pcap.LINKTYPE_PPP, b"\xff\x03\x00\x21" + ip) == Link("ip", ip, outbound=None)
    assert decode_link(pcap.LINKTYPE_PPP_WITH_DIR, b"\x01\x00\x21" + ip) == Link("ip", ip, outbound=True)
    assert decode_link(pcap.LINKTYPE_PPP_WITH_DIR, b"\x00" + LCP_ECHO) == Link("ppp", LCP_ECHO, outbound=False)
    arp = decode_link(pcap.LINKTYPE_ETHERNET, b"\xff" * 6 + bytes(range(6)) + b"\x08\x06" + bytes(28))
    assert (arp.kind, arp.name, arp.src, arp.dst) == ("other", "ARP", "00:01:02:03:04:05", "ff:ff:ff:ff:ff:ff")
    assert decode_link(147, b"x") == Link("other", name="link type 147")
    pppoe = bytes(12) + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, 0x1234, len(LCP_ECHO) - 2) + LCP_ECHO[2:]
    assert decode_link(pcap.LINKTYPE_ETHERNET, pppoe).kind == "ppp"
    with pytest.raises(Malformed):
        decode_link(pcap.LINKTYPE_ETHERNET, bytes(13))


def test_ipv4_fragments_reassemble_in_any_order():
    payload = bytes(range(256)) * 2
    whole = ipv4("203.0.113.1", "203.0.113.2", 17, payload)
    f1 = ipv4("203.0.113.1", "203.0.113.2", 17, payload[:256], ident=9, frag=0x2000)
    f2 = ipv4("203.0.113.1", "203.0.113.2", 17, payload[256:], ident=9, frag=256 // 8)
    r = Reassembler()
    first = decode_ip(f2, r)
    assert first.fragment and r.incomplete == 1
    done = decode_ip(f1, r)
    assert done.reassembled and done.payload == payload and r.incomplete == 0
    assert decode_ip(whole, r).payload == payload


def feed_all(d: Dissector, frames: list[tuple[int, bytes]], linktype: int = pcap.LINKTYPE_RAW):
    rows = []
    for n, (ts, data) in enumerate(frames, 1):
        rows += d.feed(n, Packet(ts, linktype, data, len(data)))
    return rows


def test_gre_ppp_and_fragmented_l2tp_through_the_dissector():
    d = Dissector()
    l2tp = struct.pack("!HHH", 0x0002, 5, 6) + LCP_ECHO
    dgram = udp(1701, 1701, l2tp)
    frames = [
        (1_000_000_000, ipv4("203.0.113.1", "203.0.113.2", 47, gre(3, LCP_ECHO, seq=7, ack=2))),
        (1_500_000_000, ipv4("203.0.113.2", "203.0.113.1", 47, gre(9, b"", seq=None, ack=7))),
        (2_000_000_000, ipv4("203.0.113.1", "203.0.113.2", 17, dgram[:16], ident=4, frag=0x2000)),
        (2_000_000_000, ipv4("203.0.113.1", "203.0.113.2", 17, dgram[16:], ident=4, frag=2)),
    ]
    rows = feed_all(d, frames)
    assert [(r.frame, r.time, r.tunnel, r.protocol, r.message, r.fields) for r in rows] == [
        (1, 0.0, "gre call=3 seq=7 ack=2", "LCP", "Echo-Request", {"id": 7, "magic": "0x01020304"}),
        (2, 0.5, "gre call=9 ack=7", "GRE", "ack only", {"call_id": 9, "ack": 7}),
        (3, 1.0, "", "IPv4", "fragment (not reassembled yet)", {}),
        (4, 1.0, "l2tp tunnel=5 session=6", "LCP", "Echo-Request", {"id": 7, "magic": "0x01020304"}),
    ]
    assert d.summary.malformed == 0 and d.summary.fragments_pending == 0


def test_malformed_rows_are_counted_not_raised():
    d = Dissector()
    bad_lcp = bytes.fromhex("ff03c021") + bytes.fromhex("0107ff00")  # length beyond the frame
    rows = feed_all(d, [
        (0, ipv4("203.0.113.1", "203.0.113.2", 47, gre(1, bad_lcp))),
        (0, ipv4("203.0.113.1", "203.0.113.2", 47, gre(1, bytes.fromhex("ff03c0210101000801030505")))),
        (0, b"\x45\x00"),
    ])
    assert [(r.protocol, r.message, r.error) for r in rows] == [
        ("PPP", "malformed", "control packet length beyond frame"),
        ("PPP", "malformed", "short option header"),
        ("?", "malformed", "short IPv4 header"),
    ]
    assert d.summary.malformed == 3 and d.summary.ppp.malformed == 2


def test_ppp_capture_direction_labels():
    d = Dissector()
    rows = feed_all(d, [(0, b"\x01" + LCP_ECHO), (0, b"\x00" + LCP_ECHO)], pcap.LINKTYPE_PPP_WITH_DIR)
    assert [(r.src, r.dst, r.protocol) for r in rows] == [("local", "remote", "LCP"), ("remote", "local", "LCP")]


def test_pptp_stream_reassembly_across_segments_and_retransmission():
    from rrasctl.protocols.pptp import messages

    msg = messages.EchoRequest(identifier=5).encode()
    two = msg + msg

    def tcp(seq: int, payload: bytes, flags: int = 0x18) -> bytes:
        return ipv4("203.0.113.1", "203.0.113.2", 6,
                    struct.pack("!HHIIBBHHH", 40000, 1723, seq, 0, 0x50, flags, 1000, 0, 0) + payload)

    d = Dissector()
    rows = feed_all(d, [(0, tcp(99, b"", 0x02)), (0, tcp(100, two[:10])), (0, tcp(110, two[10:])),
                        (0, tcp(100, two[:10]))])
    assert [(r.frame, r.protocol, r.message) for r in rows] == [
        (1, "TCP", "40000 → 1723 [SYN]"), (2, "TCP", "40000 → 1723 [PSH,ACK]"),
        (3, "PPTP", "Echo-Request"), (3, "PPTP", "Echo-Request"), (4, "TCP", "retransmission")]
    assert rows[2].fields == {"identifier": 5}


def test_l2tp_hidden_avps_with_and_without_the_secret():
    from rrasctl.protocols.l2tp.avp import AvpType, encode_avp_list
    from rrasctl.protocols.l2tp.messages import encode_control

    body = encode_avp_list([(AvpType.MESSAGE_TYPE, 10), (AvpType.ASSIGNED_SESSION_ID, 77),
                            (AvpType.CALL_SERIAL_NUMBER, 5)], secret=b"s3cret",
                           hide_types=frozenset({AvpType.ASSIGNED_SESSION_ID}), rng=lambda n: bytes(range(n)))
    msg = udp(1701, 1701, encode_control(3, 0, 1, 2, body))
    frame = [(0, ipv4("203.0.113.1", "203.0.113.2", 17, msg))]
    rows = feed_all(Dissector(l2tp_secret=b"s3cret"), frame)
    assert (rows[0].protocol, rows[0].message, rows[0].error) == ("L2TP", "ICRQ", None)
    assert rows[0].fields["assigned_session_id"] == 77 and rows[0].fields["call_serial_number"] == 5
    for d in (Dissector(), Dissector(l2tp_secret=b"wrong")):
        [row] = feed_all(d, frame)
        assert (row.message, row.error) == ("ICRQ", None)
        assert row.fields["hidden_avps"] == ["assigned_session_id"] and "assigned_session_id" not in row.fields
        assert row.fields["call_serial_number"] == 5
    assert rows[0].tunnel == "l2tp tunnel=3 session=0 Ns=1 Nr=2"


def test_ndiswan_frames_and_8023_lengths():
    ip = ipv4("198.51.100.1", "198.51.100.2", 17, udp(1, 2, b""))
    send = b" SEND\x02"
    ndis = decode_link(pcap.LINKTYPE_ETHERNET, send + send + b"\x00\x21" + ip)
    assert (ndis.kind, ndis.payload, ndis.src) == ("ppp", b"\x00\x21" + ip, "Send_02")
    lcp = decode_link(pcap.LINKTYPE_ETHERNET, bytes(12) + LCP_ECHO[2:])
    assert (lcp.kind, lcp.payload) == ("ppp", LCP_ECHO[2:])
    llc = decode_link(pcap.LINKTYPE_ETHERNET, bytes(12) + b"\x00\x21" + bytes(33))   # 802.3 length 33
    assert (llc.kind, llc.name) == ("other", "ethertype 0x0021")
