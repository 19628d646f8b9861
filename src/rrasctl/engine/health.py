"""The event loop's own health: watchdog pings, loop-lag probe and STATUS= lines, from ONE periodic callback.

Everything here runs *on* the loop, on purpose: a loop that is stuck (a blocking call, a runaway handler) stops
pinging, and systemd (`WatchdogSec=`) restarts the service. A thread would keep pinging a dead engine.

    health = LoopHealth(notifier, recorder, status_text=lambda: "2 connections (pptp 2)")
    health.start(loop)           # after READY=1
    ...
    health.stop()

`Ticker` is the clock-free part (what to do at `now`, and when to be called next), so tests drive it with a virtual
clock; `LoopHealth` arms it with one `loop.call_at` at a time and measures the lag between the deadline it armed
and the time the callback really ran.

Test hook (docs/decisions/0160): with `RRASCTL_TEST_STALL_S=SECONDS` in the environment, SIGUSR2 blocks the loop
for that long, framed by two notify datagrams (`X_RRASCTL_TEST=stall-begin` / `stall-end`), so a test can check
that no WATCHDOG=1 is sent while the loop is stuck.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import select
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.5       # loop-lag probe period when no shorter watchdog interval asks for more
STATUS_MIN_INTERVAL_S = 1.0  # at most one STATUS= line per second, however fast sessions come and go
LAG_WINDOW_S = 60.0          # lag_max is the largest lag seen in the last minute
TEST_STALL_ENV = "RRASCTL_TEST_STALL_S"


@dataclass
class Ticker:
    """What one tick does, given `now` (monotonic seconds): ping, probe, report. No clock, no I/O of its own."""

    ping: Callable[[], Any]                     # send WATCHDOG=1
    report: Callable[[str], Any]                # send STATUS=<text>
    status_text: Callable[[], str]              # the current status line
    on_lag: Callable[[float, float], Any]       # (now, lag_s)
    watchdog_s: float | None = None             # the manager's WatchdogSec (None: no pings)
    probe_s: float = PROBE_INTERVAL_S
    status_min_s: float = STATUS_MIN_INTERVAL_S
    next_ping: float | None = None
    last_status: str | None = None
    last_status_at: float = float("-inf")
    pings: int = 0

    @property
    def ping_every_s(self) -> float | None:
        return None if self.watchdog_s is None else self.watchdog_s / 2

    @property
    def interval_s(self) -> float:
        every = self.ping_every_s
        return self.probe_s if every is None else min(self.probe_s, every)

    def begin(self, now: float) -> float:
        """First tick right away: ping at once (we are alive), report the status; returns the next deadline."""
        return self.tick(now, now)

    def tick(self, now: float, scheduled: float) -> float:
        """Called at `now` for the deadline `scheduled`; returns the next deadline."""
        self.on_lag(now, max(0.0, now - scheduled))
        every = self.ping_every_s
        if every is not None and (self.next_ping is None or now >= self.next_ping):
            self.ping()
            self.pings += 1
            self.next_ping = now + every
        text = self.status_text()
        if text != self.last_status and now - self.last_status_at >= self.status_min_s:
            self.report(text)
            self.last_status, self.last_status_at = text, now
        deadline = now + self.interval_s
        if self.next_ping is not None:
            deadline = min(deadline, self.next_ping)
        return deadline


@dataclass
class LagStats:
    """Loop lag as the probe measured it: the last value and the largest one in the last minute."""

    window_s: float = LAG_WINDOW_S
    last_s: float = 0.0
    probes: int = 0
    _recent: collections.deque = field(default_factory=collections.deque)   # (now, lag), lag decreasing

    def add(self, now: float, lag: float) -> None:
        self.last_s = lag
        self.probes += 1
        q = self._recent
        while q and q[-1][1] <= lag:          # a monotonic deque: the head is the window's maximum
            q.pop()
        q.append((now, lag))
        while q and q[0][0] < now - self.window_s:
            q.popleft()

    def max_s(self) -> float:
        return self._recent[0][1] if self._recent else 0.0


class LoopHealth:
    """Arms the ticker on the loop; one `call_at` outstanding at any time."""

    def __init__(self, notifier: Any, lag: LagStats, status_text: Callable[[], str],
                 *, probe_s: float = PROBE_INTERVAL_S) -> None:
        self.notifier = notifier
        self.lag = lag
        self.ticker = Ticker(ping=notifier.watchdog, report=notifier.status, status_text=status_text,
                             on_lag=lag.add, watchdog_s=notifier.watchdog_s, probe_s=probe_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._arm(self.ticker.begin(loop.time()))
        if self.ticker.watchdog_s is not None:
            log.info("watchdog: pinging every %g s (WatchdogSec=%g)", self.ticker.ping_every_s,
                     self.ticker.watchdog_s)

    def _arm(self, deadline: float) -> None:
        assert self._loop is not None
        self._deadline = deadline
        self._handle = self._loop.call_at(deadline, self._run)

    def _run(self) -> None:
        assert self._loop is not None
        self._arm(self.ticker.tick(self._loop.time(), self._deadline))

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def status_line(sessions: Any) -> str:
    """`systemctl status` line: "2 connections (pptp 1, l2tp 1)" or "no connections"."""
    counts: dict[str, int] = {}
    for s in sessions:
        counts[s.protocol] = counts.get(s.protocol, 0) + 1
    n = sum(counts.values())
    if n == 0:
        return "ready: no connections"
    per = ", ".join(f"{p} {c}" for p, c in sorted(counts.items()))
    return f"ready: {n} connection{'s' if n != 1 else ''} ({per})"


def install_test_stall(loop: asyncio.AbstractEventLoop, notifier: Any) -> bool:
    """SIGUSR2 blocks the loop for $RRASCTL_TEST_STALL_S seconds (tests only; off unless the variable is set)."""
    raw = os.environ.get(TEST_STALL_ENV)
    if not raw:
        return False
    try:
        seconds = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; the stall hook stays off", TEST_STALL_ENV, raw)
        return False

    def stall() -> None:
        log.warning("test hook: blocking the event loop for %g s", seconds)
        notifier.send(X_RRASCTL_TEST="stall-begin")
        select.select([], [], [], seconds)      # deliberately blocking: this IS the stuck loop
        notifier.send(X_RRASCTL_TEST="stall-end")

    loop.add_signal_handler(signal.SIGUSR2, stall)
    return True
