"""IP tunnelled in IP, peeled off for `trace decode`: IP protocol 4 (IPv4 in IPv4 or IPv6, RFC 2003, RFC 2473) and
41 (IPv6 in IPv4 or IPv6, RFC 4213 §3.5, RFC 2473). Backbone captures carry PPTP's TCP 1723 and GRE, or L2TP, inside
such tunnels; the rows then show the inner packet, and each outer layer is named at the head of the row's `tunnel`
("IPv4-in-IPv6 2001:db8::1 → 2001:db8::2"). At most MAX_DEPTH layers are peeled (a capture cannot make us recurse
without end). Uses `trace.layers` only.
"""

from __future__ import annotations

from rrasctl.protocols.base import Malformed
from rrasctl.trace import layers

IPPROTO_IPIP, IPPROTO_IPV6 = 4, 41
INNER_VERSION = {IPPROTO_IPIP: 4, IPPROTO_IPV6: 6}
MAX_DEPTH = 4


def peel(data: bytes, reassembler: layers.Reassembler, names: list[str]) -> tuple[layers.IpPacket, bytes]:
    """The innermost IP packet of DATA and its bytes; each layer peeled is appended to NAMES. A protocol 4/41 packet
    whose payload is not an IP packet of that version raises `Malformed`."""
    ip = layers.decode_ip(data, reassembler)
    for _ in range(MAX_DEPTH):
        version = INNER_VERSION.get(ip.protocol)
        if version is None or ip.fragment:
            break
        names.append(f"IPv{version}-in-IPv{ip.version} {ip.src} → {ip.dst}")
        data = ip.payload
        if not data or data[0] >> 4 != version:
            raise Malformed(f"IP protocol {ip.protocol} carries no IPv{version} packet")
        ip = layers.decode_ip(data, reassembler)
    return ip, data
