"""The PPTP driver: TCP 1723 control connections and one raw GRE socket <-> the pptp cores (DESIGN.md §3, §5).

Inbound (we are the PAC): a TCP connection gets a `PptpControl(PAC)`; each Outgoing-Call-Request asks admission
(SPEC §3) for a port: a refusal is answered with the Outgoing-Call-Reply result admission names (busy / do not
accept), logged, counted and recorded, and nothing else is touched; an admitted call gets a `PptpCall` (GRE window +
`PppLink` as authenticator) and a `Session` row. Everything between the call and its PPP link (authorization by
the remote access policies and lockout, profile methods and levels, address, router rule, session, refusal records)
is the glue shared with L2TP: engine/ppp_session.py (decisions in router/authorize.py; decision 0080).

Outbound (we are the PNS): `dial()` for a `pptp` demand-dial interface: resolve, connect, Start-Control-Connection,
Outgoing-Call-Request, PPP as the authenticated peer; progress stages as SPEC §5; failures raise `DialFailed` with
an RRAS-style reason and Windows error number (691 bad credentials, 800/678 no answer, 676 busy ...). The
interface's routes go up through the TUN (source: the address the server gave us) and down when the call ends.

Data path: `_GreDrain` reads the raw socket with add_reader + drain (engine/io.py's loop, one preallocated buffer),
`_on_gre` demultiplexes by the GRE call id (and checks the sender's address), hands data to `PptpCall.open_data` and
writes the IP packet to the TUN. Acks (decision 0066): piggybacked on our next packet; after each drain batch, in the
same callback, an ack-only packet goes to each call with `ack_threshold` packets unacknowledged (half the smaller of
our window and the peer's), and a call with fewer arms one delayed-ack deadline (`ACK_DELAY_S` after, in the shared
TimerQueue) that sends the ack unless one went out before. TUN -> peer: `session.tx` seals the GRE packet in the call's buffer and sends it with one `sendto`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from rrasctl.engine.drivers import DialFailed, EngineContext, Progress
from rrasctl.engine.io import SocketDrain, big_buffers
from rrasctl.engine.ppp_session import PppSession
from rrasctl.engine.sessions import Direction, Session, SessionState
from rrasctl.protocols.base import Counters
from rrasctl.protocols.pptp import messages as m
from rrasctl.protocols.pptp.call import PptpCall
from rrasctl.protocols.pptp.control import (
    CallCleared, CallConnected, CallRefused, CallRequested, ControlClosed, ControlConfig, ControlEstablished,
    ControlState, PptpControl, Role as ControlRole,
)
from rrasctl.protocols.pptp.gre import GRE_PROTOCOL, GreWindow
from rrasctl.router.admission import Protocol, Refuse, Use

log = logging.getLogger(__name__)

RECV_WINDOW = 1024          # our Packet Recv Window Size (decision 0066; Windows RRAS announces 16384)
CONNECT_TIMEOUT_S = 15.0
SETUP_TIMEOUT_S = 30.0
DIAL_TIMEOUT_S = 60.0
DISCONNECT_WAIT_S = 3.0
WINDOWS_ERRORS = {  # RAS error numbers a Windows client would show
    m.OcrpResult.BUSY: 676, m.OcrpResult.DO_NOT_ACCEPT: 649, m.OcrpResult.NO_CARRIER: 678,
    m.OcrpResult.TIME_OUT: 718, m.OcrpResult.GENERAL_ERROR: 651, m.OcrpResult.NO_DIAL_TONE: 680,
}


@dataclass(eq=False)
class _Tunnel:
    """One control connection (one TCP connection)."""
    core: PptpControl
    peer: str
    writer: asyncio.StreamWriter | None = None
    calls: dict[int, "_Call"] = field(default_factory=dict)
    established: asyncio.Future | None = None
    call_waiter: asyncio.Future | None = None     # outbound: CallConnected / CallRefused
    closed: bool = False
    task: asyncio.Task | None = None


@dataclass(eq=False)
class _Call:
    """One call: its core, its session, its tunnel, and (outbound) the dial's futures."""
    call: PptpCall
    session: Session
    tunnel: _Tunnel
    peer: str
    local_call_id: int
    outbound: bool = False
    up: asyncio.Future | None = None          # outbound: set when the network layer opens
    down: asyncio.Future | None = None        # set when the call has ended
    failure: DialFailed | None = None
    cleared: bool = False                     # the control connection already knows the call is gone
    ended: bool = False
    glue: PppSession | None = None            # the PPP session glue (engine/ppp_session.py)
    ack_armed: bool = False                   # a delayed-ack deadline is armed in ctx.timers
    peer_u32: int = -1                        # `peer` as the 32-bit number in a received IP header's source

    def __post_init__(self) -> None:
        self.peer_u32 = _u32_address(self.peer)


