"""A tiny pcap reader for the L2TP capture tests: UDP/1701 payloads from Ethernet (and PPPoE) frames."""

from __future__ import annotations

import struct
from pathlib import Path


def udp_payloads(path: Path, port: int = 1701) -> list[tuple[float, str, str, bytes]]:
    """(time, src, dst, udp payload) for every IPv4 UDP datagram to or from `port`."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    e = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    pos, out = 24, []
    while pos + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack(e + "IIII", data[pos:pos + 16])
        frame = data[pos + 16:pos + 16 + caplen]
        pos += 16 + caplen
        ethertype, off = struct.unpack("!H", frame[12:14])[0], 14
        if ethertype == 0x8864:                       # PPPoE session: 6-octet header + PPP protocol
            if struct.unpack("!H", frame[20:22])[0] != 0x0021:
                continue
            ethertype, off = 0x0800, 22
        if ethertype != 0x0800 or frame[off + 9] != 17:
            continue
        ihl = (frame[off] & 0x0F) * 4
        udp = frame[off + ihl:]
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        if port not in (sport, dport):
            continue
        src = ".".join(map(str, frame[off + 12:off + 16]))
        dst = ".".join(map(str, frame[off + 16:off + 20]))
        out.append((sec + usec / 1e6, src, dst, udp[8:ulen]))
    return out
