"""Accounting and refusal records (SPEC §6): JSON lines in the state dir, refusals also kept in memory.

- `<state dir>/accounting.jsonl` (`auth.accounting` = `local`, or `radius` until RADIUS accounting exists; nothing
  with `none`): one `start` and one `stop` line per session (user, interface, peer, port, protocol, and on stop
  duration, bytes and the cause). `session_id` is unique across restarts: this engine's instance id (its start time
  and 16 random bits, hex) and a counter, like RADIUS Acct-Session-Id; `id` is the small `connections list` number,
  unique only within one run.
- `<state dir>/accounting.open.jsonl`: the journal of sessions started and not yet stopped (each start, then a line
  per stop; compacted as it grows). An engine that dies without writing its stops (SIGKILL, power loss) leaves it
  behind; the next engine, holding the instance lock, calls `close_orphans()` before it accepts anything: each
  session still open gets a `stop` with cause "NAS reboot", as RADIUS Accounting-On implies, `duration_s` up to that
  moment (an upper bound, `approximate: true`, as FreeRADIUS's Accounting-On query computes it) and null counters.
- `<state dir>/refusals.jsonl`: one line per refused attempt (time, peer, user, protocol, server-side cause, the
  answer sent on the wire and the Windows error the client will show); the last `keep` are also in memory for
  `rrasctl connections refusals`. Written whatever `auth.accounting` says: it is the security event log (RRAS logs
  refused connections in the event log with any accounting provider).

Files are opened in append mode per record and written at once, so a crash loses nothing already accounted.
Nothing secret is ever written here (user names and addresses only). Decisions 0024 and 0144.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from rrasctl.engine.sessions import Session, iso_utc

log = logging.getLogger(__name__)

NAS_REBOOT = "NAS reboot"        # RFC 2866 Acct-Terminate-Cause 11
_COMPACT_SLACK = 64              # journal lines allowed beyond twice the open sessions before it is rewritten


def new_instance_id(now: float | None = None) -> str:
    """12 hex digits: the start time in seconds and 16 random bits (two engines started in one second differ)."""
    return f"{int(time.time() if now is None else now) & 0xFFFFFFFF:08x}{os.urandom(2).hex()}"


class Accounting:
    def __init__(self, state_dir: str | os.PathLike[str] | None, *, keep: int = 1000, enabled: bool = True,
                 instance: str | None = None) -> None:
        self.dir = Path(state_dir) if state_dir is not None else None
        self.enabled = enabled           # accounting records (auth.accounting != "none"); refusals always
        self.refusals: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self.write_errors = 0
        self.instance = instance or new_instance_id()
        self._counter = itertools.count(1)
        self._open: dict[int, str] = {}      # Session.id -> session_id, for sessions whose start was written
        self._journal_lines = 0
        # Objects with on_start(session), on_stop(session, cause), on_refusal(record): the metrics recorder.
        self.observers: list[Any] = []

    @property
    def accounting_path(self) -> Path | None:
        return self.dir / "accounting.jsonl" if self.dir else None

    @property
    def journal_path(self) -> Path | None:
        return self.dir / "accounting.open.jsonl" if self.dir else None

    @property
    def refusals_path(self) -> Path | None:
        return self.dir / "refusals.jsonl" if self.dir else None

    def session_id(self, session: Session) -> str | None:
        """The accounting session id of a session whose start was recorded (None otherwise)."""
        return self._open.get(session.id)

    # --- records -------------------------------------------------------------------------------------------------
    def start(self, session: Session) -> dict[str, Any]:
        sid = f"{self.instance}-{next(self._counter)}"
        now = time.time()
        rec = {"event": "start", "time": iso_utc(now), "session_id": sid, **self._who(session)}
        if self.enabled and self._append(self.accounting_path, rec):
            self._open[session.id] = sid
            self._journal({"start": rec, "t": now})
        for o in self.observers:
            o.on_start(session)
        return rec

    def stop(self, session: Session, cause: str) -> dict[str, Any]:
        """The stop record. Written when the start was (even if accounting was switched off since), so every start
        in the file has its stop."""
        sid = self._open.pop(session.id, None)
        rec = {"event": "stop", "time": iso_utc(time.time()), "session_id": sid, **self._who(session),
               "duration_s": session.duration_s(), "bytes_in": session.bytes_in, "bytes_out": session.bytes_out,
               "packets_in": session.packets_in, "packets_out": session.packets_out, "cause": cause}
        if sid is not None:
            self._append(self.accounting_path, rec)
            self._journal({"stop": sid})
        for o in self.observers:
            o.on_stop(session, cause)
        return rec

    def close_orphans(self, now: float | None = None) -> list[dict[str, Any]]:
        """At start-up, under the instance lock: write a "NAS reboot" stop for every session a previous engine
        started and never stopped, then clear the journal. Returns the stop records written."""
        path = self.journal_path
        if path is None:
            return []
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("cannot read %s: %s; sessions left open by the last engine stay open",
                        path, exc.strerror or exc)
            return []
        now = time.time() if now is None else now
        stops = []
        for start, t in _still_open(text).values():
            rec = {"event": "stop", "time": iso_utc(now),
                   **{k: v for k, v in start.items() if k not in ("event", "time")},
                   "duration_s": max(0, int(now - t)), "approximate": True, "bytes_in": None, "bytes_out": None,
                   "packets_in": None, "packets_out": None, "cause": NAS_REBOOT}
            if self._append(self.accounting_path, rec):
                stops.append(rec)
        if stops:
            log.warning("closed %d accounting record(s) left open by an engine that stopped without closing them "
                        "(cause %s; durations are upper bounds)", len(stops), NAS_REBOOT)
        try:
            os.unlink(path)
        except OSError:
            pass
        self._journal_lines = 0
        return stops

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

    def _journal(self, entry: dict[str, Any]) -> None:
        path = self.journal_path
        if path is None:
            return
        if self._journal_lines >= 2 * len(self._open) + _COMPACT_SLACK:
            self._compact(path)
        if self._append(path, entry):
            self._journal_lines += 1

    def _compact(self, path: Path) -> None:
        """Rewrite the journal with only the sessions still open (temp file + rename: a crash keeps one or the
        other, both correct)."""
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        keep = [{"start": start, "t": t} for start, t in _still_open(text).values()]
        tmp = path.with_name(path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in keep))
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            self._failed(path, exc)
            return
        self._journal_lines = len(keep)

    def _append(self, path: Path | None, rec: dict[str, Any]) -> bool:
        if path is None:
            return False
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, json.dumps(rec, separators=(",", ":")).encode() + b"\n")
            finally:
                os.close(fd)
        except OSError as exc:
            self._failed(path, exc)
            return False
        return True

    def _failed(self, path: Path, exc: OSError) -> None:
        self.write_errors += 1
        if self.write_errors == 1:
            log.warning("cannot write %s: %s (accounting continues in memory)", path, exc.strerror or exc)


def _still_open(text: str) -> dict[str, tuple[dict[str, Any], float]]:
    """session_id -> (start record, start time) for the starts in a journal without a stop line after them."""
    open_: dict[str, tuple[dict[str, Any], float]] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:           # a line cut by the crash
            continue
        if not isinstance(entry, dict):
            continue
        start = entry.get("start")
        if isinstance(start, dict) and isinstance(start.get("session_id"), str):
            t = entry.get("t")
            open_[start["session_id"]] = (start, float(t) if isinstance(t, (int, float)) else time.time())
        elif isinstance(entry.get("stop"), str):
            open_.pop(entry["stop"], None)
    return open_
