"""Accounting and refusal records (SPEC §6): JSON lines in the state dir, refusals also kept in memory.

- `<state dir>/accounting.jsonl`: one `start` and one `stop` line per session (user, interface, peer, port, protocol,
  and on stop duration, bytes and the cause).
- `<state dir>/refusals.jsonl`: one line per refused attempt (time, peer, user, protocol, server-side cause, the
  answer sent on the wire and the Windows error the client will show); the last `keep` are also in memory for
  `rrasctl connections refusals`.

Files are opened in append mode per record batch and flushed at once, so a crash loses nothing already accounted.
Nothing secret is ever written here (user names and addresses only). RADIUS accounting is a later hand-off.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from rrasctl.engine.sessions import Session, iso_utc

log = logging.getLogger(__name__)


class Accounting:
    def __init__(self, state_dir: str | os.PathLike[str] | None, *, keep: int = 1000, enabled: bool = True) -> None:
        self.dir = Path(state_dir) if state_dir is not None else None
        self.enabled = enabled
        self.refusals: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self.write_errors = 0
        # Objects with on_start(session), on_stop(session, cause), on_refusal(record): the metrics recorder.
        self.observers: list[Any] = []

    @property
    def accounting_path(self) -> Path | None:
        return self.dir / "accounting.jsonl" if self.dir else None

    @property
    def refusals_path(self) -> Path | None:
        return self.dir / "refusals.jsonl" if self.dir else None

    # --- records -------------------------------------------------------------------------------------------------
    def start(self, session: Session) -> dict[str, Any]:
        rec = {"event": "start", "time": iso_utc(time.time()), **self._who(session)}
        self._append(self.accounting_path, rec)
        for o in self.observers:
            o.on_start(session)
        return rec

    def stop(self, session: Session, cause: str) -> dict[str, Any]:
        rec = {"event": "stop", "time": iso_utc(time.time()), **self._who(session),
               "duration_s": session.duration_s(), "bytes_in": session.bytes_in, "bytes_out": session.bytes_out,
               "packets_in": session.packets_in, "packets_out": session.packets_out, "cause": cause}
        self._append(self.accounting_path, rec)
        for o in self.observers:
            o.on_stop(session, cause)
        return rec

    def refusal(self, *, peer: str, protocol: str, cause: str, wire: str, windows_error: int | None,
                user: str | None = None, reason: str | None = None, wire_result: int | None = None,
                interface: str | None = None) -> dict[str, Any]:
        """Record a refused attempt. `cause` is the server-side explanation (one line), `reason` its stable key
        (admission.Reason value, or e.g. "authentication failed"), `wire` the answer sent, e.g. "OCRP result 4
        (busy)" (the record's `wire_code`; `wire_result` is its number)."""
        rec = {"time": iso_utc(time.time()), "peer": peer, "user": user, "protocol": protocol,
               "reason": reason or cause, "cause": cause, "wire_code": wire, "wire_result": wire_result,
               "windows_error": windows_error}
        if interface is not None:
            rec["interface"] = interface
        self.refusals.append(rec)
        self._append(self.refusals_path, rec)
        for o in self.observers:
            o.on_refusal(rec)
        return rec

    def refusal_rows(self) -> list[dict[str, Any]]:
        return list(self.refusals)

    # --- internals -----------------------------------------------------------------------------------------------
    @staticmethod
    def _who(s: Session) -> dict[str, Any]:
        return {"id": s.id, "user": s.user, "interface": s.interface, "peer": s.peer, "port": s.port_name,
                "protocol": s.protocol, "direction": s.direction.value, "ip": s.ip}

    def _append(self, path: Path | None, rec: dict[str, Any]) -> None:
        if not self.enabled or path is None:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, json.dumps(rec, separators=(",", ":")).encode() + b"\n")
            finally:
                os.close(fd)
        except OSError as exc:
            self.write_errors += 1
            if self.write_errors == 1:
                log.warning("cannot write %s: %s (accounting continues in memory)", path, exc.strerror or exc)
