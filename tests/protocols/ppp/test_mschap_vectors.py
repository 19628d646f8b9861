"""MS-CHAP v1 (RFC 2433 B), v2 (RFC 2759 §9) and MPPE key (RFC 3079 §2.5, §3.5) vectors, exactly.

The README's misprints: RFC 2759 §9.3 password bytes (hash the UTF-16LE form); RFC 3079 §2.5.3 step 3
(`initial_session_key` holds the consistent value); RFC 3079 §3.5.2 ciphertext (`*_recomputed`).
"""

from __future__ import annotations

import json

import pytest

from support import VECTORS
from rrasctl.protocols.ppp.auth import MppeKeys, mschap

H = bytes.fromhex
V1 = json.loads((VECTORS / "mschapv1.json").read_text())
V2 = json.loads((VECTORS / "mschapv2.json").read_text())
KEYS = json.loads((VECTORS / "mppe_keys.json").read_text())


def test_v2_hash_example_rfc2759_9_2():
    v = V2["hash_example"]
    pc, ac = H(v["peer_challenge"]), H(v["authenticator_challenge"])
    assert mschap.password_utf16(v["password"]).hex() == v["password_utf16le_hex"]
    assert mschap.challenge_hash(pc, ac, v["user_name"]).hex() == v["challenge"]
    assert mschap.challenge_hash(pc, ac, H(v["user_name_hex"])).hex() == v["challenge"]
    assert mschap.nt_password_hash(v["password"]).hex() == v["password_hash"]
    assert mschap.hash_nt_password_hash(H(v["password_hash"])).hex() == v["password_hash_hash"]
    nt = mschap.generate_nt_response(ac, pc, v["user_name"], v["password"])
    assert nt.hex() == v["nt_response"]
    assert mschap.generate_authenticator_response(v["password"], nt, pc, ac, v["user_name"]) == \
        v["authenticator_response"]
    assert mschap.check_authenticator_response(v["password"], nt, pc, ac, v["user_name"],
                                               v["authenticator_response"].lower().replace("s=", "S="))
    assert mschap.check_authenticator_response(v["password"], nt, pc, ac, v["user_name"],
                                               v["authenticator_response"].encode())
    wrong = v["authenticator_response"][:-1] + "7"
    assert not mschap.check_authenticator_response(v["password"], nt, pc, ac, v["user_name"], wrong)
    assert not mschap.check_authenticator_response(v["password"], nt, pc, ac, v["user_name"], "S=00")


def test_v2_challenge_hash_strips_a_domain_prefix():
    v = V2["hash_example"]
    pc, ac = H(v["peer_challenge"]), H(v["authenticator_challenge"])
    assert mschap.challenge_hash(pc, ac, "CORP\\User").hex() == v["challenge"]
    assert mschap.strip_domain("CORP\\User") == "User"


@pytest.mark.parametrize("example", [V2["des_key_generation_example"], V1["des_key_generation_example"]])
def test_des_key_generation(example):
    if "password" in example:
        assert mschap.nt_password_hash(example["password"]).hex() == example["password_hash"]
        assert mschap.nt_password_hash(example["password"]) != mschap.md4(H(example["password_hex_as_printed"]))
    assert mschap._des_key(H(example["first_raw_des_key"])).hex() == example["first_parity_corrected_des_key"]
    assert mschap._des_key(H(example["second_raw_des_key"])).hex() == example["second_parity_corrected_des_key"]


def test_v1_hash_example_rfc2433_b2():
    v = V1["hash_example"]
    assert mschap.password_utf16(v["password"]).hex() == v["nt_password_utf16le_hex"]
    assert mschap.nt_password_hash(v["password"]).hex() == v["nt_password_hash"]
    assert mschap.nt_challenge_response(H(v["challenge"]), v["password"]).hex() == v["nt_challenge_response"]


def test_lm_password_hash_rfc3079_2_5_1():
    v = V1["lm_password_hash_example"]
    assert mschap.lm_password_hash(v["password"]).hex() == v["lm_password_hash"]
    assert mschap.lm_password_hash(v["password"].lower()) == mschap.lm_password_hash(v["password"])
    assert len(mschap.lm_challenge_response(b"\x01" * 8, v["password"])) == 24


@pytest.mark.parametrize("bits", [40, 56])
def test_v1_lm_session_keys_rfc3079_2_5_1_and_2(bits):
    v = KEYS["mschapv1"][f"key_{bits}bit"]
    assert mschap.lm_password_hash(v["password"]).hex() == v["lm_password_hash"] == v["session_key_initial_copy"]
    start = mschap.v1_lm_start_key(v["password"])
    assert mschap.get_new_key_from_sha(start, start, 8).hex() == v["session_key_after_get_key"]
    assert mschap.initial_session_key(start, bits).hex() == v["session_key"]


