"""IKEv1 key derivation against independent computations (issue 14, acceptance 1).

- ike_strongswan_vectors.json: SKEYID, SKEYID_d/a/e, the Appendix B encryption key and the quick mode KEYMAT that
  strongSwan 5.9.8's charon derived in four live exchanges with this core (its level-4 log; see the file's
  "source"), covering SHA-1 and SHA-256 PRFs, Appendix B expansion, three-block KEYMAT, AES-GCM salt and PFS.
- The Huawei aggressive-mode capture: HASH_R computed by a Huawei AR router, reproduced from the packets and the
  PSK "123" (tests/data/captures/README.md) with the SHA-256 PRF.
- MODP groups 1, 2, 5, 14 against tests/vectors/modp_groups.json (RFC 2409 §6, RFC 3526).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ike_capture import ike_datagrams
from support import VECTORS, fixed_rng

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ipsec.ike import keys
from rrasctl.protocols.ipsec.ike.constants import EncryptionAlgorithm, HashAlgorithm, ProtocolId
from rrasctl.protocols.ipsec.ike.groups import GROUPS, DhGroup, DhKey
from rrasctl.protocols.ipsec.ike.payloads import decode_message
from rrasctl.protocols.ipsec.ike.phase1 import aggressive_hash_r

STRONGSWAN = json.loads((Path(__file__).parent / "ike_strongswan_vectors.json").read_text())
SUITES = {"aes256-sha1-modp2048": (HashAlgorithm.SHA1, 32), "3des-sha1-modp1024": (HashAlgorithm.SHA1, 24),
          "aes128-sha256-modp2048": (HashAlgorithm.SHA2_256, 16)}
ESP_KEYS = {"aes128-sha1": (16, 20), "3des-sha1": (24, 20), "aes256gcm16": (36, 0)}


@pytest.mark.parametrize("case", STRONGSWAN["cases"], ids=lambda c: f"{c['phase1_suite']}+{c['esp_suite']}")
def test_phase1_keys_equal_strongswans(case):
    alg, enc_len = SUITES[case["phase1_suite"]]
    b = bytes.fromhex
    skeyid = keys.skeyid_psk(alg, case["psk_ascii"].encode(), b(case["ni_b"]), b(case["nr_b"]))
    k = keys.derive_phase1(alg, skeyid, b(case["gxy"]), b(case["cky_i"]), b(case["cky_r"]), enc_len)
    ss = case["strongswan"]
    assert [k.skeyid.hex(), k.skeyid_d.hex(), k.skeyid_a.hex(), k.skeyid_e.hex(), k.enc_key.hex()] == [
        ss["skeyid"], ss["skeyid_d"], ss["skeyid_a"], ss["skeyid_e"], ss["encryption_key_ka"]]


@pytest.mark.parametrize("case", STRONGSWAN["cases"], ids=lambda c: f"{c['phase1_suite']}+{c['esp_suite']}")
def test_quick_mode_keymat_equals_strongswans(case):
    alg, _ = SUITES[case["phase1_suite"]]
    enc_len, integ_len = ESP_KEYS[case["esp_suite"]]
    b = bytes.fromhex
    d = bytes.fromhex(case["strongswan"]["skeyid_d"])
    gqm = b(case["gqm_xy"]) if case["gqm_xy"] else b""
    assert (gqm != b"") == (case["pfs_group"] is not None)
    to_responder = keys.keymat(alg, d, ProtocolId.ESP, b(case["responder_inbound_spi"]), b(case["qm_ni_b"]),
                               b(case["qm_nr_b"]), enc_len + integ_len, gqm)
    to_initiator = keys.keymat(alg, d, ProtocolId.ESP, b(case["initiator_inbound_spi"]), b(case["qm_ni_b"]),
                               b(case["qm_nr_b"]), enc_len + integ_len, gqm)
    ss = case["strongswan"]
    assert to_responder.hex() == ss["encryption_initiator_key"] + ss["integrity_initiator_key"]
    assert to_initiator.hex() == ss["encryption_responder_key"] + ss["integrity_responder_key"]


def test_appendix_b_expansion_is_k1_k2_chained_from_a_zero_octet():
    e = bytes(range(20))
    k1 = keys.prf(HashAlgorithm.SHA1, e, b"\0")
    k2 = keys.prf(HashAlgorithm.SHA1, e, k1)
    assert keys.expand(HashAlgorithm.SHA1, e, b"", 24, first=b"\0") == (k1 + k2)[:24]


def test_huawei_aggressive_mode_hash_r_with_psk_123():
    am1, am2 = (decode_message(d.message) for d in ike_datagrams("ikev1-huawei-aggressive-psk.pcap")[:2])
    expected, received = aggressive_hash_r(b"123", am1.chain, am2.chain, am1.header.ispi, am2.header.rspi)
    assert expected == received == bytes.fromhex("058515b32b15cbf03b35fb19035befa2c911b423fec898fa2aaabcb2548e9596")
    wrong, _ = aggressive_hash_r(b"124", am1.chain, am2.chain, am1.header.ispi, am2.header.rspi)
    assert wrong != received


def test_modp_groups_are_the_published_primes():
    published = {g["group_id"]: g for g in json.loads((VECTORS / "modp_groups.json").read_text())["groups"]}
    assert sorted(published) == sorted(GROUPS) == [1, 2, 5, 14]
    for gid, g in GROUPS.items():
        assert g.prime == int(published[gid]["prime"], 16)
        assert g.generator == published[gid]["generator"] == 2
        assert g.length * 8 == published[gid]["prime_bits"]


@pytest.mark.parametrize("group", list(DhGroup))
def test_dh_backends_agree_and_both_sides_share_a_secret(group):
    a_ssl, b_ssl = DhKey(group, fixed_rng(1), backend="openssl"), DhKey(group, fixed_rng(2), backend="openssl")
    a_pow, b_pow = DhKey(group, fixed_rng(1), backend="pow"), DhKey(group, fixed_rng(2), backend="pow")
    assert a_ssl.public == a_pow.public and len(a_ssl.public) == GROUPS[group].length
    secret = a_ssl.shared(b_ssl.public)
    assert secret == b_ssl.shared(a_ssl.public) == a_pow.shared(b_pow.public) == b_pow.shared(a_pow.public)
    assert len(secret) == GROUPS[group].length


def test_default_backend_is_openssl_for_5_and_14_and_pow_for_1_and_2():
    assert {g: type(DhKey(g, fixed_rng(3))._impl).__name__ for g in DhGroup} == {
        DhGroup.MODP768: "_Pow", DhGroup.MODP1024: "_Pow", DhGroup.MODP1536: "_OpenSsl", DhGroup.MODP2048: "_OpenSsl"}


@pytest.mark.parametrize("bad", [b"\0" * 127 + b"\1", b"\0" * 128, b"\xff" * 128, b"\0" * 127 + b"\2" + b"\0"])
def test_a_peer_public_value_out_of_range_or_size_is_malformed(bad):
    key = DhKey(DhGroup.MODP1024, fixed_rng(4))
    p_minus_1 = (GROUPS[DhGroup.MODP1024].prime - 1).to_bytes(128, "big")
    for value in (bad, p_minus_1):
        with pytest.raises(Malformed):
            key.shared(value)


def test_phase1_and_exchange_ivs_and_nat_d_hash():
    gxi, gxr = b"\x01" * 128, b"\x02" * 128
    assert keys.phase1_iv(HashAlgorithm.SHA1, gxi, gxr, 16) == keys.hash_(HashAlgorithm.SHA1, gxi + gxr)[:16]
    assert keys.exchange_iv(HashAlgorithm.MD5, b"B" * 8, 0x01020304, 8) == \
        keys.hash_(HashAlgorithm.MD5, b"B" * 8 + b"\x01\x02\x03\x04")[:8]
    assert keys.natd_hash(HashAlgorithm.SHA1, b"i" * 8, b"r" * 8, "192.0.2.1", 4500) == \
        keys.hash_(HashAlgorithm.SHA1, b"i" * 8 + b"r" * 8 + bytes([192, 0, 2, 1]) + b"\x11\x94")


@pytest.mark.parametrize("alg,key", [(EncryptionAlgorithm.AES_CBC, b"Q" * 32), (EncryptionAlgorithm.AES_CBC, b"Q" * 16),
                                     (EncryptionAlgorithm.TRIPLE_DES_CBC, b"Q" * 24),
                                     (EncryptionAlgorithm.DES_CBC, b"Q" * 8)], ids=["aes256", "aes128", "3des", "des"])
def test_isakmp_cipher_pads_with_zeros_and_chains_the_last_block(alg, key):
    c = keys.IsakmpCipher(alg, key)
    iv = b"\x07" * c.block
    ct, last = c.encrypt(iv, b"hello, world")
    assert len(ct) % c.block == 0 and last == ct[-c.block:]
    plain, last2 = c.decrypt(iv, ct)
    assert plain == b"hello, world" + bytes(len(ct) - 12) and last2 == last
    with pytest.raises(Malformed, match="whole number of blocks"):
        c.decrypt(iv, ct[:-1])
    assert "Q" not in repr(c) and "51" not in repr(c)
