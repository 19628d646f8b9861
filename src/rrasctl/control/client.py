"""Blocking control-socket client for the CLI (DESIGN.md §8). No asyncio: it costs nothing at start-up.

    from rrasctl.control.client import call
    rows = call(paths.socket, "connections.list")
    call(paths.socket, "demand_dial.connect", {"name": "branch1", "wait": True}, on_progress=app.say)

No engine (no socket, or nobody listening) raises EngineUnavailable (exit 5); an error reply raises the RrasctlError
subclass its `kind` names, so the CLI exits with the engine's code. An engine whose listen queue stays full for the
whole timeout (connect keeps failing with EAGAIN) or that answers `busy` raises EngineBusy (exit 1): it runs, so a
script must not conclude it is down (docs/decisions/0142-control-socket-limits.md).
"""

from __future__ import annotations

import errno
import itertools
import os
import select
import socket
import time
from typing import Any, Callable

from rrasctl.control import messages
from rrasctl.errors import EngineBusy, EngineUnavailable, RrasctlError, from_kind

BUSY_RETRY_S = 0.05   # between connection attempts while the engine's listen queue is full

HINT = "start it with: rrasctl engine run"
_ids = itertools.count(1)


def call(socket_path: str | os.PathLike[str], op: str, args: dict[str, Any] | None = None, *,
         timeout: float = 10.0, on_progress: Callable[[str], None] | None = None) -> Any:
    """Send one request and return the reply's `result`.

    `timeout` bounds each wait for a line from the engine (progress lines restart it), so a long dial that keeps
    reporting progress is not cut short. `on_progress` receives each progress stage as it arrives.
    """
    path = os.fspath(socket_path)
    sock = _connect(path, timeout)
    try:
        req_id = next(_ids)
        sent: OSError | None = None
        try:
            sock.sendall(messages.encode(messages.request(req_id, op, args)))
        except OSError as exc:      # it may have answered before closing (e.g. `busy`): read that first
            sent = exc
        for reply in _lines(sock, path, timeout):
            if "progress" in reply:
                if on_progress is not None:
                    on_progress(str(reply["progress"]))
                continue
            if reply.get("ok") is True:
                return reply.get("result")
            err = reply.get("error") or {}
            raise from_kind(str(err.get("kind", "failed")), str(err.get("message", "the engine reported an error")),
                            err.get("hint"))
        if sent is not None:
            raise EngineUnavailable(f"the engine at {path} closed the connection: {sent.strerror or sent}")
        raise EngineUnavailable(f"the engine at {path} closed the connection without answering")
    finally:
        sock.close()


def _connect(path: str, timeout: float) -> socket.socket:
    """A connected socket, retrying while the engine's listen queue is full (EAGAIN) until `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            sock.close()
            raise EngineUnavailable(f"the engine is not running (no socket at {path})", hint=HINT) from None
        except PermissionError:
            sock.close()
            raise EngineUnavailable(f"cannot reach the engine at {path}: permission denied",
                                    hint="run as the user that started the engine (the socket is mode 0600)") from None
        except socket.timeout:
            sock.close()
            raise EngineBusy(f"the engine at {path} did not accept the connection within {timeout:g} s",
                             hint="it is running but busy; try again in a moment") from None
        except OSError as exc:
            sock.close()
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise EngineUnavailable(f"cannot reach the engine at {path}: {exc.strerror or exc}",
                                        hint=HINT) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise EngineBusy(f"the engine is busy: its control socket {path} queues no more connections",
                                 hint="it is running; try again in a moment") from None
            select.select([], [], [], min(BUSY_RETRY_S, left))


def _lines(sock: socket.socket, path: str, timeout: float):
    """Yield decoded reply lines until the peer closes."""
    buf = bytearray()
    while True:
        nl = buf.find(b"\n")
        if nl >= 0:
            line = bytes(buf[:nl])
            del buf[: nl + 1]
            if not line.strip():
                continue
            try:
                yield messages.decode(line)
            except messages.BadMessage as exc:
                raise RrasctlError(f"unexpected reply from the engine at {path}: {exc}") from None
            continue
        if len(buf) > messages.MAX_LINE:
            raise RrasctlError(f"reply from the engine at {path} is too long")
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise EngineUnavailable(f"the engine at {path} did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise EngineUnavailable(f"lost the connection to the engine at {path}: {exc.strerror or exc}") from None
        if not chunk:
            return
        buf += chunk