def test_v1_128bit_keys_rfc3079_2_5_3():
    v = KEYS["mschapv1"]["key_128bit"]
    assert mschap.nt_password_hash(v["password"]).hex() == v["password_hash"]
    assert mschap.hash_nt_password_hash(H(v["password_hash"])).hex() == v["password_hash_hash"]
    start = mschap.get_start_key_v1(H(v["challenge"]), H(v["password_hash_hash"]))
    assert start.hex() == v["initial_session_key"] != v["initial_session_key_as_printed_in_step_3"]
    assert mschap.initial_session_key(start, 128).hex() == v["current_session_key_after_get_key"]
    keys = mschap.mschap_v1_master_keys(H(v["password_hash_hash"]), H(v["challenge"]))
    assert keys == MppeKeys(start, start)


@pytest.mark.parametrize("bits", [40, 56, 128])
def test_v2_session_keys_rfc3079_3_5(bits):
    v = KEYS["mschapv2"][f"key_{bits}bit"]
    ac, pc = H(v["authenticator_challenge"]), H(v["peer_challenge"])
    assert mschap.challenge_hash(pc, ac, v["user_name"]).hex() == v["challenge"]
    nt = mschap.generate_nt_response(ac, pc, v["user_name"], v["password"])
    assert nt.hex() == v["nt_response"]
    master = mschap.get_master_key(H(v["password_hash_hash"]), nt)
    assert master.hex() == v["master_key"]
    n = mschap.key_octets(bits)
    start = mschap.get_asymmetric_start_key(master, n, is_send=True, is_server=True)
    assert start.hex() == v["send_start_key"]
    session = mschap.initial_session_key(start, bits)
    assert session.hex() == v["send_session_key"]
    expected = v.get("sample_ciphertext") or v["sample_ciphertext_recomputed"]
    assert mschap.rc4(session, v["sample_plaintext"].encode()).hex() == expected
    if bits == 56:
        assert "sample_ciphertext" not in v and expected != v["sample_ciphertext_as_printed"]


def test_v2_master_keys_are_mirrored_between_roles():
    v = KEYS["mschapv2"]["key_128bit"]
    server = mschap.mschap_v2_master_keys(H(v["password_hash_hash"]), H(v["nt_response"]), is_server=True)
    client = mschap.mschap_v2_master_keys(H(v["password_hash_hash"]), H(v["nt_response"]), is_server=False)
    assert server.send.hex() == v["send_start_key"]
    assert client == server.swapped() and client.recv == server.send and server.send != server.recv
    master = H(v["master_key"])
    assert mschap.get_asymmetric_start_key(master, 16, is_send=False, is_server=False) == server.send
    assert mschap.get_asymmetric_start_key(master, 8, True, True) == server.send[:8]
    assert "send" not in repr(server) or "8b7c" not in repr(server)


def test_reduce_key_rejects_other_lengths():
    with pytest.raises(ValueError):
        mschap.reduce_key(bytes(16), 64)


def test_failure_message_round_trip():
    msg = mschap.FailureMessage(691, True, bytes(range(16)), 3, "Wrong password, try again")
    text = msg.encode()
    assert text == b"E=691 R=1 C=000102030405060708090A0B0C0D0E0F V=3 M=Wrong password, try again"
    assert mschap.parse_failure(text) == msg
    assert mschap.parse_failure(b"E=649 R=0") == mschap.FailureMessage(649, False)
    assert mschap.parse_failure(b"E=691 R=0 ") == mschap.FailureMessage(691, False)


@pytest.mark.parametrize("text", [b"", b"R=1", b"E=x R=1", b"E=691 C=zz", b"E=691 X=1", b"E=691 V=q", b"garbage"])
def test_failure_message_rejects_bad_text(text):
    with pytest.raises(mschap.Malformed):
        mschap.parse_failure(text)


def test_success_message_parse():
    s = "S=54644F81E5F18C0EE9E26776495D6BC7ADDFB767"
    assert mschap.parse_success_v2((s + " M=Access granted").encode()) == (s, "Access granted")
    assert mschap.parse_success_v2(s.encode()) == (s, "")
    for bad in (b"S=12", b"X=" + b"0" * 40, b"S=" + b"g" * 40):
        with pytest.raises(mschap.Malformed):
            mschap.parse_success_v2(bad)
