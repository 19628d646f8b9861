"""add_reader + drain: the engine's packet input pattern (DESIGN.md §5).

`DatagramProtocol` costs 3.4x this pattern per packet (research/performance.md). A drain owns one preallocated
buffer, and on each readiness callback reads up to `batch` packets straight into it (`recv_into`/`recvfrom_into`/
`os.readv`), handing each to `handle(view, n, addr)` where `view` is a memoryview of the whole buffer: the packet is
`view[:n]`, valid only during the call (copy it if you keep it). `addr` is None for connected sockets and fds.

    drain = SocketDrain(sock, on_datagram, with_addr=True)
    drain.attach(loop)           # loop.add_reader(sock.fileno(), drain.on_readable)
    ...
    drain.detach(loop)

`GroSocketDrain` is the same for a UDP socket with UDP_GRO on: one `recvmsg_into` may return several datagrams of
one flow glued together (a peer's UDP GSO send, or the kernel's GRO), with their size in a cmsg; each is handed to
`handle` on its own, exactly as sent. `UdpSendBatch` is the sending half: packets to one peer queued in one buffer and
sent with one `sendmsg` carrying a UDP_SEGMENT cmsg (research/performance.md §1c: the kernel and syscall cost per
datagram falls from ~5 µs to ~0.4 µs at 40 segments), flushed at the end of each TUN drain batch
(`FdDrain.after`), so batching adds no latency beyond the batch the engine has already read (docs/decisions/0067).

A handler must not raise for bad input (cores count and drop); if one does, the drain counts it in `errors`, logs the
first few and carries on, so one bad packet cannot stop a listener.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
from typing import Any, Callable

log = logging.getLogger(__name__)

Handler = Callable[[memoryview, int, Any], None]
BATCH = 64                 # packets per wake-up: bounded so the other readers get their turn
MAX_LOGGED_ERRORS = 5
SOL_UDP = 17
UDP_SEGMENT = 103          # linux/udp.h: GSO segment size (cmsg on send)
UDP_GRO = 104              # linux/udp.h: setsockopt to receive glued datagrams; cmsg with the segment size
GSO_MAX_SEGMENTS = 64      # the kernel allows 128 (UDP_MAX_SEGMENTS); 64 keeps one batch under 64 KiB of payload
GSO_MAX_BYTES = 65507 - 8  # the largest IPv4 UDP payload, less room for one more header
ICMP_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN})
_SEG = struct.Struct("=H")
_SEG_I = struct.Struct("=i")


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
    """Datagram or raw socket input. `with_addr=True` uses recvfrom_into and passes the sender address. `after`,
    when set, is called once at the end of every wake-up (the PPTP driver settles its delayed acks there)."""

    __slots__ = ("sock", "with_addr", "after", "on_error")

    def __init__(self, sock: socket.socket, handle: Handler, *, bufsize: int = 65535, batch: int = BATCH,
                 with_addr: bool = True, after: Callable[[], None] | None = None,
                 on_error: Callable[[OSError], None] | None = None) -> None:
        sock.setblocking(False)
        super().__init__(sock.fileno(), handle, bufsize, batch)
        self.sock = sock
        self.with_addr = with_addr
        self.after = after
        self.on_error = on_error     # ICMP-reported errors (IP_RECVERR): given to the owner, reading goes on

    def on_readable(self) -> None:
        self._read_batch()
        after = self.after
        if after is not None:
            try:
                after()
            except Exception as exc:
                self._failed(exc)

    def _read_batch(self) -> None:
        buf, view, handle = self.buf, self.view, self.handle
        if self.with_addr:
            recv = self.sock.recvfrom_into
            for _ in range(self.batch):
                try:
                    n, addr = recv(buf)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:     # e.g. ICMP-reported errors on UDP: not fatal for a listener
                    if self.on_error is not None and exc.errno in ICMP_ERRNOS:
                        self.on_error(exc)
                        continue
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


SOCKET_BUFFER_BYTES = 4 << 20   # ~2,800 full-size packets: a burst (or a peer's GSO batch) waits here, not in drops


def big_buffers(sock: socket.socket, nbytes: int = SOCKET_BUFFER_BYTES) -> None:
    """Room for bursts on a socket that carries every session: SO_RCVBUFFORCE/SO_SNDBUFFORCE (they need
    CAP_NET_ADMIN, which the engine has), else the plain options (capped by net.core.[rw]mem_max)."""
    for force, plain in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, nbytes)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, nbytes)
            except OSError:
                pass


def enable_gro(sock: socket.socket) -> bool:
    """Turn UDP_GRO on for `sock`; False where the kernel has no such option (then datagrams arrive one by one)."""
    try:
        sock.setsockopt(SOL_UDP, UDP_GRO, 1)
    except OSError:
        return False
    return True


class GroSocketDrain(SocketDrain):
    """A UDP socket with UDP_GRO on (`enable_gro`): `recvmsg_into`, and a glued read is split at the segment size the
    kernel reports, so `handle` sees each datagram as it was sent (`view` is then a slice starting at it)."""

    __slots__ = ("_bufs", "glued")

    def __init__(self, sock: socket.socket, handle: Handler, *, bufsize: int = 65535, batch: int = BATCH,
                 after: Callable[[], None] | None = None, on_error: Callable[[OSError], None] | None = None) -> None:
        super().__init__(sock, handle, bufsize=bufsize, batch=batch, with_addr=True, after=after, on_error=on_error)
        self._bufs = [self.buf]
        self.glued = 0             # reads that carried more than one datagram

    def _read_batch(self) -> None:
        bufs, view, handle = self._bufs, self.view, self.handle
        recv = self.sock.recvmsg_into
        for _ in range(self.batch):
            try:
                n, anc, flags, addr = recv(bufs, 32)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if self.on_error is not None and exc.errno in ICMP_ERRNOS:
                    self.on_error(exc)
                    continue
                self._failed(exc)
                return
            seg = 0
            for level, kind, data in anc:
                if level == SOL_UDP and kind == UDP_GRO and len(data) >= 2:
                    seg = (_SEG_I if len(data) >= 4 else _SEG).unpack_from(data)[0]
            if 0 < seg < n:
                self.glued += 1
                for off in range(0, n, seg):
                    size = n - off if n - off < seg else seg
                    self.packets += 1
                    try:
                        handle(view[off:off + size], size, addr)
                    except Exception as exc:
                        self._failed(exc)
                continue
            self.packets += 1
            try:
                handle(view, n, addr)
            except Exception as exc:
                self._failed(exc)


class UdpSendBatch:
    """UDP GSO on the sending side: `add(packet, addr)` copies the packet into one buffer; `flush()` sends what is
    queued with one `sendmsg` and a UDP_SEGMENT cmsg (one `sendto` for a single packet). A batch holds packets to one
    address, all of the first one's size; a shorter packet ends it (the kernel's rule: only the last segment may be
    short); a longer one, another address, 64 packets or 64 KiB flush first. Where the kernel or the route refuses GSO
    (EIO: no checksum offload on the way out; EINVAL: a segment over the path MTU) the batch goes out one datagram at a
    time, and after EIO GSO stays off (`enabled`), counted in `fallbacks`. A full socket buffer drops the batch,
    counted in `dropped` as a congested link would."""

    __slots__ = ("sock", "enabled", "buf", "view", "off", "seg", "count", "addr", "sends", "packets", "dropped",
                 "fallbacks", "_cmsg_seg", "_cmsg")

    def __init__(self, sock: socket.socket, *, enabled: bool = True) -> None:
        self.sock = sock
        self.enabled = enabled
        self.buf = bytearray(65536)
        self.view = memoryview(self.buf)
        self.off = self.seg = self.count = 0
        self.addr: Any = None
        self.sends = self.packets = self.dropped = self.fallbacks = 0
        self._cmsg_seg = 0
        self._cmsg: list = []

    def add(self, packet: Any, addr: Any) -> None:
        """Queue one datagram for `addr` (copied: `packet` may be reused at once)."""
        self.add_parts(b"", packet, addr)

    def add_parts(self, head: bytes, payload: Any, addr: Any) -> None:
        """`add(head + payload, addr)` without building the concatenation: both are copied into the batch."""
        h = len(head)
        n = h + len(payload)
        if self.count:
            if n > self.seg or self.off + n > GSO_MAX_BYTES or (addr is not self.addr and addr != self.addr):
                self.flush()
        off = self.off
        if not self.count:
            self.addr, self.seg = addr, n
        view = self.view
        view[off:off + h] = head
        view[off + h:off + n] = payload
        self.off = off + n
        self.count += 1
        if n < self.seg or self.count >= GSO_MAX_SEGMENTS:
            self.flush()

    def flush(self) -> None:
        count = self.count
        if not count:
            return
        end, addr, seg = self.off, self.addr, self.seg
        self.off = self.count = 0
        self.packets += count
        self.sends += 1
        try:
            if count == 1:
                self.sock.sendto(self.view[:end], addr)
                return
            if not self.enabled:
                self._one_by_one(end, seg, addr)
                return
            if seg != self._cmsg_seg:
                self._cmsg_seg, self._cmsg = seg, [(SOL_UDP, UDP_SEGMENT, _SEG.pack(seg))]
            self.sock.sendmsg([self.view[:end]], self._cmsg, 0, addr)
        except (BlockingIOError, InterruptedError):
            self.dropped += count
        except OSError as exc:
            if count == 1 or exc.errno not in (errno.EIO, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOPROTOOPT):
                self.dropped += count
                return
            self.fallbacks += 1
            if exc.errno != errno.EINVAL:
                self.enabled = False
                log.warning("UDP GSO refused by the kernel (%s): sending one datagram per packet", exc.strerror)
            self._one_by_one(end, seg, addr)

    def _one_by_one(self, end: int, seg: int, addr: Any) -> None:
        view, send = self.view, self.sock.sendto
        for off in range(0, end, seg):
            try:
                send(view[off:min(off + seg, end)], addr)
            except OSError:
                self.dropped += 1


class FdDrain(_Drain):
    """A non-blocking file descriptor that yields one packet per read (the TUN device). `after`, when set, is called
    once at the end of every batch that read something (UdpSendBatch flushes hang there)."""

    __slots__ = ("_bufs", "after")

    def __init__(self, fd: int, handle: Handler, *, bufsize: int = 65535, batch: int = BATCH,
                 after: Callable[[], None] | None = None) -> None:
        os.set_blocking(fd, False)
        super().__init__(fd, handle, bufsize, batch)
        self._bufs = [self.buf]
        self.after = after

    def on_readable(self) -> None:
        fd, bufs, view, handle = self.fd, self._bufs, self.view, self.handle
        readv = os.readv
        for _ in range(self.batch):
            try:
                n = readv(fd, bufs)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._failed(exc)
                break
            if n <= 0:
                break
            self.packets += 1
            try:
                handle(view, n, None)
            except Exception as exc:
                self._failed(exc)
        after = self.after
        if after is not None:
            try:
                after()
            except Exception as exc:
                self._failed(exc)
