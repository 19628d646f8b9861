"""MS-CHAP v2 and MPPE on real captures (tests/data/captures, see its README):

- Windows 2000 client <-> Poptop: user scott, password `turquoise`; MS-CHAP v2 verifies and the 26 MPPE-128
  stateless frames (client -> server) decrypt to NBNS registrations.
- pptpd <-> client: user moxie, password `bPCFyF2uL1p5Lg5yrKmqmY`; NT-Response and S= verify.
- Windows RAS failure capture: E=691 R=1 C=... V=3 failures parse, the retry Response uses id + 1.
"""

from __future__ import annotations

import struct

import pytest

from support import CAPTURES
from rrasctl.protocols.ppp.auth import mschap
from rrasctl.protocols.ppp.auth.chap import ChapCode, decode_value_name, split_v2_response
from rrasctl.protocols.ppp.auth.core import decode_packet
from rrasctl.protocols.ppp.mppe import MppeDecryptor
from rrasctl.trace.pcap import LINKTYPE_ETHERNET, read_packets


def gre_ppp_frames(name: str) -> list[tuple[str, int, bytes]]:
    """(source IP, PPP protocol, PPP information) for each GRE-carried PPP frame of an Ethernet capture."""
    out = []
    for packet in read_packets((CAPTURES / name).read_bytes()):
        assert packet.linktype == LINKTYPE_ETHERNET
        data = packet.data
        if data[12:14] != b"\x08\x00":
            continue
        ip = data[14:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack_from("!H", ip, 2)[0]
        if ip[9] != 47:
            continue
        src = ".".join(str(b) for b in ip[12:16])
        gre = ip[ihl:total]
        flags = gre[0] << 8 | gre[1]
        pos = 8                                 # flags, protocol, payload length, call id
        pos += 4 if flags & 0x1000 else 0       # sequence number
        pos += 4 if flags & 0x0080 else 0       # acknowledgement number
        payload_len = struct.unpack_from("!H", gre, 4)[0]
        ppp = gre[pos:pos + payload_len]
        if not ppp:
            continue                            # ack-only
        if ppp[:2] == b"\xff\x03":
            ppp = ppp[2:]
        if ppp[0] & 1:
            proto, info = ppp[0], ppp[1:]
        else:
            proto, info = struct.unpack_from("!H", ppp)[0], ppp[2:]
        out.append((src, proto, info))
    return out


def chap_exchange(frames):
    challenge = response = success = None
    for _src, proto, info in frames:
        if proto != 0xC223:
            continue
        code, ident, data = decode_packet(info, "chap")
        if code == ChapCode.CHALLENGE:
            challenge = (ident, *decode_value_name(data, "c"))
        elif code == ChapCode.RESPONSE:
            response = (ident, *decode_value_name(data, "r"))
        elif code == ChapCode.SUCCESS:
            success = (ident, data)
    return challenge, response, success


@pytest.mark.parametrize("name, user, password, name_in_challenge, s_prefix", [
    ("pptp-win2000-poptop-mschapv2-mppe128.pcap", b"scott", "turquoise", b"127.0.0.1", "S=CEE89947"),
    ("pptp-mschapv2-3frames-pptpd.pcap", b"moxie", "bPCFyF2uL1p5Lg5yrKmqmY", b"pptpd", "S=54644F81"),
])
def test_mschapv2_exchange_verifies(name, user, password, name_in_challenge, s_prefix):
    (c_id, auth_challenge, c_name), (r_id, value, r_name), (s_id, s_data) = chap_exchange(gre_ppp_frames(name))
    assert (c_name, r_name) == (name_in_challenge, user)
    assert c_id == r_id == s_id
    peer_challenge, nt_response, flags = split_v2_response(value)
    assert flags == 0
    assert mschap.generate_nt_response(auth_challenge, peer_challenge, r_name, password) == nt_response
    received, _message = mschap.parse_success_v2(s_data)
    assert received.startswith(s_prefix)
    assert mschap.check_authenticator_response(password, nt_response, peer_challenge, auth_challenge, r_name,
                                               received)
    assert mschap.generate_nt_response(auth_challenge, peer_challenge, r_name, password + "x") != nt_response
    assert not mschap.check_authenticator_response(password + "x", nt_response, peer_challenge, auth_challenge,
                                                   r_name, received)


def test_win2000_master_key_matches_the_capture_readme():
    frames = gre_ppp_frames("pptp-win2000-poptop-mschapv2-mppe128.pcap")
    _c, (_id, value, _name), _s = chap_exchange(frames)
    pw_hash = mschap.nt_password_hash("turquoise")
    assert pw_hash.hex() == "18073343f630b5f82c38c03437f2816b"
    master = mschap.get_master_key(mschap.hash_nt_password_hash(pw_hash), split_v2_response(value)[1])
    assert master.hex() == "1793822232ffc3330c9200298f2ce67a"


def _client_decryptor(password: str) -> tuple[MppeDecryptor, list[bytes]]:
    frames = gre_ppp_frames("pptp-win2000-poptop-mschapv2-mppe128.pcap")
    _c, (_id, value, _name), _s = chap_exchange(frames)
    hash_hash = mschap.hash_nt_password_hash(mschap.nt_password_hash(password))
    server_keys = mschap.mschap_v2_master_keys(hash_hash, split_v2_response(value)[1], is_server=True)
    mppe = [info for src, proto, info in frames if proto == 0x00FD]
    assert {src for src, proto, _ in frames if proto == 0x00FD} == {"192.168.1.3"}
    return MppeDecryptor(server_keys.recv, bits=128, stateless=True), mppe


PORTS_SEEN = {(68, 67), (137, 137)}   # a DHCP inform and NBNS registrations


def test_win2000_mppe128_stateless_frames_decrypt():
    dec, mppe = _client_decryptor("turquoise")
    assert len(mppe) == 26
    unique = list(dict.fromkeys(mppe))          # the 802.11 origin duplicated 6 of them
    assert len(unique) == 20
    counts = [((f[0] & 0x0F) << 8) | f[1] for f in unique]
    assert all(f[0] & 0x90 == 0x90 for f in unique)      # flushed + encrypted on every stateless packet
    assert counts == sorted(counts) and counts[-1] == 17
    plains = [dec.decrypt(f) for f in mppe]
    assert all(p is not None for p in plains)
    ports = []
    for plain in plains:
        proto = plain[0] if plain[0] & 1 else struct.unpack_from("!H", plain)[0]
        ip = plain[1:] if plain[0] & 1 else plain[2:]
        assert proto == 0x0021
        assert ip[0] == 0x45 and ip[9] == 17
        assert struct.unpack_from("!H", ip, 2)[0] == len(ip)
        assert struct.unpack_from("!H", ip, 24)[0] == len(ip) - 20           # UDP length
        ports.append(struct.unpack_from("!HH", ip, 20))
    assert set(ports) == PORTS_SEEN
    assert dec.packets == 26
    # 8 frames repeat the previous count: 6 byte-identical copies, and 2 different frames Windows sent
    # under the same count (counts 9 and 11); all decrypt under that count's key.
    assert dec.stats.as_dict() == {"mppe: duplicate packet": 8}


def test_win2000_mppe_wrong_password_decrypts_nothing():
    dec, mppe = _client_decryptor("turquoisf")
    plains = [dec.decrypt(f) for f in mppe]
    assert not any(p is not None and p[:2] == b"\x00\x21" and p[2] == 0x45 and p[11] == 17 for p in plains)


def test_windows_failure_retry_capture_parses():
    from rrasctl.trace.pcap import read_packets as rp
    rows = []
    for packet in rp((CAPTURES / "ppp-mschapv2-failure-retry-windows.pcap").read_bytes()):
        data = packet.data
        idx = data.find(b"\xc2\x23")
        if idx < 0:
            continue
        code, ident, body = decode_packet(data[idx + 2:], "chap")
        rows.append((code, ident, body))
    failures = [(i, mschap.parse_failure(b)) for c, i, b in rows if c == ChapCode.FAILURE]
    responses = [(i, decode_value_name(b, "r")) for c, i, b in rows if c == ChapCode.RESPONSE]
    first = failures[0][1]
    assert (first.error, first.retry, first.version) == (691, True, 3)
    assert first.challenge == bytes.fromhex("64FB09A09F80035E4CA6FF6DA2846A01")
    assert {i for i, _ in responses} == {1, 2}
    assert {r[1] for _, r in responses} == {b"Tyson"}
    last = failures[-1]
    assert last[0] == 2 and (last[1].error, last[1].retry, last[1].challenge) == (691, False, None)
    assert mschap.FailureMessage(691, True, first.challenge, 3).encode() == \
        b"E=691 R=1 C=64FB09A09F80035E4CA6FF6DA2846A01 V=3"
