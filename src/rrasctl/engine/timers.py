"""One deadline queue for every core in the engine: a heap and a single `loop.call_at` (DESIGN.md §3, §12).

Per-session `call_later` handles cost a wake-up and an allocation each (6.6 % of a core for 2,000 sessions at 1 s,
research/performance.md §1e). Here each owner (a session, a tunnel, a control connection) has at most one deadline;
re-arming replaces it, `None` cancels it, and the loop holds exactly one timer handle: the earliest deadline.

    timers.arm(call, call.core.next_timer(), call.fire)    # after every pump
    timers.cancel(call)                                      # when the owner goes away

Deadlines are absolute times on `loop.time()`, the clock the cores receive as `now`. Replaced entries stay in the
heap until they surface and are skipped (lazy deletion); `compact()` rebuilds the heap when they pile up.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from typing import Any, Callable, Hashable, Protocol

log = logging.getLogger(__name__)


class _Handle(Protocol):
    def cancel(self) -> None: ...


class LoopLike(Protocol):
    """The two methods of asyncio's loop that the queue uses (a fake clock in tests)."""

    def time(self) -> float: ...
    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> _Handle: ...


class TimerQueue:
    __slots__ = ("_loop", "_heap", "_live", "_seq", "_handle", "_handle_at", "fired", "errors")

    def __init__(self, loop: LoopLike) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Hashable]] = []
        self._live: dict[Hashable, tuple[float, int, Callable[[], None]]] = {}
        self._seq = itertools.count()
        self._handle: _Handle | None = None
        self._handle_at: float | None = None
        self.fired = 0      # callbacks run (for engine status)
        self.errors = 0     # callbacks that raised (a bug in a driver: logged, the queue carries on)

    def __len__(self) -> int:
        return len(self._live)

    def deadline(self, key: Hashable) -> float | None:
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def arm(self, key: Hashable, deadline: float | None, fire: Callable[[], None]) -> None:
        """Set `key`'s single deadline (replacing any earlier one); `None` cancels it."""
        old = self._live.get(key)
        if deadline is None:
            if old is not None:
                del self._live[key]
            return
        if old is not None and old[0] == deadline:
            # Unchanged deadline, the common case after a pump: keep the heap entry (same seq), take the new
            # callback (drivers often pass a fresh lambda each time).
            self._live[key] = (deadline, old[1], fire)
            return
        seq = next(self._seq)
        self._live[key] = (deadline, seq, fire)
        heapq.heappush(self._heap, (deadline, seq, key))
        if len(self._heap) > 64 and len(self._heap) > 4 * len(self._live):
            self.compact()
        self._schedule()

    def cancel(self, key: Hashable) -> None:
        self._live.pop(key, None)

    def close(self) -> None:
        self._live.clear()
        self._heap.clear()
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._handle_at = None

    def compact(self) -> None:
        self._heap = [(d, s, k) for k, (d, s, _) in self._live.items()]
        heapq.heapify(self._heap)

    def _schedule(self) -> None:
        heap, live = self._heap, self._live
        while heap:  # drop stale tops so the loop's timer is the real earliest deadline
            d, s, k = heap[0]
            entry = live.get(k)
            if entry is not None and entry[1] == s:
                break
            heapq.heappop(heap)
        if not heap:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = self._handle_at = None
            return
        earliest = heap[0][0]
        if self._handle is not None:
            if self._handle_at is not None and self._handle_at <= earliest:
                return  # it wakes up early enough; _run re-schedules
            self._handle.cancel()
        self._handle_at = earliest
        self._handle = self._loop.call_at(earliest, self._run)

    def _run(self) -> None:
        self._handle = self._handle_at = None
        now = self._loop.time()
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= now:
            d, s, k = heapq.heappop(heap)
            entry = live.get(k)
            if entry is None or entry[1] != s:
                continue
            del live[k]
            self.fired += 1
            try:
                entry[2]()  # may re-arm k (usually does)
            except Exception:  # a driver bug must not stop every other deadline
                self.errors += 1
                log.exception("timer callback for %r failed", k)
        self._schedule()
