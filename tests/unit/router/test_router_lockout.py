from __future__ import annotations

from rrasctl.router.lockout import LockoutTable


def test_locks_after_max_failures_and_unlocks_after_reset():
    t = LockoutTable(max_failures=3, reset_minutes=10)
    assert [t.record_failure("a", now) for now in (0.0, 1.0, 2.0)] == [False, False, True]
    assert t.is_locked("a", 2.0) and t.locked_until("a", 2.0) == 602.0
    assert t.is_locked("a", 601.9)
    assert not t.is_locked("a", 602.0)
    assert t.to_dict() == {}


def test_success_and_unlock_reset_the_count():
    t = LockoutTable(max_failures=2, reset_minutes=10)
    t.record_failure("a", 0.0)
    t.record_success("a")
    assert t.record_failure("a", 1.0) is False
    assert t.record_failure("a", 2.0) is True
    assert t.unlock("a") and not t.is_locked("a", 3.0) and not t.unlock("a")


def test_failures_older_than_reset_are_forgotten():
    t = LockoutTable(max_failures=2, reset_minutes=1)
    t.record_failure("a", 0.0)
    assert t.record_failure("a", 60.0) is False  # the first one expired


def test_zero_turns_lockout_off():
    t = LockoutTable(max_failures=0)
    assert not any(t.record_failure("a", float(i)) for i in range(100))
    assert not t.is_locked("a", 100.0)


def test_round_trip_through_a_dict():
    t = LockoutTable(max_failures=2, reset_minutes=10)
    t.record_failure("b", 5.0)
    t.record_failure("b", 6.0)
    u = LockoutTable.from_dict(t.to_dict() | {"junk": {"x": 1}}, max_failures=2, reset_minutes=10)
    assert u.is_locked("b", 7.0) and u.to_dict() == {"b": {"failures": 2, "last_failure": 6.0}}
