"""The sockets a driver gets: the transport seam between the engine and the network (DESIGN.md §2, decision 0083).

A driver never opens a socket itself. The engine context hands it a `Transport`, and the driver asks it for what it
needs: PPTP a TCP listener, TCP connections and the raw GRE endpoint; L2TP a UDP endpoint. `OsTransport` is the
production implementation (today's sockets, add_reader + drain, UDP GSO/GRO); `engine/memnet.py` is an in-memory one
with a virtual wire (loss, reordering, duplication) so that two engines connect, authenticate and move IP packets in
a plain unit test, on a virtual clock, without root or namespaces (wireguard-go's `NewDevice(tun, bind)` shape).

    endpoint = ctx.transport.open_udp(host, 1701)         # or open_gre()
    endpoint.attach(loop, handle, after=...)               # handle(view, n, addr) per datagram; after() per wake-up
    endpoint.sendto(packet, (ip, port))                    # a bound method: the data path calls it directly
    batch = endpoint.send_batch()                          # UDP GSO batcher, or None where there is none

The GRE endpoint hands `handle` the whole IPv4 packet (a raw socket's view: the driver reads the sender from the IP
header); UDP endpoints hand the datagram and `(ip, port)`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any, Awaitable, Callable, Protocol

from rrasctl.engine.io import GroSocketDrain, SocketDrain, UdpSendBatch, big_buffers, enable_gro

Handler = Callable[[memoryview, int, Any], Any]
Accept = Callable[[asyncio.StreamReader, Any], Awaitable[None]]
GRE_PROTOCOL = 47
IP_RECVERR = 11                 # linux/in.h
MSG_ERRQUEUE = 0x2000
SO_EE_ORIGIN_ICMP = 2           # linux/errqueue.h: sock_extended_err.ee_origin
_EE = struct.Struct("=IBBB")    # ee_errno, ee_origin, ee_type, ee_code


class Endpoint(Protocol):
    """A datagram endpoint (UDP socket or raw GRE socket)."""

    description: str
    sendto: Callable[[Any, tuple[str, int]], Any]

    def attach(self, loop: Any, handle: Handler, *, after: Callable[[], None] | None = None,
               on_unreachable: Callable[[tuple[str, int]], None] | None = None) -> None: ...
    def detach(self, loop: Any) -> None: ...
    def close(self) -> None: ...
    def send_batch(self) -> UdpSendBatch | None: ...
    def stats(self) -> dict[str, Any]: ...


class Transport(Protocol):
    """What the engine needs from the network (OsTransport in production, memnet.MemoryTransport in tests)."""

    async def resolve(self, host: str, port: int) -> str: ...
    def open_gre(self) -> Endpoint: ...
    def open_udp(self, host: str, port: int) -> Endpoint: ...
    async def listen_tcp(self, host: str, port: int, on_accept: Accept) -> Any: ...
    async def connect_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader, Any]: ...


class SocketEndpoint:
    """A real socket read with add_reader + drain (engine/io.py). `gro` turns on UDP GRO where the kernel has it."""

    def __init__(self, sock: socket.socket, description: str, *, gro: bool = False, gso: bool = False) -> None:
        self.sock = sock
        self.description = description
        self.sendto = sock.sendto
        self.gro = gro and enable_gro(sock)
        self.gso = gso
        self.drain: SocketDrain | None = None
        self._batch: UdpSendBatch | None = None

    def attach(self, loop: Any, handle: Handler, *, after: Callable[[], None] | None = None,
               on_unreachable: Callable[[tuple[str, int]], None] | None = None) -> None:
        on_error = None
        if on_unreachable is not None and self.sock.type == socket.SOCK_DGRAM:
            try:
                self.sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            except OSError:
                pass
            else:
                on_error = lambda exc: self._errqueue(on_unreachable)   # noqa: E731
        if self.gro:
            self.drain = GroSocketDrain(self.sock, handle, after=after, on_error=on_error)
        else:
            self.drain = SocketDrain(self.sock, handle, with_addr=self.sock.type != socket.SOCK_RAW, after=after,
                                     on_error=on_error)
        self.drain.attach(loop)

    def _errqueue(self, on_unreachable: Callable[[tuple[str, int]], None]) -> None:
        """Read the ICMP errors IP_RECVERR queued: each names the address our datagram was sent to."""
        for _ in range(64):
            try:
                _data, anc, _flags, addr = self.sock.recvmsg(1, 512, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            for level, kind, data in anc:
                if level == socket.IPPROTO_IP and kind == IP_RECVERR and len(data) >= 16:
                    ee_errno, origin, icmp_type, icmp_code = _EE.unpack_from(data)
                    if origin == SO_EE_ORIGIN_ICMP and icmp_type == 3 and isinstance(addr, tuple):
                        on_unreachable((addr[0], addr[1]))

    def detach(self, loop: Any) -> None:
        if self.drain is not None:
            self.drain.detach(loop)

    def close(self) -> None:
        if self._batch is not None:
            self._batch.flush()
        self.sock.close()

    def send_batch(self) -> UdpSendBatch | None:
        if self.sock.type != socket.SOCK_DGRAM:
            return None
        if self._batch is None:
            self._batch = UdpSendBatch(self.sock, enabled=self.gso)
        return self._batch

    def stats(self) -> dict[str, Any]:
        d = self.drain
        return {"packets": d.packets if d else 0, "errors": d.errors if d else 0,
                "gro_glued_reads": getattr(d, "glued", 0)}


class OsTransport:
    """Production sockets. `offload` is the L2TP UDP offload spec ("gso,gro", "gso", "none": decision 0067)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *, offload: str = "gso,gro") -> None:
        self._loop = loop
        self.offload = offload

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop or asyncio.get_running_loop()

    async def resolve(self, host: str, port: int) -> str:
        """HOST -> one IPv4 address (raises OSError / socket.gaierror when it does not resolve)."""
        infos = await self.loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
        return infos[0][4][0]

    def open_gre(self) -> SocketEndpoint:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, GRE_PROTOCOL)
        sock.setblocking(False)
        big_buffers(sock)          # one raw socket carries every call: bursts wait here, not in drops
        return SocketEndpoint(sock, "GRE (IP protocol 47)")

    def open_udp(self, host: str, port: int) -> SocketEndpoint:
        """A UDP socket bound exclusively to HOST:PORT (no SO_REUSEADDR: a second engine must fail to bind rather
        than share the port and steal datagrams, issue #13)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        big_buffers(sock)          # one socket carries every tunnel; GSO batches arrive 46 datagrams at once
        return SocketEndpoint(sock, f"{host}:{port}/udp", gro="gro" in self.offload, gso="gso" in self.offload)

    async def listen_tcp(self, host: str, port: int, on_accept: Accept) -> asyncio.AbstractServer:
        return await asyncio.start_server(on_accept, host=host, port=port, reuse_address=True)

    async def connect_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(host, port)


__all__ = ["Endpoint", "OsTransport", "SocketEndpoint", "Transport"]
