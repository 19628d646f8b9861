"""Runtime state beside the configuration: the account lockout file, `<state dir>/lockout.json` (decisions 0013, 0084).

The file holds plain data: `{user: {"failures": n, "last_failure": wall-clock seconds}}`; what it means (locked or not,
when the count resets) is `router/lockout.py`'s business, so this module imports nothing from `router/`.

The running engine keeps the table in memory and writes it behind (engine/lockout.py); the CLI reads the file when no
engine runs and edits it (`users unlock`) through `LockoutFile.update()`, which holds an exclusive flock on the sibling
lock file `lockout.json.lock` across read-modify-write and replaces the file atomically, as the config store does
(decision 0006). Without a state dir the data lives in memory.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCKOUT_FILE = "lockout.json"


class LockoutFile:
    def __init__(self, state_dir: str | os.PathLike | None) -> None:
        self.path = Path(state_dir) / LOCKOUT_FILE if state_dir else None
        self._memory: dict = {}

    def read(self) -> dict:
        """The data as it stands ({} when absent, or damaged by hand: nobody is locked out)."""
        if self.path is None:
            return dict(self._memory)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextmanager
    def update(self) -> Iterator[dict]:
        """Read, let the caller change the dict, write it back if it changed; all under the lock."""
        if self.path is None:
            data = self.read()
            yield data
            self._memory = data
            return
        from rrasctl.config.store import _lock, atomic_write

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _lock(self.path)
        try:
            before = self.read()
            data = json.loads(json.dumps(before))
            yield data
            if data != before:
                atomic_write(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        finally:
            os.close(fd)  # releases the flock

    def replace(self, data: dict) -> None:
        """Write DATA as the whole file (the engine's write-behind), under the same lock."""
        with self.update() as current:
            current.clear()
            current.update(data)
