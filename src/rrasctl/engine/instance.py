"""One engine per network namespace and per state dir (SPEC §6), taken before anything is bound.

Two locks, both released by the kernel when the process dies (no stale lock to clean up):

- **the network namespace**: a listening Unix socket bound to the abstract name ``\\0rrasctl-engine``. The abstract
  socket namespace belongs to the network namespace, so exactly one process per netns can hold the name, whatever
  its state dir, config or control socket. A second engine connects to it and learns the holder's pid from
  SO_PEERCRED (the holder never accepts; the connection is dropped at once).
- **the state dir**: an exclusive ``flock`` on ``<state dir>/engine.lock``, which holds the holder's pid and control
  socket for the message. Two namespaces sharing one state dir would share accounting files and lockout state.

`claim(paths)` takes both or raises `Conflict` (exit 4) naming the other engine; `release()` gives them back (the
in-process callers: tests, `serve` returning). Decision record: docs/decisions/0143-one-engine-per-netns.md.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

from rrasctl.errors import Conflict, RrasctlError

ABSTRACT_NAME = "rrasctl-engine"
LOCK_FILE = "engine.lock"
HINT = ("stop it first: one engine per network namespace and state dir (a second one would take the first one's "
        "L2TP and GRE traffic)")
_UCRED = struct.Struct("3i")        # struct ucred: pid, uid, gid


class InstanceLock:
    def __init__(self, state_dir: str | os.PathLike[str], *, socket_path: str | os.PathLike[str] | None = None,
                 name: str = ABSTRACT_NAME) -> None:
        self.state_dir = Path(state_dir)
        self.socket_path = None if socket_path is None else str(socket_path)
        self.name = name
        self._sock: socket.socket | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._sock is not None and self._fd is not None

    def acquire(self) -> None:
        """Both locks, or Conflict (nothing held then). The namespace first: it needs no file."""
        self._claim_netns()
        try:
            self._claim_state_dir()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)      # closing the only descriptor drops the flock
            self._fd = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # --- the network namespace ------------------------------------------------------------------------------------
    def _claim_netns(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind("\0" + self.name)
            sock.listen(1)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise RrasctlError(f"cannot take the engine lock of this network namespace: {exc.strerror or exc}"
                                   ) from None
            pid = self._holder_pid()
            who = f" (pid {pid})" if pid else ""
            raise Conflict(f"another engine is already running in this network namespace{who}", hint=HINT) from None
        self._sock = sock

    def _holder_pid(self) -> int | None:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect("\0" + self.name)
            pid, _uid, _gid = _UCRED.unpack(probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
            return pid or None
        except OSError:
            return None
        finally:
            probe.close()

    # --- the state dir --------------------------------------------------------------------------------------------
    def _claim_state_dir(self) -> None:
        import fcntl

        path = self.state_dir / LOCK_FILE
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise RrasctlError(f"cannot open the engine lock {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RrasctlError(f"cannot lock {path}: {exc.strerror or exc}") from None
            pid = holder.get("pid")
            sock = holder.get("socket")
            detail = "; ".join(x for x in (f"pid {pid}" if pid else "", f"it answers on {sock}" if sock else "") if x)
            raise Conflict(f"another engine is already running with the state dir {self.state_dir}"
                           + (f" ({detail})" if detail else ""), hint=HINT) from None
        record = json.dumps({"pid": os.getpid(), "socket": self.socket_path}).encode() + b"\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self._fd = fd


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def claim(paths: Any, *, name: str = ABSTRACT_NAME) -> InstanceLock:
    """Take the instance locks for an engine using `paths` (state_dir, socket); Conflict if another engine holds
    either."""
    lock = InstanceLock(paths.state_dir, socket_path=getattr(paths, "socket", None), name=name)
    lock.acquire()
    return lock
