"""Running under a service manager: sd_notify, the loop-health ticker and the metrics endpoint, in one place.

engine/run.py calls, in order:

    svc = Service.from_env()                         # reads NOTIFY_SOCKET / WATCHDOG_USEC before anything else
    svc.attach(ctx)                                  # the metrics recorder, fed by accounting and the session table
    await svc.start(ctx, ops, version, started)      # metrics endpoint (if configured), READY=1, watchdog, STATUS=
    svc.stopping()                                   # on SIGTERM / SIGINT: STOPPING=1
    await svc.reload(new_config)                     # the endpoint follows server.metrics_listen
    await svc.close()

READY=1 is sent only by `start`, which run.py calls once the drivers listen and the control socket accepts: a
`systemctl start` that returns means `rrasctl engine status` works.
"""

from __future__ import annotations

import logging
from typing import Any

from rrasctl.engine.health import LoopHealth, install_test_stall, status_line
from rrasctl.engine.metrics import Recorder
from rrasctl.engine.notify import Notifier

log = logging.getLogger(__name__)


class Service:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.recorder = Recorder()
        self.health: LoopHealth | None = None
        self.exporter: Any = None
        self._ctx: Any = None

    @classmethod
    def from_env(cls) -> "Service":
        return cls(Notifier.from_env())

    def attach(self, ctx: Any) -> None:
        """Install the recorder as `ctx.metrics` and feed it from accounting and the session table."""
        self._ctx = ctx
        ctx.metrics = self.recorder
        ctx.accounting.observers.append(self.recorder)
        ctx.sessions.on_remove(self.recorder.session_removed)

    async def start(self, ctx: Any, ops: Any, *, version: str, started: float) -> None:
        listen = getattr(ctx.config.server, "metrics_listen", None)
        if listen is not None:
            await self._ensure_exporter(ctx, ops, version, started)
            await self.exporter.reconfigure(listen)
        self._ops, self._version, self._started = ops, version, started
        text = status_line(ctx.sessions)
        self.notifier.ready(text)
        self.health = LoopHealth(self.notifier, self.recorder.lag, lambda: status_line(ctx.sessions))
        self.health.ticker.last_status = text          # READY=1 carried it already
        self.health.start(ctx.loop)
        install_test_stall(ctx.loop, self.notifier)

    async def _ensure_exporter(self, ctx: Any, ops: Any, version: str, started: float) -> None:
        if self.exporter is not None:
            return
        from rrasctl.engine import exporter

        def dial_rows() -> list[dict[str, Any]]:
            names = sorted(getattr(ctx.config, "demand_dial", {}) or {})
            return [ops.dial_row(n) for n in names]

        self.exporter = exporter.build(ctx, version=version, started=started, dial_rows=dial_rows)

    async def reload(self, new_config: Any) -> None:
        listen = getattr(new_config.server, "metrics_listen", None)
        if listen is None and self.exporter is None:
            return
        await self._ensure_exporter(self._ctx, self._ops, self._version, self._started)
        await self.exporter.reconfigure(listen)

    def stopping(self) -> None:
        self.notifier.stopping("stopping: disconnecting every connection")

    async def close(self) -> None:
        if self.health is not None:
            self.health.stop()
        if self.exporter is not None:
            await self.exporter.close()
        self.notifier.close()
