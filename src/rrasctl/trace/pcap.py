"""pcap and pcapng capture files: a reader for both, and a pcap writer.

Reader: `read_packets(data)` yields `Packet`s from
- classic pcap (magic a1b2c3d4 microseconds or a1b23c4d nanoseconds, either byte order), and
- pcapng (Section Header, Interface Description, Enhanced Packet, Simple Packet and the obsolete Packet block;
  several sections and interfaces; per-interface `if_tsresol`, both byte orders). Other blocks are skipped.

A truncated or inconsistent file raises `CaptureError` naming the byte offset; packets before it were already yielded.

Writer: `PcapWriter(fileobj, linktype)` writes classic little-endian microsecond pcap, the format every tool opens.
For decrypted PPP frames use `LINKTYPE_PPP_WITH_DIR` (204): one direction byte (0 = received, 1 = sent by the
capturing host) before the PPP frame, which tshark shows as "Direction".

Pure functions over bytes: no I/O beyond the file object the caller passes to the writer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from rrasctl.protocols.base import ProtocolError

# Link types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_PPP_WITH_DIR = 204
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_IDB, PCAPNG_PB, PCAPNG_SPB, PCAPNG_EPB = 1, 2, 3, 6
IF_TSRESOL = 9

MAX_SNAPLEN = 262144


class CaptureError(ProtocolError):
    """The file is not a capture, or is truncated or inconsistent at `offset`."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(f"{reason} (at byte {offset})")
        self.reason = reason
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Packet:
    """One captured frame. `ts_ns` is the absolute timestamp in nanoseconds since the epoch."""

    ts_ns: int
    linktype: int
    data: bytes
    orig_len: int
    interface: int = 0

    @property
    def time(self) -> float:
        return self.ts_ns / 1e9


def capture_format(data: bytes) -> str:
    """'pcap', 'pcapng' or raise CaptureError."""
    if len(data) < 4:
        raise CaptureError("file too short for a capture header", 0)
    be, le = struct.unpack_from(">I", data)[0], struct.unpack_from("<I", data)[0]
    if be == PCAPNG_SHB:
        return "pcapng"
    if PCAP_MAGIC_US in (be, le) or PCAP_MAGIC_NS in (be, le):
        return "pcap"
    raise CaptureError("not a pcap or pcapng file (unknown magic number)", 0)


def read_packets(data: bytes) -> Iterator[Packet]:
    """Every packet of a pcap or pcapng capture held in `data`, in file order."""
    if capture_format(data) == "pcap":
        return _read_pcap(data)
    return _read_pcapng(data)


def _read_pcap(data: bytes) -> Iterator[Packet]:
    if len(data) < 24:
        raise CaptureError("truncated pcap file header", 0)
    magic_le = struct.unpack_from("<I", data)[0]
    if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
        order, magic = "<", magic_le
    else:
        order, magic = ">", struct.unpack_from(">I", data)[0]
    scale = 1 if magic == PCAP_MAGIC_NS else 1000
    _vmaj, _vmin, _zone, _sigfigs, _snaplen, network = struct.unpack_from(order + "HHiIII", data, 4)
    linktype = network & 0x0FFFFFFF  # the upper bits may hold FCS information
    rec = struct.Struct(order + "IIII")
    pos, end = 24, len(data)
    while pos < end:
        if pos + 16 > end:
            raise CaptureError("truncated pcap record header", pos)
        sec, frac, incl, orig = rec.unpack_from(data, pos)
        if incl > MAX_SNAPLEN:
            raise CaptureError(f"pcap record length {incl} is implausible", pos)
        if pos + 16 + incl > end:
            raise CaptureError("truncated pcap record", pos)
        yield Packet(sec * 1_000_000_000 + frac * scale, linktype, data[pos + 16:pos + 16 + incl], orig)
        pos += 16 + incl


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    units_per_s: int = 1_000_000  # default if_tsresol = 6


def _tsresol(value: int) -> int:
    exp = value & 0x7F
    if exp > 30:  # beyond picoseconds-ish: nonsense, refuse rather than overflow later
        raise CaptureError("implausible if_tsresol", 0)
    return 2 ** exp if value & 0x80 else 10 ** exp


