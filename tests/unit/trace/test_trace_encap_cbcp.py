"""`trace decode` through IP-in-IP (protocol 4), IPv4-in-IPv6 (4 inside IPv6) and IPv6-in-IPv4 (41), with PPTP's
TCP 1723 and enhanced GRE inside, and CBCP (0xC029, Microsoft's Callback Control Protocol). The captures are written
here with the project's PcapWriter, byte by byte from the RFCs (RFC 791, RFC 8200, RFC 2003, RFC 4213, RFC 2637 §2.1
and §4.1, RFC 1661, RFC 1570 §2.3, draft-ietf-pppext-callback-cp-02 / [MS-CBCP] §2.2); tshark decodes them the same
way when it is installed."""

from __future__ import annotations

import io
import ipaddress
import json
import shutil
import struct
import subprocess

import pytest
from click.testing import CliRunner

from rrasctl.cli import cli
from rrasctl.protocols.base import Malformed
from rrasctl.trace import cbcp
from rrasctl.trace.dissect import Dissector
from rrasctl.trace.pcap import LINKTYPE_PPP_WITH_DIR, LINKTYPE_RAW, PcapWriter, read_packets


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1) -> bytes:
    """RFC 791 header, 20 octets, DF set, TTL 64, with its checksum."""
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return head[:10] + struct.pack("!H", _csum(head)) + head[12:] + payload


def ipv6(src: str, dst: str, nxt: int, payload: bytes) -> bytes:
    """RFC 8200 fixed header, hop limit 64."""
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nxt, 64, ipaddress.IPv6Address(src).packed,
                       ipaddress.IPv6Address(dst).packed) + payload


def gre_v1(call_id: int, seq: int, ack: int, ppp: bytes) -> bytes:
    """RFC 2637 §4.1 enhanced GRE: K and S set, A set, version 1, protocol 0x880B, payload length, call id,
    sequence and acknowledgement numbers."""
    return struct.pack("!BBHHHII", 0x30, 0x81, 0x880B, len(ppp), call_id, seq, ack) + ppp


def tcp(sport: int, dport: int, seq: int, payload: bytes) -> bytes:
    """RFC 793 header without options, PSH+ACK (the checksum is left 0: nothing here checks it)."""
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 65535, 0, 0) + payload


def sccrq() -> bytes:
    """RFC 2637 §2.1 Start-Control-Connection-Request: 156 octets."""
    return (struct.pack("!HHIHHHHIIHH", 156, 1, 0x1A2B3C4D, 1, 0, 0x0100, 0, 3, 3, 0, 2600)
            + b"branch".ljust(64, b"\0") + b"rrasctl".ljust(64, b"\0"))


LCP_REQUEST = bytes.fromhex("ff03c021" "0101000e" "01040578" "0506cafef00d")   # MRU 1400, magic 0xcafef00d


def _capture(tmp_path, name, linktype, frames):
    path = tmp_path / name
    with open(path, "wb") as f:
        w = PcapWriter(f, linktype)
        for i, frame in enumerate(frames):
            w.write(1_700_000_000_000_000_000 + i * 1_000_000, frame)
    return path


def _rows(path):
    d = Dissector()
    return [r.as_dict() for n, pkt in enumerate(read_packets(path.read_bytes()), 1) for r in d.feed(n, pkt)]


OUTER4 = ("198.51.100.1", "198.51.100.2")
INNER = ("192.0.2.10", "192.0.2.20")


def test_pptp_control_and_gre_inside_ip_in_ip(tmp_path):
    frames = [ipv4(*OUTER4, 4, ipv4(*INNER, 6, tcp(1034, 1723, 1000, sccrq()))),
              ipv4(*OUTER4, 4, ipv4(*INNER, 47, gre_v1(5, 7, 3, LCP_REQUEST)))]
    rows = _rows(_capture(tmp_path, "ipip.pcap", LINKTYPE_RAW, frames))
    assert [(r["src"], r["dst"], r["tunnel"], r["protocol"], r["message"]) for r in rows] == [
        ("192.0.2.10", "192.0.2.20", "IPv4-in-IPv4 198.51.100.1 → 198.51.100.2, pptp control", "PPTP",
         "Start-Control-Connection-Request"),
        ("192.0.2.10", "192.0.2.20", "IPv4-in-IPv4 198.51.100.1 → 198.51.100.2, gre call=5 seq=7 ack=3", "LCP",
         "Configure-Request")]
    assert rows[0]["fields"] == {"version": 256, "framing": 3, "bearer": 3, "max_channels": 0, "firmware": 2600,
                                 "host_name": "branch", "vendor": "rrasctl"}
    assert rows[1]["fields"] == {"id": 1, "options": "mru=1400 magic-number=0xcafef00d"}
    assert all(r["error"] is None for r in rows)