class PptpDriver:
    """See the module docstring."""

    protocol = "pptp"

    def __init__(self) -> None:
        self.ctx: EngineContext | None = None
        self.stats = Counters()
        self._tunnels: set[_Tunnel] = set()
        self._calls: dict[int, _Call] = {}        # local call id -> call (GRE demux)
        self._next_id = int.from_bytes(os.urandom(2), "big") or 1
        self._gre: socket.socket | None = None
        self._drain: SocketDrain | None = None
        self._server: asyncio.AbstractServer | None = None
        self._listening = ""
        self._stateless = os.environ.get("RRASCTL_PPTP_MPPE", "stateless") != "stateful"
        self._stopping = False

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def start(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        gre = socket.socket(socket.AF_INET, socket.SOCK_RAW, GRE_PROTOCOL)
        gre.setblocking(False)
        big_buffers(gre)        # one raw socket carries every call: bursts wait here, not in drops
        self._gre = gre
        self._drain = _GreDrain(gre, self)
        self._drain.attach(ctx.loop)
        host = ctx.config.server.listen_address or "0.0.0.0"
        port = int(os.environ.get("RRASCTL_PPTP_PORT", m.PPTP_PORT))
        try:
            self._server = await asyncio.start_server(self._accepted, host=host, port=port, reuse_address=True)
        except OSError:
            self._drain.detach(ctx.loop)
            gre.close()
            raise
        self._listening = f"{host}:{port}"

    async def reload(self, ctx: EngineContext, old: Any, new: Any) -> None:
        """SIGHUP / `engine reload`: sessions that remain allowed stay; an inbound user who is gone or now denied
        (dial-in or policies) is disconnected, and so is a dial-out whose interface was removed or disabled (the
        shared glue decides, as for L2TP)."""
        ends = []
        for entry in list(self._calls.values()):
            cause = entry.glue.still_allowed(new) if entry.glue is not None else None
            if cause is not None:
                ends.append((entry, cause))
        for entry, cause in ends:
            await self._disconnect(entry, cause)

    def listener(self) -> str:
        return f"PPTP on TCP {self._listening} and GRE (IP protocol 47)"

    async def stop(self, ctx: EngineContext) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        now = ctx.loop.time()
        for t in list(self._tunnels):
            for entry in list(t.calls.values()):
                entry.cleared = True       # stop() below sends CDN (PAC) / CCRQ (PNS) for each call
                self._end_call(entry, "engine shutdown", now)
            t.core.stop(now, m.StopReason.STOP_LOCAL_SHUTDOWN)
            self._flush_tunnel(t)
        waiters = [t.task for t in self._tunnels if t.task is not None]
        if waiters:
            await asyncio.wait(waiters, timeout=1.0)
        for t in list(self._tunnels):
            self._close_tunnel(t)
        if self._drain is not None:
            self._drain.detach(ctx.loop)
        if self._gre is not None:
            self._gre.close()
            self._gre = None

    def status(self) -> dict[str, Any]:
        """`engine status` figures: listener, tunnels, calls; rx message counts and ack-only packets."""
        return {"listening": self._listening, "tunnels": len(self._tunnels), "calls": len(self._calls),
                "counts": self.stats.as_dict()}

    # ---- control connections ------------------------------------------------------------------------------

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[0]
        ctx = self.ctx
        assert ctx is not None
        core = PptpControl(self._control_config(ControlRole.PAC))
        t = _Tunnel(core, peer, writer)
        t.task = asyncio.current_task()
        self._tunnels.add(t)
        core.start(ctx.loop.time())
        self._pump_tunnel(t, [])
        await self._read_loop(t, reader)

    def _control_config(self, role: ControlRole) -> ControlConfig:
        echo = getattr(getattr(self.ctx.config, "pptp", None), "echo_interval_s", 60)
        echo = 60.0 if echo is None else float(echo)          # 0 = keepalive off
        return ControlConfig(role, host_name=socket.gethostname()[:63], vendor="rrasctl", recv_window=RECV_WINDOW,
                             echo_interval_s=echo, echo_timeout_s=echo or 60.0, setup_timeout_s=SETUP_TIMEOUT_S)

    async def _read_loop(self, t: _Tunnel, reader: asyncio.StreamReader) -> None:
        loop = self.ctx.loop
        try:
            while not t.closed:
                try:
                    data = await reader.read(4096)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    self._pump_tunnel(t, t.core.connection_lost(loop.time()))
                    break
                self._pump_tunnel(t, t.core.receive(data, loop.time()))
        finally:
            self._close_tunnel(t)

    def _pump_tunnel(self, t: _Tunnel, events: list) -> None:
        ctx = self.ctx
        if t.core.stats:
            self._fold(t.core.stats)
        for ev in events:
            try:
                self._on_control_event(t, ev)
            except Exception:   # a bug in one tunnel must not take the listener down
                log.exception("PPTP control event %r from %s failed", ev, t.peer)
        self._flush_tunnel(t)
        if t.core.state is ControlState.CLOSED:
            ctx.timers.cancel(("pptp-ctl", id(t)))
            self._close_tunnel(t)
        else:
            ctx.timers.arm(("pptp-ctl", id(t)), t.core.next_timer(), lambda: self._fire_tunnel(t))

    def _fire_tunnel(self, t: _Tunnel) -> None:
        self._pump_tunnel(t, t.core.handle_timer(self.ctx.loop.time()))

    def _flush_tunnel(self, t: _Tunnel) -> None:
        out = t.core.take_output()
        if out and t.writer is not None and not t.writer.is_closing():
            t.writer.write(b"".join(out))

    def _close_tunnel(self, t: _Tunnel) -> None:
        now = self.ctx.loop.time()
        if t.core.state is not ControlState.CLOSED:
            self._pump_tunnel(t, t.core.connection_lost(now))
            return
        for entry in list(t.calls.values()):
            entry.cleared = True
            self._end_call(entry, t.core.close_reason or "control connection closed", now)
        if not t.closed:
            t.closed = True
            if t.writer is not None and not t.writer.is_closing():
                t.writer.close()
            if t.established is not None and not t.established.done():
                t.established.set_exception(DialFailed(
                    f"the PPTP control connection failed: {t.core.close_reason}", 800, unreachable="NO_ANSWER"))
                t.established.exception()
        self.ctx.timers.cancel(("pptp-ctl", id(t)))
        self._tunnels.discard(t)

    def _on_control_event(self, t: _Tunnel, ev: Any) -> None:
        ctx = self.ctx
        now = ctx.loop.time()
        if isinstance(ev, CallRequested):
            self._call_requested(t, ev, now)
        elif isinstance(ev, CallCleared):
            entry = t.calls.get(ev.local_call_id) if ev.local_call_id is not None else None
            if entry is not None:
                entry.cleared = True
                if entry.failure is None and entry.outbound and (entry.up is None or not entry.up.done()):
                    why = ev.reason.replace("peer disconnected", "the remote server disconnected")
                    if entry.session.auth:      # authenticated, then refused: CCP (encryption) or IPCP
                        why += " after authentication: it refused the encryption or the address negotiation"
                    entry.failure = DialFailed(why, 628, unreachable="CONNECTION_FAILURE")
                self._end_call(entry, ev.reason, now)     # the peer's reason, not "lower layer down"
                entry.call.lower_down(now)
        elif isinstance(ev, ControlEstablished):
            if t.established is not None and not t.established.done():
                t.established.set_result(ev)
            log.debug("PPTP control connection with %s up (%s, %s)", t.peer, ev.peer_vendor, ev.peer_host_name)
        elif isinstance(ev, (CallConnected, CallRefused)):
            waiter = getattr(t, "call_waiter", None)
            if waiter is not None and not waiter.done():
                waiter.set_result(ev)
        elif isinstance(ev, ControlClosed):
            log.debug("PPTP control connection with %s closed: %s", t.peer, ev.reason)

    def _new_call_id(self) -> int:
        for _ in range(65536):
            cid = self._next_id
            self._next_id = (self._next_id % 65535) + 1
            if cid not in self._calls:
                return cid
        raise RuntimeError("no free PPTP call id")

    def _call_requested(self, t: _Tunnel, ev: CallRequested, now: float) -> None:
        ctx = self.ctx
        if ev.peer_call_id not in t.core.pending_requests:   # withdrawn in the same read
            return
        verdict = ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND)
        if isinstance(verdict, Refuse):
            t.core.refuse_call(ev.peer_call_id, m.OcrpResult(verdict.cause.wire_result), now)
            ctx.refused(verdict.cause, peer=t.peer)
            return
        local = self._new_call_id()
        t.core.accept_call(ev.peer_call_id, local, now)
        self._flush_tunnel(t)         # the OCRP goes out before our first LCP packet
        session = ctx.sessions.add(Session("pptp", verdict.port, peer=t.peer))
        session.state = SessionState.AUTHENTICATING
        glue = PppSession(ctx, "pptp", session, t.peer, mppe_stateless=self._stateless)
        call = PptpCall(GreWindow(local, ev.peer_call_id, ev.recv_window, RECV_WINDOW), glue.new_link())
        entry = _Call(call, session, t, t.peer, local, glue=glue)
        entry.down = ctx.loop.create_future()
        self._register(entry)
        self._pump_call(entry, call.open(now))

    def _register(self, entry: _Call) -> None:
        session, call = entry.session, entry.call
        self._calls[entry.local_call_id] = entry
        entry.tunnel.calls[entry.local_call_id] = entry
        session.core = call
        session.extra.update({"local_call_id": entry.local_call_id, "peer_call_id": call.peer_call_id})
        addr, sendto = (entry.peer, 0), self._gre.sendto
        seal_view = call.seal_view      # the data path: GRE+PPP+MPPE built in the call's buffer, encrypted in place
        stats = self.stats

        def tx(ip: memoryview) -> None:
            pkt = seal_view(ip)
            if pkt is None:
                stats["tx before network up"] += 1
                return
            try:
                sendto(pkt, addr)
            except OSError:
                stats["gre send failed"] += 1

        session.tx = tx
        session.disconnect = lambda cause, e=entry: self._disconnect(e, cause)

    # ---- PPP on a call ------------------------------------------------------------------------------------

    def _pump_call(self, entry: _Call, events: list) -> None:
        ctx = self.ctx
        queue = list(events)
        i = 0
        while i < len(queue):          # PppLink commands return events: they join the queue
            ev = queue[i]
            i += 1
            try:
                more = self._on_link_event(entry, ev)
            except Exception:
                log.exception("[%s] PPP event %r failed", entry.session.port_name, ev)
                more = None
            if more:
                queue.extend(more)
        call = entry.call
        out = call.take_output()
        if out and self._gre is not None and not entry.ended:
            addr = (entry.peer, 0)
            for pkt in out:
                try:
                    self._gre.sendto(pkt, addr)
                except OSError:
                    self.stats["gre send failed"] += 1
        if entry.ended:
            ctx.timers.cancel(("pptp", entry.local_call_id, id(entry)))
        else:
            ctx.timers.arm(("pptp", entry.local_call_id, id(entry)), call.next_timer(),
                           lambda: self._pump_call(entry, entry.call.handle_timer(ctx.loop.time())))

    def _on_link_event(self, entry: _Call, ev: Any) -> list | None:
        """Authorization, addresses, sessions, refusals: the shared glue; here only what is PPTP's own."""
        from rrasctl.protocols.ppp.link import LinkDown, NetworkUp      # lazily: it pulls in cryptography

        now = self.ctx.loop.time()
        s = entry.session
        more = entry.glue.handle(ev, now)
        if entry.outbound:
            entry.failure = entry.failure or entry.glue.failure      # before _end_call fails the dial with it
        if isinstance(ev, NetworkUp):
            enc = getattr(entry.call.link, "_encryptor", None)
            if enc is not None:
                s.extra["mppe"] = "stateless" if getattr(enc, "stateless", False) else "stateful"
            peer = entry.tunnel.core.peer
            if peer is not None:
                s.extra["peer_vendor"], s.extra["peer_host"] = peer.vendor, peer.host_name
            if entry.outbound and entry.glue.up and entry.up is not None and not entry.up.done():
                entry.up.set_result(s)
        elif isinstance(ev, LinkDown):
            self._end_call(entry, ev.reason, now)
        return more

    # ---- GRE data path ------------------------------------------------------------------------------------

    def _on_gre(self, view: memoryview, n: int, addr: Any = None) -> _Call | None:
        """One raw GRE datagram (IP header included). Straight-line: demux, window, link, TUN. Returns the call it
        went to (the drain settles that call's acks after the batch: `_settle_acks`), None when dropped here.
        The sender is the IP header's source (what recvfrom would report, without building the address string)."""
        if n < 28:
            self._malformed("short GRE packet")
            return None
        ihl = (view[0] & 0x0F) << 2
        if n < ihl + 8:
            self._malformed("short GRE packet")
            return None
        entry = self._calls.get((view[ihl + 6] << 8) | view[ihl + 7])
        if entry is None:
            self._malformed("unknown GRE call id")
            return None
        if _U32.unpack_from(view, 12)[0] != entry.peer_u32:
            self._malformed("GRE from the wrong address")
            return None
        call = entry.call
        ip = call.open_data(view[ihl:n])
        if ip is not None:
            s = entry.session
            s.bytes_in += len(ip)
            s.packets_in += 1
            self._tun_write(ip)
        else:
            window = call.window
            if window.stats:
                self._fold(window.stats)
            if call.pending:
                self._pump_call(entry, call.receive_pending(self.ctx.loop.time()))
        return entry

    def _tun_write(self, ip: Any) -> None:
        tun = self.ctx.tun
        if tun is not None:
            self._tun_write = tun.write      # bound once the TUN exists
            tun.write(ip)

    def _malformed(self, reason: str) -> None:
        self.stats[reason] += 1
        self.ctx.counters.malformed.count("pptp: " + reason)

    def _fold(self, stats: Counters) -> None:
        """Move a core's drop counters into the engine's (`engine status`), keyed "pptp: reason"."""
        counters = self.ctx.counters
        for reason, n in stats.items():
            if reason.startswith("rx ") or reason == "ack-only":
                self.stats[reason] += n
            elif reason in _DROPS:               # well-formed, but not wanted now
                counters.dropped.count("pptp: " + reason, n)
            else:
                counters.malformed.count("pptp: " + reason, n)
        stats.clear()

    def _settle_acks(self, entry: _Call, now: float) -> None:
        """After a drain batch that reached `entry` (and when its delayed-ack deadline fires): send the ack-only
        packet the window says is due, else make sure a deadline is armed for the packets still unacknowledged."""
        if entry.ended:
            return
        window = entry.call.window
        if not window.unacked:
            return
        ack = window.poll_ack(now)
        if ack is not None:
            gre = self._gre
            if gre is not None:
                try:
                    gre.sendto(ack, (entry.peer, 0))
                except OSError:
                    self.stats["gre send failed"] += 1
            return
        at = window.ack_deadline(now)
        if not entry.ack_armed:
            entry.ack_armed = True
            self.ctx.timers.arm(("pptp-ack", entry.local_call_id, id(entry)), at, lambda: self._ack_due(entry))

    def _ack_due(self, entry: _Call) -> None:
        entry.ack_armed = False
        self._settle_acks(entry, self.ctx.loop.time())

    # ---- ending calls -------------------------------------------------------------------------------------

    def _end_call(self, entry: _Call, cause: str, now: float) -> None:
        if entry.ended:
            return
        entry.ended = True
        ctx = self.ctx
        if self._calls.get(entry.local_call_id) is entry:
            del self._calls[entry.local_call_id]
        ctx.timers.cancel(("pptp", entry.local_call_id, id(entry)))
        ctx.timers.cancel(("pptp-ack", entry.local_call_id, id(entry)))
        entry.ack_armed = False
        t = entry.tunnel
        t.calls.pop(entry.local_call_id, None)
        was_up = entry.session.state is SessionState.UP
        if not entry.cleared and t.core.state is ControlState.ESTABLISHED:
            entry.cleared = True
            t.core.clear_call(entry.local_call_id, now,
                              m.CdnResult.ADMIN_SHUTDOWN if was_up or entry.outbound else m.CdnResult.GENERAL_ERROR)
            self._flush_tunnel(t)
        if entry.glue is not None:
            entry.glue.finish(cause)      # pending refusal records (741 when the encryption failed), our address
        ctx.session_down(entry.session, cause)
        if entry.up is not None and not entry.up.done():
            entry.up.set_exception(entry.failure or DialFailed(cause, 629))
            entry.up.exception()
        if entry.down is not None and not entry.down.done():
            entry.down.set_result(cause)
        if entry.outbound and not t.calls and t.core.state is ControlState.ESTABLISHED and not self._stopping:
            t.core.stop(now)          # our own control connection: Stop-Control-Connection once the call is gone
            self._flush_tunnel(t)
            ctx.timers.arm(("pptp-ctl", id(t)), t.core.next_timer(), lambda: self._fire_tunnel(t))

    async def _disconnect(self, entry: _Call, cause: str) -> None:
        """`connections disconnect`, `demand-dial disconnect`: LCP Terminate, then CDN / CCRQ."""
        if entry.ended:
            return
        now = self.ctx.loop.time()
        self._pump_call(entry, entry.call.close(cause, now))
        try:
            await asyncio.wait_for(asyncio.shield(entry.down), DISCONNECT_WAIT_S)
        except asyncio.TimeoutError:
            pass
        if not entry.ended:
            self._end_call(entry, cause, self.ctx.loop.time())

    # ---- outbound -----------------------------------------------------------------------------------------

    async def dial(self, ctx: EngineContext, name: str, interface: Any, progress: Progress) -> Session:
        self.ctx = ctx
        progress("resolving")
        try:
            infos = await ctx.loop.getaddrinfo(interface.destination, m.PPTP_PORT, family=socket.AF_INET,
                                               type=socket.SOCK_STREAM)
        except (socket.gaierror, OSError) as exc:
            raise DialFailed(f"cannot resolve {interface.destination}: {exc}", 868,
                             unreachable="NAME_RESOLUTION") from None
        peer = infos[0][4][0]
        verdict = ctx.admission.try_admit(Protocol.PPTP, Use.ROUTER_OUT)
        if isinstance(verdict, Refuse):
            raise DialFailed(f"no PPTP port for demand-dial routing: {verdict.cause.detail}", 633,
                             unreachable="NO_PORT")
        session = ctx.sessions.add(Session("pptp", verdict.port, peer=peer, direction=Direction.OUTBOUND,
                                           interface=name, user=interface.user))
        t: _Tunnel | None = None
        entry: _Call | None = None
        try:
            progress("connecting")
            port = int(os.environ.get("RRASCTL_PPTP_PORT", m.PPTP_PORT))
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(peer, port), CONNECT_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError) as exc:
                raise DialFailed(f"the remote computer did not respond ({peer} port {port}: "
                                 f"{exc.__class__.__name__})", 800, unreachable="NO_ANSWER") from None
            core = PptpControl(self._control_config(ControlRole.PNS))
            t = _Tunnel(core, peer, writer)
            t.established = ctx.loop.create_future()
            self._tunnels.add(t)
            core.start(ctx.loop.time())
            self._pump_tunnel(t, [])
            t.task = ctx.loop.create_task(self._read_loop(t, reader))
            await asyncio.wait_for(asyncio.shield(t.established), SETUP_TIMEOUT_S)
            local = self._new_call_id()
            t.call_waiter = ctx.loop.create_future()
            core.place_call(local, ctx.loop.time())
            self._pump_tunnel(t, [])
            ev = await asyncio.wait_for(t.call_waiter, SETUP_TIMEOUT_S)
            if isinstance(ev, CallRefused):
                try:
                    what = m.OcrpResult(ev.result).name.lower().replace("_", " ")
                except ValueError:
                    what = f"result {ev.result}"
                raise DialFailed(f"the remote server refused the call ({what})",
                                 WINDOWS_ERRORS.get(ev.result, 651), unreachable="CONNECTION_REFUSED")
            glue = PppSession(ctx, "pptp", session, peer, iface=interface, progress=progress,
                              mppe_stateless=self._stateless)
            call = PptpCall(GreWindow(local, ev.peer_call_id, ev.peer_recv_window, RECV_WINDOW), glue.new_link())
            entry = _Call(call, session, t, peer, local, outbound=True, glue=glue)
            entry.up, entry.down = ctx.loop.create_future(), ctx.loop.create_future()
            self._register(entry)
            session.state = SessionState.AUTHENTICATING
            progress("verifying user name and password")
            self._pump_call(entry, call.open(ctx.loop.time()))
            await asyncio.wait_for(asyncio.shield(entry.up), DIAL_TIMEOUT_S)
            return session
        except asyncio.TimeoutError:
            failure = (entry.failure if entry is not None else None) or DialFailed(
                "the remote computer did not respond (timeout)", 800, unreachable="NO_ANSWER")
            self._abort_dial(session, t, entry, failure.reason)
            raise failure from None
        except asyncio.CancelledError:
            self._abort_dial(session, t, entry, "dial cancelled")
            raise
        except DialFailed as exc:
            self._abort_dial(session, t, entry, exc.reason)
            raise
        except Exception as exc:
            self._abort_dial(session, t, entry, f"internal error: {exc}")
            raise

    def _abort_dial(self, session: Session, t: _Tunnel | None, entry: _Call | None, cause: str) -> None:
        now = self.ctx.loop.time()
        if entry is not None and not entry.ended:
            self._end_call(entry, cause, now)
        elif entry is None:
            self.ctx.session_down(session, cause)
        if t is not None and t.core.state is not ControlState.CLOSED:
            t.core.stop(now)
            self._flush_tunnel(t)
            self.ctx.timers.arm(("pptp-ctl", id(t)), t.core.next_timer(), lambda: self._fire_tunnel(t))


