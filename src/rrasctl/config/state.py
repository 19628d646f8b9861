"""Runtime state beside the configuration: the account lockout table, `<state dir>/lockout.json` (decision 0013).

The engine counts failed authentications into it; the CLI reads it (`users show`, `users list`) and edits it
(`users unlock`). Both go through `LockoutFile`, whose `update()` holds an exclusive flock on the sibling lock file
`lockout.json.lock` across read-modify-write and replaces the file atomically, as the config store does (decision
0006): an unlock and a failure counted at the same instant cannot lose each other. Without a state dir (tests of the
engine's decisions) the table lives in memory.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from rrasctl.router.lockout import LockoutTable

LOCKOUT_FILE = "lockout.json"


class LockoutFile:
    def __init__(self, state_dir: str | os.PathLike | None) -> None:
        self.path = Path(state_dir) / LOCKOUT_FILE if state_dir else None
        self._memory: dict = {}

    def _raw(self) -> dict:
        if self.path is None:
            return self._memory
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # absent, or damaged by hand: nobody is locked out
            return {}
        return data if isinstance(data, dict) else {}

    def read(self, config: Any) -> LockoutTable:
        """The table as it stands, with the limits of `config.auth.lockout`."""
        lo = config.auth.lockout
        return LockoutTable.from_dict(self._raw(), max_failures=lo.max_failures, reset_minutes=lo.reset_minutes)

    @contextmanager
    def update(self, config: Any) -> Iterator[LockoutTable]:
        """Read, let the caller change the table, write it back if it changed; all under the lock."""
        if self.path is None:
            table = self.read(config)
            yield table
            self._memory = table.to_dict()
            return
        from rrasctl.config.store import _lock, atomic_write

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _lock(self.path)
        try:
            before = self._raw()
            lo = config.auth.lockout
            table = LockoutTable.from_dict(before, max_failures=lo.max_failures, reset_minutes=lo.reset_minutes)
            yield table
            after = table.to_dict()
            if after != before:
                atomic_write(self.path, json.dumps(after, indent=2) + "\n")
        finally:
            os.close(fd)  # releases the flock
