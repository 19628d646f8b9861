"""engine/timers.py: one heap, one loop timer, driven by a fake loop with a virtual clock."""

from __future__ import annotations

from rrasctl.engine.timers import TimerQueue


class FakeLoop:
    """time() and call_at() of asyncio's loop; `advance(t)` runs what is due, as the real loop would."""

    def __init__(self) -> None:
        self.now = 0.0
        self.scheduled: list[list] = []   # [when, callback, cancelled]

    def time(self) -> float:
        return self.now

    def call_at(self, when, callback, *args):
        entry = [when, callback, False]
        self.scheduled.append(entry)

        class H:
            def cancel(self_inner):
                entry[2] = True
        return H()

    def live(self):
        return sorted(e[0] for e in self.scheduled if not e[2])

    def advance(self, t: float) -> None:
        self.now = t
        while True:
            due = [e for e in self.scheduled if not e[2] and e[0] <= t]
            if not due:
                return
            e = min(due, key=lambda e: e[0])
            e[2] = True
            e[1]()


def test_one_loop_timer_for_many_deadlines_fires_in_order():
    loop = FakeLoop()
    q = TimerQueue(loop)
    fired: list[str] = []
    for name, d in [("c", 3.0), ("a", 1.0), ("b", 2.0)]:
        q.arm(name, d, lambda n=name: fired.append(n))
    assert loop.live() == [1.0]          # exactly one handle, at the earliest deadline
    loop.advance(2.5)
    assert fired == ["a", "b"] and loop.live() == [3.0]
    loop.advance(10.0)
    assert fired == ["a", "b", "c"] and loop.live() == [] and len(q) == 0 and q.fired == 3


def test_rearm_replaces_and_none_cancels():
    loop = FakeLoop()
    q = TimerQueue(loop)
    fired: list[float] = []
    q.arm("s", 5.0, lambda: fired.append(loop.now))
    q.arm("s", 2.0, lambda: fired.append(loop.now))   # earlier: the loop timer moves
    assert loop.live() == [2.0] and q.deadline("s") == 2.0
    q.arm("s", 4.0, lambda: fired.append(loop.now))   # later: the old handle wakes early and re-schedules
    loop.advance(2.0)
    assert fired == [] and loop.live() == [4.0]
    q.arm("s", None, lambda: None)
    loop.advance(9.0)
    assert fired == [] and len(q) == 0


def test_callback_may_rearm_itself():
    loop = FakeLoop()
    q = TimerQueue(loop)
    times: list[float] = []

    def tick():
        times.append(loop.now)
        if len(times) < 3:
            q.arm("k", loop.now + 1.0, tick)
    q.arm("k", 1.0, tick)
    loop.advance(1.0)
    loop.advance(2.0)
    loop.advance(3.0)
    assert times == [1.0, 2.0, 3.0] and len(q) == 0


def test_a_failing_callback_does_not_stop_the_others():
    loop = FakeLoop()
    q = TimerQueue(loop)
    fired = []
    q.arm("bad", 1.0, lambda: 1 / 0)
    q.arm("good", 1.0, lambda: fired.append("good"))
    loop.advance(1.0)
    assert fired == ["good"] and q.errors == 1


def test_stale_entries_are_compacted():
    loop = FakeLoop()
    q = TimerQueue(loop)
    for i in range(1000):
        q.arm("x", 100.0 + i, lambda: None)
    assert len(q) == 1 and len(q._heap) <= 64 * 4 + 1
    q.cancel("x")
    q.close()
    assert len(q) == 0


def test_two_thousand_sessions_one_handle():
    loop = FakeLoop()
    q = TimerQueue(loop)
    count = [0]
    for i in range(2000):
        q.arm(i, 1.0 + (i % 10) / 10, lambda: count.__setitem__(0, count[0] + 1))
    assert len(loop.live()) == 1
    loop.advance(5.0)
    assert count[0] == 2000


def test_same_deadline_new_callback_replaces_without_heap_growth():
    loop = FakeLoop()
    q = TimerQueue(loop)
    fired = []
    for i in range(100):
        q.arm("k", 7.0, lambda i=i: fired.append(i))
    assert len(q._heap) == 1
    loop.advance(7.0)
    assert fired == [99]