def test_gre_inside_ipv4_in_ipv6_and_ipv6_in_ipv4(tmp_path):
    v4_in_v6 = ipv6("2001:db8::1", "2001:db8::2", 4, ipv4(*INNER, 47, gre_v1(9, 1, 0, LCP_REQUEST)))
    v6_in_v4 = ipv4(*OUTER4, 41, ipv6("2001:db8:1::10", "2001:db8:1::20", 47, gre_v1(9, 2, 1, LCP_REQUEST)))
    nested = ipv4(*OUTER4, 41, ipv6("2001:db8::1", "2001:db8::2", 4, ipv4(*INNER, 47, gre_v1(9, 3, 2, b""))))
    rows = _rows(_capture(tmp_path, "v6.pcap", LINKTYPE_RAW, [v4_in_v6, v6_in_v4, nested]))
    assert [(r["src"], r["tunnel"], r["protocol"], r["message"]) for r in rows] == [
        ("192.0.2.10", "IPv4-in-IPv6 2001:db8::1 → 2001:db8::2, gre call=9 seq=1 ack=0", "LCP", "Configure-Request"),
        ("2001:db8:1::10", "IPv6-in-IPv4 198.51.100.1 → 198.51.100.2, gre call=9 seq=2 ack=1", "LCP",
         "Configure-Request"),
        ("192.0.2.10", "IPv6-in-IPv4 198.51.100.1 → 198.51.100.2, IPv4-in-IPv6 2001:db8::1 → 2001:db8::2, "
                       "gre call=9 seq=3 ack=2", "GRE", "ack only")]
    assert rows[2]["fields"] == {"call_id": 9, "seq": 3, "ack": 2}


def test_a_lying_tunnel_is_a_malformed_row_and_depth_is_bounded(tmp_path):
    wrong = ipv4(*OUTER4, 41, ipv4(*INNER, 47, gre_v1(1, 1, 1, b"")))      # protocol 41 carrying IPv4
    deep = ipv4(*INNER, 47, gre_v1(1, 1, 1, b""))
    for _ in range(6):
        deep = ipv4(*OUTER4, 4, deep)
    rows = _rows(_capture(tmp_path, "bad.pcap", LINKTYPE_RAW, [wrong, deep]))
    assert (rows[0]["protocol"], rows[0]["error"]) == ("?", "IP protocol 41 carries no IPv6 packet")
    assert rows[1]["tunnel"].count("IPv4-in-IPv4") == 4 and rows[1]["protocol"] == "IP proto 4"


CBCP_REQUEST = bytes.fromhex("c029" "01010011" "0102" "0205000100" "030300" "0403 00".replace(" ", ""))
CBCP_RESPONSE = bytes.fromhex("c029" "02010010") + b"\x02\x0c\x0c\x01" + b"5550100\0"     # delay 12 s
CBCP_ACK = bytes.fromhex("c029" "03010010") + b"\x02\x0c\x0c\x01" + b"5550100\0"
CBCP_LIST = bytes.fromhex("c029" "02020019") + b"\x04\x15\x05\x015550100\0\x015550101\0"
LCP_CALLBACK = bytes.fromhex("c021" "01000017" "0206ffffffff" "0506113351 5b".replace(" ", "")
                             + "0702" "0802" "0d0306")            # [MS-CBCP] §4.1's Configure-Request


