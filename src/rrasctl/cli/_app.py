"""The App object every command receives: paths, the store, the engine client, say() and emit()."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import click


class App:
    def __init__(self, config_flag: str | None) -> None:
        self.config_flag = config_flag
        self.output = "table"
        self._paths = None
        self._sealer = None

    # -- locations and config
    @property
    def paths(self):
        if self._paths is None:
            from rrasctl import paths

            self._paths = paths.resolve(self.config_flag)
        return self._paths

    def config_file(self):
        """The config file to read or write. A path given with --config or RRASCTL_CONFIG whose directory does not
        exist is an error (exit 2), for reads and writes alike: a typo must not silently mean the defaults, nor
        create directories (decision 0123). A missing file in an existing directory means the defaults."""
        p = self.paths
        if p.explicit and not p.config.parent.is_dir():
            from rrasctl.errors import ValidationError

            source = "--config" if self.config_flag is not None else "RRASCTL_CONFIG"
            raise ValidationError(f"{source} {p.config}: the directory {p.config.parent} does not exist",
                                  hint=f"create it first (mkdir -p {p.config.parent}), or give another path")
        return p.config

    def load(self):
        from rrasctl.config import store

        return store.load(self.config_file())

    @contextmanager
    def edit(self) -> Iterator[Any]:
        from rrasctl.config import secrets, store

        with store.edit(self.config_file()) as e:
            outer, self._sealer = self._sealer, secrets.Sealer(self.paths.key, e)
            try:
                yield e
            finally:
                self._sealer = outer
        if e.changed:
            self._tell_engine()

    def _tell_engine(self) -> None:
        """A running engine applies a saved change at once, as SIGHUP would (SPEC §6); no engine: nothing to do.

        The change is already on disk, so a failure here is a warning, never an error: the engine keeps its old
        configuration and says why (an engine reload refuses an invalid file, which the store never writes).
        """
        from rrasctl.errors import EngineUnavailable, RrasctlError

        if not os.path.exists(self.paths.socket):
            return
        try:
            result = self.engine("reload", timeout=5.0)
        except EngineUnavailable:
            return
        except RrasctlError as e:
            self.say(f"warning: saved, but the running engine did not apply it: {e.message}")
            return
        waiting = result.get("restart_needed") if isinstance(result, dict) else None
        if waiting:   # decision 0122: the engine applies these only when it starts
            keys = ", ".join(f"{w.get('key')} (running {w.get('running')}, saved {w.get('saved')})" for w in waiting)
            self.say(f"saved; the running engine applies {keys} only when it starts: restart it "
                     "(stop it, then rrasctl engine run); rrasctl engine status lists what waits")
            return
        self.say("the running engine applied the change")

    def seal(self, plain: str) -> str:
        """Seal a secret for the config being edited (inside `with app.edit()`): never under a new key while the
        config holds secrets sealed under another (SecretUnavailable), and v1 values are re-sealed as v2."""
        if self._sealer is None:
            raise RuntimeError("App.seal() is only for use inside `with app.edit()`")   # our bug, not the user's
        return self._sealer.seal(plain)

    # -- the engine
    def engine(self, op: str, args: dict | None = None, **kw: Any) -> Any:
        from rrasctl.control.client import call

        return call(str(self.paths.socket), op, args, **kw)

    def live_check(self, op: str, args: dict) -> Any:
        """A removal check asked of a running engine under the config lock (decision 0017): its Conflict (live
        connections, no --force) propagates and nothing is written; None when no engine runs."""
        from rrasctl.errors import EngineUnavailable

        if not os.path.exists(self.paths.socket):
            return None
        try:
            return self.engine(op, args)
        except EngineUnavailable:
            return None

    def say_ended(self, result: Any) -> None:
        """`ended connection 3 (PPTP-0, alice from 198.51.100.7)` for each connection a --force ended."""
        for c in (result or {}).get("disconnected", []) if isinstance(result, dict) else []:
            self.say(f"ended {c.get('text') or 'connection ' + str(c.get('id'))}")

    def engine_if_running(self, op: str, args: dict | None = None) -> Any:
        """The result, or None when no engine runs (for optional live columns)."""
        from rrasctl.errors import EngineUnavailable, RrasctlError

        if not os.path.exists(self.paths.socket):
            return None
        try:
            return self.engine(op, args, timeout=3.0)
        except EngineUnavailable:
            return None
        except RrasctlError as e:  # the engine answered with an error: show the configuration anyway
            self.say(f"warning: the engine could not give live figures: {e.message}")
            return None

    # -- output
    def say(self, message: str) -> None:
        """A message for the person: stderr."""
        click.echo(message, err=True)

    def emit(self, data: Any, columns: list[str] | None = None, *, title: str | None = None,
             drop: tuple[str, ...] = (), tail: str | None = None) -> None:
        """Data: stdout, as JSON (-o json) or a table (rich on a TTY, plain aligned text in a pipe) that fits the
        terminal: DROP names the low-value columns to leave out first when it is too narrow, TAIL a long text
        column that then goes under its row (decision 0124)."""
        from rrasctl.cli import _output

        _output.emit(data, self.output, columns=columns, title=title, drop=drop, tail=tail)
