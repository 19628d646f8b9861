"""The control socket server: a Unix stream socket (mode 0600) speaking control/messages.py (DESIGN.md §8).

Each connection may carry several requests in turn; each request gets zero or more progress lines and one final
reply. Handlers are coroutines `handler(args, progress) -> result`; an `RrasctlError` becomes an error reply with its
`kind` (so the CLI exits with the same code), anything else a `failed` reply naming the op (logged with its
traceback: it is our bug). Results pass through `redact()` as a backstop against secrets.

Limits (control/messages.py; docs/decisions/0142-control-socket-limits.md): request lines of at most MAX_REQUEST
bytes nesting at most MAX_DEPTH levels; each request line must arrive within READ_TIMEOUT_S of the previous reply (or
of the connection), else the connection is closed; at most MAX_CLIENTS connections at once, one more gets a `busy`
error reply and is closed; the kernel queues LISTEN_BACKLOG connections.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any, Awaitable, Callable

from rrasctl.control import messages
from rrasctl.errors import Conflict, RrasctlError

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
Handler = Callable[[dict[str, Any], Progress], Awaitable[Any]]


def _redact(obj: Any) -> Any:
    try:
        from rrasctl.redact import redact
    except ImportError:  # pragma: no cover - redact.py is part of the package
        return obj
    return redact(obj)


class ControlServer:
    def __init__(self, path: str | os.PathLike[str], handlers: dict[str, Handler]) -> None:
        self.path = Path(path)
        self.handlers = handlers
        self._server: asyncio.AbstractServer | None = None
        self._inode: tuple[int, int] | None = None
        self._clients: set[asyncio.Task[Any]] = set()
        self.requests = 0
        self.read_timeout_s = messages.READ_TIMEOUT_S
        self.max_clients = messages.MAX_CLIENTS
        self.busy_refused = 0        # connections answered `busy` (over max_clients)
        self.idle_closed = 0         # connections closed for sending nothing within read_timeout_s

    def claim(self) -> socket.socket:
        """Bind the socket (mode 0600) without listening yet; Conflict if another engine answers on the path.

        Separate from `start()` so the engine can claim its socket before it touches the TUN device."""
        path = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise Conflict(f"{path} exists and is not a socket", hint="remove it or set RRASCTL_SOCKET")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(1.0)
                probe.connect(path)
            except (ConnectionRefusedError, FileNotFoundError, socket.timeout):
                os.unlink(path)   # stale: left by an engine that died
            else:
                raise Conflict(f"another engine is already running (it answers on {path})",
                               hint="stop it first, or set RRASCTL_SOCKET for a second engine")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, 0o600)   # before listen(): nobody can connect while the mode is still the umask's
        except OSError:
            sock.close()
            raise
        st = os.stat(path)
        self._inode = (st.st_dev, st.st_ino)
        return sock

    async def start(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = self.claim()
        sock.listen(messages.LISTEN_BACKLOG)
        sock.setblocking(False)
        self._server = await asyncio.start_unix_server(self._client, sock=sock, limit=messages.MAX_REQUEST)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._clients):
                t.cancel()
            if self._clients:
                await asyncio.gather(*self._clients, return_exceptions=True)
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                pass
            self._server = None
        self.unlink()

    def unlink(self) -> None:
        """Remove the socket file if it is still ours (not one a newer engine bound meanwhile)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        if self._inode == (st.st_dev, st.st_ino):
            os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._clients) >= self.max_clients:
            self.busy_refused += 1
            try:
                writer.write(messages.encode(messages.error(
                    None, "busy", f"the engine is busy: it already serves {self.max_clients} control connections",
                    "try again in a moment")))
                writer.close()
            except Exception:  # the client is already gone
                pass
            return
        if task is not None:
            self._clients.add(task)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), self.read_timeout_s)
                except asyncio.TimeoutError:
                    self.idle_closed += 1
                    break
                except (asyncio.LimitOverrunError, ValueError):
                    writer.write(messages.encode(messages.error(
                        None, "invalid", f"request too long (the limit is {messages.MAX_REQUEST} bytes)")))
                    break
                except (ConnectionError, OSError):
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                reply = await self.dispatch(line, writer)
                writer.write(messages.encode(reply))
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            try:
                writer.close()
            except Exception:  # closing a broken transport
                pass

    async def dispatch(self, line: bytes, writer: asyncio.StreamWriter | None = None) -> dict[str, Any]:
        """One request line -> the final reply (progress lines are written to `writer` as they come)."""
        self.requests += 1
        req_id: Any = None
        try:
            obj = messages.decode(line, max_depth=messages.MAX_DEPTH)
            req_id, op, args = messages.parse_request(obj)
        except messages.BadMessage as exc:
            return messages.error(req_id, "invalid", f"bad request: {exc}")
        handler = self.handlers.get(op)
        if handler is None:
            return messages.error(req_id, "invalid", f"unknown operation {op!r}",
                                  "this engine may be older than the CLI; restart it")

        def progress(stage: str) -> None:
            if writer is not None and not writer.is_closing():
                writer.write(messages.encode(messages.progress(req_id, stage)))

        try:
            result = await handler(args, progress)
        except RrasctlError as exc:
            return messages.error(req_id, exc.kind, exc.message, exc.hint)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("control op %s failed", op)
            return messages.error(req_id, "failed", f"internal error in {op} (the engine's log has the details)")
        return messages.ok(req_id, _redact(result))
