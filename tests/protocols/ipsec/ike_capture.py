"""The IKE messages of the real captures in tests/data/captures, for codec, NAT-D and fuzz tests."""

from __future__ import annotations

from dataclasses import dataclass

from support import CAPTURES

from rrasctl.trace import layers
from rrasctl.trace.pcap import read_packets

IKE_CAPTURES = ("ikev1-cisco-ios-mm-qm-psk.pcap", "ikev1-huawei-aggressive-psk.pcap",
                "ikev1-openswan-natt-4500.pcap", "l2tp-ipsec-natt-huawei-des.pcap")


@dataclass(frozen=True)
class IkeDatagram:
    frame: int
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes          # the UDP payload as sent (with the non-ESP marker on 4500)
    message: bytes          # the ISAKMP message


def ike_datagrams(name: str) -> list[IkeDatagram]:
    out = []
    for n, pkt in enumerate(read_packets((CAPTURES / name).read_bytes()), 1):
        link = layers.decode_link(pkt.linktype, pkt.data)
        if link.kind != "ip":
            continue
        ip = layers.decode_ip(link.payload, layers.Reassembler())
        if ip.protocol != layers.IPPROTO_UDP:
            continue
        udp = layers.decode_udp(ip.payload)
        data = udp.payload
        if 4500 in (udp.sport, udp.dport):
            if data[:4] != b"\0\0\0\0":
                continue                                   # ESP-in-UDP or a NAT-keepalive
            message = data[4:]
        elif 500 in (udp.sport, udp.dport):
            message = data
        else:
            continue
        out.append(IkeDatagram(n, (ip.src, udp.sport), (ip.dst, udp.dport), data, message))
    return out