def test_cbcp_exchange_decodes_every_field(tmp_path):
    frames = [b"\x00" + LCP_CALLBACK, b"\x01" + CBCP_REQUEST, b"\x00" + CBCP_RESPONSE, b"\x01" + CBCP_ACK,
              b"\x00" + CBCP_LIST]
    rows = _rows(_capture(tmp_path, "cbcp.pcap", LINKTYPE_PPP_WITH_DIR, frames))
    assert [(r["protocol"], r["message"], r["fields"]) for r in rows] == [
        ("LCP", "Configure-Request", {"id": 0, "options": "accm=0xffffffff magic-number=0x1133515b pfc acfc "
                                                          "callback=cbcp"}),
        ("CBCP", "Callback-Request", {"id": 1, "options": 'no-callback; user-specified delay=0 address=pstn-isdn:""; '
                                                          "admin-specified delay=0; list delay=0"}),
        ("CBCP", "Callback-Response", {"id": 1, "options": "user-specified delay=12 address=pstn-isdn:5550100"}),
        ("CBCP", "Callback-Ack", {"id": 1, "options": "user-specified delay=12 address=pstn-isdn:5550100"}),
        ("CBCP", "Callback-Response", {"id": 2, "options": "list delay=5 address=pstn-isdn:5550100 "
                                                           "address=pstn-isdn:5550101"})]
    assert all(r["error"] is None for r in rows)
    res = CliRunner().invoke(cli, ["trace", "decode", "-o", "json", str(tmp_path / "cbcp.pcap")])
    assert [r["message"] for r in json.loads(res.stdout)][1:4] == ["Callback-Request", "Callback-Response",
                                                                    "Callback-Ack"]


def test_cbcp_truncations_and_unknowns():
    assert cbcp.decode(bytes.fromhex("0901000600ff")) == ("code 9", {"id": 1, "length": 2})
    assert cbcp.describe_option(9, b"\x01") == "type-9=01"
    assert cbcp.describe_option(3, b"") == "admin-specified"
    assert cbcp.describe_option(2, b"\x00\x02x\0") == "user-specified delay=0 address=type-2:x"
    body = CBCP_RESPONSE[2:]
    for n in range(len(body)):
        with pytest.raises(Malformed):
            cbcp.decode(body[:n])
    with pytest.raises(Malformed, match="terminating NUL"):
        cbcp.describe_option(2, b"\x0c\x015550100")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (apt-get install tshark)")
def test_tshark_reads_the_same_captures(tmp_path):
    path = _capture(tmp_path, "x.pcap", LINKTYPE_RAW,
                    [ipv6("2001:db8::1", "2001:db8::2", 4, ipv4(*INNER, 47, gre_v1(9, 1, 0, LCP_REQUEST)))])
    out = subprocess.run(["tshark", "-r", str(path), "-V"], capture_output=True, text=True, timeout=60).stdout
    for text in ("Internet Protocol Version 6, Src: 2001:db8::1", "Internet Protocol Version 4, Src: 192.0.2.10",
                 "Call ID: 9", "Sequence Number: 1", "Code: Configuration Request (1)", "Magic Number: 0xcafef00d"):
        assert text in out, (text, out)
    path = _capture(tmp_path, "c.pcap", LINKTYPE_PPP_WITH_DIR, [b"\x00" + CBCP_RESPONSE])
    out = subprocess.run(["tshark", "-r", str(path), "-V"], capture_output=True, text=True, timeout=60).stdout
    for text in ("Callback Control Protocol", "Callback Response", "Callback delay: 12", "Address: 5550100"):
        assert text in out, (text, out)


def test_fuzzed_tunnels_and_cbcp_never_raise():
    """20,000 mutated frames (IP-in-IP, IPv6-in-IPv4 and CBCP seeds): every one gives rows, none raises."""
    import random

    from rrasctl.trace.pcap import Packet

    seeds = [(LINKTYPE_RAW, ipv4(*OUTER4, 4, ipv4(*INNER, 47, gre_v1(5, 7, 3, LCP_REQUEST)))),
             (LINKTYPE_RAW, ipv4(*OUTER4, 41, ipv6("2001:db8::1", "2001:db8::2", 4, ipv4(*INNER, 47,
                                                                                      gre_v1(9, 1, 0, b""))))),
             (LINKTYPE_PPP_WITH_DIR, b"\x01" + CBCP_REQUEST), (LINKTYPE_PPP_WITH_DIR, b"\x00" + CBCP_LIST)]
    rng = random.Random(12)
    d = Dissector()
    for i in range(20_000):
        linktype, data = rng.choice(seeds)
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[min(rng.randrange(len(b)), rng.randrange(len(b)))] = rng.randrange(256)
        if rng.random() < 0.3:
            del b[rng.randrange(len(b)):]
        rows = d.feed(i + 1, Packet(0, linktype, bytes(b), len(b)))
        assert rows and all(r.frame == i + 1 for r in rows)
