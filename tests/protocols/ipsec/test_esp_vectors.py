"""Published vectors through the ESP code path: RFC 3602 (AES-CBC and ESP packets), draft-mcgrew-gcm-test-01
(RFC 4106 AES-GCM-ESP packets), RFC 2202 / RFC 4231 / RFC 4868 HMACs through IcvMac (the ICV code of EspSa).

The IV of a sealed packet comes from the SA's rng (decision 0101): to reproduce a printed packet, the test
chooses the rng bytes that make the SA pick the printed IV. GCM: IV = seq XOR mask, so mask = IV XOR seq. CBC: the
IV is the encryption of (initial chaining block XOR extra block); with a zero seed the extra block is the sequence
number, so the chaining block is D_K(IV) XOR seq.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from rrasctl.protocols.ipsec.esp import EspSa, EspSuite, IcvMac, IntegAlg
from support import VECTORS

CBC = json.loads((VECTORS / "esp_aes_cbc.json").read_text())
GCM = json.loads((VECTORS / "esp_aes_gcm.json").read_text())


def rng_from(*chunks: bytes):
    queue = list(chunks)

    def rng(n: int) -> bytes:
        chunk = queue.pop(0)
        assert len(chunk) == n
        return chunk

    return rng


def cbc_rng_for_iv(key: bytes, iv: bytes, seq: int) -> object:
    """rng bytes that make a fresh AES-CBC SA send `iv` with its first packet, numbered `seq`."""
    d = Cipher(algorithms.AES(key), modes.ECB()).decryptor().update(iv)
    chaining = bytes(a ^ b for a, b in zip(d, seq.to_bytes(16, "big")))
    return rng_from(chaining, bytes(16))


def split_trailer(pre: bytes) -> tuple[bytes, int]:
    return pre[:len(pre) - 2 - pre[-2]], pre[-1]


# ---------------------------------------------------------------------------------------------- RFC 3602
@pytest.mark.parametrize("v", CBC["esp_packets"], ids=lambda v: f"case{v['test_case']}")
def test_rfc3602_esp_packet_seals_byte_exact(v):
    key, seq = bytes.fromhex(v["key"]), v["sequence_number"]
    spi = int(v["esp_spi_seq"][:8], 16)
    payload, next_header = split_trailer(bytes.fromhex(v["pre_encryption_payload"]))
    assert payload.hex() == (v["original_data"] if v["mode"] == "transport"
                             else v["original_ip_header"] + v["original_data"])
    sa = EspSa(spi, EspSuite.AES_CBC_128_NONE, key, rng=cbc_rng_for_iv(key, bytes.fromhex(v["iv"]), seq),
               first_seq=seq)
    wire = sa.seal(payload, next_header)
    assert wire.hex() == v["esp_spi_seq"] + v["esp_iv"] + v["encrypted_data"]
    assert wire.hex() == v["esp_packet_assembled"][len(v["post_ip_header"]):]


@pytest.mark.parametrize("v", CBC["esp_packets"], ids=lambda v: f"case{v['test_case']}")
def test_rfc3602_esp_packet_opens(v):
    spi = int(v["esp_spi_seq"][:8], 16)
    payload, next_header = split_trailer(bytes.fromhex(v["pre_encryption_payload"]))
    sa = EspSa(spi, EspSuite.AES_CBC_128_NONE, bytes.fromhex(v["key"]))
    opened = sa.open(bytes.fromhex(v["esp_spi_seq"] + v["esp_iv"] + v["encrypted_data"]))
    assert opened == (payload, next_header, v["sequence_number"])
    assert opened.next_header == (1 if v["mode"] == "transport" else 4)
    assert sa.window.top == v["sequence_number"] and not sa.stats


@pytest.mark.parametrize("v", CBC["aes_cbc_vectors"], ids=lambda v: f"case{v['test_case']}")
def test_rfc3602_aes_cbc_through_the_persistent_streams(v):
    """The SA's continuous CBC streams (decision 0101) give RFC 3602's raw AES-CBC results: sending, the extra
    block's output is the IV and the rest is the ciphertext; receiving, IV ‖ ciphertext minus the first block."""
    key, iv = bytes.fromhex(v["key"]), bytes.fromhex(v["iv"])
    plain, cipher = bytes.fromhex(v["plaintext"]), bytes.fromhex(v["ciphertext"])
    sa = EspSa(1, EspSuite.AES_CBC_128_NONE, key, rng=cbc_rng_for_iv(key, iv, 1))
    out = sa._enc((1).to_bytes(16, "big") + plain)          # what _seal_cbc feeds for sequence number 1
    assert out == iv + cipher
    sa._dec(bytes(16) * 3)                                  # decryptor state left by earlier packets is irrelevant
    assert sa._dec(iv + cipher)[16:] == plain


# ---------------------------------------------------------------------------------------------- RFC 4106 GCM
GCM_SUITES = {16: EspSuite.AES_GCM_16_128, 24: EspSuite.AES_GCM_16_192, 32: EspSuite.AES_GCM_16_256}


def _gcm_in_scope(v) -> bool:
    """32-bit sequence numbers (no ESN), a non-zero SPI, AES-GCM-ESP (not GMAC)."""
    return v["algorithm"] == "AES-GCM-ESP" and len(v["seq"]) == 8 and int(v["spi"], 16) != 0


