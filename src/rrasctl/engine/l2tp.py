"""L2TP driver: UDP 1701 <-> the sans-I/O tunnel cores and one PppLink per session (DESIGN.md §3, §5).

The driver executes, never decides: tunnel and session machines are `protocols.l2tp.control.L2tpTunnel`; admission
is `router.admission`; access policy is `router.access`; PPP is `protocols.ppp.link.PppLink`.

- One UDP socket (server.listen_address:1701; env RRASCTL_L2TP_PORT overrides the port for tests), read with
  add_reader + drain. Control messages go to the tunnel named by the header's tunnel id; an SCCRQ (tunnel id 0) is
  matched to its tunnel by (peer address, Assigned Tunnel ID) so retransmissions do not make new tunnels. Data
  messages go straight from the buffer to the session's PppLink (`open_data`) and the TUN.
- RFC 2661 §8.1: a peer may answer from another UDP port than the one we sent to; the tunnel follows the peer's
  latest source port for its control and data traffic (same IP only).
- LNS role for inbound calls; LAC role for `demand-dial connect` of an l2tp interface (one tunnel per peer,
  shared by its sessions).
- Plain L2TP (no IPsec yet): a tunnel is admitted only when the configured encryption levels include "none";
  `engine status` and the log say so.
- Loss shim for tests: RRASCTL_L2TP_TEST_LOSS="P[:SEED]" drops each datagram, in and out, with probability P.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from rrasctl.engine.io import GroSocketDrain, SocketDrain, UdpSendBatch, big_buffers, enable_gro
from rrasctl.engine.l2tp_ppp import WINDOWS_ENCRYPTION_REQUIRED, PppSessions
from rrasctl.engine.ppp_session import windows_error
from rrasctl.engine.sessions import Direction, Session
from rrasctl.protocols.base import Malformed
from rrasctl.protocols.l2tp.avp import AvpType, CdnResult, GeneralError, StopCcnResult
from rrasctl.protocols.l2tp.control import (
    CallRequested, L2tpTunnel, SessionClosed, SessionUp, TunnelClosed, TunnelConfig, TunnelRequested, TunnelState,
    TunnelUp,
)
from rrasctl.protocols.l2tp.data import L2tpSession
from rrasctl.protocols.l2tp.messages import decode_control

log = logging.getLogger(__name__)

L2TP_PORT = 1701
_HHH = struct.Struct("!HHH")
_H = struct.Struct("!H")
PLAIN_NOTE = ("L2TP: plain L2TP only (IPsec not available yet); calls are accepted only when the allowed "
              "encryption levels include 'none'")


@dataclass(eq=False)
class _Tunnel:
    core: L2tpTunnel
    addr: tuple[str, int]
    initiator: bool
    calls: dict[int, "_Call"] = field(default_factory=dict)        # local session id -> call

    @property
    def key(self) -> tuple[str, int]:
        return ("l2tp-tunnel", self.core.local_tunnel_id)


@dataclass(eq=False)
class _Call:
    tunnel: _Tunnel
    local_session_id: int
    session: Session
    data: L2tpSession | None = None
    link: Any = None
    glue: Any = None                                                 # engine.ppp_session.PppSession
    done: asyncio.Future | None = None                               # outbound: network up or failure
    iface: Any = None                                                # outbound: the demand-dial interface
    progress: Any = None                                             # outbound: the dial's progress callback
    early: list[bytes] = field(default_factory=list)                 # PPP frames that arrived before ICCN
    ended: bool = False

    @property
    def key(self) -> tuple[str, int, int]:
        return ("l2tp-call", self.tunnel.core.local_tunnel_id, self.local_session_id)


class _LossShim:
    def __init__(self, spec: str) -> None:
        p, _, seed = spec.partition(":")
        self.p = float(p)
        self.rand = random.Random(int(seed) if seed else 1)
        self.dropped = 0

    def drop(self) -> bool:
        if self.rand.random() < self.p:
            self.dropped += 1
            return True
        return False


class L2tpDriver(PppSessions):
    protocol = "l2tp"

    def __init__(self) -> None:
        self.ctx: Any = None
        self.sock: socket.socket | None = None
        self.drain: SocketDrain | None = None
        self.batch: UdpSendBatch | None = None     # UDP GSO for the TUN -> peer path (decision 0067)
        self.offload = ""
        self.tunnels: dict[int, _Tunnel] = {}
        self.sccrq_index: dict[tuple[str, int, int], _Tunnel] = {}   # (peer ip, peer port, peer tunnel id)
        self.malformed = 0
        self.unknown_tunnel = 0
        self.unknown_session = 0
        self.port = L2TP_PORT
        self.listen = ""
        self.loss: _LossShim | None = None
        self._stopping = False
        self._all_closed: asyncio.Event | None = None
        # (tunnel id << 16 | session id) -> (peer ip, link.open_data, tun.write, Session): sessions with IP up
        self._fast: dict[int, tuple[str, Any, Any, Session]] = {}
        self._rng = os.urandom

    # ------------------------------------------------------------------------------------------------ lifecycle
    async def start(self, ctx: Any) -> None:
        self.ctx = ctx
        self.port = int(os.environ.get("RRASCTL_L2TP_PORT", L2TP_PORT))
        addr = ctx.config.server.listen_address
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, self.port))
        sock.setblocking(False)
        big_buffers(sock)                 # one socket carries every tunnel; GSO batches arrive 46 datagrams at once
        self.sock = sock
        self.listen = f"{addr}:{self.port}/udp"
        spec = os.environ.get("RRASCTL_L2TP_TEST_LOSS")
        if spec:
            self.loss = _LossShim(spec)
            log.warning("L2TP test loss shim active: dropping %.0f %% of datagrams each way", self.loss.p * 100)
        offload = os.environ.get("RRASCTL_L2TP_OFFLOAD", "gso,gro")     # "" or "none": one datagram per syscall
        gro = "gro" in offload and enable_gro(sock)
        self.drain = (GroSocketDrain(sock, self._on_datagram) if gro
                      else SocketDrain(sock, self._on_datagram, with_addr=True))
        self.drain.attach(ctx.loop)
        self.batch = UdpSendBatch(sock, enabled="gso" in offload)
        self.offload = ",".join(x for x, on in (("gso", self.batch.enabled), ("gro", gro)) if on) or "none"
        if PLAIN_NOTE not in ctx.notes:
            ctx.notes.append(PLAIN_NOTE)
        log.warning("%s", PLAIN_NOTE)

    def listener(self) -> str:
        return f"{self.listen} (plain L2TP only: needs encryption 'none' allowed)"

    async def stop(self, ctx: Any) -> None:
        """CDN for every session, StopCCN for every tunnel; wait (bounded) for the acks; free everything."""
        now = self._now()
        self._stopping = True
        for t in list(self.tunnels.values()):
            for call in list(t.calls.values()):
                if call.link is not None:
                    try:
                        call.link.close("engine stopped", now)
                        self._flush_link(call)
                    except Exception:
                        log.debug("PPP close failed", exc_info=True)
                t.core.close_call(call.local_session_id, now, CdnResult.ADMIN, None, "engine stopped")
                self._end_call(call, "engine stopped", send_cdn=False)
            if t.core.state is not TunnelState.CLOSED:
                t.core.close(now, StopCcnResult.SHUTTING_DOWN, None, "engine stopped")
            self._pump_tunnel(t, [])
        if self.tunnels:                  # wait (bounded) for the StopCCN acks; _forget_tunnel sets the event
            self._all_closed = asyncio.Event()
            try:
                await asyncio.wait_for(self._all_closed.wait(), 3.0)
            except asyncio.TimeoutError:
                log.warning("L2TP: %d tunnel(s) did not acknowledge StopCCN within 3 s", len(self.tunnels))
        for t in list(self.tunnels.values()):
            self._forget_tunnel(t)
        if self.drain is not None:
            self.drain.detach(ctx.loop)
        if self.batch is not None:
            self.batch.flush()
            unhook = getattr(ctx.tun, "remove_batch_end", None)
            if unhook is not None:
                unhook(self.batch.flush)
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def status(self) -> dict[str, Any]:
        malformed: dict[str, int] = {}
        for t in self.tunnels.values():
            for k, v in t.core.stats.items():
                malformed[k] = malformed.get(k, 0) + v
        st = {
            "listening": self.listen,
            "mode": "plain L2TP only (no IPsec yet); needs encryption 'none' allowed",
            "tunnels": len(self.tunnels),
            "sessions": sum(len(t.calls) for t in self.tunnels.values()),
            "malformed": self.malformed,
            "unknown_tunnel": self.unknown_tunnel,
            "unknown_session": self.unknown_session,
            "control_drops": dict(sorted(malformed.items())),
        }
        b = self.batch
        if b is not None:
            st["offload"] = {"mode": self.offload, "gso_sends": b.sends, "gso_packets": b.packets,
                             "gso_dropped": b.dropped, "gso_fallbacks": b.fallbacks,
                             "gro_glued_reads": getattr(self.drain, "glued", 0)}
        if self.loss is not None:
            st["test_loss_dropped"] = self.loss.dropped
        return st

    async def reload(self, ctx: Any, old: Any, new: Any) -> None:
        """Sessions that remain allowed stay; as on PPTP, an inbound user who is gone or now denied (dial-in or
        policies) and a dial-out whose interface was removed or disabled are disconnected; so is an inbound call
        once plain L2TP (encryption 'none') is no longer allowed."""
        for t in list(self.tunnels.values()):
            for call in list(t.calls.values()):
                if call.session.direction is Direction.INBOUND and "none" not in new.auth.encryption:
                    self._hang_up(call, "encryption 'none' no longer allowed")
                elif call.glue is not None:
                    cause = call.glue.still_allowed(new)
                    if cause is not None:
                        self._hang_up(call, cause)

    # ------------------------------------------------------------------------------------------------ helpers
    def _now(self) -> float:
        return self.ctx.loop.time()

    def _tunnel_config(self) -> TunnelConfig:
        cfg = self.ctx.config
        l2 = getattr(cfg, "l2tp", None)
        secret = None
        if l2 is not None and l2.secret:
            plain = self.ctx.open_secret(l2.secret)
            secret = plain.encode() if plain else None
        return TunnelConfig(host_name=socket.gethostname() or "rrasctl", vendor_name="rrasctl", secret=secret,
                            hide_avps=bool(l2 and l2.hide_avps and secret),
                            hello_s=float(l2.hello_interval_s) if l2 else 60.0)

    def _new_tunnel_id(self) -> int:
        while True:
            tid = int.from_bytes(self._rng(2), "big")
            if tid and tid not in self.tunnels:
                return tid

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.loss is not None and self.loss.drop():
            return
        try:
            self.sock.sendto(data, addr)          # type: ignore[union-attr]
        except (BlockingIOError, InterruptedError):
            self.ctx.counters.dropped.count("l2tp: socket buffer full")
        except OSError as exc:
            self.ctx.counters.dropped.count(f"l2tp: send failed ({exc.strerror or exc})")

    # ------------------------------------------------------------------------------------------------ input
    def _on_datagram(self, view: memoryview, n: int, addr: Any) -> None:
        # fast path: a short-header data message of a session whose network layer is up (DESIGN.md §5)
        if n > 6 and self.loss is None:
            flags, tid, sid = _HHH.unpack_from(view)
            if flags == 0x0002:
                fast = self._fast.get(tid << 16 | sid)
                if fast is not None and addr[0] == fast[0]:
                    ip = fast[1](view[6:n])
                    if ip is not None:
                        fast[2](ip)
                        s = fast[3]
                        s.bytes_in += len(ip)
                        s.packets_in += 1
                        return
        if self.loss is not None and self.loss.drop():
            return
        if n < 6:
            self.malformed += 1
            self.ctx.counters.malformed.count("l2tp: short header")
            return
        flags = _H.unpack_from(view)[0]
        if flags & 0x000F != 2:
            self.malformed += 1
            self.ctx.counters.malformed.count("l2tp: not version 2")
            return
        if not flags & 0x8000:
            self._on_data(view, n, flags, addr)
            return
        if n < 12:
            self.malformed += 1
            self.ctx.counters.malformed.count("l2tp: short control header")
            return
        tid = _H.unpack_from(view, 4)[0]
        data = bytes(view[:n])
        if tid == 0:
            self._on_sccrq(data, addr)
            return
        t = self.tunnels.get(tid)
        if t is None:
            self.unknown_tunnel += 1
            return
        if addr[0] != t.addr[0]:
            self.ctx.counters.dropped.count("l2tp: control from another address")
            return
        ch = t.core.channel
        before, progress = sum(t.core.stats.values()), (ch.nr, ch.unacked())
        events = t.core.receive(data, self._now())
        if sum(t.core.stats.values()) != before:
            self.ctx.counters.malformed.count("l2tp: control message dropped")
        elif addr[1] != t.addr[1] and (ch.nr, ch.unacked()) != progress:
            # RFC 2661 §8.1: follow the peer's new source port, on a message that moved the channel forward
            log.info("L2TP tunnel %d: peer %s moved to port %d", tid, t.addr[0], addr[1])
            t.addr = (addr[0], addr[1])
        self._pump_tunnel(t, events)

    def _on_sccrq(self, data: bytes, addr: tuple[str, int]) -> None:
        cfg = self._tunnel_config()
        try:
            msg = decode_control(data, cfg.secret)
            peer_tid = msg.get(AvpType.ASSIGNED_TUNNEL_ID)
        except Malformed as exc:
            self.malformed += 1
            self.ctx.counters.malformed.count(f"l2tp: {exc.reason}")
            return
        if not isinstance(peer_tid, int) or msg.name != "SCCRQ":
            self.malformed += 1
            self.ctx.counters.malformed.count("l2tp: tunnel id 0 on a message other than SCCRQ")
            return
        key = (addr[0], addr[1], peer_tid)
        t = self.sccrq_index.get(key)
        if t is None:
            t = _Tunnel(L2tpTunnel(cfg, self._new_tunnel_id()), (addr[0], addr[1]), initiator=False)
            self.tunnels[t.core.local_tunnel_id] = t
            self.sccrq_index[key] = t
        self._pump_tunnel(t, t.core.receive(data, self._now()))

    def _on_data(self, view: memoryview, n: int, flags: int, addr: Any) -> None:
        if flags == 0x0002:
            _, tid, sid = _HHH.unpack_from(view)
            start, end = 6, n
        else:
            try:
                from rrasctl.protocols.l2tp.data import decode_data

                h = decode_data(view[:n])
            except Malformed as exc:
                self.malformed += 1
                self.ctx.counters.malformed.count(f"l2tp: {exc.reason}")
                return
            tid, sid, start, end = h.tunnel_id, h.session_id, h.payload_offset, h.length or n
        t = self.tunnels.get(tid)
        call = t.calls.get(sid) if t is not None else None
        if call is None or addr[0] != t.addr[0]:
            self.unknown_session += 1
            return
        if call.link is None:
            # PPP from the LAC may overtake its ICCN: keep a few frames for the link about to start
            if len(call.early) < 8:
                call.early.append(bytes(view[start:end]))
            return
        frame = view[start:end]
        link = call.link
        ip = link.open_data(frame)
        if ip is not None:
            tun = self.ctx.tun
            if tun is not None:
                tun.write(ip)
            s = call.session
            s.bytes_in += len(ip)
            s.packets_in += 1
            return
        self._pump_link(call, link.receive(bytes(frame), self._now()))

    # ------------------------------------------------------------------------------------------------ tunnels
    def _pump_tunnel(self, t: _Tunnel, events: list) -> None:
        now = self._now()
        for e in events:
            try:
                self._on_tunnel_event(t, e, now)
            except Exception:
                log.exception("L2TP tunnel %d: event %r failed", t.core.local_tunnel_id, e)
        for d in t.core.take_output():
            self._sendto(d, t.addr)
        if t.core.state is TunnelState.CLOSED:
            self._forget_tunnel(t)
            return
        self.ctx.timers.arm(t.key, t.core.next_timer(), lambda: self._fire_tunnel(t))

    def _fire_tunnel(self, t: _Tunnel) -> None:
        if self.tunnels.get(t.core.local_tunnel_id) is t:
            self._pump_tunnel(t, t.core.handle_timer(self._now()))

    def _forget_tunnel(self, t: _Tunnel) -> None:
        for call in list(t.calls.values()):
            self._end_call(call, t.core.close_reason or "tunnel closed", send_cdn=False)
        self.ctx.timers.cancel(t.key)
        if self.tunnels.get(t.core.local_tunnel_id) is t:
            del self.tunnels[t.core.local_tunnel_id]
        for k in [k for k, v in self.sccrq_index.items() if v is t]:
            del self.sccrq_index[k]
        if not self.tunnels and self._all_closed is not None:
            self._all_closed.set()

    def _on_tunnel_event(self, t: _Tunnel, e: Any, now: float) -> None:
        from rrasctl.router.admission import Protocol, Refuse, Use

        peer = t.addr[0]
        if isinstance(e, TunnelRequested):
            if "none" not in self.ctx.config.auth.encryption:
                t.core.refuse_tunnel(StopCcnResult.NOT_AUTHORIZED, None,
                                     "plain L2TP is not allowed: encryption required", now)
                self.ctx.refused_other(protocol="l2tp", peer=peer, reason="encryption required",
                                       detail="plain L2TP needs encryption level 'none' to be allowed",
                                       wire="StopCCN result 4 (not authorized)",
                                       windows_error=WINDOWS_ENCRYPTION_REQUIRED, wire_result=4)
                return
            verdict = self.ctx.admission.check(Protocol.L2TP, Use.INBOUND)
            if isinstance(verdict, Refuse):
                t.core.refuse_tunnel(StopCcnResult.GENERAL_ERROR, GeneralError.NO_RESOURCES,
                                     verdict.cause.detail, now)
                self._refusal(verdict.cause, peer, wire="StopCCN result 2 error 4 (insufficient resources)",
                              wire_result=2)
                return
            log.info("L2TP tunnel %d from %s:%d (%s) accepted", t.core.local_tunnel_id, peer, t.addr[1],
                     e.peer_host_name)
            t.core.accept_tunnel(now)
        elif isinstance(e, TunnelUp):
            log.info("L2TP tunnel %d with %s (%s) up, peer tunnel id %d", t.core.local_tunnel_id, peer,
                     e.peer_host_name, e.peer_tunnel_id)
        elif isinstance(e, TunnelClosed):
            level = logging.INFO if e.result in (StopCcnResult.CLEAR, StopCcnResult.SHUTTING_DOWN) else logging.WARNING
            log.log(level, "L2TP tunnel %d with %s closed: %s", t.core.local_tunnel_id, peer, e.reason)
        elif isinstance(e, CallRequested):
            if e.outgoing:
                t.core.refuse_call(e.local_session_id, now, CdnResult.PERMANENT_LACK, None,
                                   "outgoing calls are not served")
                return
            verdict = self.ctx.admission.try_admit(Protocol.L2TP, Use.INBOUND)
            if isinstance(verdict, Refuse):
                t.core.refuse_call(e.local_session_id, now, verdict.cause.wire_result, None, verdict.cause.detail)
                self._refusal(verdict.cause, peer)
                return
            s = Session("l2tp", verdict.port, peer=f"{peer}:{t.addr[1]}", direction=Direction.INBOUND)
            s.extra.update({"tunnel_id": t.core.local_tunnel_id, "session_id": e.local_session_id})
            self.ctx.sessions.add(s)
            call = _Call(t, e.local_session_id, s)
            s.core = call
            s.disconnect = lambda cause, c=call: self._hang_up(c, cause)
            t.calls[e.local_session_id] = call
            t.core.accept_call(e.local_session_id, now)
        elif isinstance(e, SessionUp):
            call = t.calls.get(e.local_session_id)
            if call is None:
                return
            call.data = L2tpSession(t.core.local_tunnel_id, e.local_session_id, t.core.peer_tunnel_id,
                                    e.peer_session_id)
            call.session.extra["peer_session_id"] = e.peer_session_id
            call.session.extra["peer_tunnel_id"] = t.core.peer_tunnel_id
            self._start_ppp(call, now, call.iface)
        elif isinstance(e, SessionClosed):
            call = t.calls.get(e.local_session_id)
            if call is not None:
                self._end_call(call, e.reason, send_cdn=False)

    def _refusal(self, cause: Any, peer: str, *, wire: str | None = None, wire_result: int | None = None) -> None:
        if wire is None:
            self.ctx.refused(cause, peer=peer)
        else:
            self.ctx.refused_other(protocol="l2tp", peer=peer, reason=cause.reason.value, detail=cause.detail,
                                   wire=wire, windows_error=cause.windows_error, wire_result=wire_result)

    def _hang_up(self, call: _Call, cause: str) -> None:
        if call.ended:
            return
        now = self._now()
        if call.link is not None:
            try:
                events = call.link.close(cause, now)
                self._flush_link(call)
                self._link_events(call, events, now)
            except Exception:
                log.debug("PPP close failed", exc_info=True)
        self._end_call(call, cause, send_cdn=True)

    def _end_call(self, call: _Call, cause: str, *, send_cdn: bool) -> None:
        if call.ended:
            return
        call.ended = True
        t = call.tunnel
        self.ctx.timers.cancel(call.key)
        t.calls.pop(call.local_session_id, None)
        self._fast.pop(t.core.local_tunnel_id << 16 | call.local_session_id, None)
        if send_cdn and t.core.state is TunnelState.ESTABLISHED:
            t.core.close_call(call.local_session_id, self._now(), CdnResult.ADMIN, None, cause[:60])
            self._pump_tunnel(t, [])
        if call.done is not None and not call.done.done():
            call.done.set_exception(ConnectionError(cause))
        if call.glue is not None:
            call.glue.finish(cause)        # pending refusal records, our address on the TUN
        self.ctx.session_down(call.session, cause)
        # an initiator tunnel with no session left is closed (SoftEther hangs on idle session-less tunnels)
        if t.initiator and not t.calls and t.core.state is TunnelState.ESTABLISHED and not self._stopping:
            t.core.close(self._now(), StopCcnResult.CLEAR, None, "no sessions left")
            self._pump_tunnel(t, [])

    # ------------------------------------------------------------------------------------------------ LAC
    async def dial(self, ctx: Any, name: str, interface: Any, progress: Any) -> Session:
        from rrasctl.engine.drivers import DialFailed
        from rrasctl.router.admission import Protocol, Refuse, Use

        if interface.encryption != "none":
            raise DialFailed(f"plain L2TP carries no encryption, and interface {name} requires "
                             f"'{interface.encryption}' (set its encryption to none)", WINDOWS_ENCRYPTION_REQUIRED)
        progress("resolving")
        try:
            infos = await ctx.loop.getaddrinfo(interface.destination, self.port, family=socket.AF_INET,
                                               type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise DialFailed(f"cannot resolve {interface.destination}: {exc}", 868,
                             unreachable="CONNECTION_FAILURE") from None
        ip = infos[0][4][0]
        verdict = ctx.admission.try_admit(Protocol.L2TP, Use.ROUTER_OUT)
        if isinstance(verdict, Refuse):
            raise DialFailed(f"no L2TP port: {verdict.cause.detail}", verdict.cause.windows_error,
                             unreachable="NO_PORTS")
        s = Session("l2tp", verdict.port, peer=f"{ip}:{self.port}", direction=Direction.OUTBOUND, interface=name)
        ctx.sessions.add(s)
        progress("connecting")
        t = next((t for t in self.tunnels.values() if t.initiator and t.addr[0] == ip
                  and t.core.state in (TunnelState.WAIT_CTL_REPLY, TunnelState.ESTABLISHED)), None)
        if t is None:
            t = _Tunnel(L2tpTunnel(self._tunnel_config(), self._new_tunnel_id()), (ip, self.port), initiator=True)
            self.tunnels[t.core.local_tunnel_id] = t
            t.core.start(self._now())
        sid = t.core.place_call(self._now())
        call = _Call(t, sid, s, done=ctx.loop.create_future(), iface=interface, progress=progress)
        s.core = call
        s.extra.update({"tunnel_id": t.core.local_tunnel_id, "session_id": sid})
        s.disconnect = lambda cause, c=call: self._hang_up(c, cause)
        t.calls[sid] = call
        self._pump_tunnel(t, [])
        try:
            await call.done            # the shared glue brought the session up (address, routes, accounting)
        except ConnectionError as exc:
            failure = call.glue.failure if call.glue is not None else None
            if failure is not None:
                raise failure from None
            raise DialFailed(str(exc) or "the remote computer did not respond", windows_error(str(exc), 800),
                             unreachable="CONNECTION_FAILURE") from None
        except asyncio.CancelledError:
            self._hang_up(call, "dial cancelled")
            raise
        return s                                                # ops.py reports "connected"
