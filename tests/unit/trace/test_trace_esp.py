"""`rrasctl trace decode --esp-sa FILE`: Wireshark's esp_sa format, the Linux transport capture (every ESP frame
decrypts), and a capture built here: ESP-in-UDP (RFC 3948) frames sealed by EspSa carrying L2TP/PPP, an IKE
message behind the non-ESP marker and a NAT-keepalive, decoded through the dissector's own L2TP/PPP paths."""

from __future__ import annotations

import io
import ipaddress
import json
import struct

import pytest
from click.testing import CliRunner

from rrasctl.cli import cli
from rrasctl.protocols.ipsec import natt
from rrasctl.protocols.ipsec.esp import EspSa, EspSuite
from rrasctl.trace.esp import EspKeyring, EspSaFileError, parse_esp_sa
from rrasctl.trace.pcap import LINKTYPE_RAW, PcapWriter
from support import CAPTURES, fixed_rng

LINUX = "esp-linux-transport-3des-aes-des-null"
CLIENT, SERVER = "198.51.100.7", "203.0.113.1"
GCM_KEYMAT = bytes(range(0x10, 0x24))                       # 16-octet AES key ‖ 4-octet salt
DES3_KEYMAT = bytes(range(0x40, 0x40 + 44))                 # 24-octet 3DES key ‖ 20-octet HMAC-SHA1 key
LCP_CONF_REQ = bytes.fromhex("ff03c021" "01010014" "01040578" "0506c0ffee01" "02060000000a")
ICCN_SESSION = (7, 9)                                       # the L2TP tunnel and session ids of the data frames


def invoke(args, input=None):
    return CliRunner().invoke(cli, ["trace", "decode", *args], input=input, catch_exceptions=False)


# ---------------------------------------------------------------------------------------------- esp_sa parsing
def test_parse_linux_capture_sa_file():
    entries = parse_esp_sa((CAPTURES / f"{LINUX}.esp_sa").read_text())
    assert len(entries) == 24
    first = entries[0]
    assert (first.line, first.src, first.dst, first.spi, first.suite) == (5, "3ffe::1", "3ffe::2", 10,
                                                                          EspSuite.AES_CBC_128_SHA1)
    assert first.keymat == b"aescbcencryption" + b"hmacsha1authenticati"
    assert "aescbc" not in repr(first)                     # keys stay out of reprs


def test_parse_hex_keys_wildcards_gcm_salt_and_unchecked_icv():
    text = "\n".join([
        '# comment',
        f'"IPv4","*","{SERVER}","0x00001001","AES-GCM with 16 octet ICV [RFC4106]","0x{GCM_KEYMAT.hex()}","NULL",""',
        '"IPv4","10.1.*","*","*","DES-CBC [RFC2405]","0x0102030405060708","ANY 96 bit authentication [no checking]",""',
        '"IPv6","*","*","42","NULL","","HMAC-SHA-256-128 [RFC4868]","0x' + "11" * 32 + '"',
    ])
    a, b, c = parse_esp_sa(text)
    assert (a.suite, a.spi, a.keymat) == (EspSuite.AES_GCM_16_128, 0x1001, GCM_KEYMAT)
    assert a.matches(CLIENT, SERVER, 0x1001) and not a.matches(CLIENT, CLIENT, 0x1001)
    assert (b.suite, b.spi, b.unchecked_icv) == (EspSuite.DES_NONE, None, 12)
    assert b.matches("10.1.2.3", "1.1.1.1", 5) and not b.matches("10.2.2.3", "1.1.1.1", 5)
    assert (c.suite, c.keymat) == (EspSuite.NULL_SHA256, b"\x11" * 32)


@pytest.mark.parametrize("line,message", [
    ('"IPv4","*","*","1","AES-CTR [RFC3686]","0x00","NULL",""', "line 1: encryption 'AES-CTR [RFC3686]'"),
    ('"IPv4","*","*","1","AES-CBC [RFC3602]","0x0011","NULL",""', "line 1: a 2-octet key does not fit"),
    ('"IPv4","*","*","x","NULL","","NULL",""', "line 1: SPI 'x' is not a number"),
    ('"IPv4","*","*","1","NULL",""', "line 1: 6 fields, expected 8"),
    ('"IPv4","*","*","1","NULL","","HMAC-SHA-1-96 [RFC2404]","short"', "authentication key is 5 octets"),
    ('"IPv4","nowhere","*","1","NULL","","NULL",""', "line 1: 'nowhere' is not an IP address"),
    ('"IPv4","*","*","1","NULL","0xzz","NULL",""', "line 1: the encryption key is not hex"),
])
def test_parse_errors_name_the_line_and_no_key(line, message):
    with pytest.raises(EspSaFileError) as exc:
        parse_esp_sa(line)
    assert message in str(exc.value)
    assert "short" not in str(exc.value)


