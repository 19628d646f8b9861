"""The PPTP driver: TCP 1723 control connections and one GRE endpoint <-> the pptp cores (DESIGN.md §3, §5).

What is PPTP's own lives here: control connections (`PptpControl`, one per TCP connection), GRE demultiplexing by
call id, the GRE acknowledgement policy, and each call's `PptpCarrier` (how its packets reach the peer and how it
is cleared: Call-Disconnect-Notify as the PAC, Call-Clear-Request as the PNS). Everything a call does whatever its
tunnel type (PPP events, authorization, addresses, the end of a call, the dial skeleton) is the call runner's
(engine/calls.py). Sockets come from `ctx.transport` (engine/transport.py).

Inbound (we are the PAC): each Outgoing-Call-Request asks admission (SPEC §3, with the per-source limit on calls not
yet authenticated) for a port; a refusal is answered with the Outgoing-Call-Reply result admission names (busy /
do not accept) and recorded; an admitted call gets a `PptpCall` (GRE window + the glue's PppLink) and a session.

Outbound (we are the PNS, `connect` for the dial skeleton): TCP, Start-Control-Connection, then the call is made and
registered for GRE BEFORE the Outgoing-Call-Request goes out, so the PAC's first LCP packet (it often follows the
reply by a fraction of a millisecond) finds us ready (issue #12); PPP starts when the reply arrives.

Data path: `_on_gre` demultiplexes by the GRE call id, checks the sender against the IP header, hands data to
`PptpCall.open_data` and writes the IP packet to the TUN. Acks (decision 0066): piggybacked on our next packet;
after each read batch (`_settle_batch`, the endpoint's `after` hook) an ack-only packet goes to each call with
`ack_threshold` packets unacknowledged, and a call with fewer arms one delayed-ack deadline (`ACK_DELAY_S`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from rrasctl.engine.calls import Call
from rrasctl.engine.drivers import DialFailed, EngineContext
from rrasctl.engine.sessions import Session
from rrasctl.protocols.base import Counters
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.pptp import messages as m
from rrasctl.protocols.pptp.call import PptpCall
from rrasctl.protocols.pptp.control import (
    CallCleared, CallConnected, CallRefused, CallRequested, ControlClosed, ControlConfig, ControlEstablished,
    ControlState, PptpControl, Role as ControlRole,
)
from rrasctl.protocols.pptp.gre import STALL_S, GreWindow
from rrasctl.router.admission import Protocol, Refuse, Use

log = logging.getLogger(__name__)

RECV_WINDOW = 1024          # our Packet Recv Window Size (decision 0066; Windows RRAS announces 16384)
CONNECT_TIMEOUT_S = 15.0
SETUP_TIMEOUT_S = 30.0
STALL_POLL_S = STALL_S / 2  # how often calls are checked for receiving only rejected GRE (decision 0140)


@dataclass(eq=False)
class _Tunnel:
    """One control connection (one TCP connection)."""
    core: PptpControl
    peer: str
    writer: Any = None
    calls: dict[int, Call] = field(default_factory=dict)        # local call id -> call
    established: asyncio.Future | None = None
    waiters: dict[int, asyncio.Future] = field(default_factory=dict)   # outbound: local call id -> connected?
    outbound: bool = False
    closed: bool = False
    task: asyncio.Task | None = None


class PptpCarrier:
    """One call's way to the peer (calls.Carrier), and its entry in the GRE demultiplexer."""

    __slots__ = ("driver", "tunnel", "local_call_id", "peer", "peer_u32", "addr", "core", "session", "call",
                 "ack_armed", "stalled")

    def __init__(self, driver: "PptpDriver", tunnel: _Tunnel, local_call_id: int, core: PptpCall,
                 session: Session) -> None:
        self.driver, self.tunnel, self.local_call_id = driver, tunnel, local_call_id
        self.peer = tunnel.peer
        self.peer_u32 = _u32_address(tunnel.peer)    # the sender as a received IP header carries it
        self.addr = (tunnel.peer, 0)
        self.core, self.session = core, session
        self.call: Call | None = None
        self.ack_armed = False
        self.stalled = False                         # receiving only rejected GRE packets (reported once)

    def send(self, packets: list[bytes]) -> None:
        gre = self.driver.gre
        if gre is None:
            return
        for pkt in packets:
            try:
                gre.sendto(pkt, self.addr)
            except OSError:
                self.driver.stats["gre send failed"] += 1

    def make_tx(self, call: Call) -> Any:
        sendto, addr, stats = self.driver.gre.sendto, self.addr, self.driver.stats
        seal_view = self.core.seal_view     # GRE+PPP+MPPE built in the call's buffer, encrypted in place

        def tx(ip: memoryview) -> None:
            pkt = seal_view(ip)
            if pkt is None:
                stats["tx before network up"] += 1
                return
            try:
                sendto(pkt, addr)
            except OSError:
                stats["gre send failed"] += 1
        return tx

    def network_up(self, call: Call) -> None:
        s, link = call.session, call.core.link
        enc = getattr(link, "_encryptor", None)
        if enc is not None:
            s.extra["mppe"] = "stateless" if getattr(enc, "stateless", False) else "stateful"
        peer = self.tunnel.core.peer
        if peer is not None:
            s.extra["peer_vendor"], s.extra["peer_host"] = peer.vendor, peer.host_name

    def clear(self, call: Call, cause: Cause, now: float) -> None:
        t = self.tunnel
        if t.core.state is ControlState.ESTABLISHED:
            was_up = call.glue.up
            t.core.clear_call(self.local_call_id, now,
                              m.CdnResult.ADMIN_SHUTDOWN if was_up or call.outbound else m.CdnResult.GENERAL_ERROR)
            self.driver._flush_tunnel(t)

    def release(self, call: Call) -> None:
        d, t = self.driver, self.tunnel
        if d._calls.get(self.local_call_id) is self:
            del d._calls[self.local_call_id]
        t.calls.pop(self.local_call_id, None)
        d.ctx.timers.cancel(("pptp-ack", id(self)))
        self.ack_armed = False
        if t.outbound and not t.calls and t.core.state is ControlState.ESTABLISHED and not d._stopping:
            # our own control connection: Stop-Control-Connection once its call is gone
            d._pump_tunnel(t, t.core.stop(d.ctx.loop.time()))