def _read_pcapng(data: bytes) -> Iterator[Packet]:
    pos, end = 0, len(data)
    order = "<"
    interfaces: list[_Interface] = []
    while pos < end:
        if pos + 12 > end:
            raise CaptureError("truncated pcapng block header", pos)
        if struct.unpack_from(">I", data, pos)[0] == PCAPNG_SHB:
            if pos + 12 > end:
                raise CaptureError("truncated section header", pos)
            bom = data[pos + 8:pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise CaptureError("bad pcapng byte-order magic", pos)
            interfaces = []  # a new section starts its own interface list
        btype, blen = struct.unpack_from(order + "II", data, pos)
        if blen < 12 or blen % 4 or pos + blen > end:
            raise CaptureError(f"bad pcapng block length {blen}", pos)
        trailer = struct.unpack_from(order + "I", data, pos + blen - 4)[0]
        if trailer != blen:
            raise CaptureError("pcapng block trailer length does not match", pos)
        body = data[pos + 8:pos + blen - 4]
        if btype == PCAPNG_IDB:
            interfaces.append(_parse_idb(body, order, pos))
        elif btype == PCAPNG_EPB:
            if len(body) < 20:
                raise CaptureError("short enhanced packet block", pos)
            ifid, hi, lo, caplen, orig = struct.unpack_from(order + "IIIII", body)
            iface = _interface(interfaces, ifid, pos)
            if 20 + caplen > len(body):
                raise CaptureError("enhanced packet data overruns its block", pos)
            yield Packet(_ns((hi << 32) | lo, iface), iface.linktype, body[20:20 + caplen], orig, ifid)
        elif btype == PCAPNG_SPB:
            if len(body) < 4:
                raise CaptureError("short simple packet block", pos)
            iface = _interface(interfaces, 0, pos)
            orig = struct.unpack_from(order + "I", body)[0]
            caplen = min(orig, len(body) - 4, iface.snaplen or orig)
            yield Packet(0, iface.linktype, body[4:4 + caplen], orig, 0)
        elif btype == PCAPNG_PB:
            if len(body) < 20:
                raise CaptureError("short packet block", pos)
            ifid, _drops, hi, lo, caplen, orig = struct.unpack_from(order + "HHIIII", body)
            iface = _interface(interfaces, ifid, pos)
            if 20 + caplen > len(body):
                raise CaptureError("packet data overruns its block", pos)
            yield Packet(_ns((hi << 32) | lo, iface), iface.linktype, body[20:20 + caplen], orig, ifid)
        pos += blen


def _interface(interfaces: list[_Interface], ifid: int, pos: int) -> _Interface:
    if ifid >= len(interfaces):
        raise CaptureError(f"packet names interface {ifid}, which is not described", pos)
    return interfaces[ifid]


def _ns(units: int, iface: _Interface) -> int:
    return units * 1_000_000_000 // iface.units_per_s


def _parse_idb(body: bytes, order: str, pos: int) -> _Interface:
    if len(body) < 8:
        raise CaptureError("short interface description block", pos)
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    iface = _Interface(linktype, snaplen)
    opt = 8
    while opt + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, opt)
        if code == 0:
            break
        if opt + 4 + length > len(body):
            raise CaptureError("interface option overruns its block", pos)
        if code == IF_TSRESOL and length >= 1:
            iface.units_per_s = _tsresol(body[opt + 4])
        opt += 4 + ((length + 3) & ~3)
    return iface


class PcapWriter:
    """Classic pcap, little-endian, microsecond timestamps."""

    def __init__(self, fileobj: BinaryIO, linktype: int, snaplen: int = 65535) -> None:
        self._f = fileobj
        self._rec = struct.Struct("<IIII")
        self.count = 0
        fileobj.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, linktype))

    def write(self, ts_ns: int, data: bytes) -> None:
        us = ts_ns // 1000
        self._f.write(self._rec.pack(us // 1_000_000, us % 1_000_000, len(data), len(data)))
        self._f.write(data)
        self.count += 1
