"""EspSa behaviour: round trips for every suite, exact wire layout, drops counted by reason (replayed, too old,
tampered ICV, bad padding, dummy packets, wrong SPI, short), the window updated only after the ICV, sequence
exhaustion (RFC 4303 §3.3.3), keymat split, suite_from_ike."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rrasctl.protocols.base import CoreMisuse, ProtocolError
from rrasctl.protocols.ipsec.esp import (EspSa, EspSuite, IcvMac, IntegAlg, Opened, SequenceExhausted,
                                         UnsupportedSuite, suite_from_ike)
from rrasctl.protocols.ipsec.replay import SEQ_MAX
from support import fixed_rng

SPI = 0xC0DE0001
ALL = list(EspSuite)


def keymat(suite: EspSuite, seed: int = 1) -> bytes:
    return bytes((seed * 7 + i * 13) & 0xFF for i in range(suite.keymat_len))


def pair(suite: EspSuite, **kw) -> tuple[EspSa, EspSa]:
    km = keymat(suite)
    return EspSa(SPI, suite, km, rng=fixed_rng(3), **kw), EspSa(SPI, suite, km, **kw)


@pytest.mark.parametrize("suite", ALL, ids=lambda s: s.name)
def test_round_trip_every_length_and_layout(suite):
    out, inb = pair(suite)
    for n in range(0, 40):
        payload = bytes(range(n))
        wire = out.seal(payload, 17)
        body = len(wire) - 8 - suite.iv_len - suite.icv_len
        assert body % suite.block_size == 0 and body >= n + 2
        assert body - (n + 2) < suite.block_size                      # minimal padding
        assert struct.unpack_from("!II", wire) == (SPI, n + 1)
        assert inb.open(wire) == Opened(payload, 17, n + 1)
    assert not inb.stats and inb.window.top == 40 and out.seq == 40


@pytest.mark.parametrize("suite", ALL, ids=lambda s: s.name)
def test_memoryview_and_bytearray_inputs(suite):
    out, inb = pair(suite)
    wire = out.seal(memoryview(b"payload!"), 50)
    assert inb.open(memoryview(bytearray(wire))) == (b"payload!", 50, 1)
    assert inb.open(bytearray(out.seal(bytearray(b"x" * 100), 6))).payload == b"x" * 100


def test_gcm_packet_is_what_rfc4106_describes():
    suite = EspSuite.AES_GCM_16_128
    km = bytes(range(20))
    out = EspSa(SPI, suite, km, rng=lambda n: b"\x00" * 7 + b"\x10")      # IV mask 0x10
    wire = out.seal(b"hello", 17)
    spi, seq, iv = struct.unpack_from("!IIQ", wire)
    assert (spi, seq, iv) == (SPI, 1, 1 ^ 0x10)
    plain = AESGCM(km[:16]).decrypt(km[16:] + wire[8:16], wire[16:], wire[:8])   # nonce = salt ‖ IV, AAD = SPI ‖ seq
    assert plain == b"hello" + b"\x01" + b"\x01" + b"\x11"               # pad 1 (5 + 1 + 2 = 8), pad length, next header


def test_cbc_packet_decrypts_with_a_plain_cbc_call_and_the_icv_is_hmac_over_header_iv_ciphertext():
    suite = EspSuite.AES_CBC_256_SHA256
    km = keymat(suite)
    wire = EspSa(SPI, suite, km, rng=fixed_rng(9)).seal(b"A" * 20, 17)
    iv, ct, icv = wire[8:24], wire[24:-16], wire[-16:]
    plain = Cipher(algorithms.AES(km[:32]), modes.CBC(iv)).decryptor().update(ct)
    assert plain == b"A" * 20 + bytes(range(1, 11)) + b"\x0a\x11"
    assert icv == IcvMac(IntegAlg.HMAC_SHA2_256_128, km[32:]).digest(wire[:-16])[:16]


def test_cbc_ivs_differ_and_are_not_the_previous_ciphertext_block():
    out, _ = pair(EspSuite.AES_CBC_128_SHA1)
    wires = [out.seal(b"same payload", 17) for _ in range(50)]
    ivs = [w[8:24] for w in wires]
    assert len(set(ivs)) == 50
    for prev, iv in zip(wires, ivs[1:]):
        assert iv != prev[-12 - 16:-12]                                    # not TLS 1.0's chained IV
    assert len({w[24:-12] for w in wires}) == 50                           # same plaintext, different ciphertext


def test_the_same_rng_gives_the_same_bytes():
    a = EspSa(SPI, EspSuite.DES3_SHA1, keymat(EspSuite.DES3_SHA1), rng=fixed_rng(5))
    b = EspSa(SPI, EspSuite.DES3_SHA1, keymat(EspSuite.DES3_SHA1), rng=fixed_rng(5))
    assert [a.seal(b"x" * i, 17) for i in range(5)] == [b.seal(b"x" * i, 17) for i in range(5)]


@pytest.mark.parametrize("suite", [EspSuite.AES_GCM_16_128, EspSuite.AES_CBC_128_SHA1, EspSuite.DES_MD5,
                                   EspSuite.NULL_SHA256], ids=lambda s: s.name)
def test_replayed_and_too_old_are_dropped_and_counted(suite):
    out, inb = pair(suite, replay_window=64)
    wires = [out.seal(bytes([i]), 17) for i in range(1, 101)]
    assert inb.open(wires[99]) is not None                                 # seq 100
    assert inb.open(wires[99]) is None                                     # replayed
    assert inb.open(wires[35]) is None                                     # seq 36: 64 behind -> too old
    assert inb.open(wires[36]) is not None                                 # seq 37: 63 behind, new
    assert inb.open(wires[36]) is None
    assert inb.stats == {"replayed": 2, "too old": 1}


@pytest.mark.parametrize("suite", [s for s in ALL if s.has_integrity], ids=lambda s: s.name)
def test_tampered_packets_fail_the_icv_and_leave_the_window_alone(suite):
    out, inb = pair(suite)
    wire = out.seal(b"important", 17)
    for i in range(4, len(wire)):                                          # every octet after the SPI
        bad = bytearray(wire)
        bad[i] ^= 0x80
        assert inb.open(bytes(bad)) is None
    tampered = len(wire) - 4
    # a flipped sequence number bit may land below the window's top (0 -> zero sequence) or be new: still bad icv
    assert inb.stats["bad icv"] + inb.stats.get("zero sequence", 0) == tampered
    assert inb.window.top == 0 and inb.window.bitmap == 0                  # nothing was accepted
    assert inb.open(wire) == (b"important", 17, 1)                         # the genuine packet still opens


def test_a_forged_high_sequence_number_does_not_slide_the_window():
    out, inb = pair(EspSuite.AES_CBC_128_SHA1)
    first = out.seal(b"1", 17)
    forged = bytearray(out.seal(b"2", 17))
    forged[4:8] = (SEQ_MAX).to_bytes(4, "big")                             # valid-looking but the ICV covers seq
    assert inb.open(bytes(forged)) is None and inb.stats == {"bad icv": 1}
    assert inb.window.top == 0
    assert inb.open(first) is not None


def test_wrong_spi_short_and_bad_length():
    out, inb = pair(EspSuite.AES_CBC_128_SHA1)
    wire = out.seal(b"abc" * 7, 17)                                        # two blocks of ciphertext
    assert inb.open(wire[:51]) is None                                     # short: under one block
    assert inb.open(wire[:-1]) is None                                     # not whole blocks
    other = bytearray(wire)
    other[0:4] = (SPI + 1).to_bytes(4, "big")
    assert inb.open(bytes(other)) is None
    assert inb.stats == {"short": 1, "bad length": 1, "wrong spi": 1}


def _seal_raw_null(spi: int, seq: int, plain_with_trailer: bytes, km: bytes) -> bytes:
    body = struct.pack("!II", spi, seq) + plain_with_trailer
    return body + IcvMac(IntegAlg.HMAC_SHA1_96, km).icv(body)


def test_padding_pad_length_and_next_header_checks():
    suite = EspSuite.NULL_SHA1
    km = keymat(suite)
    inb = EspSa(SPI, suite, km, next_headers=frozenset({17}))
    cases = {
        1: b"data" + b"\x01\x02\x02\x11",           # good
        2: b"data" + b"\x01\x03\x02\x11",           # padding not 1, 2
        3: b"da" + b"\x09\x11",                     # pad length longer than the packet
        4: b"data" + b"\x00\x00\x02\x3b",           # (bad padding wins over the dummy check)
        5: b"data" + b"\x01\x02\x02\x3b",           # next header 59: dummy packet
        6: b"data" + b"\x01\x02\x02\x06",           # TCP: not allowed on this SA
    }
    results = {seq: inb.open(_seal_raw_null(SPI, seq, plain, km)) for seq, plain in cases.items()}
    assert results[1] == (b"data", 17, 1)
    assert all(results[s] is None for s in (2, 3, 4, 5, 6))
    assert inb.stats == {"bad padding": 3, "dummy packet": 1, "next header": 1}
    assert inb.window.top == 6                     # they all passed the ICV: the window moved (RFC 4303 §3.4.3)


def test_sequence_number_exhaustion_sets_rekey_due_then_refuses():
    suite = EspSuite.AES_GCM_16_256
    out = EspSa(SPI, suite, keymat(suite), rng=fixed_rng(1), first_seq=SEQ_MAX - 2, rekey_margin=4)
    inb = EspSa(SPI, suite, keymat(suite))
    assert out.rekey_due is False
    for seq in (SEQ_MAX - 2, SEQ_MAX - 1, SEQ_MAX):
        assert inb.open(out.seal(b"x", 17)).seq == seq
        assert out.rekey_due is True                # fewer than 4 numbers were left already at SEQ_MAX - 2
    assert out.exhausted and out.seq == SEQ_MAX
    with pytest.raises(SequenceExhausted, match="rekey"):
        out.seal(b"x", 17)
    assert out.seq == SEQ_MAX                       # never wraps to 0
    assert isinstance(SequenceExhausted("x"), ProtocolError)


def test_rekey_due_flips_exactly_at_the_margin():
    suite = EspSuite.NULL_SHA1
    out = EspSa(SPI, suite, keymat(suite), first_seq=SEQ_MAX - 10, rekey_margin=8)
    seen = []
    for _ in range(4):
        out.seal(b"", 17)
        seen.append((out.seq, out.rekey_due))
    # rekey_due from 2^32 - margin on: that number and the margin - 1 after it are all that is left
    assert seen == [(SEQ_MAX - 10, False), (SEQ_MAX - 9, False), (SEQ_MAX - 8, False), (SEQ_MAX - 7, True)]


@pytest.mark.parametrize("suite", ALL, ids=lambda s: s.name)
def test_keymat_is_encryption_key_then_salt_then_integrity_key(suite):
    km = keymat(suite, 5)
    enc_key = km[:suite.enc_key_len]
    wire = EspSa(SPI, suite, km, rng=fixed_rng(2)).seal(b"split", 17)
    if suite.aead:
        salt = km[suite.enc_key_len:suite.enc_key_len + 4]
        assert AESGCM(enc_key).decrypt(salt + wire[8:16], wire[16:], wire[:8])[:5] == b"split"
    if suite.icv_len and not suite.aead:
        integ_key = km[suite.enc_key_len:]
        assert len(integ_key) == suite.auth_key_len
        assert wire[-suite.icv_len:] == IcvMac(suite.integ, integ_key).icv(wire[:-suite.icv_len])


def test_caller_mistakes_are_core_misuse_and_name_no_key():
    suite = EspSuite.AES_CBC_128_SHA1
    km = keymat(suite)
    with pytest.raises(CoreMisuse, match="keymat is 35 octets; AES_CBC_128_SHA1 needs 36") as exc:
        EspSa(SPI, suite, km[:-1])
    assert km[:8].hex() not in str(exc.value)
    with pytest.raises(CoreMisuse, match="SPI 0"):
        EspSa(0, suite, km)
    with pytest.raises(CoreMisuse, match="first_seq"):
        EspSa(SPI, suite, km, first_seq=0)
    assert "keymat" not in repr(EspSa(SPI, suite, km)) and km.hex()[:8] not in repr(EspSa(SPI, suite, km))


# ---------------------------------------------------------------------------------------------- suites / IKE ids
@pytest.mark.parametrize("args,suite", [
    ((20, 128, None), EspSuite.AES_GCM_16_128),
    ((20, 256, None), EspSuite.AES_GCM_16_256),
    ((12, 128, 2), EspSuite.AES_CBC_128_SHA1),
    ((12, 256, 2), EspSuite.AES_CBC_256_SHA1),
    ((12, 128, 5), EspSuite.AES_CBC_128_SHA256),
    ((12, 256, 5), EspSuite.AES_CBC_256_SHA256),
    ((12, 192, 1), EspSuite.AES_CBC_192_MD5),
    ((3, None, 2), EspSuite.DES3_SHA1),
    ((3, 192, 1), EspSuite.DES3_MD5),
    ((2, None, 2), EspSuite.DES_SHA1),
    ((2, None, 1), EspSuite.DES_MD5),
    ((11, None, 2), EspSuite.NULL_SHA1),
])
def test_suite_from_ike(args, suite):
    assert suite_from_ike(*args) is suite
    tid, bits, auth = suite.ike
    assert suite_from_ike(tid, bits, auth) is suite


def test_suite_from_ike_sha256_96_by_configuration():
    assert suite_from_ike(12, 128, 5, sha256_96=True) is EspSuite.AES_CBC_128_SHA256_96
    assert EspSuite.AES_CBC_128_SHA256_96.icv_len == 12 and EspSuite.AES_CBC_128_SHA256.icv_len == 16


@pytest.mark.parametrize("args,reason", [
    ((13, 128, 2), "ESP transform id 13 is not supported"),            # AES-CTR
    ((18, 128, None), "ESP transform id 18 is not supported"),         # GCM with an 8-octet ICV
    ((12, None, 2), "AES_CBC without a Key Length attribute"),
    ((12, 512, 2), "AES_CBC key length 512 bits"),
    ((20, 128, 2), "AES-GCM with an Authentication Algorithm attribute"),
    ((3, None, None), "DES3_CBC without integrity"),
    ((11, None, None), "NULL without integrity"),
    ((3, None, 7), "authentication algorithm 7 is not supported"),
    ((2, 128, 2), "DES_CBC key length 128 bits"),
])
def test_suite_from_ike_refuses_with_a_typed_reason(args, reason):
    with pytest.raises(UnsupportedSuite) as exc:
        suite_from_ike(*args)
    assert exc.value.reason.startswith(reason)


def test_suite_table_lengths():
    s = EspSuite.AES_GCM_16_128
    assert (s.enc_key_len, s.salt_len, s.auth_key_len, s.icv_len, s.iv_len, s.block_size, s.keymat_len) == \
        (16, 4, 0, 16, 8, 4, 20)
    s = EspSuite.DES3_SHA1
    assert (s.enc_key_len, s.salt_len, s.auth_key_len, s.icv_len, s.iv_len, s.block_size, s.keymat_len) == \
        (24, 0, 20, 12, 8, 8, 44)
    s = EspSuite.AES_CBC_256_SHA256
    assert (s.keymat_len, s.icv_len, s.block_size, s.label) == (64, 16, 16, "aes256-sha256")
    assert {s for s in EspSuite if not s.negotiable} == {
        EspSuite.AES_CBC_128_NONE, EspSuite.AES_CBC_192_NONE, EspSuite.AES_CBC_256_NONE, EspSuite.DES3_NONE,
        EspSuite.DES_NONE, EspSuite.NULL_NONE}
