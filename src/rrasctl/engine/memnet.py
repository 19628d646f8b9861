"""An in-memory network for engines under test: hosts, a virtual wire, TUN devices, and a virtual clock (decision 0083).

`engine/transport.py` defines what a driver may ask of the network; this module answers it without a kernel:

    loop = VirtualClockLoop()                          # time jumps to the next deadline when nothing is ready
    net = MemoryNetwork(loop, seed=7, loss=0.1, reorder=0.1)
    hq = net.host("203.0.113.1", names=("hq.example",))
    branch = net.host("203.0.113.2")
    ... start an engine with transport=hq and tun=MemoryTun(); another with branch ...

Datagrams (UDP, GRE) cross the wire after `latency` seconds, each dropped with probability `loss`, delayed by up to
`reorder_delay` more with probability `reorder` (so later ones overtake it) and sent twice with probability
`duplicate`, all from one seeded generator: a run is reproducible. `filter(kind, src, dst, data) -> bool` drops
selectively (a dead peer: return False). TCP streams are reliable and in order, as TCP is; connecting to a host that
does not exist never completes (the caller's timeout fires), to a port nobody listens on is refused at once.

Loss is simulated here and nowhere else: the production drivers carry no test shims.
"""

from __future__ import annotations

import asyncio
import random
import selectors
import struct
from typing import Any, Callable

from rrasctl.engine.tun import TunReader

_IPV4 = struct.Struct("!BBHHHBBH4s4s")


# ---- the virtual clock ---------------------------------------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 0.0


class _VirtualSelector(selectors.BaseSelector):
    """Never blocks: a wait of `timeout` seconds moves the virtual clock instead. Real file descriptors registered
    by the loop itself (its self-pipe) are kept but never polled: an in-memory engine has none of its own. While
    `real_waits` is above zero (`VirtualClockLoop.run_in_executor`: a worker thread is doing real work for the
    loop), the clock stands still and a wait is a real one on those descriptors, so the thread's answer wakes it."""

    REAL_POLL_S = 0.05

    def __init__(self, clock: _Clock) -> None:
        self._clock = clock
        self._map: dict[int, selectors.SelectorKey] = {}
        self._real = selectors.DefaultSelector()
        self.idle_spins = 0
        self.real_waits = 0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._map[fd] = key
        self._real.register(fileobj, events, data)
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        self._real.unregister(fileobj)
        return self._map.pop(fd)

    def select(self, timeout: float | None = None) -> list:
        if self.real_waits:
            self.idle_spins = 0
            wait = self.REAL_POLL_S if timeout is None else min(timeout, self.REAL_POLL_S)
            return self._real.select(wait)
        if timeout is None:
            self.idle_spins += 1
            if self.idle_spins > 100_000:
                raise RuntimeError("virtual clock loop: nothing is scheduled and nothing can happen")
        else:
            self.idle_spins = 0
            if timeout > 0:
                self._clock.now += timeout
        return []

    def get_map(self) -> dict[int, selectors.SelectorKey]:
        return self._map

    def close(self) -> None:
        self._map.clear()
        self._real.close()


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time: `time()` starts at 0 and jumps to the next scheduled callback whenever the
    loop would otherwise wait. Run with `asyncio.Runner(loop_factory=VirtualClockLoop)`."""

    def __init__(self) -> None:
        self._vclock = _Clock()
        self._vselector = _VirtualSelector(self._vclock)
        super().__init__(selector=self._vselector)

    def time(self) -> float:
        return self._vclock.now

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Work on a worker thread takes real time: the clock stands still until it is done (virtual timers must
        not race ahead of a file write or a CLI run against the engine), and the loop waits for it for real."""
        fut = super().run_in_executor(executor, func, *args)
        self._vselector.real_waits += 1

        def done(_f: asyncio.Future) -> None:
            self._vselector.real_waits -= 1

        fut.add_done_callback(done)
        return fut


# ---- the wire -------------------------------------------------------------------------------------------------------

