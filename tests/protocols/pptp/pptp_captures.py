"""Pull PPTP control streams and GRE packets out of the real captures in tests/data/captures (test helper)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from rrasctl.trace.pcap import LINKTYPE_ETHERNET, read_packets

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "captures"


@dataclass
class Flow:
    """One TCP direction's payload, in sequence order, retransmissions removed."""
    src: str
    dst: str
    data: bytes


def _ipv4(frame: bytes) -> tuple[bytes, int] | None:
    if len(frame) < 14:
        return None
    off, ethertype = 12, struct.unpack_from("!H", frame, 12)[0]
    while ethertype == 0x8100:
        off += 4
        ethertype = struct.unpack_from("!H", frame, off)[0]
    if ethertype != 0x0800:
        return None
    return frame, off + 2


def _packets(name: str):
    for pkt in read_packets((CAPTURES / name).read_bytes()):
        assert pkt.linktype == LINKTYPE_ETHERNET
        found = _ipv4(pkt.data)
        if found is None:
            continue
        frame, ip = found
        ihl = (frame[ip] & 0x0F) * 4
        total = struct.unpack_from("!H", frame, ip + 2)[0]
        proto = frame[ip + 9]
        src = ".".join(str(b) for b in frame[ip + 12:ip + 16])
        dst = ".".join(str(b) for b in frame[ip + 16:ip + 20])
        yield proto, src, dst, frame[ip + ihl:ip + total]


def tcp_flows(name: str, port: int = 1723) -> list[Flow]:
    """Each direction of each TCP connection to/from `port`, in the order the first byte was seen."""
    segments: dict[tuple[str, int, str, int], dict[int, bytes]] = {}
    for proto, src, dst, seg in _packets(name):
        if proto != 6:
            continue
        sport, dport, seq = struct.unpack_from("!HHI", seg, 0)
        if port not in (sport, dport):
            continue
        doff = (seg[12] >> 4) * 4
        payload = seg[doff:]
        if payload:
            segments.setdefault((src, sport, dst, dport), {}).setdefault(seq, bytes(payload))
    flows = []
    for (src, _sp, dst, _dp), by_seq in segments.items():
        data = bytearray()
        expect = None
        for seq in sorted(by_seq):
            chunk = by_seq[seq]
            if expect is not None and seq < expect:
                chunk = chunk[expect - seq:]
            data += chunk
            expect = seq + len(by_seq[seq]) if expect is None or seq + len(by_seq[seq]) > expect else expect
        flows.append(Flow(src, dst, bytes(data)))
    return flows


def gre_packets(name: str) -> list[tuple[str, str, bytes]]:
    """(src, dst, GRE packet without the IP header) for every IP protocol 47 packet."""
    return [(src, dst, bytes(p)) for proto, src, dst, p in _packets(name) if proto == 47]


def split_messages(stream: bytes) -> list[bytes]:
    """Cut a control stream into messages by their Length field."""
    out, pos = [], 0
    while pos + 2 <= len(stream):
        length = struct.unpack_from("!H", stream, pos)[0]
        out.append(stream[pos:pos + length])
        pos += length
    assert pos == len(stream)
    return out