GCM_OURS = [v for v in GCM["vectors"] if _gcm_in_scope(v)]


def test_gcm_vectors_out_of_scope_are_only_esn_spi0_and_gmac():
    """The vectors not replayed use ESN (64-bit AAD), SPI 0 (never sent, RFC 4303 §2.1) or AES-GMAC (RFC 4543)."""
    out = {v["test_case"]: ("esn" if len(v["seq"]) == 16 else "spi0" if int(v["spi"], 16) == 0 else "gmac")
           for v in GCM["vectors"] if not _gcm_in_scope(v)}
    assert out == {1: "esn", 4: "spi0", 5: "esn", 6: "esn", 8: "esn", 9: "esn", 10: "esn", 11: "esn",
                   13: "esn", 14: "esn", 15: "gmac", 16: "esn", 17: "esn"}
    assert [v["test_case"] for v in GCM_OURS] == [2, 3, 7, 12]


@pytest.mark.parametrize("v", GCM_OURS, ids=lambda v: f"case{v['test_case']}")
def test_gcm_vector_seals_byte_exact(v):
    key, nonce = bytes.fromhex(v["key"]), bytes.fromhex(v["nonce"])
    seq, spi = int(v["seq"], 16), int(v["spi"], 16)
    mask = (int.from_bytes(nonce[4:], "big") ^ seq).to_bytes(8, "big")
    payload, next_header = split_trailer(bytes.fromhex(v["plaintext"]))
    sa = EspSa(spi, GCM_SUITES[len(key)], key + nonce[:4], rng=rng_from(mask), first_seq=seq)
    assert sa.seal(payload, next_header).hex() == v["packet"]


@pytest.mark.parametrize("v", GCM_OURS, ids=lambda v: f"case{v['test_case']}")
def test_gcm_vector_opens_and_a_flipped_bit_fails_the_icv(v):
    key, nonce = bytes.fromhex(v["key"]), bytes.fromhex(v["nonce"])
    payload, next_header = split_trailer(bytes.fromhex(v["plaintext"]))
    packet = bytes.fromhex(v["packet"])
    sa = EspSa(int(v["spi"], 16), GCM_SUITES[len(key)], key + nonce[:4])
    for i in (0, 5, 8, 16, len(packet) - 1):                  # SPI/seq (AAD), IV (nonce), ciphertext, tag
        bad = bytearray(packet)
        bad[i] ^= 0x01
        assert sa.open(bytes(bad)) is None
    assert sa.stats == {"bad icv": 4, "wrong spi": 1}
    assert sa.open(packet) == (payload, next_header, int(v["seq"], 16))


# ---------------------------------------------------------------------------------------------- HMACs
def _hmac_cases(name: str, digest_key: str):
    data = json.loads((VECTORS / name).read_text())
    return [(v["test_case"], bytes.fromhex(v["key"]), bytes.fromhex(v["data"]), v[digest_key], v.get("digest_96"))
            for v in data["vectors"]]


@pytest.mark.parametrize("integ,name", [(IntegAlg.HMAC_MD5_96, "hmac_md5.json"),
                                        (IntegAlg.HMAC_SHA1_96, "hmac_sha1.json")])
def test_rfc2202_hmacs_and_their_96_bit_icvs(integ, name):
    cases = _hmac_cases(name, "digest")
    assert len(cases) == 7
    for _case, key, data, digest, digest_96 in cases:
        mac = IcvMac(integ, key)
        assert mac.digest(data).hex() == digest
        assert mac.icv(data).hex() == digest[:24]
        if digest_96 is not None:                           # cases that print the -96 value (RFC 2202 case 5)
            assert mac.icv(data).hex() == digest_96


def test_rfc4231_hmac_sha256():
    data = json.loads((VECTORS / "hmac_sha2.json").read_text())
    for v in data["vectors"]:
        out = IcvMac(IntegAlg.HMAC_SHA2_256_128, bytes.fromhex(v["key"])).digest(bytes.fromhex(v["data"])).hex()
        if v.get("truncated_to_bits"):                      # RFC 4231 §4.6 prints 128 bits only
            assert out[:v["truncated_to_bits"] // 4] == v["hmac_sha_256"]
        else:
            assert out == v["hmac_sha_256"]


def test_rfc4868_hmac_sha256_128_icvs_and_the_96_bit_variant():
    data = json.loads((VECTORS / "hmac_sha2_ipsec.json").read_text())
    auth256 = [v for v in data["vectors"] if "prf_hmac_sha_256" in v]
    assert [v["test_case"] for v in auth256] == ["AUTH256-1", "AUTH256-2", "AUTH256-3", "AUTH256-4"]
    for v in auth256:
        key, msg = bytes.fromhex(v["key"]), bytes.fromhex(v["data"])
        assert IcvMac(IntegAlg.HMAC_SHA2_256_128, key).digest(msg).hex() == v["prf_hmac_sha_256"]
        assert IcvMac(IntegAlg.HMAC_SHA2_256_128, key).icv(msg).hex() == v["hmac_truncated"]
        assert IcvMac(IntegAlg.HMAC_SHA2_256_96, key).icv(msg).hex() == v["prf_hmac_sha_256"][:24]