class MemoryNetwork:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, seed: int = 1, latency: float = 0.001,
                 loss: float = 0.0, reorder: float = 0.0, reorder_delay: float = 0.005,
                 duplicate: float = 0.0) -> None:
        self.loop = loop
        self.rand = random.Random(seed)
        self.latency, self.loss, self.reorder, self.reorder_delay = latency, loss, reorder, reorder_delay
        self.duplicate = duplicate
        self.hosts: dict[str, MemoryTransport] = {}
        self.names: dict[str, str] = {}
        self.filter: Callable[[str, tuple, tuple, bytes], bool] | None = None
        self.sent = self.dropped = self.duplicated = 0
        self._last_at = 0.0
        self._slots: dict[float, list] = {}

    def host(self, ip: str, names: tuple[str, ...] = ()) -> "MemoryTransport":
        t = MemoryTransport(self, ip)
        self.hosts[ip] = t
        for n in names:
            self.names[n] = ip
        return t

    def send_datagram(self, kind: str, src: tuple[str, int], dst: tuple[str, int], data: bytes) -> None:
        """Put one datagram on the wire (kind "udp" or "gre")."""
        self.sent += 1
        if self.filter is not None and not self.filter(kind, src, dst, data):
            self.dropped += 1
            return
        if self.loss and self.rand.random() < self.loss:
            self.dropped += 1
            return
        copies = 2 if self.duplicate and self.rand.random() < self.duplicate else 1
        self.duplicated += copies - 1
        for _ in range(copies):
            at = self.loop.time() + self.latency
            if self.reorder and self.rand.random() < self.reorder:
                at += self.rand.random() * self.reorder_delay        # later ones overtake this one
            else:                                                    # the wire keeps order otherwise
                at = self._last_at = max(at, self._last_at)
            slot = self._slots.get(at)
            if slot is None:                 # one timer per arrival instant: a burst arrives together, in order
                slot = self._slots[at] = []
                self.loop.call_at(at, self._deliver_slot, at)
            slot.append((kind, src, dst, data))

    def _deliver_slot(self, at: float) -> None:
        for item in self._slots.pop(at, ()):
            self._arrive(*item)

    def _arrive(self, kind: str, src: tuple[str, int], dst: tuple[str, int], data: bytes) -> None:
        host = self.hosts.get(dst[0])
        if host is None:
            return
        if kind == "gre":
            ep = host.gre
            if ep is not None:
                ep.arrive(_ipv4_header(src[0], dst[0], len(data)) + data, None)
        else:
            ep = host.udp.get(dst[1])
            if ep is not None:
                ep.arrive(data, src)
            else:                                     # a host without the port answers ICMP port unreachable
                sender = self.hosts.get(src[0])
                back = sender.udp.get(src[1]) if sender is not None else None
                if back is not None:
                    self.loop.call_later(self.latency, back.unreachable, dst)


def _ipv4_header(src: str, dst: str, payload: int, proto: int = 47) -> bytes:
    import socket

    return _IPV4.pack(0x45, 0, 20 + payload, 0, 0, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))


