"""Account lockout in the running engine: the table in memory, the file written behind (decision 0084).

Every authentication asks `is_locked` and reports `failed` / `succeeded`; none of that touches the disk. A change
marks the table dirty and schedules one write `WRITE_BEHIND_S` later (changes in between ride along), done on a
worker thread (`loop.run_in_executor`): the lock, the atomic replace and its fsyncs never run on the event loop.
2,000 logins a second cost no disk I/O on the loop; a crash loses at most the last `WRITE_BEHIND_S` of counts.

`rrasctl users unlock` edits the file and tells the running engine (control op `users.unlock`), which drops the
entry from memory at once; `users show`/`list` ask the engine for `locked` when it runs (op `users.lockout`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Callable

from rrasctl.config.state import LockoutFile
from rrasctl.router.lockout import LockoutTable

log = logging.getLogger(__name__)

WRITE_BEHIND_S = 1.0


class LockoutStore:
    def __init__(self, state_dir: str | os.PathLike | None, *, loop: asyncio.AbstractEventLoop | None = None,
                 wall: Callable[[], float] = time.time, write_behind_s: float = WRITE_BEHIND_S) -> None:
        self.file = LockoutFile(state_dir)
        self.wall = wall
        self.loop = loop
        self.write_behind_s = write_behind_s
        self.table = LockoutTable.from_dict(self.file.read(), max_failures=0, reset_minutes=2880)
        self.writes = 0
        self.write_errors = 0
        self._dirty = False
        self._scheduled = False
        self._writing: asyncio.Future | None = None

    # ---- decisions (in memory) ----------------------------------------------------------------------------------
    def view(self, config: Any) -> LockoutTable:
        """The table with the limits of `config.auth.lockout` (for router.authorize)."""
        lo = config.auth.lockout
        self.table.max_failures, self.table.reset_minutes = lo.max_failures, lo.reset_minutes
        return self.table

    def failed(self, config: Any, user: str) -> bool:
        """Count a failed authentication of USER; True when the account is now locked."""
        if config.auth.lockout.max_failures <= 0:
            return False
        locked = self.view(config).record_failure(user, self.wall())
        self._changed()
        return locked

    def succeeded(self, config: Any, user: str) -> None:
        if user in self.table.entries:
            self.table.record_success(user)
            self._changed()

    def unlock(self, user: str) -> bool:
        found = self.table.unlock(user)
        if found:
            self._changed()
        return found

    def is_locked(self, config: Any, user: str) -> bool:
        return self.view(config).is_locked(user, self.wall())

    # ---- write-behind -------------------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._dirty = True
        if self.file.path is None or self._scheduled:
            if self.file.path is None:
                self.file.replace(self.table.to_dict())
                self._dirty = False
            return
        loop = self.loop
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:              # no loop (a plain call from a test or a tool): write now
                self._write_now()
                return
        self._scheduled = True
        loop.call_later(self.write_behind_s, self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        if not self._dirty:
            return
        if self._writing is not None and not self._writing.done():
            self._scheduled = True            # one write at a time: try again after the delay
            loop.call_later(self.write_behind_s, self._flush, loop)
            return
        self._dirty = False
        data = self.table.to_dict()
        self._writing = loop.run_in_executor(None, self._write, data)
        self._writing.add_done_callback(self._written)

    def _write(self, data: dict) -> None:
        self.file.replace(data)

    def _written(self, fut: asyncio.Future) -> None:
        exc = fut.exception()
        if exc is not None:
            self.write_errors += 1
            if self.write_errors == 1:
                log.error("cannot write %s: %s (lockout counting goes on in memory)", self.file.path, exc)
        else:
            self.writes += 1

    def _write_now(self) -> None:
        try:
            self._write(self.table.to_dict())
            self._dirty = False
            self.writes += 1
        except OSError as exc:
            self.write_errors += 1
            log.error("cannot write %s: %s", self.file.path, exc)

    async def flush(self) -> None:
        """Write what is pending now (engine shutdown), off the loop."""
        if self._writing is not None and not self._writing.done():
            await asyncio.shield(self._writing)
        if self._dirty and self.file.path is not None:
            self._dirty = False
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, self._write, self.table.to_dict())
                self.writes += 1
            except OSError as exc:
                self.write_errors += 1
                log.error("cannot write %s: %s", self.file.path, exc)

    def status(self) -> dict[str, Any]:
        return {"entries": len(self.table.entries), "writes": self.writes, "write_errors": self.write_errors,
                "pending": self._dirty}
