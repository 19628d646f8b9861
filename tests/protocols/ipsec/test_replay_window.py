"""RFC 4303 §3.4.3 / Appendix A anti-replay window: unit behaviour, the edges (1, window size, 2^32-2, 2^32-1),
and a comparison with a set-based model on random sequences."""

from __future__ import annotations

import random

import pytest

from rrasctl.protocols.ipsec.replay import SEQ_MAX, ReplayVerdict, ReplayWindow

OK, ZERO, REPLAYED, TOO_OLD = ReplayVerdict.OK, ReplayVerdict.ZERO, ReplayVerdict.REPLAYED, ReplayVerdict.TOO_OLD


def receive(w: ReplayWindow, seq: int) -> ReplayVerdict:
    verdict = w.check(seq)
    if verdict is OK:
        w.accept(seq)
    return verdict


def test_zero_is_never_valid_and_one_is_the_first():
    w = ReplayWindow(64)
    assert w.check(0) is ZERO
    assert receive(w, 1) is OK and (w.top, w.bitmap) == (1, 0b1)
    assert receive(w, 1) is REPLAYED
    assert w.check(0) is ZERO


def test_check_alone_changes_nothing():
    w = ReplayWindow(64)
    assert w.check(5) is OK
    assert (w.top, w.bitmap) == (0, 0)
    assert w.check(5) is OK            # still new: only accept() (after the ICV) records it


def test_window_edge_at_its_size():
    w = ReplayWindow(64)
    receive(w, 64)                     # top = 64: 1..64 are inside the window (64 - 1 = 63 < 64)
    assert w.check(1) is OK
    receive(w, 65)                     # top = 65: 1 is now 64 behind -> too old; 2 is the oldest still inside
    assert w.check(1) is TOO_OLD
    assert receive(w, 2) is OK
    assert receive(w, 2) is REPLAYED
    assert w.seen(65) and w.seen(64) and w.seen(2) and not w.seen(3) and not w.seen(1)


def test_a_jump_beyond_the_window_clears_it_without_a_giant_shift():
    w = ReplayWindow(64)
    for s in (1, 2, 3):
        receive(w, s)
    assert receive(w, SEQ_MAX - 1) is OK            # shift of ~2^32: the bitmap restarts at one bit
    assert (w.top, w.bitmap) == (SEQ_MAX - 1, 1)
    assert w.check(3) is TOO_OLD


def test_slides_up_to_the_last_sequence_number():
    w = ReplayWindow(64)
    receive(w, SEQ_MAX - 64)
    receive(w, SEQ_MAX - 2)
    assert receive(w, SEQ_MAX - 1) is OK            # 2^32 - 2
    assert receive(w, SEQ_MAX) is OK                # 2^32 - 1: the last one an SA without ESN may carry
    assert w.top == SEQ_MAX
    assert receive(w, SEQ_MAX) is REPLAYED
    assert receive(w, SEQ_MAX - 1) is REPLAYED
    assert receive(w, SEQ_MAX - 3) is OK            # late but inside: still accepted at the top of the space
    assert w.check(SEQ_MAX - 64) is TOO_OLD         # 64 behind the top
    assert receive(w, SEQ_MAX - 63) is OK           # 63 behind: the oldest slot
    assert w.bitmap >> 64 == 0                      # never wider than the window


def test_the_mask_keeps_the_bitmap_at_window_size_for_large_windows():
    w = ReplayWindow(1024)
    for s in range(1, 5000, 3):
        receive(w, s)
    assert w.bitmap.bit_length() <= 1024
    assert w.check(4999 - 1024) is TOO_OLD
    assert w.check(4999 - 1023) is REPLAYED         # 3976 = 1 + 3 * 1325: received, in the oldest slot
    assert w.check(4999 - 1022) is OK               # 3977: never received


def test_size_zero_disables_the_check_but_not_the_zero_rule():
    w = ReplayWindow(0)
    for s in (5, 5, 1, 5):
        assert receive(w, s) is OK
    assert w.check(0) is ZERO


def test_below_the_rfc_minimum_is_refused():
    with pytest.raises(ValueError, match="minimum of 32"):
        ReplayWindow(16)
    assert ReplayWindow(32).size == 32


@pytest.mark.parametrize("size", [32, 64, 1024])
def test_matches_a_set_model_on_random_traffic(size):
    r = random.Random(size)
    w, seen, top = ReplayWindow(size), set(), 0
    seq = 1
    for _ in range(20_000):
        seq = max(1, seq + r.choice((1, 1, 1, 2, -1, -5, -size, -size + 1, 40, 0)))
        s = min(seq, SEQ_MAX)
        if s == 0:
            expected = ZERO
        elif s > top:
            expected = OK
        elif top - s >= size:
            expected = TOO_OLD
        elif s in seen:
            expected = REPLAYED
        else:
            expected = OK
        assert receive(w, s) is expected, (s, top)
        if expected is OK:
            seen.add(s)
            top = max(top, s)
