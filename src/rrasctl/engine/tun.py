"""The engine's one TUN device (`server.tun_name`, default rras0): /dev/net/tun, IFF_TUN | IFF_NO_PI.

Point-to-point semantics per client come from routes: the device carries the server's tunnel address as a /32, and
each client address (and each prefix routed through a calling router or a demand-dial interface) gets a route via
the device. Packets read from the TUN are demultiplexed by destination address to their session
(`SessionTable.route`), whose `tx` seals and sends them; drivers write the peer's decapsulated IP packets with
`Tun.write`.

Addresses, MTU, link state and routes are set through netlink with pyroute2's IPRoute (already a dependency; no
subprocess per route). pyroute2 0.9's synchronous IPRoute drives an asyncio loop of its own and refuses to run inside
the engine's running loop, so it lives on one dedicated worker thread and each call waits for its answer there
(a netlink round trip: tens of microseconds, only at session start and end). Route changes are idempotent (`replace`, and a missing route on delete is not an error), and
a netlink failure is logged and counted rather than fatal: a session without its route is reported, not a crash.

Routes are reference-counted per prefix (docs/decisions/0145-routes-reference-counted.md): every `add_route` without
a preferred source is one holder of the prefix, `del_route` drops one, and the kernel route goes only with the last
holder, so two demand-dial interfaces (or sessions) with the same route keep it while either needs it. An
`add_route(cidr, src=S)` right after the plain one (what an outbound session does: `session_up`, then again with its
own address as preferred source) gives the newest plain holder that source instead of adding a holder. When an
address is removed (`del_address`, an outbound session ending), its holders are marked as leaving: the next
`del_route` of their prefix drops one of them first, and a prefix the kernel dropped with the address (a route whose
preferred source disappears is flushed) is installed again with a remaining holder's source. The API is unchanged.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import logging
import os
import struct
from typing import Any

from rrasctl.engine.io import FdDrain

log = logging.getLogger(__name__)

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
DEFAULT_MTU = 1400
_DST = struct.Struct("!I")


class TunError(OSError):
    pass


class Tun:
    def __init__(self, name: str = "rras0", *, mtu: int = DEFAULT_MTU) -> None:
        self.name = name
        self.mtu = mtu
        self.fd: int | None = None
        self.index: int | None = None
        self._ipr: Any = None
        self._holders: dict[str, list[_Holder]] = {}          # prefix -> holders, oldest first
        self._installed: dict[str, tuple[str | None, int | None]] = {}   # prefix -> (src, metric) in the kernel
        self._addresses: set[str] = set()
        self.write_drops = 0
        self.netlink_errors = 0
        self._drain: FdDrain | None = None
        self._batch_end: list[Any] = []

    # --- device ------------------------------------------------------------------------------------------------
    def open(self) -> None:
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise TunError(exc.errno, f"cannot open /dev/net/tun: {exc.strerror}") from None
        try:
            ifr = struct.pack("16sH", self.name.encode(), IFF_TUN | IFF_NO_PI)
            fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as exc:
            os.close(fd)
            why = "in use by another process" if exc.errno == errno.EBUSY else exc.strerror
            raise TunError(exc.errno, f"cannot create TUN device {self.name}: {why}") from None
        os.set_blocking(fd, False)
        self.fd = fd
        self._ipr = _Netlink()
        links = self._ipr.link_lookup(ifname=self.name)
        if not links:
            raise TunError(errno.ENODEV, f"TUN device {self.name} vanished")
        self.index = links[0]

    def configure(self, address: str | None, mtu: int | None = None) -> None:
        """Give the device our tunnel address (/32), an MTU, and bring it up."""
        if mtu:
            self.mtu = mtu
        try:  # IPv4 only: no IPv6 link-local chatter (router solicitations) into the demux
            with open(f"/proc/sys/net/ipv6/conf/{self.name}/disable_ipv6", "w") as f:
                f.write("1")
        except OSError:
            pass
        self._ipr.link("set", index=self.index, mtu=self.mtu)
        if address:
            self.add_address(address)
        self._ipr.link("set", index=self.index, state="up")

    def close(self) -> None:
        if self._ipr is not None:
            try:
                self._ipr.close()
            except Exception:  # closing a netlink socket must not stop shutdown
                pass
            self._ipr = None
        if self.fd is not None:
            os.close(self.fd)   # a non-persistent TUN disappears with its last fd, and its routes with it
            self.fd = None

    # --- addresses and routes ----------------------------------------------------------------------------------
    def add_address(self, address: str, prefixlen: int = 32) -> None:
        if address in self._addresses:
            return
        try:
            self._ipr.addr("add", index=self.index, address=address, prefixlen=prefixlen)
        except Exception as exc:
            if _errno(exc) != errno.EEXIST:
                self._netlink_failed(f"add address {address}/{prefixlen}", exc)
                return
        self._addresses.add(address)

    def del_address(self, address: str, prefixlen: int = 32) -> None:
        if address not in self._addresses:
            return
        self._addresses.discard(address)
        try:
            self._ipr.addr("del", index=self.index, address=address, prefixlen=prefixlen)
        except Exception as exc:
            if _errno(exc) not in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH, errno.ENODEV):
                self._netlink_failed(f"remove address {address}", exc)
        # the routes it was the preferred source of: their holders are leaving; the kernel flushed such routes,
        # so one another holder still needs goes back with that holder's source
        for net, holders in list(self._holders.items()):
            if any(h.src == address for h in holders):
                for h in holders:
                    if h.src == address:
                        h.leaving = True
                if self._installed.get(net, (None,))[0] == address:
                    self._installed.pop(net, None)
                if any(not h.leaving for h in holders):
                    self._install(net)

    def add_route(self, cidr: str, metric: int | None = None, *, src: str | None = None) -> None:
        """Hold a route to CIDR through the TUN (added or replaced in the kernel); SRC is the preferred source address
        (an outbound call's own tunnel address, so that traffic from this host carries the address the server
        assigned). With SRC, the newest holder without one takes it (see the module docstring)."""
        net = str(ipaddress.IPv4Network(cidr, strict=False))
        holders = self._holders.setdefault(net, [])
        target = None
        if src is not None:
            target = next((h for h in reversed(holders) if h.src is None and not h.leaving), None)
        if target is None:
            holders.append(_Holder(src, metric or None))
        else:
            target.src = src
            target.metric = metric or target.metric
        self._install(net, force=True)

    def del_route(self, cidr: str) -> None:
        """Drop one holder of CIDR; the kernel route goes with the last one (and is re-pointed to a remaining
        holder's source when the one dropped had provided it)."""
        net = str(ipaddress.IPv4Network(cidr, strict=False))
        holders = self._holders.get(net)
        if holders:
            leaving = next((h for h in holders if h.leaving), None)
            plain = next((h for h in reversed(holders) if h.src is None), None)
            holders.remove(leaving or plain or holders[-1])
            if holders:
                self._install(net)
                return
            del self._holders[net]
        self._installed.pop(net, None)
        if self._ipr is None:
            return
        try:
            self._ipr.route("del", dst=net, oif=self.index)
        except Exception as exc:
            if _errno(exc) not in (errno.ESRCH, errno.ENOENT, errno.ENODEV):
                self._netlink_failed(f"remove route {net} dev {self.name}", exc)

    def _install(self, net: str, *, force: bool = False) -> None:
        """Put the newest holder's route in the kernel (a leaving holder's source is never used), unless it is
        there already."""
        holders = self._holders[net]
        best = next((h for h in reversed(holders) if not h.leaving), None)
        want = (best.src, best.metric) if best is not None else (None, holders[-1].metric)
        if not force and self._installed.get(net) == want:
            return
        kw: dict[str, Any] = {"dst": net, "oif": self.index}
        if want[1]:
            kw["priority"] = want[1]
        if want[0]:
            kw["prefsrc"] = want[0]
        try:
            self._ipr.route("replace", **kw)
            self._installed[net] = want
        except Exception as exc:
            self._installed.pop(net, None)
            self._netlink_failed(f"add route {net} dev {self.name}", exc)

    def holders(self, cidr: str) -> int:
        """How many holders a route has (0: not ours)."""
        return len(self._holders.get(str(ipaddress.IPv4Network(cidr, strict=False)), ()))

    @property
    def routes(self) -> set[str]:
        return set(self._holders)

    def _netlink_failed(self, what: str, exc: BaseException) -> None:
        self.netlink_errors += 1
        log.error("cannot %s: %s", what, exc)

    # --- data path ---------------------------------------------------------------------------------------------
    def write(self, packet: bytes | bytearray | memoryview) -> None:
        """One IP packet to the kernel. A full queue drops the packet (counted), as a congested link would."""
        try:
            os.write(self.fd, packet)  # type: ignore[arg-type]
        except (BlockingIOError, InterruptedError):
            self.write_drops += 1
        except OSError:
            self.write_drops += 1

    def attach_reader(self, loop: Any, sessions: Any, counters: Any = None) -> "TunReader":
        reader = TunReader(self, sessions, counters)
        self._drain = FdDrain(self.fd, reader.on_packet)  # type: ignore[arg-type]
        self._set_after()
        self._drain.attach(loop)
        return reader

    def add_batch_end(self, fn: Any) -> bool:
        """Call `fn()` at the end of every batch of packets read from the device (a driver's UdpSendBatch.flush:
        what the batch queued goes out before the engine sleeps). False if there is no reader to hang it on."""
        if fn not in self._batch_end:
            self._batch_end.append(fn)
        self._set_after()
        return self._drain is not None

    def remove_batch_end(self, fn: Any) -> None:
        if fn in self._batch_end:
            self._batch_end.remove(fn)
        self._set_after()

    def _set_after(self) -> None:
        if self._drain is None:
            return
        fns = tuple(self._batch_end)
        if not fns:
            self._drain.after = None
        elif len(fns) == 1:
            self._drain.after = fns[0]
        else:
            def after() -> None:
                for fn in fns:
                    fn()
            self._drain.after = after

    def detach_reader(self, loop: Any) -> None:
        if self._drain is not None:
            self._drain.detach(loop)
            self._drain = None


class _Holder:
    """One holder of a route: its preferred source and metric; `leaving` once its address was removed."""

    __slots__ = ("src", "metric", "leaving")

    def __init__(self, src: str | None, metric: int | None) -> None:
        self.src, self.metric, self.leaving = src, metric, False


class TunReader:
    """TUN -> session demux by destination address (per packet: one unpack, one dict lookup, one call)."""

    __slots__ = ("tun", "sessions", "counters", "no_session", "not_ipv4", "forwarded", "_exact")

    def __init__(self, tun: Tun, sessions: Any, counters: Any = None) -> None:
        self.tun, self.sessions, self.counters = tun, sessions, counters
        self.no_session = 0
        self.not_ipv4 = 0
        self.forwarded = 0
        by_ip = getattr(sessions, "by_ip", None)     # SessionTable's exact-address map: one dict lookup, no call
        self._exact = by_ip.get if isinstance(by_ip, dict) else (lambda _dst: None)

    def on_packet(self, view: memoryview, n: int, _addr: Any) -> None:
        if n < 20 or view[0] >> 4 != 4:
            self.not_ipv4 += 1
            return
        dst = _DST.unpack_from(view, 16)[0]
        session = self._exact(dst) or self.sessions.route(dst)
        if session is None or session.tx is None:
            self.no_session += 1
            return
        session.bytes_out += n
        session.packets_out += 1
        self.forwarded += 1
        session.tx(view[:n])

    def stats(self) -> dict[str, int]:
        return {"forwarded": self.forwarded, "no_session": self.no_session, "not_ipv4": self.not_ipv4,
                "write_drops": self.tun.write_drops, "netlink_errors": self.tun.netlink_errors}


class _Netlink:
    """pyroute2's IPRoute on a private thread (see the module docstring); same method names, synchronous."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rrasctl-netlink")
        self._ipr = self._pool.submit(self._make).result()

    @staticmethod
    def _make() -> Any:
        from pyroute2 import IPRoute

        return IPRoute()

    def _call(self, name: str, *args: Any, **kw: Any) -> Any:
        return self._pool.submit(lambda: getattr(self._ipr, name)(*args, **kw)).result()

    def link_lookup(self, **kw: Any) -> Any:
        return self._call("link_lookup", **kw)

    def link(self, *args: Any, **kw: Any) -> Any:
        return self._call("link", *args, **kw)

    def addr(self, *args: Any, **kw: Any) -> Any:
        return self._call("addr", *args, **kw)

    def route(self, *args: Any, **kw: Any) -> Any:
        return self._call("route", *args, **kw)

    def close(self) -> None:
        try:
            self._call("close")
        finally:
            self._pool.shutdown(wait=True)


def _errno(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    return getattr(exc, "errno", None)
