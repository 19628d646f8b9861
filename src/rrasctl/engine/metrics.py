"""Figures that exist only as events (refusals, authentications, setup times, bytes of ended sessions): a recorder.

Everything else the metrics endpoint serves is read from the engine's state at scrape time (engine/exporter.py).
The recorder is plain Python (no prometheus_client import) and always on, so the totals are right even when the
endpoint is switched on later by a reload. It is fed by:

- `Accounting` observers (engine/accounting.py): `on_start(session)` -> setup latency; `on_refusal(record)` ->
  refusals by protocol, reason and Windows error;
- `SessionTable.on_remove` -> bytes and packets of sessions that ended, so the per-protocol totals never go down;
- `LoopHealth` -> loop lag (`lag`, a health.LagStats);
- the PPP glue, for authentications: `ctx.metrics.authentication(protocol, method, result, direction)` (a hook the
  engine's owner adds: see docs/decisions/0163).

`NULL_METRICS` answers every call and records nothing: the default for contexts built without run.py.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from typing import Any

from rrasctl.engine.health import LagStats

# Connection setup (call admitted -> network layer up), seconds. PPTP/L2TP with MS-CHAP v2 on a LAN takes ~50 ms;
# a RADIUS round trip or a lossy path pushes it into seconds.
SETUP_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    buckets: tuple[float, ...] = SETUP_BUCKETS_S
    counts: list[int] = field(default_factory=list)      # per bucket, not cumulative; one extra for +Inf
    sum: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """[(le, cumulative count)] as Prometheus buckets, ending with +Inf."""
        out, acc = [], 0
        for le, n in zip([*map(_le, self.buckets), "+Inf"], self.counts):
            acc += n
            out.append((le, acc))
        return out


def _le(x: float) -> str:
    return repr(float(x))


class Recorder:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.refusals: dict[tuple[str, str, str], int] = {}            # (protocol, reason, windows_error) -> n
        self.authentications: dict[tuple[str, str, str, str], int] = {}  # (protocol, method, result, direction)
        self.setup: dict[tuple[str, str], Histogram] = {}               # (protocol, direction) -> histogram
        self.ended: dict[str, list[int]] = {}                           # protocol -> [bytes in, out, pkts in, out]
        self.lag = LagStats()
        self.exporter: Any = None            # engine/exporter.py MetricsServer when one runs (for `engine status`)

    # --- feeds -----------------------------------------------------------------------------------------------
    def on_start(self, session: Any) -> None:
        """Accounting start = the session is UP: its setup time is now - its creation (monotonic)."""
        started = getattr(session, "started_mono", None)
        if started is None:
            return
        key = (session.protocol, getattr(session.direction, "value", str(session.direction)))
        self.setup.setdefault(key, Histogram()).observe(max(0.0, self._clock() - started))

    def on_stop(self, session: Any, cause: str) -> None:   # accounting observer interface; totals come from removal
        pass

    def on_refusal(self, record: dict[str, Any]) -> None:
        err = record.get("windows_error")
        key = (str(record.get("protocol") or "unknown"), str(record.get("reason") or record.get("cause") or "unknown"),
               "" if err is None else str(err))
        self.refusals[key] = self.refusals.get(key, 0) + 1

    def session_removed(self, session: Any) -> None:
        t = self.ended.setdefault(session.protocol, [0, 0, 0, 0])
        t[0] += session.bytes_in
        t[1] += session.bytes_out
        t[2] += session.packets_in
        t[3] += session.packets_out

    def authentication(self, protocol: str, method: str, result: str, direction: str = "in") -> None:
        """One authentication outcome: result "success" or "failure" (a retry that later succeeds counts both)."""
        key = (protocol, method, result, direction)
        self.authentications[key] = self.authentications.get(key, 0) + 1

    # --- views -----------------------------------------------------------------------------------------------
    def traffic(self, sessions: Any) -> dict[str, list[int]]:
        """protocol -> [bytes in, bytes out, packets in, packets out]: ended sessions plus the live ones."""
        out = {p: list(v) for p, v in self.ended.items()}
        for s in sessions:
            t = out.setdefault(s.protocol, [0, 0, 0, 0])
            t[0] += s.bytes_in
            t[1] += s.bytes_out
            t[2] += s.packets_in
            t[3] += s.packets_out
        return out

    def describe(self) -> dict[str, Any]:
        """`engine status` keys: the endpoint and the loop lag."""
        ex = self.exporter
        return {"metrics": ex.describe() if ex is not None else {"listen": None, "state": "off"},
                "event_loop": {"lag_s": round(self.lag.last_s, 6), "lag_max_s": round(self.lag.max_s(), 6),
                               "probes": self.lag.probes}}


class _NullMetrics:
    """Accepts every feed and records nothing."""

    exporter = None

    def describe(self) -> dict[str, Any]:
        return {}

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **kw: None


NULL_METRICS: Any = _NullMetrics()