class MemoryEndpoint:
    """A UDP port or the GRE 'socket' of one in-memory host (the `transport.Endpoint` contract)."""

    def __init__(self, host: "MemoryTransport", kind: str, port: int) -> None:
        self.host, self.kind, self.port = host, kind, port
        self.description = f"{host.ip}:{port}/udp (memory)" if kind == "udp" else "GRE (memory)"
        self._handle: Any = None
        self._after: Any = None
        self.on_unreachable: Any = None
        self._queue: list[tuple[bytes, Any]] = []
        self.packets = 0
        self.closed = False

    def sendto(self, data: Any, addr: tuple[str, int]) -> int:
        if not self.closed:
            self.host.net.send_datagram(self.kind, (self.host.ip, self.port), (addr[0], addr[1]), bytes(data))
        return len(data)

    def arrive(self, data: bytes, addr: Any) -> None:
        """A datagram reached this endpoint: what arrives in the same loop iteration is read as one batch, as a
        drain reads what queued up before it woke (the owner's `after` runs once per batch)."""
        self._queue.append((data, addr))
        if len(self._queue) == 1:
            self.host.net.loop.call_soon(self._wake)

    def _wake(self) -> None:
        batch, self._queue = self._queue, []
        self.deliver_batch(batch)

    def deliver(self, data: bytes, addr: Any) -> None:
        """Hand one datagram to the owner now (a batch of one)."""
        self.deliver_batch([(data, addr)])

    def deliver_batch(self, batch: list[tuple[bytes, Any]]) -> None:
        if self._handle is None or self.closed:
            return
        for data, addr in batch:
            buf = bytearray(data)
            self.packets += 1
            self._handle(memoryview(buf), len(buf), addr)
        if self._after is not None:
            self._after()

    def attach(self, loop: Any, handle: Any, *, after: Any = None, on_unreachable: Any = None) -> None:
        self._handle, self._after, self.on_unreachable = handle, after, on_unreachable

    def unreachable(self, dst: tuple[str, int]) -> None:
        """An ICMP port unreachable came back for a datagram we sent to DST."""
        if self.on_unreachable is not None and not self.closed:
            self.on_unreachable(dst)

    def detach(self, loop: Any) -> None:
        self._handle = self._after = None

    def close(self) -> None:
        self.closed = True
        if self.kind == "udp":
            self.host.udp.pop(self.port, None)
        else:
            self.host.gre = None

    def send_batch(self) -> None:
        return None

    def stats(self) -> dict[str, Any]:
        return {"packets": self.packets, "errors": 0, "gro_glued_reads": 0}


# ---- TCP streams ----------------------------------------------------------------------------------------------------

class MemoryStreamWriter:
    """The writing half of an in-memory TCP connection (the parts of asyncio.StreamWriter the engine uses)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, peer_reader: asyncio.StreamReader, local: tuple[str, int],
                 remote: tuple[str, int], latency: float) -> None:
        self._loop, self._peer, self._latency = loop, peer_reader, latency
        self._extra = {"peername": remote, "sockname": local}
        self._closing = False
        self.other: MemoryStreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None       # our own reading half

    def write(self, data: bytes) -> None:
        if not self._closing and data:
            self._loop.call_later(self._latency, self._feed, bytes(data))

    def _feed(self, data: bytes) -> None:
        if not self._peer.at_eof():
            self._peer.feed_data(data)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.call_later(self._latency, self._peer.feed_eof)
        if self.reader is not None and not self.reader.at_eof():
            self.reader.feed_eof()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    async def drain(self) -> None:
        return None

    async def wait_closed(self) -> None:
        return None


class _MemoryServer:
    def __init__(self, host: "MemoryTransport", port: int) -> None:
        self.host, self.port = host, port

    def close(self) -> None:
        self.host.tcp.pop(self.port, None)

    async def wait_closed(self) -> None:
        return None


# ---- one host -------------------------------------------------------------------------------------------------------

class MemoryTransport:
    """One host on a MemoryNetwork: what the engine's drivers get instead of OsTransport."""

    def __init__(self, net: MemoryNetwork, ip: str) -> None:
        self.net, self.ip = net, ip
        self.udp: dict[int, MemoryEndpoint] = {}
        self.gre: MemoryEndpoint | None = None
        self.tcp: dict[int, Any] = {}
        self._ephemeral = 40000
        self.offload = "none"

    async def resolve(self, host: str, port: int) -> str:
        if host in self.net.hosts or _is_dotted_quad(host):
            return host
        ip = self.net.names.get(host)
        if ip is None:
            raise OSError(f"cannot resolve {host}")
        return ip

    def open_gre(self) -> MemoryEndpoint:
        if self.gre is not None:
            raise OSError(98, "GRE endpoint in use")
        self.gre = MemoryEndpoint(self, "gre", 0)
        return self.gre

    def open_udp(self, host: str, port: int) -> MemoryEndpoint:
        if port in self.udp:
            raise OSError(98, f"port {port} in use")
        ep = self.udp[port] = MemoryEndpoint(self, "udp", port)
        return ep

    async def listen_tcp(self, host: str, port: int, on_accept: Any) -> _MemoryServer:
        if port in self.tcp:
            raise OSError(98, f"port {port} in use")
        self.tcp[port] = on_accept
        return _MemoryServer(self, port)

    async def connect_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader, MemoryStreamWriter]:
        loop = self.net.loop
        peer = self.net.hosts.get(host)
        if peer is None:
            await loop.create_future()                       # nobody there: never answers (the caller times out)
        await asyncio.sleep(self.net.latency * 2)            # the handshake's round trip
        accept = peer.tcp.get(port)
        if accept is None:
            raise ConnectionRefusedError(111, "Connection refused")
        self._ephemeral += 1
        local, remote = (self.ip, self._ephemeral), (host, port)
        ours, theirs = asyncio.StreamReader(), asyncio.StreamReader()
        w_ours = MemoryStreamWriter(loop, theirs, local, remote, self.net.latency)
        w_theirs = MemoryStreamWriter(loop, ours, remote, local, self.net.latency)
        w_ours.reader, w_theirs.reader = ours, theirs
        w_ours.other, w_theirs.other = w_theirs, w_ours
        loop.create_task(accept(theirs, w_theirs))
        return ours, w_ours


