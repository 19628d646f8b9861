"""Fuzz the L2TP decoders and the tunnel core: any bytes decode or raise Malformed; receive() never raises.

20,000 inputs by default; 1,000,000 with RRASCTL_LONG=1.
"""

from __future__ import annotations

import os
import random

import pytest
from support import CAPTURES, fixed_rng
from hypothesis import given, settings
from hypothesis import strategies as st

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.l2tp.control import L2tpTunnel, TunnelConfig, TunnelState
from rrasctl.protocols.l2tp.data import decode_data, payload_bounds
from rrasctl.protocols.l2tp.messages import decode_control, peek

LONG = os.environ.get("RRASCTL_LONG") == "1"


def _seeds() -> list[bytes]:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "protocols" / "l2tp"))
    from l2tp_capture import udp_payloads

    out = []
    for name in ("l2tp-huawei-lac-lns-chap.pcap", "l2tp-data-isp-pppoe-ipv6.pcap"):
        out += [bytes(p) for _, _, _, p in udp_payloads(CAPTURES / name)]
    return out


SEEDS = _seeds()


def _mutate(r: random.Random, seed: bytes) -> bytes:
    b = bytearray(seed)
    for _ in range(r.randint(1, 6)):
        op = r.randrange(4)
        if op == 0 and b:
            b[r.randrange(len(b))] = r.randrange(256)
        elif op == 1:
            b = b[:r.randrange(len(b) + 1)]
        elif op == 2:
            pos = r.randrange(len(b) + 1)
            b[pos:pos] = bytes(r.randrange(256) for _ in range(r.randint(1, 8)))
        elif b:
            pos = r.randrange(len(b))
            b[pos:pos + 2] = bytes([r.choice((0, 0xFF, 0x80, 0x03)) for _ in range(2)])
    return bytes(b)


def _decode_all(d: bytes, secret: bytes | None) -> None:
    for f in (lambda: decode_control(d, secret), lambda: decode_data(d), lambda: peek(d),
              lambda: payload_bounds(d, len(d))):
        try:
            f()
        except Malformed:
            pass


def _established_pair():
    a = L2tpTunnel(TunnelConfig(host_name="a", secret=b"s", hide_avps=True), 1, rng=fixed_rng(1))
    b = L2tpTunnel(TunnelConfig(host_name="b", secret=b"s", hide_avps=True), 1, rng=fixed_rng(2))
    a.start(0.0)
    for _ in range(6):
        for d in a.take_output():
            for e in b.receive(d, 0.0):
                if type(e).__name__ == "TunnelRequested":
                    b.accept_tunnel(0.0)
        for d in b.take_output():
            a.receive(d, 0.0)
    assert a.state is TunnelState.ESTABLISHED and b.state is TunnelState.ESTABLISHED
    return a, b


def run_campaign(n: int, seed: int = 7) -> None:
    r = random.Random(seed)
    core = L2tpTunnel(TunnelConfig(host_name="f", secret=b"s"), 1, rng=fixed_rng(3))
    now = 0.0
    for i in range(n):
        base = r.choice(SEEDS)
        d = _mutate(r, base) if r.random() < 0.9 else bytes(r.randrange(256) for _ in range(r.randint(0, 40)))
        _decode_all(d, b"s" if i & 1 else None)
        if i % 3 == 0:
            if core.state is TunnelState.CLOSED:
                core = L2tpTunnel(TunnelConfig(host_name="f", secret=b"s"), 1, rng=fixed_rng(i))
            now += 0.01
            core.receive(d, now)
            core.take_output()
            t = core.next_timer()
            if t is not None and t <= now:
                core.handle_timer(now)


def test_fuzz_decoders_and_core_default_count():
    run_campaign(20_000)


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="1,000,000 inputs only with RRASCTL_LONG=1")
def test_fuzz_decoders_and_core_long():
    run_campaign(1_000_000, seed=11)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_malformed(data):
    _decode_all(data, b"secret")


def test_malformed_datagrams_are_counted_and_leave_an_established_tunnel_healthy():
    a, b = _established_pair()
    r = random.Random(5)
    fed = 0
    while fed < 2_000:
        d = _mutate(r, r.choice(SEEDS))
        try:
            decode_control(d, b"s")
            continue                       # decodes: not malformed input
        except Malformed:
            pass
        assert b.receive(d, 1.0) == []
        fed += 1
    assert b.take_output() == []
    assert sum(b.stats.values()) == fed
    assert b.state is TunnelState.ESTABLISHED
    sid = a.place_call(2.0)
    for d in a.take_output():
        events = b.receive(d, 2.0)
    assert [type(e).__name__ for e in events] == ["CallRequested"] and events[0].peer_session_id == sid


def test_every_truncation_fed_to_an_established_core_is_counted_and_dropped():
    a, b = _established_pair()
    fed = 0
    for seed in SEEDS:
        for n in range(len(seed)):
            before = sum(b.stats.values())
            assert b.receive(seed[:n], 1.0) == []
            assert sum(b.stats.values()) == before + 1
            fed += 1
    assert fed == sum(len(s) for s in SEEDS) == 2619
    assert b.state is TunnelState.ESTABLISHED and b.take_output() == []