# ---------------------------------------------------------------------------------------------- Linux capture
def test_linux_capture_every_esp_frame_decrypts():
    res = invoke(["-o", "json", "--esp-sa", str(CAPTURES / f"{LINUX}.esp_sa"), str(CAPTURES / f"{LINUX}.pcap")])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    esp = [r for r in rows if r["tunnel"].startswith("esp spi=")]
    assert len(esp) == 240
    assert {r["protocol"] for r in esp} == {"ICMP", "ICMPv6"}
    assert {r["message"] for r in esp} == {"echo request"}
    assert sum(r["fields"]["esp_icv"] == "verified" for r in esp) == 160
    assert sum(r["fields"]["esp_icv"] == "none" for r in esp) == 80
    assert not [r for r in rows if r["protocol"] == "ESP"]         # nothing left undecrypted
    assert rows[1] == {"frame": 2, "time": 11.555514, "src": "190.0.0.1", "dst": "190.0.0.2",
                       "tunnel": "esp spi=0x0000006e seq=19", "protocol": "ICMP", "message": "echo request",
                       "fields": {"type": 8, "code": 0, "id": 0xD463, "seq": 1, "esp_icv": "verified"},
                       "error": None}
    assert res.stderr == ("841 frames, 841 rows; ESP: 240 decrypted (160 ICVs verified), 0 not decrypted, "
                          "0 without an SA\n")
    assert "hmacsha1" not in res.stdout + res.stderr


def test_without_keys_esp_stays_opaque():
    res = invoke(["-o", "json", str(CAPTURES / f"{LINUX}.pcap")])
    rows = [r for r in json.loads(res.stdout) if r["protocol"] == "ESP"]
    assert len(rows) == 240 and rows[0]["fields"] == {"spi": "0x0000006e", "seq": 19}


# ---------------------------------------------------------------------------------------------- own capture
def ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload        # RFC 3948 §2.1: checksum 0
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                                   ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed))
    header[10:12] = natt.inet_checksum(header).to_bytes(2, "big")
    return bytes(header) + udp


def l2tp_ppp(tunnel: int, session: int, ppp: bytes) -> bytes:
    """The transport-mode ESP payload of L2TP/IPsec: UDP 1701 → 1701, an L2TPv2 data header, the PPP frame."""
    l2tp = struct.pack("!HHH", 0x0002, tunnel, session) + ppp
    return struct.pack("!HHHH", 1701, 1701, 8 + len(l2tp), 0) + l2tp


def build_capture(tmp_path) -> tuple[str, str]:
    gcm = EspSa(0x1001, EspSuite.AES_GCM_16_128, GCM_KEYMAT, rng=fixed_rng(1))
    des3 = EspSa(0x2002, EspSuite.DES3_SHA1, DES3_KEYMAT, rng=fixed_rng(2))
    # a bare ISAKMP header (next payload NONE: the IKE dissector decodes payloads, so it must not promise a HASH)
    ike = bytes(8) + bytes.fromhex("0102030405060708") + bytes((0, 0x10, 2, 0)) + bytes(4) + (28).to_bytes(4, "big")
    frames = [
        ipv4_udp(CLIENT, SERVER, 4500, 4500, natt.frame_ike(ike)),                          # IKE behind the marker
        ipv4_udp(CLIENT, SERVER, 4500, 4500, gcm.seal(l2tp_ppp(*ICCN_SESSION, LCP_CONF_REQ), 17)),
        ipv4_udp(SERVER, CLIENT, 4500, 4500, des3.seal(l2tp_ppp(5, 3, LCP_CONF_REQ), 17)),
        ipv4_udp(CLIENT, SERVER, 4500, 4500, natt.KEEPALIVE),
        ipv4_udp(CLIENT, SERVER, 4500, 4500, gcm.seal(b"\x45" + bytes(19), 4)),             # an IP-in-IP payload
    ]
    buf = io.BytesIO()
    writer = PcapWriter(buf, LINKTYPE_RAW)
    for i, frame in enumerate(frames):
        writer.write(1_700_000_000_000_000_000 + i * 1_000_000, frame)
    capture = tmp_path / "l2tp-ipsec.pcap"
    capture.write_bytes(buf.getvalue())
    sa_file = tmp_path / "esp_sa"
    sa_file.write_text(
        f'"IPv4","{CLIENT}","{SERVER}","0x00001001","AES-GCM with 16 octet ICV [RFC4106]","0x{GCM_KEYMAT.hex()}",'
        f'"NULL",""\n'
        f'"IPv4","{SERVER}","{CLIENT}","8194","TripleDES-CBC [RFC2451]","0x{DES3_KEYMAT[:24].hex()}",'
        f'"HMAC-SHA-1-96 [RFC2404]","0x{DES3_KEYMAT[24:].hex()}"\n')
    return str(capture), str(sa_file)


