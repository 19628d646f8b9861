"""MPPE (RFC 3078) encryptor/decryptor: RFC 3079 sample ciphertexts, round trips both ways in both modes at
each key length, stateful resynchronisation after loss, coherency-count wrap-around, drops."""

from __future__ import annotations

import json
import random

import pytest

from support import VECTORS
from rrasctl.protocols.ppp.auth import mschap
from rrasctl.protocols.ppp.mppe import MppeDecryptor, MppeEncryptor

KEYS = json.loads((VECTORS / "mppe_keys.json").read_text())["mschapv2"]
MODES = [(bits, stateless) for bits in (40, 56, 128) for stateless in (False, True)]
SERVER = mschap.mschap_v2_master_keys(bytes.fromhex(KEYS["key_128bit"]["password_hash_hash"]),
                                      bytes.fromhex(KEYS["key_128bit"]["nt_response"]), is_server=True)
CLIENT = SERVER.swapped()


def header(wire: bytes) -> tuple[int, int]:
    """(flag bits, coherency count)."""
    return wire[0] & 0xF0, ((wire[0] & 0x0F) << 8) | wire[1]


@pytest.mark.parametrize("bits", [40, 56, 128])
def test_first_stateful_packet_is_the_rfc3079_sample(bits):
    v = KEYS[f"key_{bits}bit"]
    enc = MppeEncryptor(bytes.fromhex(v["send_start_key"]), bits=bits)
    wire = enc.encrypt(v["sample_plaintext"].encode())
    expected = v.get("sample_ciphertext") or v["sample_ciphertext_recomputed"]
    assert wire == b"\x10\x00" + bytes.fromhex(expected)


def test_server_send_key_is_the_rfc3079_start_key():
    assert SERVER.send.hex() == KEYS["key_128bit"]["send_start_key"]


def test_stateless_first_packet_changes_key_once():
    master = SERVER.send
    first = mschap.initial_session_key(master, 128)
    key = mschap.change_key(master, first, 128)
    enc = MppeEncryptor(master, bits=128, stateless=True)
    assert enc.encrypt(b"\x00\x21hello") == b"\x90\x00" + mschap.rc4(key, b"\x00\x21hello")
    key2 = mschap.change_key(master, key, 128)
    assert enc.encrypt(b"\x00\x21hello") == b"\x90\x01" + mschap.rc4(key2, b"\x00\x21hello")


@pytest.mark.parametrize("bits", [40, 56])
def test_reduced_keys_keep_their_prefix_after_a_change(bits):
    master = SERVER.send
    key = mschap.change_key(master, mschap.initial_session_key(master, bits), bits)
    assert key[:3 if bits == 40 else 1] == (b"\xd1\x26\x9e" if bits == 40 else b"\xd1") and len(key) == 8


def test_stateful_stream_continues_across_packets():
    master = SERVER.send
    enc = MppeEncryptor(master, bits=128)
    stream = mschap.rc4(mschap.initial_session_key(master, 128), b"\x00" * 20)
    assert enc.encrypt(bytes(10))[2:] == stream[:10]
    assert enc.encrypt(bytes(10)) == b"\x10\x01" + stream[10:]


@pytest.mark.parametrize("bits, stateless", MODES)
def test_10000_packets_each_way(bits, stateless):
    rnd = random.Random(bits * 2 + stateless)
    for send_keys, recv_keys in ((SERVER, CLIENT), (CLIENT, SERVER)):
        enc = MppeEncryptor(send_keys.send, bits=bits, stateless=stateless)
        dec = MppeDecryptor(recv_keys.recv, bits=bits, stateless=stateless)
        counts = []
        for i in range(10_000):
            payload = b"\x00\x21" + rnd.randbytes(rnd.randrange(1, 64))
            wire = enc.encrypt(payload)
            counts.append(header(wire))
            assert wire[2:] != payload
            assert dec.decrypt(memoryview(wire) if i % 2 else wire) == payload
        assert dec.packets == enc.packets == 10_000 and not dec.stats
        flushed = [c for f, c in counts if f & 0x80]
        if stateless:
            assert len(flushed) == 10_000
        else:                                     # flag packets only: count & 0xFF == 0xFF
            assert flushed == [i % 4096 for i in range(10_000) if i & 0xFF == 0xFF]
            assert len(flushed) == 39
        # the 12-bit count wraps: 4095 is followed by 0
        assert [c for _, c in counts[4094:4098]] == [4094, 4095, 0, 1]


def test_directions_use_different_keys():
    a = MppeEncryptor(SERVER.send).encrypt(b"\x00\x21abc")
    b = MppeEncryptor(CLIENT.send).encrypt(b"\x00\x21abc")
    assert a != b
    assert MppeDecryptor(CLIENT.recv).decrypt(a) == b"\x00\x21abc"


def pump(enc, dec, n, start=0, lose=()):
    """Send n packets; lost indexes vanish; a decrypt failure triggers Reset-Request -> enc.reset()."""
    got, resets = [], 0
    for i in range(start, start + n):
        payload = i.to_bytes(4, "big") + b"\x00\x21"
        wire = enc.encrypt(payload)
        if i in lose:
            continue
        plain = dec.decrypt(wire)
        if dec.take_reset():
            resets += 1
            enc.reset()                       # the link's CCP Reset-Request reaches the sender
        if plain is not None:
            assert plain == payload
            got.append(i)
    return got, resets


