"""Repeated warnings, rate-limited with a count (issue #13, hole 6; decision 0082).

The first occurrence of a kind is logged at once; the ones that follow within `interval_s` are only counted, and
one summary line says how many there were when the interval ends ("... and 1,999 more in the last 60 s"). A flood of
2,000 half-open L2TP tunnels costs two log lines, not 2,000; a lone failure is still logged at once, in full.
"""

from __future__ import annotations

import logging
from typing import Any, Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, call_later: Callable[[float, Callable[[], None]], Any],
                 interval_s: float = 60.0, level: int = logging.WARNING) -> None:
        self.logger, self.call_later, self.interval_s, self.level = logger, call_later, interval_s, level
        self._windows: dict[str, list] = {}          # kind -> [suppressed count, latest detail]
        self.logged = self.suppressed = 0

    def log(self, kind: str, summary: str, message: str, *args: Any) -> None:
        """Log MESSAGE % ARGS, or count it when KIND was logged less than `interval_s` ago. SUMMARY names what is
        counted, for the closing line: "{count} more {summary} in the last 60 s (latest: ...)"."""
        window = self._windows.get(kind)
        if window is not None:
            window[0] += 1
            window[1] = message % args if args else message
            self.suppressed += 1
            return
        self.logger.log(self.level, message, *args)
        self.logged += 1
        self._windows[kind] = [0, None]
        self.call_later(self.interval_s, lambda: self._close(kind, summary))

    def _close(self, kind: str, summary: str) -> None:
        count, latest = self._windows.pop(kind, (0, None))
        if count:
            self.logger.log(self.level, "%d more %s in the last %d s (latest: %s)", count, summary,
                            int(self.interval_s), latest)
            self.logged += 1