class _GreDrain(SocketDrain):
    """The raw GRE socket's drain: engine/io.py's read loop, then each call the batch reached settles its acks in the
    same callback (no `call_soon`, so no extra loop iteration per wake-up)."""

    __slots__ = ("driver",)

    def __init__(self, sock: socket.socket, driver: PptpDriver) -> None:
        super().__init__(sock, driver._on_gre, with_addr=True)
        self.driver = driver

    def on_readable(self) -> None:
        buf, view, on_gre = self.buf, self.view, self.handle
        recv = self.sock.recv_into          # the source address is in the IP header (raw socket)
        last = None
        more: list[_Call] | None = None
        count = 0
        for _ in range(self.batch):
            try:
                n = recv(buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._failed(exc)
                break
            count += 1
            try:
                entry = on_gre(view, n)
            except Exception as exc:
                self._failed(exc)
                continue
            if entry is not last and entry is not None:
                if last is not None:
                    if more is None:
                        more = [last]
                    elif last not in more:
                        more.append(last)
                last = entry
        self.packets += count
        if last is None:
            return
        driver = self.driver
        now = driver.ctx.loop.time()
        if more is not None:
            for entry in more:
                if entry is not last:
                    driver._settle_acks(entry, now)
        driver._settle_acks(last, now)


_U32 = struct.Struct("!I")


def _u32_address(address: str) -> int:
    """A dotted-quad IPv4 address as the number an IP header carries (-1, matching nothing, if it is not one)."""
    try:
        return _U32.unpack(socket.inet_aton(address))[0]
    except (OSError, TypeError):
        return -1


_DROPS = frozenset({"late or duplicate", "answer to a withdrawn call request", "echo timeout", "old ack",
                    "bytes after close", "wan error notify", "too many pending calls"})