def test_stateful_resync_after_a_lost_packet():
    enc, dec = MppeEncryptor(SERVER.send), MppeDecryptor(CLIENT.recv)
    got, resets = pump(enc, dec, 20, lose={5})
    assert resets == 1
    assert got == [0, 1, 2, 3, 4] + list(range(7, 20))   # 6 arrives before the reset: discarded
    assert dec.stats.as_dict() == {"mppe: packet lost, resynchronising": 1}
    assert not dec.discarding and not dec.take_reset()


def test_stateful_discard_state_waits_for_the_flushed_packet():
    enc, dec = MppeEncryptor(SERVER.send), MppeDecryptor(CLIENT.recv)
    wires = [enc.encrypt(bytes([i, 0x21])) for i in range(6)]
    assert dec.decrypt(wires[0]) == b"\x00\x21"
    assert dec.decrypt(wires[2]) is None and dec.need_reset and dec.discarding
    assert dec.take_reset() and not dec.take_reset()
    assert dec.decrypt(wires[3]) is None and dec.decrypt(wires[4]) is None
    assert not dec.need_reset                               # one Reset-Request per loss; the link repeats it
    enc.reset()
    flushed = enc.encrypt(b"\x06\x21")
    assert header(flushed) == (0x90, 6)
    assert dec.decrypt(flushed) == b"\x06\x21" and not dec.discarding
    assert dec.decrypt(enc.encrypt(b"\x07\x21")) == b"\x07\x21"
    assert dec.stats.as_dict() == {"mppe: packet lost, resynchronising": 1,
                                   "mppe: discarded while resynchronising": 2}


@pytest.mark.parametrize("bits", [40, 56, 128])
@pytest.mark.parametrize("lose", [{0xFF}, {0xFE, 0xFF, 0x100}, set(range(250, 900)), {4095}, {4096 + 0xFF}])
def test_stateful_resync_across_missed_flag_packets(bits, lose):
    enc, dec = MppeEncryptor(SERVER.send, bits=bits), MppeDecryptor(CLIENT.recv, bits=bits)
    got, resets = pump(enc, dec, 5000, lose=lose)
    assert resets == 1
    # the first packet after the gap reveals the loss (discarded), the next one is flushed and rekeyed
    assert got == list(range(min(lose))) + list(range(max(lose) + 2, 5000))


def test_stateless_survives_loss_and_reordering_within_half_the_count_space():
    enc, dec = MppeEncryptor(SERVER.send, stateless=True), MppeDecryptor(CLIENT.recv, stateless=True)
    wires = [enc.encrypt(bytes([i & 0xFF, 0x21])) for i in range(3000)]
    assert dec.decrypt(wires[0]) == b"\x00\x21"
    assert dec.decrypt(wires[2000]) == bytes([2000 & 0xFF, 0x21])      # 1999 lost: key changes catch up
    assert dec.decrypt(wires[1500]) is None                           # late: dropped
    assert dec.decrypt(wires[2000]) == bytes([2000 & 0xFF, 0x21])      # duplicate: same key
    assert dec.decrypt(wires[2001]) == bytes([2001 & 0xFF, 0x21])
    assert dec.stats.as_dict() == {"mppe: late packet": 1, "mppe: duplicate packet": 1}
    assert not dec.need_reset


@pytest.mark.parametrize("stateless, data, reason", [
    (False, b"\x10\x00", "mppe: short packet"),
    (False, b"\x00\x00abc", "mppe: packet not encrypted"),
    (False, b"\x30\x00abc", "mppe: compressed packet (MPPC not negotiated)"),
    (False, b"\x50\x00abc", "mppe: compressed packet (MPPC not negotiated)"),
    (False, b"\x10\xffabc", "mppe: flag packet without flushed bit"),
    (True, b"\x10\x00abc", "mppe: stateless packet without flushed bit"),
])
def test_bad_headers_are_dropped_and_counted(stateless, data, reason):
    dec = MppeDecryptor(CLIENT.recv, stateless=stateless)
    assert dec.decrypt(data) is None
    assert dec.stats.as_dict() == {reason: 1} and dec.packets == 0


def test_reset_in_stateless_mode_changes_nothing_visible():
    enc = MppeEncryptor(SERVER.send, stateless=True)
    ref = MppeEncryptor(SERVER.send, stateless=True)
    enc.reset()
    assert enc.encrypt(b"\x00\x21x") == ref.encrypt(b"\x00\x21x")


def test_bad_parameters():
    with pytest.raises(ValueError):
        MppeEncryptor(bytes(16), bits=64)
    with pytest.raises(ValueError):
        MppeDecryptor(bytes(7), bits=40)
    assert MppeEncryptor(bytes(8), bits=40).bits == 40 and MppeDecryptor(bytes(16)).bits == 128


def test_stateless_fast_path_and_fallback_agree(monkeypatch):
    from rrasctl.protocols.ppp import mppe

    payloads = [bytes([i & 0xFF]) * (i + 3) for i in range(300)]
    fast = [MppeEncryptor(SERVER.send, bits=b, stateless=True) for b in (40, 128)]
    monkeypatch.setitem(mppe._LIB, "lib", None)            # no libcrypto: new `cryptography` contexts
    slow = [MppeEncryptor(SERVER.send, bits=b, stateless=True) for b in (40, 128)]
    assert all(e._ks._rekeying._ctx is None for e in slow)
    for f, s in zip(fast, slow):
        assert [f.encrypt(p) for p in payloads] == [s.encrypt(p) for p in payloads]
    dec = MppeDecryptor(CLIENT.recv, stateless=True)
    assert dec.decrypt(fast[1].encrypt(b"\x00\x21abc")) == b"\x00\x21abc"
