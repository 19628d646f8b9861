"""Link, network and transport headers of captured frames, down to what carries a tunnel.

`decode_link(linktype, data)` turns one captured frame into a `Link`: an IP packet (`kind="ip"`), a PPP frame
(`kind="ppp"`, from PPP/PPP_WITH_DIR captures, PPPoE sessions not carrying IP, or Windows NDISWAN captures that put the
PPP protocol number in the Ethernet type field), or something else (`kind="other"`, with a short name).
`decode_ip(data, reassembler)` parses IPv4 (with fragment reassembly) and IPv6 (extension headers skipped) into an
`IpPacket`; `decode_udp`/`decode_tcp` give the transport views.

All parsing goes through `protocols.wire.Reader`, so a short or lying header raises `Malformed`.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.wire import Reader
from rrasctl.trace import pcap

ETH_IPV4, ETH_IPV6, ETH_ARP, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8
ETH_PPPOE_DISCOVERY, ETH_PPPOE_SESSION = 0x8863, 0x8864
# NDISWAN (Windows NetMon) frames carry the PPP protocol number where the Ethernet type goes.
# Values below 0x0600 are 802.3 lengths, so the data protocols count only between NDISWAN's fake addresses.
NDISWAN_PPP_TYPES = frozenset({0xC021, 0xC023, 0xC223, 0xC227, 0x8021, 0x8057, 0x80FD})
NDISWAN_DATA_TYPES = frozenset({0x0021, 0x0057, 0x00FD})
NDISWAN_ADDRESSES = (b" SEND", b" RECV")
PPP_IP, PPP_IPV6 = 0x0021, 0x0057
IPPROTO_TCP, IPPROTO_UDP, IPPROTO_GRE, IPPROTO_ESP, IPPROTO_ICMP, IPPROTO_ICMPV6 = 6, 17, 47, 50, 1, 58

IP_PROTOCOL_NAMES = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6",
                     89: "OSPF", 115: "L2TPv3"}


@dataclass(frozen=True, slots=True)
class Link:
    """What a link-layer frame carries.

    kind "ip": `payload` is an IPv4/IPv6 packet. kind "ppp": `payload` is a PPP frame (optionally with FF 03),
    `src`/`dst` label the link ends and `outbound` is True/False when the capture says the direction.
    kind "other": `name` says what it is (ARP, PPPoE discovery, an Ethernet type).
    """

    kind: str
    payload: bytes = b""
    name: str = ""
    src: str = ""
    dst: str = ""
    outbound: bool | None = None


def _mac(b: bytes) -> str:
    if all(0x20 <= c < 0x7F for c in b[:5]):  # NDISWAN's fake " SEND\x02" / " RECV\x03" addresses
        return f"{b[:5].decode().strip().title()}_{b[5]:02x}"
    return ":".join(f"{c:02x}" for c in b)


def decode_link(linktype: int, data: bytes) -> Link:
    r = Reader(data, "link header")
    if linktype == pcap.LINKTYPE_ETHERNET:
        dst_raw = r.take(6)
        dst, src = _mac(dst_raw), _mac(r.take(6))
        etype = r.u16()
        while etype in (ETH_VLAN, ETH_QINQ):
            r.skip(2)
            etype = r.u16()
        if etype in NDISWAN_PPP_TYPES or (etype in NDISWAN_DATA_TYPES and dst_raw[:5] in NDISWAN_ADDRESSES):
            return Link("ppp", struct.pack("!H", etype) + r.rest(), src=src, dst=dst,
                        outbound=None)
        return _ethertype(etype, r.rest(), src, dst)
    if linktype in (pcap.LINKTYPE_RAW, pcap.LINKTYPE_IPV4, pcap.LINKTYPE_IPV6):
        return Link("ip", data)
    if linktype == pcap.LINKTYPE_NULL:
        family = struct.unpack_from("<I", r.take(4))[0]
        if family > 0xFFFF:  # written in the other byte order
            family = struct.unpack("!I", struct.pack("<I", family))[0]
        if family in (2, 24, 28, 30):
            return Link("ip", r.rest())
        return Link("other", name=f"loopback family {family}")
    if linktype == pcap.LINKTYPE_LINUX_SLL:
        r.skip(14)
        return _ethertype(r.u16(), r.rest(), "", "")
    if linktype == pcap.LINKTYPE_LINUX_SLL2:
        etype = r.u16()
        r.skip(18)
        return _ethertype(etype, r.rest(), "", "")
    if linktype == pcap.LINKTYPE_PPP:
        return _ppp_link(data, None)
    if linktype == pcap.LINKTYPE_PPP_WITH_DIR:
        direction = r.u8()
        return _ppp_link(r.rest(), direction == 1)
    return Link("other", name=f"link type {linktype}")


def _ppp_link(frame: bytes, outbound: bool | None) -> Link:
    from rrasctl.protocols.ppp.frame import split_frame

    protocol, info = split_frame(frame)
    if protocol in (PPP_IP, PPP_IPV6):
        return Link("ip", bytes(info), outbound=outbound)
    return Link("ppp", frame, outbound=outbound)


def _ethertype(etype: int, payload: bytes, src: str, dst: str) -> Link:
    if etype in (ETH_IPV4, ETH_IPV6):
        return Link("ip", payload)
    if etype == ETH_PPPOE_SESSION:
        r = Reader(payload, "PPPoE header")
        r.skip(4)
        length = r.u16()
        body = r.take(min(length, r.remaining))
        if len(body) >= 2 and struct.unpack_from("!H", body)[0] in (PPP_IP, PPP_IPV6):
            return Link("ip", body[2:])
        return Link("ppp", body, src=src, dst=dst)
    if etype == ETH_ARP:
        return Link("other", name="ARP", src=src, dst=dst, payload=payload)
    if etype == ETH_PPPOE_DISCOVERY:
        return Link("other", name="PPPoE discovery", src=src, dst=dst)
    return Link("other", name=f"ethertype 0x{etype:04x}", src=src, dst=dst)


def arp_summary(data: bytes) -> str:
    """"who has 192.0.2.1? tell 192.0.2.2" / "192.0.2.1 is at aa:bb:..." for Ethernet/IPv4 ARP."""
    r = Reader(data, "ARP packet")
    r.skip(6)
    op = r.u16()
    sha, spa = r.take(6), r.take(4)
    r.skip(6)
    tpa = r.take(4)
    sender, target = str(ipaddress.IPv4Address(spa)), str(ipaddress.IPv4Address(tpa))
    if op == 1:
        return f"who has {target}? tell {sender}"
    if op == 2:
        return f"{sender} is at {_mac(sha)}"
    return f"operation {op}"


@dataclass(frozen=True, slots=True)
class IpPacket:
    version: int
    src: str
    dst: str
    protocol: int
    payload: bytes
    fragment: bool = False      # a fragment still waiting for the rest (payload empty)
    reassembled: bool = False


@dataclass
class Reassembler:
    """IPv4 fragment reassembly keyed by (src, dst, id, protocol); incomplete datagrams are counted, not decoded."""

    pending: dict[tuple, dict[int, bytes]] = field(default_factory=dict)
    totals: dict[tuple, int] = field(default_factory=dict)
    max_pending: int = 256

    def add(self, key: tuple, offset: int, more: bool, data: bytes) -> bytes | None:
        if key not in self.pending and len(self.pending) >= self.max_pending:
            oldest = next(iter(self.pending))
            self.pending.pop(oldest)
            self.totals.pop(oldest, None)
        parts = self.pending.setdefault(key, {})
        parts[offset] = data
        if not more:
            self.totals[key] = offset + len(data)
        total = self.totals.get(key)
        if total is None:
            return None
        out, pos = bytearray(), 0
        for off in sorted(parts):
            if off > pos:
                return None
            out[off:] = parts[off]
            pos = max(pos, off + len(parts[off]))
        if pos < total:
            return None
        del self.pending[key], self.totals[key]
        return bytes(out[:total])

    @property
    def incomplete(self) -> int:
        return len(self.pending)


def decode_ip(data: bytes, reassembler: Reassembler) -> IpPacket:
    if not data:
        raise Malformed("empty IP packet")
    version = data[0] >> 4
    if version == 4:
        r = Reader(data, "IPv4 header")
        vihl = r.u8()
        ihl = (vihl & 0x0F) * 4
        r.skip(1)
        total = r.u16()
        ident = r.u16()
        frag = r.u16()
        r.skip(1)
        proto = r.u8()
        r.skip(2)
        src, dst = str(ipaddress.IPv4Address(r.take(4))), str(ipaddress.IPv4Address(r.take(4)))
        if ihl < 20 or total < ihl or ihl > len(data):
            raise Malformed("bad IPv4 header length")
        payload = data[ihl:min(total, len(data))]
        more, offset = bool(frag & 0x2000), (frag & 0x1FFF) * 8
        if more or offset:
            whole = reassembler.add((src, dst, ident, proto), offset, more, payload)
            if whole is None:
                return IpPacket(4, src, dst, proto, b"", fragment=True)
            return IpPacket(4, src, dst, proto, whole, reassembled=True)
        return IpPacket(4, src, dst, proto, payload)
    if version == 6:
        r = Reader(data, "IPv6 header")
        r.skip(4)
        plen = r.u16()
        nxt = r.u8()
        r.skip(1)
        src, dst = str(ipaddress.IPv6Address(r.take(16))), str(ipaddress.IPv6Address(r.take(16)))
        body = Reader(data[40:40 + plen], "IPv6 extension header")
        while nxt in (0, 43, 60, 44):
            if nxt == 44:  # fragments of IPv6 are not reassembled: counted by the caller
                return IpPacket(6, src, dst, nxt, b"", fragment=True)
            nh = body.u8()
            hlen = body.u8()
            body.skip(hlen * 8 + 6)
            nxt = nh
        return IpPacket(6, src, dst, nxt, body.rest())
    raise Malformed(f"IP version {version}")


@dataclass(frozen=True, slots=True)
class Udp:
    sport: int
    dport: int
    payload: bytes


def decode_udp(data: bytes) -> Udp:
    r = Reader(data, "UDP header")
    sport, dport, length = r.u16(), r.u16(), r.u16()
    r.skip(2)
    if length < 8:
        raise Malformed("bad UDP length")
    return Udp(sport, dport, data[8:length] if length <= len(data) else data[8:])


TCP_FLAGS = ((0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"))


@dataclass(frozen=True, slots=True)
class Tcp:
    sport: int
    dport: int
    seq: int
    flags: int
    payload: bytes

    @property
    def flag_names(self) -> str:
        return ",".join(name for bit, name in TCP_FLAGS if self.flags & bit)


def decode_tcp(data: bytes) -> Tcp:
    r = Reader(data, "TCP header")
    sport, dport, seq = r.u16(), r.u16(), r.u32()
    r.skip(4)
    off = (r.u8() >> 4) * 4
    flags = r.u8()
    if off < 20 or off > len(data):
        raise Malformed("bad TCP data offset")
    return Tcp(sport, dport, seq, flags, data[off:])


ICMP_TYPES = {0: "echo reply", 3: "unreachable", 5: "redirect", 8: "echo request", 11: "time exceeded"}
ICMPV6_TYPES = {1: "unreachable", 128: "echo request", 129: "echo reply", 133: "router solicitation",
                134: "router advertisement", 135: "neighbour solicitation", 136: "neighbour advertisement"}


def ip_summary(data: bytes) -> str:
    """One line for an IP packet found inside a tunnel: "IP 10.0.0.1 → 10.0.0.2 UDP 137 → 137"."""
    try:
        ip = decode_ip(data, Reassembler())
    except Malformed as exc:
        return f"IP ({exc.reason})"
    head = f"IPv{ip.version} {ip.src} → {ip.dst}"
    if ip.fragment or ip.reassembled:
        return f"{head} fragment"
    name = IP_PROTOCOL_NAMES.get(ip.protocol, f"proto {ip.protocol}")
    try:
        if ip.protocol in (IPPROTO_UDP, IPPROTO_TCP):
            t = decode_udp(ip.payload) if ip.protocol == IPPROTO_UDP else decode_tcp(ip.payload)
            extra = f" [{t.flag_names}]" if isinstance(t, Tcp) else ""
            return f"{head} {name} {t.sport} → {t.dport}{extra}"
        if ip.protocol in (IPPROTO_ICMP, IPPROTO_ICMPV6) and ip.payload:
            types = ICMP_TYPES if ip.protocol == IPPROTO_ICMP else ICMPV6_TYPES
            return f"{head} {name} {types.get(ip.payload[0], f'type {ip.payload[0]}')}"
    except Malformed as exc:
        return f"{head} {name} ({exc.reason})"
    return f"{head} {name}"
