"""The ESP core on a real capture: Linux 2.6 (KAME setkey) transport mode, IPv4 and IPv6, 3DES/AES-CBC/DES/NULL
× HMAC-SHA1-96/HMAC-MD5-96/none, with the keys of its Wireshark esp_sa file. Every one of the 240 ESP frames must
decrypt, the 160 that carry an ICV must authenticate, and the clear text must be what tshark shows
(`...decrypted.txt`: ICMP/ICMPv6 echo requests with their id and sequence)."""

from __future__ import annotations

import re
from collections import Counter

from rrasctl.protocols.ipsec.esp import EspSa, EspSuite
from rrasctl.trace import layers, pcap
from rrasctl.trace.esp import parse_esp_sa
from support import CAPTURES

NAME = "esp-linux-transport-3des-aes-des-null"
TSHARK_ROW = re.compile(r"^\s*(\d+)\s+\S+\s+(\S+) → (\S+)\s+(ICMPv6|ICMP) \d+ Echo \(ping\) request\s+"
                        r"id=0x([0-9a-f]{4}), seq=(\d+)")


def _esp_frames():
    for number, p in enumerate(pcap.read_packets((CAPTURES / f"{NAME}.pcap").read_bytes()), 1):
        link = layers.decode_link(p.linktype, p.data)
        if link.kind == "ip":
            ip = layers.decode_ip(link.payload, layers.Reassembler())
            if ip.protocol == layers.IPPROTO_ESP:
                yield number, ip


def _tshark_view() -> dict[int, tuple[str, str, int, int, int]]:
    rows = {}
    for line in (CAPTURES / f"{NAME}.decrypted.txt").read_text().splitlines():
        m = TSHARK_ROW.match(line)
        if m:
            rows[int(m[1])] = (m[2], m[3], 1 if m[4] == "ICMP" else 58, int(m[5], 16), int(m[6]))
    return rows


def test_every_esp_frame_decrypts_and_every_icv_verifies():
    entries = parse_esp_sa((CAPTURES / f"{NAME}.esp_sa").read_text())
    assert len(entries) == 24
    sas: dict[tuple[str, str, int], EspSa] = {}
    tshark = _tshark_view()
    seen, authenticated, by_suite = 0, 0, Counter()
    for number, ip in _esp_frames():
        spi = int.from_bytes(ip.payload[:4], "big")
        entry = next(e for e in entries if e.matches(ip.src, ip.dst, spi))
        key = (ip.src, ip.dst, spi)
        if key not in sas:
            sas[key] = EspSa(spi, entry.suite, entry.keymat)     # a real receiver: anti-replay on
        opened = sas[key].open(ip.payload)
        assert opened is not None, (number, entry.suite, sas[key].stats)
        seen += 1
        authenticated += entry.suite.has_integrity
        by_suite[entry.suite] += 1
        # the clear text is the echo request tshark shows for this frame
        src, dst, next_header, ident, seq = tshark[number]
        assert (ip.src, ip.dst, opened.next_header) == (src, dst, next_header)
        icmp = opened.payload
        assert icmp[0] == (8 if next_header == 1 else 128)
        assert int.from_bytes(icmp[4:6], "big") == ident and int.from_bytes(icmp[6:8], "big") == seq
    assert seen == 240 and authenticated == 160
    assert len(tshark) == 480                                     # with the 240 pings sent in the clear
    assert set(by_suite) == {EspSuite.AES_CBC_128_SHA1, EspSuite.DES3_SHA1, EspSuite.DES_SHA1, EspSuite.NULL_SHA1,
                             EspSuite.AES_CBC_128_MD5, EspSuite.DES3_MD5, EspSuite.DES_MD5, EspSuite.NULL_MD5,
                             EspSuite.AES_CBC_128_NONE, EspSuite.DES3_NONE, EspSuite.DES_NONE, EspSuite.NULL_NONE}
    assert all(n == 20 for n in by_suite.values())               # 10 IPv4 + 10 IPv6 frames each
    assert all(not sa.stats for sa in sas.values())


def test_a_wrong_key_fails_the_icv_or_the_padding_check():
    entries = parse_esp_sa((CAPTURES / f"{NAME}.esp_sa").read_text())
    outcomes = Counter()
    for _number, ip in _esp_frames():
        spi = int.from_bytes(ip.payload[:4], "big")
        entry = next(e for e in entries if e.matches(ip.src, ip.dst, spi))
        if entry.suite is EspSuite.NULL_NONE:
            continue                                               # nothing to get wrong
        wrong = bytes(b ^ 0x80 for b in entry.keymat)  # (not 0x01: DES ignores parity bits)
        sa = EspSa(spi, entry.suite, wrong, replay_window=0)
        assert sa.open(ip.payload) is None or entry.suite in (EspSuite.AES_CBC_128_NONE, EspSuite.DES3_NONE,
                                                               EspSuite.DES_NONE)
        outcomes.update(sa.stats)
    assert outcomes["bad icv"] == 160
    assert outcomes["bad padding"] >= 50                          # confidentiality-only frames: garbage trailers
