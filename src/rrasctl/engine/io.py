"""add_reader + drain: the engine's packet input pattern (DESIGN.md §5).

`DatagramProtocol` costs 3.4x this pattern per packet (research/performance.md). A drain owns one preallocated
buffer, and on each readiness callback reads up to `batch` packets straight into it (`recv_into`/`recvfrom_into`/
`os.readv`), handing each to `handle(view, n, addr)` where `view` is a memoryview of the whole buffer: the packet is
`view[:n]`, valid only during the call (copy it if you keep it). `addr` is None for connected sockets and fds.

    drain = SocketDrain(sock, on_datagram, with_addr=True)
    drain.attach(loop)           # loop.add_reader(sock.fileno(), drain.on_readable)
    ...
    drain.detach(loop)

A handler must not raise for bad input (cores count and drop); if one does, the drain counts it in `errors`, logs the
first few and carries on, so one bad packet cannot stop a listener.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Callable

log = logging.getLogger(__name__)

Handler = Callable[[memoryview, int, Any], None]
BATCH = 64                 # packets per wake-up: bounded so the other readers get their turn
MAX_LOGGED_ERRORS = 5


class _Drain:
    __slots__ = ("fd", "handle", "buf", "view", "batch", "packets", "errors", "_attached")

    def __init__(self, fd: int, handle: Handler, bufsize: int, batch: int) -> None:
        self.fd = fd
        self.handle = handle
        self.buf = bytearray(bufsize)      # allocated once, reused for every packet
        self.view = memoryview(self.buf)
        self.batch = batch
        self.packets = 0
        self.errors = 0
        self._attached = False

    def attach(self, loop: Any) -> None:
        loop.add_reader(self.fd, self.on_readable)
        self._attached = True

    def detach(self, loop: Any) -> None:
        if self._attached:
            loop.remove_reader(self.fd)
            self._attached = False

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.errors <= MAX_LOGGED_ERRORS:
            log.error("packet handler failed on fd %d (%s); packet dropped", self.fd, exc, exc_info=exc)

    def on_readable(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class SocketDrain(_Drain):
    """Datagram or raw socket input. `with_addr=True` uses recvfrom_into and passes the sender address."""

    __slots__ = ("sock", "with_addr")

    def __init__(self, sock: socket.socket, handle: Handler, *, bufsize: int = 65535, batch: int = BATCH,
                 with_addr: bool = True) -> None:
        sock.setblocking(False)
        super().__init__(sock.fileno(), handle, bufsize, batch)
        self.sock = sock
        self.with_addr = with_addr

    def on_readable(self) -> None:
        buf, view, handle = self.buf, self.view, self.handle
        if self.with_addr:
            recv = self.sock.recvfrom_into
            for _ in range(self.batch):
                try:
                    n, addr = recv(buf)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:     # e.g. ICMP-reported errors on UDP: not fatal for a listener
                    self._failed(exc)
                    return
                self.packets += 1
                try:
                    handle(view, n, addr)
                except Exception as exc:
                    self._failed(exc)
        else:
            recv_into = self.sock.recv_into
            for _ in range(self.batch):
                try:
                    n = recv_into(buf)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    self._failed(exc)
                    return
                self.packets += 1
                try:
                    handle(view, n, None)
                except Exception as exc:
                    self._failed(exc)


class FdDrain(_Drain):
    """A non-blocking file descriptor that yields one packet per read (the TUN device)."""

    __slots__ = ("_bufs",)

    def __init__(self, fd: int, handle: Handler, *, bufsize: int = 65535, batch: int = BATCH) -> None:
        os.set_blocking(fd, False)
        super().__init__(fd, handle, bufsize, batch)
        self._bufs = [self.buf]

    def on_readable(self) -> None:
        fd, bufs, view, handle = self.fd, self._bufs, self.view, self.handle
        readv = os.readv
        for _ in range(self.batch):
            try:
                n = readv(fd, bufs)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._failed(exc)
                return
            if n <= 0:
                return
            self.packets += 1
            try:
                handle(view, n, None)
            except Exception as exc:
                self._failed(exc)