def _is_dotted_quad(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


# ---- a TUN device without a kernel ----------------------------------------------------------------------------------

class MemoryTun:
    """The engine's TUN for in-memory tests: `inject(packet)` is a packet the host's kernel routes into the tunnel;
    `written` (and `on_write`) receive what the engine writes out of it."""

    def __init__(self, name: str = "mem0", *, mtu: int = 1400) -> None:
        self.name, self.mtu = name, mtu
        self.written: list[bytes] = []
        self.on_write: Callable[[bytes], None] | None = None
        self.addresses: set[str] = set()
        self._routes: dict[str, str | None] = {}
        self.write_drops = self.netlink_errors = 0
        self._reader: TunReader | None = None
        self._batch_end: list[Any] = []

    def open(self) -> None:
        return None

    def configure(self, address: str | None, mtu: int | None = None) -> None:
        if address:
            self.addresses.add(address)

    def close(self) -> None:
        self._reader = None

    def write(self, packet: Any) -> None:
        data = bytes(packet)
        self.written.append(data)
        if self.on_write is not None:
            self.on_write(data)

    def inject(self, packet: bytes) -> None:
        if self._reader is None:
            return
        buf = bytearray(packet)
        self._reader.on_packet(memoryview(buf), len(buf), None)
        for fn in list(self._batch_end):
            fn()

    def add_address(self, address: str, prefixlen: int = 32) -> None:
        self.addresses.add(address)

    def del_address(self, address: str, prefixlen: int = 32) -> None:
        self.addresses.discard(address)

    def add_route(self, cidr: str, metric: int | None = None, *, src: str | None = None) -> None:
        self._routes[cidr] = src

    def del_route(self, cidr: str) -> None:
        self._routes.pop(cidr, None)

    @property
    def routes(self) -> set[str]:
        return set(self._routes)

    def attach_reader(self, loop: Any, sessions: Any, counters: Any = None) -> TunReader:
        self._reader = TunReader(self, sessions, counters)  # type: ignore[arg-type]
        return self._reader

    def detach_reader(self, loop: Any) -> None:
        self._reader = None

    def add_batch_end(self, fn: Any) -> bool:
        if fn not in self._batch_end:
            self._batch_end.append(fn)
        return self._reader is not None

    def remove_batch_end(self, fn: Any) -> None:
        if fn in self._batch_end:
            self._batch_end.remove(fn)


__all__ = ["MemoryEndpoint", "MemoryNetwork", "MemoryStreamWriter", "MemoryTransport", "MemoryTun",
           "VirtualClockLoop"]
