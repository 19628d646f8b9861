"""Fuzz the PPTP decoders and cores: any bytes either decode or raise Malformed; receive() never raises.

Default run: 20,000 inputs per harness (seeded, reproducible). RRASCTL_LONG=1: 1,000,000 (marked slow).
Inputs are mutations of valid messages (bit flips, truncations, splices, length-field lies) plus pure noise.
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings, strategies as st

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.pptp import gre, messages as m
from rrasctl.protocols.pptp.control import ControlConfig, ControlState, PptpControl, Role

LONG = os.environ.get("RRASCTL_LONG") == "1"
DEFAULT_N = 20_000
LONG_N = 1_000_000

SEEDS = [cls().encode() for cls in m.MESSAGES.values()] + [
    m.StartControlConnectionRequest(host_name="pns", vendor="x").encode(),
    m.OutgoingCallRequest(call_id=7, recv_window=3).encode(),
    m.OutgoingCallReply(call_id=9, peer_call_id=7, result=m.OcrpResult.BUSY).encode(),
    m.CallDisconnectNotify(call_id=9, call_statistics="stats").encode(),
]
GRE_SEEDS = [
    gre.GreHeader(1, 4, seq=5, ack=6).encode(b"\xff\x03\xc0\x21"),
    gre.GreHeader(1, 0, ack=6).encode(),
    gre.GreHeader(1, 3, seq=0xFFFFFFFF).encode(b"\x21\x45\x00"),
]


def mutate(r: random.Random, seeds: list[bytes]) -> bytes:
    base = bytearray(r.choice(seeds))
    op = r.randrange(7)
    if op == 0:                                      # bit flips
        for _ in range(r.randint(1, 4)):
            if base:
                base[r.randrange(len(base))] ^= 1 << r.randrange(8)
    elif op == 1:                                    # truncation
        base = base[:r.randrange(len(base) + 1)]
    elif op == 2:                                    # splice two messages
        other = r.choice(seeds)
        base = base[:r.randrange(len(base) + 1)] + other[r.randrange(len(other) + 1):]
    elif op == 3 and len(base) >= 2:                 # lie in the length field
        base[0:2] = r.randrange(65536).to_bytes(2, "big")
    elif op == 4:                                    # random bytes
        base = bytearray(r.randbytes(r.randrange(64)))
    elif op == 5 and len(base) > 10:                 # random type
        base[8:10] = r.randrange(20).to_bytes(2, "big")
    else:                                            # extend
        base += r.randbytes(r.randrange(8))
    return bytes(base)


def run_decoders(n: int, seed: int) -> dict[str, int]:
    r = random.Random(seed)
    seen = {"ok": 0, "malformed": 0}
    for _ in range(n):
        data = mutate(r, SEEDS)
        try:
            m.decode(data)
            seen["ok"] += 1
        except Malformed:
            seen["malformed"] += 1
        g = mutate(r, GRE_SEEDS)
        try:
            gre.decode(g)
        except Malformed:
            pass
    return seen


def run_cores(n: int, seed: int) -> tuple[PptpControl, PptpControl, gre.GreWindow]:
    """Both roles get a stream of mutated messages in random-sized chunks; a fresh core whenever one closes."""
    r = random.Random(seed)

    def fresh(role: Role) -> PptpControl:
        core = PptpControl(ControlConfig(role), rng=lambda k: b"\0" * k)
        core.start(0.0)
        if role is Role.PAC:
            core.receive(m.StartControlConnectionRequest().encode(), 0.0)
        else:
            core.receive(m.StartControlConnectionReply().encode(), 0.0)
        core.take_output()
        return core

    pac, pns = fresh(Role.PAC), fresh(Role.PNS)
    window = gre.GreWindow(1, 2)
    now = 0.0
    for i in range(n):
        now += r.random()
        stream = b"".join(mutate(r, SEEDS) if r.random() < 0.7 else r.choice(SEEDS) for _ in range(r.randint(1, 3)))
        for core in (pac, pns):
            pos = 0
            while pos < len(stream):
                step = r.randint(1, 64)
                for ev in core.receive(stream[pos:pos + step], now):
                    if type(ev).__name__ == "CallRequested" and core.role is Role.PAC:
                        if r.random() < 0.5:
                            core.accept_call(ev.peer_call_id, (i % 60000) + 1 if (i % 60000) + 1 not in
                                             {c.local_call_id for c in core.calls} else 65535 - len(core.calls),
                                             now)
                        else:
                            core.refuse_call(ev.peer_call_id, m.OcrpResult.BUSY, now)
                pos += step
            core.take_output()
            if r.random() < 0.01:
                core.handle_timer(now + 200.0)
        if pac.state is ControlState.CLOSED:
            pac = fresh(Role.PAC)
        if pns.state is ControlState.CLOSED:
            pns = fresh(Role.PNS)
        window.open(mutate(r, GRE_SEEDS))
    return pac, pns, window


def test_decoders_fuzz_default():
    seen = run_decoders(DEFAULT_N, 1)
    assert seen["ok"] + seen["malformed"] == DEFAULT_N
    assert seen["ok"] > 1000 and seen["malformed"] > 1000      # the mutations reach both outcomes


def test_cores_fuzz_default():
    pac, pns, window = run_cores(DEFAULT_N, 2)
    assert window.stats and pac.state in ControlState and pns.state in ControlState


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="1,000,000-input fuzz runs only with RRASCTL_LONG=1")
def test_decoders_fuzz_long():
    seen = run_decoders(LONG_N, 11)
    assert seen["ok"] + seen["malformed"] == LONG_N


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="1,000,000-input fuzz runs only with RRASCTL_LONG=1")
def test_cores_fuzz_long():
    run_cores(LONG_N, 12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=40))
def test_control_stream_any_bytes_any_split(data, step):
    for role in Role:
        core = PptpControl(ControlConfig(role), rng=lambda k: b"\0" * k)
        core.start(0.0)
        for i in range(0, len(data), step):
            core.receive(data[i:i + step], 1.0)
        core.take_output()
        assert len(core._buf) < m.MAX_MESSAGE


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_gre_any_bytes(data):
    w = gre.GreWindow(int.from_bytes(data[6:8], "big") if len(data) >= 8 else 0, 1)
    try:
        h, payload = gre.decode(data)
        assert len(payload) == h.payload_length
        assert w.open(data) is None or h.seq is not None
    except Malformed:
        assert w.open(data) is None
