"""Fuzz ESP: EspSa.open on mutated and random packets never raises, counts every drop, and leaves a healthy SA
working; RFC 3948 classification and the checksum fix-up raise only Malformed.

Default run: 20,000 ESP inputs (seeded, reproducible). RRASCTL_LONG=1: 1,000,000 (marked slow).
Inputs are mutations of genuine packets of each suite family (bit flips, truncations, extensions, splices, SPI and
sequence-number rewrites, replays) plus pure noise.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings, strategies as st

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ipsec import natt
from rrasctl.protocols.ipsec.esp import EspSa, EspSuite, Opened

LONG = os.environ.get("RRASCTL_LONG") == "1"
DEFAULT_N = 20_000
LONG_N = 1_000_000
SPI = 0x4242
SUITES = [EspSuite.AES_GCM_16_128, EspSuite.AES_CBC_256_SHA256, EspSuite.DES3_MD5, EspSuite.NULL_SHA1,
          EspSuite.AES_CBC_128_NONE, EspSuite.NULL_NONE]


def mutate(r: random.Random, seeds: list[bytes]) -> bytes:
    base = bytearray(r.choice(seeds))
    op = r.randrange(9)
    if op == 0:                                      # bit flips
        for _ in range(r.randint(1, 4)):
            if base:
                base[r.randrange(len(base))] ^= 1 << r.randrange(8)
    elif op == 1:                                    # truncation
        base = base[:r.randrange(len(base) + 1)]
    elif op == 2:                                    # splice two packets
        other = r.choice(seeds)
        base = base[:r.randrange(len(base) + 1)] + other[r.randrange(len(other) + 1):]
    elif op == 3 and len(base) >= 8:                 # another sequence number (0, the edges, random)
        base[4:8] = r.choice((0, 1, 0xFFFFFFFF, 0xFFFFFFFE, r.getrandbits(32))).to_bytes(4, "big")
    elif op == 4 and len(base) >= 4:                 # another SPI
        base[0:4] = r.getrandbits(32).to_bytes(4, "big")
    elif op == 5:                                    # random bytes
        base = bytearray(r.randbytes(r.randrange(80)))
    elif op == 6:                                    # the genuine packet again: a replay
        pass
    elif op == 7 and len(base) > 20:                 # damage the trailer area only
        base[-r.randint(1, 20)] = r.getrandbits(8)
    else:                                            # extend
        base += r.randbytes(r.randrange(20))
    return bytes(base)


def run_open(n: int, seed: int) -> dict[EspSuite, tuple[EspSa, EspSa]]:
    """Each suite: a sender makes seeds; two receivers open n / len(SUITES) mutated inputs: one with the
    anti-replay window (as the engine runs), one without it (so replays of genuine packets reach the ICV,
    decryption and trailer checks). Afterwards the windowed receiver must still open fresh genuine packets
    (suites with integrity: its window can only move on authentic packets)."""
    r = random.Random(seed)
    out: dict[EspSuite, tuple[EspSa, EspSa]] = {}
    per_suite = n // len(SUITES)
    for suite in SUITES:
        km = r.randbytes(suite.keymat_len)
        sender = EspSa(SPI, suite, km, rng=r.randbytes)
        strict, deep = EspSa(SPI, suite, km), EspSa(SPI, suite, km, replay_window=0)
        seeds = [sender.seal(r.randbytes(r.choice((0, 1, 3, 17, 40, 200))), r.choice((17, 17, 1, 4)))
                 for _ in range(16)]
        opened = {id(strict): 0, id(deep): 0}
        for i in range(per_suite):
            data = mutate(r, seeds)
            receiver = deep if i & 1 else strict
            result = receiver.open(data if i % 3 else memoryview(bytearray(data)))
            assert result is None or isinstance(result, Opened)
            opened[id(receiver)] += result is not None
            if i % 500 == 0:
                seeds[r.randrange(16)] = sender.seal(r.randbytes(r.randrange(100)), 17)
        assert sum(strict.stats.values()) + sum(deep.stats.values()) + sum(opened.values()) == per_suite
        if suite.has_integrity:
            for size in (0, 50, 1400):
                payload = r.randbytes(size)
                assert strict.open(sender.seal(payload, 17)) == (payload, 17, sender.seq)
        out[suite] = (strict, deep)
    return out


def run_natt(n: int, seed: int) -> None:
    r = random.Random(seed)
    udp_seed = bytes.fromhex("06a506a5001c3e4a") + r.randbytes(20)
    for _ in range(n):
        data = mutate(r, [natt.KEEPALIVE, natt.frame_ike(r.randbytes(28)), udp_seed])
        try:
            kind = natt.classify(data)
            if kind is natt.EncapKind.IKE:
                natt.ike_message(data)
        except Malformed:
            pass
        try:
            fixed = natt.fix_transport_checksum(data, r.choice((6, 17, 1)), "10.0.0.1", "10.0.0.2",
                                                "192.168.1.9", "10.0.0.2")
            assert len(fixed) == len(data)
        except Malformed:
            pass


def test_open_fuzz_default():
    results = run_open(DEFAULT_N, 1)
    strict, deep = results[EspSuite.AES_GCM_16_128]
    assert {"bad icv", "replayed", "short", "wrong spi", "zero sequence"} <= set(strict.stats)
    assert deep.stats["bad icv"] > 500                  # without the window, mutations reach the ICV
    _strict, deep = results[EspSuite.AES_CBC_128_NONE]
    assert deep.stats["bad padding"] > 100              # without integrity, garbage reaches the trailer checks


def test_natt_fuzz_default():
    run_natt(DEFAULT_N, 2)


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="1,000,000-input fuzz runs only with RRASCTL_LONG=1")
def test_open_fuzz_long():
    run_open(LONG_N, 11)


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="1,000,000-input fuzz runs only with RRASCTL_LONG=1")
def test_natt_fuzz_long():
    run_natt(LONG_N, 12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(SUITES))
def test_open_any_bytes(data, suite):
    sa = EspSa(SPI, suite, bytes(suite.keymat_len))
    result = sa.open(data)
    assert result is None or isinstance(result, Opened)
    assert sum(sa.stats.values()) == (result is None)