class PptpDriver:
    """See the module docstring."""

    protocol = "pptp"
    port = m.PPTP_PORT

    def __init__(self) -> None:
        self.ctx: EngineContext | None = None
        self.stats = Counters()
        self.gre: Any = None                        # the transport's GRE endpoint
        self.mppe_stateless = os.environ.get("RRASCTL_PPTP_MPPE", "stateless") != "stateful"   # decision 0062
        self._tunnels: set[_Tunnel] = set()
        self._calls: dict[int, PptpCarrier] = {}   # local call id -> carrier (GRE demux)
        self._next_id = int.from_bytes(os.urandom(2), "big") or 1
        self._server: Any = None
        self._listening = ""
        self._stopping = False
        self._touched: list[PptpCarrier] = []      # calls the current read batch reached (acks settled after it)
        self._last: PptpCarrier | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def start(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        host = ctx.config.server.listen_address or "0.0.0.0"
        self.gre = ctx.transport.open_gre()
        try:
            self._server = await ctx.transport.listen_tcp(host, self.port, self._accepted)
        except OSError:
            self.gre.close()
            self.gre = None
            raise
        self.gre.attach(ctx.loop, self._on_gre, after=self._settle_batch)
        self._listening = f"{host}:{self.port}"
        self._arm_stall_poll()

    async def reload(self, ctx: EngineContext, old: Any, new: Any) -> None:
        """SIGHUP / `engine reload`: sessions that remain allowed stay; the glue decides (as for L2TP)."""
        for carrier in list(self._calls.values()):
            call = carrier.call
            cause = call.glue.still_allowed(new) if call is not None else None
            if cause is not None:
                await ctx.runner.hang_up(call, cause)

    def listener(self) -> str:
        return f"PPTP on TCP {self._listening} and GRE (IP protocol 47)"

    async def stop(self, ctx: EngineContext) -> None:
        self._stopping = True
        ctx.timers.cancel(("pptp-stall", id(self)))
        if self._server is not None:
            self._server.close()
        now = ctx.loop.time()
        for t in list(self._tunnels):
            self._pump_tunnel(t, t.core.stop(now, m.StopReason.STOP_LOCAL_SHUTDOWN, cause=Cause.ENGINE_STOPPED))
            for call in list(t.calls.values()):
                call.cleared = True         # stop() above sent CDN (PAC) / CCRQ (PNS) for each call
                ctx.runner.end(call, Cause.ENGINE_STOPPED)
        waiters = [t.task for t in self._tunnels if t.task is not None]
        if waiters:
            await asyncio.wait(waiters, timeout=1.0)
        for t in list(self._tunnels):
            self._close_tunnel(t)
        if self.gre is not None:
            self.gre.detach(ctx.loop)
            self.gre.close()
            self.gre = None

    def status(self) -> dict[str, Any]:
        """`engine status` figures: listener, tunnels, calls; rx message counts and ack-only packets."""
        return {"listening": self._listening, "tunnels": len(self._tunnels), "calls": len(self._calls),
                "counts": self.stats.as_dict()}

    # ---- control connections ------------------------------------------------------------------------------

    async def _accepted(self, reader: asyncio.StreamReader, writer: Any) -> None:
        peer = writer.get_extra_info("peername")[0]
        ctx = self.ctx
        assert ctx is not None
        t = _Tunnel(PptpControl(self._control_config(ControlRole.PAC)), peer, writer)
        t.task = asyncio.current_task()
        self._tunnels.add(t)
        self._pump_tunnel(t, t.core.start(ctx.loop.time()))
        await self._read_loop(t, reader)

    def _control_config(self, role: ControlRole) -> ControlConfig:
        pptp = self.ctx.config.pptp
        echo = float(pptp.echo_interval_s)                      # 0 = keepalive off
        idle = float(pptp.no_call_timeout_s) if role is ControlRole.PAC else 0.0   # decision 0082
        return ControlConfig(role, host_name=socket.gethostname()[:63], vendor="rrasctl", recv_window=RECV_WINDOW,
                             echo_interval_s=echo, echo_timeout_s=echo or 60.0, setup_timeout_s=SETUP_TIMEOUT_S,
                             idle_timeout_s=idle)

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
        cause = t.core.close_cause or Cause.LOWER_LAYER_DOWN
        detail = t.core.close_reason or "control connection closed"
        for call in list(t.calls.values()):
            self.ctx.runner.lower_down(call, Cause.LOWER_LAYER_DOWN if cause is Cause.ENGINE_STOPPED else cause,
                                       detail)
        if not t.closed:
            t.closed = True
            if t.writer is not None and not t.writer.is_closing():
                t.writer.close()
            failure = DialFailed(cause, detail)
            for fut in [t.established, *t.waiters.values()]:
                if fut is not None and not fut.done():
                    fut.set_exception(failure)
                    fut.exception()
        self.ctx.timers.cancel(("pptp-ctl", id(t)))
        self._tunnels.discard(t)

    def _on_control_event(self, t: _Tunnel, ev: Any) -> None:
        ctx = self.ctx
        now = ctx.loop.time()
        if isinstance(ev, CallRequested):
            self._call_requested(t, ev, now)
        elif isinstance(ev, CallCleared):
            call = t.calls.get(ev.local_call_id) if ev.local_call_id is not None else None
            if call is not None:
                cause = ev.cause
                if call.outbound and not call.glue.up and cause is Cause.PEER_DISCONNECTED:
                    cause = Cause.PEER_ABORTED        # hung up on us before the connection was complete
                ctx.runner.lower_down(call, cause, ev.detail)
        elif isinstance(ev, CallConnected):
            carrier = self._calls.get(ev.local_call_id)
            waiter = t.waiters.pop(ev.local_call_id, None)
            if carrier is not None and carrier.call is not None:
                carrier.core.connect(ev.peer_call_id, ev.peer_recv_window)
                carrier.session.extra["peer_call_id"] = ev.peer_call_id
                ctx.runner.start(carrier.call, now)            # PPP starts; frames that came first are replayed
            if waiter is not None and not waiter.done():
                waiter.set_result(ev)
        elif isinstance(ev, CallRefused):
            waiter = t.waiters.pop(ev.local_call_id, None)
            try:
                what = m.OcrpResult(ev.result).name.lower().replace("_", " ")
            except ValueError:
                what = f"result {ev.result}"
            if waiter is not None and not waiter.done():
                waiter.set_exception(DialFailed(ev.cause, f"Outgoing-Call-Reply: {what}"))
                waiter.exception()
        elif isinstance(ev, ControlEstablished):
            if t.established is not None and not t.established.done():
                t.established.set_result(ev)
            log.debug("PPTP control connection with %s up (%s, %s)", t.peer, ev.peer_vendor, ev.peer_host_name)
        elif isinstance(ev, ControlClosed):
            log.debug("PPTP control connection with %s closed: %s", t.peer, ev.detail)

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
        verdict = ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND, source=t.peer)
        if isinstance(verdict, Refuse):
            r = verdict.refusal
            t.core.refuse_call(ev.peer_call_id, m.OcrpResult(r.wire_result), now)
            ctx.refused(r.cause, protocol="pptp", peer=t.peer, wire=r.wire, detail=r.detail,
                        wire_result=r.wire_result)
            return
        local = self._new_call_id()
        t.core.accept_call(ev.peer_call_id, local, now)
        self._flush_tunnel(t)         # the OCRP goes out before our first LCP packet
        session = ctx.sessions.add(Session("pptp", verdict.port, peer=t.peer))
        glue = ctx.runner.glue("pptp", session, t.peer, mppe_stateless=self.mppe_stateless)
        core = PptpCall(GreWindow(local, ev.peer_call_id, ev.recv_window, RECV_WINDOW), glue.link)
        call = self._register(t, local, core, session, glue)
        session.extra["peer_call_id"] = ev.peer_call_id
        ctx.runner.start(call, now)

    def _register(self, t: _Tunnel, local: int, core: PptpCall, session: Session, glue: Any) -> Call:
        carrier = PptpCarrier(self, t, local, core, session)
        call = self.ctx.runner.attach("pptp", session, glue, core, carrier)
        carrier.call = call
        self._calls[local] = carrier
        t.calls[local] = call
        session.extra["local_call_id"] = local
        return call

    # ---- outbound: the dial skeleton's connect step ---------------------------------------------------------

    async def connect(self, ctx: EngineContext, peer: str, iface: Any, glue: Any, holder: dict) -> Call:
        self.ctx = ctx
        try:
            reader, writer = await asyncio.wait_for(ctx.transport.connect_tcp(peer, self.port), CONNECT_TIMEOUT_S)
        except ConnectionRefusedError:
            raise DialFailed(Cause.CONNECTION_REFUSED, f"nothing answers on {peer} TCP {self.port}") from None
        except (OSError, asyncio.TimeoutError) as exc:
            why = getattr(exc, "strerror", None) or "no answer"
            raise DialFailed(Cause.NO_ANSWER, f"{peer} TCP {self.port}: {why}") from None
        t = _Tunnel(PptpControl(self._control_config(ControlRole.PNS)), peer, writer, outbound=True)
        t.established = ctx.loop.create_future()
        self._tunnels.add(t)
        self._pump_tunnel(t, t.core.start(ctx.loop.time()))
        t.task = ctx.loop.create_task(self._read_loop(t, reader))
        try:
            await asyncio.shield(t.established)
            local = self._new_call_id()
            # ready for the PAC's first GRE packet before the Outgoing-Call-Request goes out (issue #12)
            core = PptpCall(GreWindow(local, 0, 0, RECV_WINDOW), glue.link)
            call = holder["call"] = self._register(t, local, core, glue.session, glue)
            t.waiters[local] = waiter = ctx.loop.create_future()
            self._pump_tunnel(t, t.core.place_call(local, ctx.loop.time()))
            await asyncio.shield(waiter)
            return call
        except BaseException:
            if "call" not in holder and t.core.state is not ControlState.CLOSED:
                self._pump_tunnel(t, t.core.stop(ctx.loop.time()))
            raise

    # ---- GRE data path ------------------------------------------------------------------------------------

    def _on_gre(self, view: memoryview, n: int, addr: Any = None) -> None:
        """One raw GRE datagram (IP header included). Straight-line: demux, sender check, window, link, TUN. The
        call is noted for the ack settlement after the batch. The sender is the IP header's source (what
        recvfrom would report, without building the address string)."""
        if n < 28:
            self._malformed("short GRE packet")
            return
        ihl = (view[0] & 0x0F) << 2
        if n < ihl + 8:
            self._malformed("short GRE packet")
            return
        c = self._calls.get((view[ihl + 6] << 8) | view[ihl + 7])
        if c is None:
            self._malformed("unknown GRE call id")
            return
        if _U32.unpack_from(view, 12)[0] != c.peer_u32:
            self._malformed("GRE from the wrong address")
            return
        core = c.core
        ip = core.open_data(view[ihl:n])
        if ip is not None:
            s = c.session
            s.bytes_in += len(ip)
            s.packets_in += 1
            self._tun_write(ip)
        else:
            window = core.window
            if window.stats:
                self._fold(window.stats)
            if core.pending and c.call is not None:
                self.ctx.runner.receive_pending(c.call)
        if c is not self._last:
            self._last = c
            self._touched.append(c)

    def _tun_write(self, ip: Any) -> None:
        tun = self.ctx.tun
        if tun is not None:
            self._tun_write = tun.write      # bound once the TUN exists
            tun.write(ip)

    def _settle_batch(self) -> None:
        """After a read batch: every call it reached settles its acks (no `call_soon`: the same wake-up)."""
        touched = self._touched
        if not touched:
            return
        self._touched, self._last = [], None
        now = self.ctx.loop.time()
        for c in dict.fromkeys(touched):
            self._settle_acks(c, now)

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

    def _settle_acks(self, c: PptpCarrier, now: float) -> None:
        """After a batch that reached the call (and when its delayed-ack deadline fires): send the ack-only
        packet the window says is due, else make sure a deadline is armed for the packets still unacknowledged."""
        call = c.call
        if call is None or call.ended:
            return
        window = c.core.window
        if not window.unacked:
            return
        ack = window.poll_ack(now)
        if ack is not None:
            gre = self.gre
            if gre is not None:
                try:
                    gre.sendto(ack, c.addr)
                except OSError:
                    self.stats["gre send failed"] += 1
            return
        at = window.ack_deadline(now)
        if not c.ack_armed:
            c.ack_armed = True
            self.ctx.timers.arm(("pptp-ack", id(c)), at, lambda: self._ack_due(c))

    def _ack_due(self, c: PptpCarrier) -> None:
        c.ack_armed = False
        self._settle_acks(c, self.ctx.loop.time())

    # ---- calls that receive only rejected GRE (spoofed far-ahead packets, lost sync: decision 0140) ----------

    def _arm_stall_poll(self) -> None:
        self.ctx.timers.arm(("pptp-stall", id(self)), self.ctx.loop.time() + STALL_POLL_S, self._stall_poll)

    def _stall_poll(self) -> None:
        """Every STALL_POLL_S: a call whose window has taken only rejected data packets for STALL_S is said once in
        the log and in `connections show` (details gre_stalled_since, gre_rejected); the same poll lets a window
        that really jumped follow the peer (GreWindow.rejected_only_since)."""
        from rrasctl.engine.sessions import SessionLog, iso_utc

        now = self.ctx.loop.time()
        for c in list(self._calls.values()):
            w = c.core.window
            if not w.rx_rejected:
                continue
            since = w.rejected_only_since(now)
            s = c.session
            s.extra["gre_rejected"] = dict(w.rejected)
            if w.resyncs:
                s.extra["gre_resyncs"] = w.resyncs
            if since is not None and now - since >= STALL_S:
                if not c.stalled:
                    c.stalled = True
                    s.extra["gre_stalled_since"] = iso_utc(time.time() - (now - since))
                    SessionLog(log, s).warning(
                        "receives only rejected GRE packets for %.0f s (%s): spoofed packets, or the peer lost "
                        "sequence sync", now - since, ", ".join(f"{k} {v}" for k, v in w.rejected.items()))
            elif c.stalled and since is None:
                c.stalled = False
                s.extra.pop("gre_stalled_since", None)
                SessionLog(log, s).info("GRE packets are accepted again")
        self._arm_stall_poll()


_U32 = struct.Struct("!I")


def _u32_address(address: str) -> int:
    """A dotted-quad IPv4 address as the number an IP header carries (-1, matching nothing, if it is not one)."""
    try:
        return _U32.unpack(socket.inet_aton(address))[0]
    except (OSError, TypeError):
        return -1


_DROPS = frozenset({"late or duplicate", "answer to a withdrawn call request", "echo timeout", "old ack",
                    "bytes after close", "wan error notify", "too many pending calls",
                    "idle control connection stopped", "far ahead"})