def test_own_l2tp_ipsec_capture_decodes_with_every_field(tmp_path):
    capture, sa_file = build_capture(tmp_path)
    res = invoke(["-o", "json", "--esp-sa", sa_file, capture])
    assert res.exit_code == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [(r["protocol"], r["message"]) for r in rows] == [
        ("ISAKMP", "Identity Protection (Main Mode)"), ("LCP", "Configure-Request"), ("LCP", "Configure-Request"),
        ("UDPENCAP", "NAT-keepalive"), ("IP proto 4", "")]
    lcp = {"id": 1, "options": "mru=1400 magic-number=0xc0ffee01 accm=0x0000000a", "esp_icv": "verified"}
    assert rows[1] == {"frame": 2, "time": 0.001, "src": CLIENT, "dst": SERVER,
                       "tunnel": "esp spi=0x00001001 seq=1 udp-encap l2tp tunnel=7 session=9",
                       "protocol": "LCP", "message": "Configure-Request", "fields": lcp, "error": None}
    assert rows[2]["tunnel"] == "esp spi=0x00002002 seq=1 udp-encap l2tp tunnel=5 session=3"
    assert rows[2]["fields"] == lcp and (rows[2]["src"], rows[2]["dst"]) == (SERVER, CLIENT)
    assert rows[4]["tunnel"] == "esp spi=0x00001001 seq=2 udp-encap"
    assert rows[4]["fields"] == {"length": 20, "esp_icv": "verified"}
    assert rows[0]["fields"]["message_id"] == 0 and rows[0]["error"] is None
    assert "ESP: 3 decrypted (3 ICVs verified), 0 not decrypted, 0 without an SA" in res.stderr
    assert GCM_KEYMAT.hex() not in res.stdout + res.stderr


def test_own_capture_with_a_wrong_key_says_why(tmp_path):
    capture, sa_file = build_capture(tmp_path)
    text = open(sa_file).read().replace(GCM_KEYMAT.hex(), bytes(20).hex())
    open(sa_file, "w").write(text)
    res = invoke(["-o", "json", "--esp-sa", sa_file, capture])
    rows = json.loads(res.stdout)
    assert (rows[1]["protocol"], rows[1]["message"]) == ("ESP", "not decrypted (bad icv)")
    assert rows[1]["fields"] == {"spi": "0x00001001", "seq": 1, "decryption": "bad icv"} and rows[1]["error"] is None
    assert rows[2]["protocol"] == "LCP"                                    # the other SA still decrypts
    assert "ESP: 1 decrypted (1 ICVs verified), 2 not decrypted, 0 without an SA" in res.stderr


def test_frames_without_an_sa_stay_esp_rows(tmp_path):
    capture, _ = build_capture(tmp_path)
    sa_file = tmp_path / "other"
    sa_file.write_text('"IPv4","192.0.2.1","*","*","NULL","","HMAC-MD5-96 [RFC2403]","0123456789abcdef"\n')
    res = invoke(["-o", "json", "--esp-sa", str(sa_file), capture])
    rows = json.loads(res.stdout)
    assert rows[1]["fields"] == {"spi": "0x00001001", "seq": 1, "decryption": "no SA"}
    assert rows[1]["message"] == "UDP-encapsulated"


def test_bad_esp_sa_file_exits_2_naming_the_line(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text('# SAs\n"IPv4","*","*","1","Blowfish-CBC [RFC2451]","0x00","NULL",""\n')
    res = invoke(["--esp-sa", str(bad), str(CAPTURES / f"{LINUX}.pcap")])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: {bad}: esp_sa line 2: encryption 'Blowfish-CBC [RFC2451]' is not "
                                 "supported\n")
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    res = invoke(["--esp-sa", str(empty), str(CAPTURES / f"{LINUX}.pcap")])
    assert res.exit_code == 2 and f"error: {empty}: no SA lines" in res.stderr


def test_keyring_decrypt_reports_the_reason():
    keys = EspKeyring.from_text(f'"IPv4","*","*","*","AES-GCM [RFC4106]","0x{GCM_KEYMAT.hex()}","NULL",""')
    sa = EspSa(0x77, EspSuite.AES_GCM_16_128, GCM_KEYMAT, rng=fixed_rng(4))
    wire = sa.seal(b"\x00" * 12, 17)
    ok = keys.decrypt("1.1.1.1", "2.2.2.2", wire)
    assert (ok.payload, ok.next_header, ok.icv, ok.error) == (b"\x00" * 12, 17, "verified", None)
    again = keys.decrypt("1.1.1.1", "2.2.2.2", wire)                  # no anti-replay in a trace
    assert again.payload == b"\x00" * 12
    bad = keys.decrypt("1.1.1.1", "2.2.2.2", wire[:-1] + bytes([wire[-1] ^ 1]))
    assert (bad.payload, bad.error) == (None, "bad icv")
    assert keys.decrypt("1.1.1.1", "2.2.2.2", b"\x00\x00").error == "short"
    assert keys.stats.decrypted == 2 and keys.stats.not_decrypted == 1
