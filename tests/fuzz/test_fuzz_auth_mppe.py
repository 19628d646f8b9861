"""Fuzz the PAP/CHAP/MS-CHAP parsers, the auth cores' receive() and MPPE decrypt.

Random and mutated inputs (from valid packets of a real exchange): parsers either decode or raise the project's
own ProtocolError (Malformed); receive() and decrypt() never raise. 20,000 inputs per target by default,
1,000,000 with RRASCTL_LONG=1.
"""

from __future__ import annotations

import os
import random

import pytest

from rrasctl.protocols.base import ProtocolError
from rrasctl.protocols.ppp.auth import (
    AuthenticatorConfig,
    AuthMethod,
    AuthRequested,
    AuthState,
    PeerConfig,
    mschap,
    new_authenticator,
    new_peer,
)
from rrasctl.protocols.ppp.auth.chap import decode_value_name
from rrasctl.protocols.ppp.auth.core import decode_packet
from rrasctl.protocols.ppp.auth.pap import decode_message, decode_request
from rrasctl.protocols.ppp.mppe import MppeDecryptor, MppeEncryptor

LONG = os.environ.get("RRASCTL_LONG") == "1"
N = 20_000
METHODS = [AuthMethod.PAP, AuthMethod.CHAP_MD5, AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2]


def seeded_rng(seed):
    r = random.Random(seed)
    return lambda n: r.randbytes(n)


def exchange(method, password: str, seed: int) -> list[bytes]:
    """The packets of a real exchange between an authenticator and a peer seeded with `seed`, `seed + 1`."""
    out = []
    auth = new_authenticator(method, AuthenticatorConfig(max_retries=1), rng=seeded_rng(seed))
    peer = new_peer(method, PeerConfig("bob", password, max_retries=1), rng=seeded_rng(seed + 1))
    auth.start(0.0)
    peer.start(0.0)
    for _ in range(10):
        for pkt in auth.take_output():
            out.append(pkt)
            peer.receive(pkt, 0.0)
        for pkt in peer.take_output():
            out.append(pkt)
            for ev in auth.receive(pkt, 0.0):
                if isinstance(ev, AuthRequested):
                    auth.answer_password("pw", 0.0)
    return out


def corpus() -> list[bytes]:
    """Valid packets of every method, both directions, success and failure with retry."""
    out = [pkt for method in METHODS for password in ("pw", "wrong") for pkt in exchange(method, password, 1)]
    out += [b"E=691 R=1 C=00112233445566778899AABBCCDDEEFF V=3 M=x", b"S=" + b"A" * 40 + b" M=ok"]
    return out


def mutate(r: random.Random, seeds: list[bytes]) -> bytes:
    choice = r.random()
    if choice < 0.2:
        return r.randbytes(r.randrange(0, 80))
    data = bytearray(r.choice(seeds))
    for _ in range(r.randrange(0, 4)):      # 0: the packet as it was (moves the cores' state on)
        op = r.randrange(5)
        if op == 0 and data:
            data[r.randrange(len(data))] ^= 1 << r.randrange(8)
        elif op == 1:
            del data[r.randrange(len(data) + 1):]
        elif op == 2:
            pos = r.randrange(len(data) + 1)
            data[pos:pos] = r.randbytes(r.randrange(1, 8))
        elif op == 3 and len(data) >= 4:
            data[r.randrange(4)] = r.randrange(256)        # header: code, id, length
        elif op == 4 and data:
            data[r.randrange(len(data))] = r.choice(b"ERCVMS= 0123456789ABCDEF")
    return bytes(data)


def _parsers(data: bytes) -> None:
    for parse in (lambda d: decode_packet(d, "p"), lambda d: decode_value_name(d, "v"), decode_request,
                  mschap.parse_failure, mschap.parse_success_v2, decode_message):
        try:
            parse(data)
        except ProtocolError:
            pass


def _run_parsers(n: int, seed: int) -> None:
    r = random.Random(seed)
    seeds = corpus()
    for _ in range(n):
        _parsers(mutate(r, seeds))


