"""Authenticator + peer over a lossy, duplicating, reordering wire with a virtual clock (Hypothesis).

Whatever the wire does, both sides end: success on both sides (the same MPPE keys, mirrored), or a failure with a
timeout reason, or — for the peer only — a timeout while the authenticator already succeeded (its Success was
lost more often than the peer waits, exactly as pppd behaves). No exception, no real time.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from rrasctl.protocols.ppp.auth import (
    AuthenticatorConfig,
    AuthFailed,
    AuthMethod,
    AuthRequested,
    AuthState,
    AuthSucceeded,
    PeerConfig,
    new_authenticator,
    new_peer,
)

TIMEOUTS = {"peer did not answer the CHAP challenge", "peer sent no PAP Authenticate-Request",
            "authenticator did not answer the PAP request", "authenticator sent no CHAP challenge",
            "authenticator did not answer the CHAP response"}


def simulate(method, seed, loss, dup, reorder, right_password):
    r = random.Random(seed)
    rng_a, rng_p = random.Random(seed + 1), random.Random(seed + 2)
    auth = new_authenticator(method, AuthenticatorConfig(max_transmits=5, max_retries=1),
                             rng=lambda n: rng_a.randbytes(n))
    peer = new_peer(method, PeerConfig("alice", "pw" if right_password else "bad", max_retries=1, max_transmits=5),
                    rng=lambda n: rng_p.randbytes(n))
    now = 0.0
    events = {"a": auth.start(now), "p": peer.start(now)}
    wire: list[tuple[float, str, bytes]] = []
    for _ in range(2000):
        for side, core in (("a", auth), ("p", peer)):
            for pkt in core.take_output():
                if r.random() < loss:
                    continue
                for _copy in range(2 if r.random() < dup else 1):
                    wire.append((now + (r.random() * 2 if r.random() < reorder else 0.01), side, pkt))
        if auth.done and peer.done:
            break
        deadlines = [t for t, _, _ in wire] + [d for d in (auth.next_timer(), peer.next_timer()) if d is not None]
        if not deadlines:
            break
        now = max(now, min(deadlines))
        wire.sort(key=lambda item: item[0])
        while wire and wire[0][0] <= now:
            _, side, pkt = wire.pop(0)
            target = peer if side == "a" else auth
            new = target.receive(pkt, now)
            events["p" if side == "a" else "a"] += new
            for ev in new:
                if isinstance(ev, AuthRequested):
                    events["a"] += auth.answer_password("pw", now)
        for key, core in (("a", auth), ("p", peer)):
            events[key] += core.handle_timer(now)
    return auth, peer, events, now


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from([AuthMethod.PAP, AuthMethod.CHAP_MD5, AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2]),
       seed=st.integers(0, 2**32), loss=st.sampled_from([0.0, 0.2, 0.5]), dup=st.sampled_from([0.0, 0.3]),
       reorder=st.sampled_from([0.0, 0.3]), right_password=st.booleans())
def test_auth_pair_converges_or_times_out(method, seed, loss, dup, reorder, right_password):
    auth, peer, events, now = simulate(method, seed, loss, dup, reorder, right_password)
    assert auth.done, auth.state
    assert now < 200.0                          # bounded by restart_s x max_transmits per attempt
    finals_a = [e for e in events["a"] if isinstance(e, (AuthSucceeded, AuthFailed)) and not getattr(e, "retry", 0)]
    assert len(finals_a) == 1
    if auth.state is AuthState.SUCCEEDED:
        assert right_password
        if peer.state is AuthState.SUCCEEDED:
            a_keys = finals_a[0].keys
            p_keys = [e for e in events["p"] if isinstance(e, AuthSucceeded)][0].keys
            assert (a_keys is None and p_keys is None) or a_keys == p_keys.swapped()
        else:                                   # its Success got lost too often
            assert peer.state is AuthState.FAILED or not peer.done
            assert all(e.reason in TIMEOUTS for e in events["p"] if isinstance(e, AuthFailed) and not e.retry)
    else:
        assert finals_a[0].error == 691 and not right_password or finals_a[0].reason in TIMEOUTS
    if loss == 0.0 and reorder == 0.0:
        assert auth.state is (AuthState.SUCCEEDED if right_password else AuthState.FAILED)
        assert peer.state is auth.state
