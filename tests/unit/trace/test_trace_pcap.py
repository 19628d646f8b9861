"""pcap / pcapng reading (files built here, and the real captures) and the pcap writer."""

from __future__ import annotations

import io
import struct

import pytest

from rrasctl.trace.pcap import (
    LINKTYPE_ETHERNET, LINKTYPE_PPP_WITH_DIR, LINKTYPE_RAW, CaptureError, Packet, PcapWriter, capture_format,
    read_packets,
)
from pathlib import Path

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "captures"


def pcap_file(order: str, magic: int, linktype: int, records: list[tuple[int, int, bytes]]) -> bytes:
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, data in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data) + 3) + data
    return out


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcap_microseconds_both_byte_orders(order):
    data = pcap_file(order, 0xA1B2C3D4, LINKTYPE_RAW, [(10, 250000, b"\x45abc"), (11, 1, b"")])
    assert capture_format(data) == "pcap"
    assert list(read_packets(data)) == [
        Packet(10_250_000_000, LINKTYPE_RAW, b"\x45abc", 7, 0),
        Packet(11_000_001_000, LINKTYPE_RAW, b"", 3, 0),
    ]


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcap_nanoseconds(order):
    data = pcap_file(order, 0xA1B23C4D, LINKTYPE_ETHERNET, [(1, 123456789, b"x")])
    [pkt] = read_packets(data)
    assert pkt.ts_ns == 1_123_456_789 and pkt.time == pytest.approx(1.123456789)


def test_pcap_truncated_record_raises_after_earlier_packets():
    data = pcap_file("<", 0xA1B2C3D4, LINKTYPE_RAW, [(1, 0, b"abcd"), (2, 0, b"efgh")])[:-2]
    it = read_packets(data)
    assert next(it).data == b"abcd"
    with pytest.raises(CaptureError, match="truncated pcap record"):
        next(it)


def test_not_a_capture():
    with pytest.raises(CaptureError, match="unknown magic"):
        read_packets(b"GIF89a....")
    with pytest.raises(CaptureError, match="too short"):
        read_packets(b"\xd4")


def block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def shb(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(order: str, linktype: int, tsresol: int | None = None) -> bytes:
    body = struct.pack(order + "HHI", linktype, 0, 0)
    if tsresol is not None:
        body += struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0" + struct.pack(order + "HH", 0, 0)
    return block(order, 1, body)


def epb(order: str, ifid: int, ts: int, data: bytes) -> bytes:
    return block(order, 6, struct.pack(order + "IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data)


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_sections_interfaces_resolutions(order):
    data = (shb(order) + idb(order, LINKTYPE_ETHERNET) + idb(order, LINKTYPE_RAW, tsresol=9)
            + idb(order, 9, tsresol=0x80 | 10)
            + epb(order, 0, 1_500_000, b"eth")          # µs default
            + block(order, 5, b"statistics are skipped")  # Interface Statistics Block
            + epb(order, 1, 2_000_000_007, b"raw!")     # ns
            + epb(order, 2, 3 * 1024 + 512, b"ppp")     # 2^-10 s units
            + block(order, 3, struct.pack(order + "I", 5) + b"simple")  # SPB: interface 0, orig 5 -> 5 bytes
            + shb(order) + idb(order, LINKTYPE_RAW) + epb(order, 0, 7, b"new section"))
    assert capture_format(data) == "pcapng"
    got = [(p.ts_ns, p.linktype, p.data, p.interface) for p in read_packets(data)]
    assert got == [
        (1_500_000_000, LINKTYPE_ETHERNET, b"eth", 0),
        (2_000_000_007, LINKTYPE_RAW, b"raw!", 1),
        (3_500_000_000, 9, b"ppp", 2),
        (0, LINKTYPE_ETHERNET, b"simpl", 0),
        (7_000, LINKTYPE_RAW, b"new section", 0),
    ]


def test_pcapng_errors():
    good = shb("<") + idb("<", 1) + epb("<", 0, 0, b"abcd")
    with pytest.raises(CaptureError, match="not described"):
        list(read_packets(shb("<") + epb("<", 3, 0, b"x")))
    with pytest.raises(CaptureError, match="block length"):
        list(read_packets(good[:-4]))
    bad_trailer = good[:-4] + struct.pack("<I", 999)
    with pytest.raises(CaptureError, match="trailer"):
        list(read_packets(bad_trailer))
    bad_bom = good[:8] + b"abcd" + good[12:]
    with pytest.raises(CaptureError, match="byte-order"):
        list(read_packets(bad_bom))


def test_writer_round_trip_and_exact_bytes():
    buf = io.BytesIO()
    w = PcapWriter(buf, LINKTYPE_PPP_WITH_DIR)
    w.write(1_700_000_000_123_456_789, b"\x01\x00\x21E")
    assert w.count == 1
    raw = buf.getvalue()
    assert raw[:24] == bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 ffff0000 cc000000".replace(" ", ""))
    assert raw[24:40] == struct.pack("<IIII", 1_700_000_000, 123456, 4, 4)
    assert list(read_packets(raw)) == [Packet(1_700_000_000_123_456_000, 204, b"\x01\x00\x21E", 4)]


@pytest.mark.parametrize("name,count", [
    ("pptp-win2000-poptop-mschapv2-mppe128.pcap", 96), ("pptp-mschapv2-3frames-pptpd.pcap", 3),
    ("l2tp-huawei-lac-lns-chap.pcap", 43), ("esp-linux-transport-3des-aes-des-null.pcap", 841),
    ("ppp-mschapv2-failure-retry-windows.pcap", 20),
])
def test_real_captures_packet_counts(name, count):
    pkts = list(read_packets((CAPTURES / name).read_bytes()))
    assert len(pkts) == count and {p.linktype for p in pkts} == {LINKTYPE_ETHERNET}
