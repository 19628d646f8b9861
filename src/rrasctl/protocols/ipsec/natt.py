"""NAT traversal for ESP: RFC 3948 UDP encapsulation on port 4500, and the transport-mode checksum fix-up.

Framing of a UDP datagram payload on port 4500 (RFC 3948 §2):

    kind = classify(payload)       # EncapKind.ESP: the payload is an ESP packet (SPI != 0) for EspSa.open
                                   # EncapKind.IKE: 4 zero octets (the non-ESP marker, §2.2), then an IKE message:
                                   #                ike_message(payload) strips the marker
                                   # EncapKind.KEEPALIVE: the one octet 0xFF (§2.3): ignore it
    datagram = frame_ike(message)  # what to send for an IKE message on 4500 (marker + message)
    KEEPALIVE                      # what to send as a NAT-keepalive (RFC 3948 §4: every 20 s by default)

An ESP packet goes into the datagram as it is (EspSa.seal's output; §2.1: the IPv4 UDP checksum SHOULD be 0, a
socket-level matter). Anything else (a short datagram, a lone octet other than 0xFF) raises `Malformed`.

Transport-mode checksum fix-up (RFC 3948 §3.1.2 case 1, with the NAT-OA addresses of RFC 3947 §5.2): the peer
computed its TCP/UDP checksum over its own view of the addresses (its real source address, the destination it
aimed at); after NAT the packet arrives with other addresses in the IP header, so the checksum no longer verifies.

    segment = fix_transport_checksum(segment, protocol, received_src, received_dst, original_src, original_dst)

is RFC 1624's incremental update (HC' = ~(~HC + ~m + m')) over the address words: the sum the checksum covers
loses the original addresses and gains the received ones; on the checksum field itself that is §3.1.2's "subtract
the received address, add the real one". A UDP checksum of 0 (IPv4:
none sent) stays 0; a UDP result of 0 is sent as 0xFFFF (RFC 768). The function is pure: bytes in, bytes out.
"""

from __future__ import annotations

import enum
import ipaddress

from rrasctl.protocols.base import Malformed

NATT_PORT = 4500
IKE_PORT = 500
NON_ESP_MARKER = b"\x00\x00\x00\x00"
KEEPALIVE = b"\xff"
KEEPALIVE_INTERVAL_S = 20.0          # RFC 3948 §4: "the default value for the NAT-keepalive timer is 20 seconds"
IPPROTO_TCP, IPPROTO_UDP = 6, 17
_CHECKSUM_OFFSET = {IPPROTO_TCP: 16, IPPROTO_UDP: 6}
_MIN_SEGMENT = {IPPROTO_TCP: 20, IPPROTO_UDP: 8}


class EncapKind(enum.Enum):
    ESP = "esp"
    IKE = "ike"
    KEEPALIVE = "keepalive"


def classify(payload: bytes | memoryview) -> EncapKind:
    """What a UDP/4500 datagram carries (RFC 3948 §2.1-2.3)."""
    n = len(payload)
    if n == 1:
        if payload[0] == 0xFF:
            return EncapKind.KEEPALIVE
        raise Malformed("one-octet datagram that is not a NAT-keepalive")
    if n < 8:
        raise Malformed("short UDP-encapsulated datagram")
    if payload[0] | payload[1] | payload[2] | payload[3]:
        return EncapKind.ESP
    return EncapKind.IKE


def ike_message(payload: bytes | memoryview) -> bytes | memoryview:
    """The IKE message after the non-ESP marker (call after classify() said IKE)."""
    if len(payload) < 4 or bytes(payload[:4]) != NON_ESP_MARKER:
        raise Malformed("no non-ESP marker")
    return payload[4:]


def frame_ike(message: bytes) -> bytes:
    """An IKE message as the payload of a UDP/4500 datagram (RFC 3948 §2.2)."""
    return NON_ESP_MARKER + message


# ---------------------------------------------------------------------------------------------- checksums
def ones_complement_sum(data: bytes | memoryview, start: int = 0) -> int:
    """RFC 1071 16-bit one's complement sum (not complemented) of `data`, added to `start`."""
    data = bytes(data)
    if len(data) & 1:
        data += b"\x00"
    total = start + sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def inet_checksum(data: bytes | memoryview) -> int:
    """The Internet checksum field value of `data` (RFC 1071)."""
    return ~ones_complement_sum(data) & 0xFFFF


def transport_checksum(segment: bytes | memoryview, protocol: int, src: str, dst: str) -> int:
    """The TCP/UDP checksum of `segment` (its checksum field taken as 0) under the pseudo-header of src/dst
    (RFC 793 / RFC 768 for IPv4, RFC 8200 §8.1 for IPv6). For tests and for §3.1.2's recompute option."""
    offset = _CHECKSUM_OFFSET[protocol]
    body = bytearray(segment)
    body[offset:offset + 2] = b"\x00\x00"
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version != d.version:
        raise ValueError("source and destination are different IP versions")
    if s.version == 4:
        pseudo = s.packed + d.packed + bytes((0, protocol)) + len(body).to_bytes(2, "big")
    else:
        pseudo = s.packed + d.packed + len(body).to_bytes(4, "big") + bytes((0, 0, 0, protocol))
    value = ~ones_complement_sum(pseudo + bytes(body)) & 0xFFFF
    return 0xFFFF if value == 0 and protocol == IPPROTO_UDP else value


def fix_transport_checksum(segment: bytes | memoryview, protocol: int, received_src: str, received_dst: str,
                           original_src: str, original_dst: str) -> bytes:
    """The TCP/UDP segment with its checksum made valid for the received addresses (RFC 3948 §3.1.2 case 1).

    `original_*` are the addresses the sender used (from the NAT-OA payloads, RFC 3947 §5.2; when only one side
    is NATed the other pair is equal and cancels). Other protocols, and a UDP checksum of 0, are returned as they
    are. A segment too short to hold its checksum raises `Malformed`.
    """
    out = bytes(segment)
    if protocol not in _CHECKSUM_OFFSET:
        return out
    if len(out) < _MIN_SEGMENT[protocol]:
        raise Malformed("short transport header")
    offset = _CHECKSUM_OFFSET[protocol]
    checksum = int.from_bytes(out[offset:offset + 2], "big")
    if protocol == IPPROTO_UDP and checksum == 0:
        return out
    covered = ipaddress.ip_address(original_src).packed + ipaddress.ip_address(original_dst).packed
    wanted = ipaddress.ip_address(received_src).packed + ipaddress.ip_address(received_dst).packed
    if len(covered) != len(wanted):
        raise ValueError("received and original addresses are different IP versions")
    # RFC 1624 eqn. 3 over the address words: HC' = ~(~HC + ~m + m'), m = what the checksum covered (the
    # original addresses), m' = what it must cover now (the received ones). On the checksum field itself this is
    # RFC 3948's "subtract the received address, add the real one".
    total = (~checksum) & 0xFFFF
    total = ones_complement_sum(bytes(~b & 0xFF for b in covered), total)
    total = ones_complement_sum(wanted, total)
    value = ~total & 0xFFFF
    if protocol == IPPROTO_UDP and value == 0:
        value = 0xFFFF
    return out[:offset] + value.to_bytes(2, "big") + out[offset + 2:]


__all__ = ["EncapKind", "IKE_PORT", "KEEPALIVE", "KEEPALIVE_INTERVAL_S", "NATT_PORT", "NON_ESP_MARKER", "classify",
           "fix_transport_checksum", "frame_ike", "ike_message", "inet_checksum", "ones_complement_sum",
           "transport_checksum"]
