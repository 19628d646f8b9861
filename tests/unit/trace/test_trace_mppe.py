"""MPPE decryption in `trace decode`: the real Windows 2000 capture, synthetic MS-CHAP v1/v2 sessions in every
mode (stateless/stateful, 40/56/128 bits, both directions), and the written pcap read back by tshark."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rrasctl.protocols.ppp.auth import mschap
from rrasctl.protocols.ppp.mppe import MppeEncryptor
from rrasctl.trace.dissect import Dissector
from rrasctl.trace.pcap import LINKTYPE_RAW, Packet, PcapWriter, read_packets

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "captures"
WIN2000 = CAPTURES / "pptp-win2000-poptop-mschapv2-mppe128.pcap"
SERVER, CLIENT = "203.0.113.1", "203.0.113.2"


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0,
                       bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))) + payload


def gre_frame(src: str, dst: str, ppp: bytes, seq: int) -> bytes:
    return ipv4(src, dst, 47, struct.pack("!HHHHI", 0x3001, 0x880B, len(ppp), 7, seq) + ppp)


def ppp(protocol: int, info: bytes) -> bytes:
    return b"\xff\x03" + struct.pack("!H", protocol) + info


def control(code: int, ident: int, data: bytes) -> bytes:
    return bytes((code, ident)) + struct.pack("!H", 4 + len(data)) + data


def udp_ping(src: str, dst: str, n: int) -> bytes:
    body = struct.pack("!HHHH", 1000 + n % 7, 2000, 8 + 4, 0) + struct.pack("!I", n)
    return ipv4(src, dst, 17, body, ident=n)


def session(method: str, bits: int, stateless: bool, password: str, count: int):
    """A synthetic PPTP session's frames: LCP Ack (auth), CHAP exchange, CCP Ack (MPPE), then `count` encrypted
    UDP packets each way, interleaved."""
    user = "alice"
    frames = []
    auth = {"v1": b"\xc2\x23\x80", "v2": b"\xc2\x23\x81"}[method]
    frames.append((CLIENT, SERVER, ppp(0xC021, control(2, 1, bytes((3, 2 + len(auth))) + auth))))
    challenge = bytes(range(8 if method == "v1" else 16))
    frames.append((SERVER, CLIENT, ppp(0xC223, control(1, 9, bytes((len(challenge),)) + challenge + b"rras"))))
    hash_hash = mschap.hash_nt_password_hash(mschap.nt_password_hash(password))
    if method == "v1":
        nt = mschap.nt_challenge_response(challenge, password)
        value = bytes(24) + nt + b"\x01"
        keys = mschap.mschap_v1_master_keys(hash_hash, challenge)
        success = b"Welcome"
    else:
        peer_challenge = bytes(range(100, 116))
        nt = mschap.generate_nt_response(challenge, peer_challenge, user, password)
        value = peer_challenge + bytes(8) + nt + b"\x00"
        keys = mschap.mschap_v2_master_keys(hash_hash, nt, is_server=True)
        success = mschap.generate_authenticator_response(password, nt, peer_challenge, challenge, user).encode() + \
            b" M=ok"
    frames.append((CLIENT, SERVER, ppp(0xC223, control(2, 9, bytes((49,)) + value + user.encode()))))
    frames.append((SERVER, CLIENT, ppp(0xC223, control(3, 9, success))))
    mppe_bits = {40: 0x20, 56: 0x80, 128: 0x40}[bits] | (0x01000000 if stateless else 0)
    frames.append((SERVER, CLIENT, ppp(0x80FD, control(2, 1, b"\x12\x06" + struct.pack("!I", mppe_bits)))))
    enc_server = MppeEncryptor(keys.send, bits=bits, stateless=stateless)
    enc_client = MppeEncryptor(keys.recv, bits=bits, stateless=stateless)
    for n in range(count):
        for src, dst, enc in ((CLIENT, SERVER, enc_client), (SERVER, CLIENT, enc_server)):
            frames.append((src, dst, ppp(0x00FD, enc.encrypt(b"\x00\x21" + udp_ping(src, dst, n)))))
    return [Packet(i * 1_000_000, LINKTYPE_RAW, gre_frame(s, d, f, i), 0) for i, (s, d, f) in enumerate(frames)]


def run(packets, password):
    d = Dissector(password)
    rows = []
    for n, p in enumerate(packets, 1):
        rows += d.feed(n, p)
    return d, rows


@pytest.mark.parametrize("method,bits,stateless", [
    ("v1", 128, False), ("v1", 40, True), ("v2", 128, True), ("v2", 56, False), ("v2", 40, False),
])
def test_synthetic_sessions_decrypt_both_directions(method, bits, stateless):
    count = 300 if not stateless else 40        # stateful: past one key change (every 256 packets)
    d, rows = run(session(method, bits, stateless, "s3cret-pw", count), "s3cret-pw")
    assert [r.fields.get("verification") for r in rows if "verification" in r.fields] == \
        (["verified"] if method == "v1" else ["verified", "verified"])
    mppe = [r for r in rows if r.protocol == "MPPE"]
    assert len(mppe) == 2 * count and d.summary.ppp.decrypted == 2 * count
    for i, r in enumerate(mppe):
        n, client_sent = divmod(i, 2)[0], i % 2 == 0
        src, dst = (CLIENT, SERVER) if client_sent else (SERVER, CLIENT)
        assert r.message == f"decrypted: IPv4 {src} → {dst} UDP {1000 + n % 7} → 2000"
        assert r.fields["ccount"] == n % 4096 and r.fields["inner"] == "IP"
    assert [outbound for _, outbound, _ in d.decrypted[:4]] == [False, True, False, True]
    assert d.decrypted[0][2] == b"\xff\x03\x00\x21" + udp_ping(CLIENT, SERVER, 0)


def test_synthetic_session_wrong_password():
    d, rows = run(session("v2", 128, True, "right", 3), "wrong")
    assert {r.fields["verification"] for r in rows if "verification" in r.fields} == {"NOT verified"}
    assert {r.message for r in rows if r.protocol == "MPPE"} == {"encrypted"}
    assert d.summary.ppp.decrypted == 0 and d.decrypted == []


def decode_win2000(password):
    d = Dissector(password)
    rows = []
    for n, p in enumerate(read_packets(WIN2000.read_bytes()), 1):
        rows += d.feed(n, p)
    return d, rows


def test_win2000_all_26_mppe_frames_decrypt_to_nbns_and_dhcp():
    d, rows = decode_win2000("turquoise")
    mppe = [r for r in rows if r.protocol == "MPPE"]
    assert len(mppe) == 26 and d.summary.ppp.decrypted == 26 and d.summary.ppp.undecrypted == 0
    assert [r.message for r in mppe].count("decrypted: IPv4 192.168.2.2 → 255.255.255.255 UDP 137 → 137") == 24
    assert [r.message for r in mppe].count("decrypted: IPv4 192.168.2.2 → 255.255.255.255 UDP 68 → 67") == 2
    # the 802.11 origin repeats frames: exact copies are flagged; frames 81 and 87 repeat a coherency count with
    # other bytes (stateless mode: the key depends on the count only, so they decrypt too)
    assert [r.frame for r in mppe if r.fields.get("duplicate")] == [59, 60, 74, 82, 84, 85]
    assert [r.fields["ccount"] for r in mppe] == [0, 1, 2, 2, 2, 3, 4, 5, 6, 6, 7, 8, 9, 9, 9, 10, 10, 10, 11, 11,
                                                  12, 13, 14, 15, 16, 17]
    assert len(d.decrypted) == 26 and {o for _, o, _ in d.decrypted} == {False}   # all sent by the client


def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    return path


def test_tshark_decodes_the_written_pcap(tmp_path):
    d, _ = decode_win2000("turquoise")
    out = tmp_path / "clear.pcap"
    with out.open("wb") as f:
        w = PcapWriter(f, 204)
        for ts, outbound, frame in d.decrypted:
            w.write(ts, (b"\x01" if outbound else b"\x00") + frame)
    res = subprocess.run([tshark(), "-r", str(out), "-T", "fields", "-e", "frame.p2p_dir", "-e", "ppp.protocol",
                          "-e", "ip.src", "-e", "_ws.col.Protocol"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = [ln.split("\t") for ln in res.stdout.splitlines()]
    assert len(lines) == 26
    assert {tuple(ln) for ln in lines} == {("1", "0x0021", "192.168.2.2", "NBNS"),
                                           ("1", "0x0021", "192.168.2.2", "BOOTP"),
                                           ("1", "0x0021", "192.168.2.2", "DHCP")}


def test_cli_write_pcap_and_tshark(tmp_path):
    from click.testing import CliRunner

    from rrasctl.cli import cli

    out = tmp_path / "clear.pcap"
    res = CliRunner().invoke(cli, ["trace", "decode", "--password-stdin", "--write-pcap", str(out), str(WIN2000)],
                             input="turquoise\n", catch_exceptions=False)
    assert res.exit_code == 0
    assert "authentication: 2 verified, 0 NOT verified; MPPE: 26 decrypted, 0 not decrypted" in res.stderr
    assert f"wrote 26 decrypted PPP frames to {out}" in res.stderr
    assert "turquoise" not in res.stdout + res.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    assert len(list(read_packets(out.read_bytes()))) == 26
    shown = subprocess.run([tshark(), "-r", str(out)], capture_output=True, text=True, timeout=120)
    assert shown.stdout.count("NBNS") == 24 and shown.stdout.count("DHCP Inform") == 1


def test_stateful_frame_missing_from_the_capture():
    packets = session("v2", 128, False, "pw", 6)
    del packets[5 + 4]                          # the client's third encrypted frame (ccount 2) was not captured
    d, rows = run(packets, "pw")
    client = [r for r in rows if r.protocol == "MPPE" and r.src == CLIENT]
    assert [(r.fields["ccount"], r.message.split(":")[0]) for r in client] == [
        (0, "decrypted"), (1, "decrypted"), (3, "not decrypted"), (4, "not decrypted"), (5, "not decrypted")]
    assert client[2].fields["reason"].startswith("stateful MPPE out of sync")
    assert d.summary.ppp.decrypted == 8 and d.summary.ppp.undecrypted == 3     # the server's 6 all decrypt


@pytest.mark.parametrize("fmt", ["pcapng", "nsecpcap"])
def test_same_rows_from_pcapng_and_nanosecond_pcap(tmp_path, fmt):
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("editcap (wireshark tools) is not installed")
    out = tmp_path / f"win2000.{fmt}"
    subprocess.run([editcap, "-F", fmt, str(WIN2000), str(out)], check=True, capture_output=True, timeout=60)
    _, reference = decode_win2000("turquoise")
    d = Dissector("turquoise")
    rows = []
    for n, p in enumerate(read_packets(out.read_bytes()), 1):
        rows += d.feed(n, p)
    assert [r.as_dict() for r in rows] == [r.as_dict() for r in reference]
    assert d.summary.ppp.decrypted == 26


def test_merged_pcapng_of_two_captures(tmp_path):
    mergecap = shutil.which("mergecap")
    if mergecap is None:
        pytest.skip("mergecap (wireshark tools) is not installed")
    out = tmp_path / "merged.pcapng"
    subprocess.run([mergecap, "-F", "pcapng", "-w", str(out), str(WIN2000),
                    str(CAPTURES / "l2tp-huawei-lac-lns-chap.pcap")], check=True, capture_output=True, timeout=60)
    packets = list(read_packets(out.read_bytes()))
    assert len(packets) == 96 + 43      # one interface: mergecap joins interfaces of the same link type
    d = Dissector("turquoise")
    rows = [r for n, p in enumerate(packets, 1) for r in d.feed(n, p)]
    assert d.summary.malformed == 0 and d.summary.ppp.decrypted == 26
    assert len([r for r in rows if r.protocol == "L2TP"]) == 7


def test_ms_chap_v1_lm_only_response_and_chap_md5():
    challenge = bytes(range(8))
    lm = mschap.lm_challenge_response(challenge, "Passw0rd")
    frames = [
        (CLIENT, SERVER, ppp(0xC021, control(2, 1, b"\x03\x05\xc2\x23\x80"))),
        (SERVER, CLIENT, ppp(0xC223, control(1, 4, b"\x08" + challenge + b"rras"))),
        (CLIENT, SERVER, ppp(0xC223, control(2, 4, b"\x31" + lm + bytes(24) + b"\x00" + b"bob"))),
    ]
    packets = [Packet(i, LINKTYPE_RAW, gre_frame(s, d, f, i), 0) for i, (s, d, f) in enumerate(frames)]
    _, rows = run(packets, "Passw0rd")
    assert (rows[2].protocol, rows[2].fields["use_nt"], rows[2].fields["verification"]) == ("MS-CHAP", False,
                                                                                            "verified")
    _, rows = run(packets, "passw0rd-not")
    assert rows[2].fields["verification"] == "NOT verified"


def test_pap_request_password_hidden_and_verified():
    frames = [(CLIENT, SERVER, ppp(0xC023, control(1, 2, b"\x03bob\x08Passw0rd"))),
              (SERVER, CLIENT, ppp(0xC023, control(2, 2, b"\x02ok")))]
    packets = [Packet(i, LINKTYPE_RAW, gre_frame(s, d, f, i), 0) for i, (s, d, f) in enumerate(frames)]
    d, rows = run(packets, "Passw0rd")
    assert [(r.protocol, r.message, r.fields) for r in rows] == [
        ("PAP", "Authenticate-Request", {"id": 2, "user": "bob", "password": "(hidden)", "verification": "verified"}),
        ("PAP", "Authenticate-Ack", {"id": 2, "message": "ok"})]
    assert "Passw0rd" not in repr(rows) and d.summary.ppp.verified == 1
    _, rows = run(packets, "nope")
    assert rows[0].fields["verification"] == "NOT verified"


def test_two_calls_between_the_same_hosts_stay_apart():
    from rrasctl.protocols.pptp import messages

    def tcp(payload: bytes, seq: int) -> bytes:
        return ipv4(SERVER, CLIENT, 6, struct.pack("!HHIIBBHHH", 1723, 40000, seq, 0, 0x50, 0x18, 1000, 0, 0)
                    + payload)

    def call_frame(src, dst, call_id, frame, seq):
        return ipv4(src, dst, 47, struct.pack("!HHHHI", 0x3001, 0x880B, len(frame), call_id, seq) + frame)

    def exchange(challenge: bytes, peer_challenge: bytes, ident: int):
        nt = mschap.generate_nt_response(challenge, peer_challenge, "alice", "pw")
        return (ppp(0xC223, control(1, ident, b"\x10" + challenge + b"rras")),
                ppp(0xC223, control(2, ident, b"\x31" + peer_challenge + bytes(8) + nt + b"\x00alice")))

    ocrps = [messages.OutgoingCallReply(call_id=10, peer_call_id=1).encode(),
             messages.OutgoingCallReply(call_id=11, peer_call_id=2).encode()]
    (ch_a, resp_a), (ch_b, resp_b) = exchange(bytes(16), b"\x01" * 16, 1), exchange(b"\x02" * 16, b"\x03" * 16, 1)
    calls = [call_frame(SERVER, CLIENT, 1, ch_a, 0), call_frame(SERVER, CLIENT, 2, ch_b, 0),
             call_frame(CLIENT, SERVER, 10, resp_a, 0), call_frame(CLIENT, SERVER, 11, resp_b, 0)]
    with_control = [tcp(ocrps[0], 1), tcp(ocrps[1], 1 + len(ocrps[0]))] + calls
    d, rows = run([Packet(i, LINKTYPE_RAW, f, 0) for i, f in enumerate(with_control)], "pw")
    assert [r.fields["verification"] for r in rows if r.message == "Response"] == ["verified", "verified"]
    assert len(d._links) == 2
    # without the control connection the two calls look like one link, and the first response cannot verify
    d, rows = run([Packet(i, LINKTYPE_RAW, f, 0) for i, f in enumerate(calls)], "pw")
    assert [r.fields["verification"] for r in rows if r.message == "Response"] == ["NOT verified", "verified"]