def _run_cores(n: int, seed: int) -> tuple[int, int]:
    """Feed mutated packets to every core in every state. The cores of each group share their rng seeds with a
    real exchange, so its packets (ids, challenges, responses) match and mutations reach the deep paths.
    Returns (packets counted as bad, events emitted)."""
    r = random.Random(seed)
    bad = events_seen = 0
    cores: list = []
    seeds: list[bytes] = []
    for i in range(n):
        if i % 200 == 0:
            bad += sum(sum(c.stats.values()) for c in cores)
            cores, seeds = [], []
            for method in METHODS:
                password = r.choice(["pw", "wrong"])
                seeds += exchange(method, password, i)
                auth = new_authenticator(method, AuthenticatorConfig(max_retries=1), rng=seeded_rng(i))
                peer = new_peer(method, PeerConfig("bob", password, max_retries=1), rng=seeded_rng(i + 1))
                auth.start(0.0)
                peer.start(0.0)
                cores += [auth, peer]
        core = cores[r.randrange(len(cores))]
        events = core.receive(mutate(r, seeds), float(i % 200))
        events_seen += len(events)
        for ev in events:
            if isinstance(ev, AuthRequested):
                if r.random() < 0.5:
                    events_seen += len(core.answer_password(r.choice(["pw", None, "x"]), float(i % 200)))
                else:
                    events_seen += len(core.answer_external(
                        r.random() < 0.5, error=r.choice([691, 649]), now=float(i % 200),
                        authenticator_response=b"S=" + b"0" * 40))
        if r.random() < 0.05:
            events_seen += len(core.handle_timer(float(i % 200) + r.choice([3.0, 100.0])))
        core.take_output()
        assert core.state in AuthState
    return bad, events_seen


def _run_mppe(n: int, seed: int) -> None:
    r = random.Random(seed)
    key = bytes(range(16))
    seeds = []
    for stateless in (False, True):
        enc = MppeEncryptor(key, stateless=stateless)
        seeds += [enc.encrypt(r.randbytes(r.randrange(1, 40))) for _ in range(300)]
    decs = [MppeDecryptor(key, bits=b, stateless=s) for b in (40, 56, 128) for s in (False, True)]
    for _ in range(n):
        dec = decs[r.randrange(len(decs))]
        out = dec.decrypt(mutate(r, seeds))
        assert out is None or isinstance(out, bytes)
        dec.take_reset()


def test_fuzz_parsers():
    _run_parsers(N, 1)


def test_fuzz_core_receive_never_raises():
    bad, events = _run_cores(N, 2)
    assert bad > 1000          # the mutations reach the decoders, which count what they drop
    assert events > 500        # and the cores' decisions: AuthRequested, AuthSucceeded, AuthFailed


def test_fuzz_mppe_decrypt_never_raises():
    _run_mppe(N, 3)


LONG_N = 1_000_000
slow = [pytest.mark.slow, pytest.mark.timeout(7200),
        pytest.mark.skipif(not LONG, reason="1,000,000-input fuzz runs only with RRASCTL_LONG=1")]


@pytest.mark.parametrize("target", [_run_parsers, _run_cores, _run_mppe], ids=["parsers", "cores", "mppe"])
@slow[0]
@slow[1]
@slow[2]
def test_fuzz_long(target):
    target(LONG_N, 11)


def test_one_core_bad_input_leaves_another_untouched():
    a = new_authenticator(AuthMethod.MSCHAP_V2, rng=seeded_rng(5))
    b = new_authenticator(AuthMethod.MSCHAP_V2, rng=seeded_rng(5))
    a.start(0.0)
    b.start(0.0)
    ref = (b.state, b.take_output(), b.next_timer(), dict(b.stats))
    r = random.Random(9)
    seeds = corpus()
    for i in range(2000):
        a.receive(mutate(r, seeds), float(i))
    a.take_output()
    assert (b.state, b.take_output(), b.next_timer(), dict(b.stats)) == (ref[0], [], ref[2], ref[3])
    assert sum(a.stats.values()) > 0
