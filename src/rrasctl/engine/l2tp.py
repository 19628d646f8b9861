"""L2TP driver: UDP 1701 <-> the sans-I/O tunnel cores and one L2tpCall per session (DESIGN.md §3, §5).

What is L2TP's own lives here: tunnels (`protocols.l2tp.control.L2tpTunnel`: control channel, tunnel and session
machines), the demultiplexing of datagrams by tunnel and session id, and each call's `L2tpCarrier` (data messages to
the peer, CDN to clear it). PPP, authorization, addresses, the end of a call and the dial skeleton belong to the call
runner (engine/calls.py), the same for PPTP. The UDP endpoint comes from `ctx.transport` (engine/transport.py).

- Control messages go to the tunnel named by the header's tunnel id; an SCCRQ (tunnel id 0) is matched to its tunnel
  by (peer address, Assigned Tunnel ID) so retransmissions do not make new tunnels. Data messages go straight from
  the buffer to the session's call (`open_data`) and the TUN.
- RFC 2661 §8.1: a peer may answer from another UDP port than the one we sent to; the tunnel follows the peer's
  latest source port for its control and data traffic (same IP only).
- LNS role for inbound calls; LAC role for `demand-dial connect` of an l2tp interface (one tunnel per peer, shared by
  its sessions). The LAC's call exists before its ICRQ goes out, so PPP frames that overtake the ICCN wait in the
  call (decision 0073).
- Plain L2TP (no IPsec yet): a tunnel is admitted only when the configured encryption levels include "none";
  `engine status` and the log say so.
- A peer whose L2TP port is closed (ICMP port unreachable, e.g. its server process died) ends its tunnels after
  `UNREACHABLE_LIMIT` such answers in a row instead of after a minute of silence (decision 0085).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from rrasctl.engine.calls import Call
from rrasctl.engine.drivers import DialFailed
from rrasctl.engine.ratelog import RateLimitedLog
from rrasctl.engine.sessions import Direction, Session
from rrasctl.protocols.base import Malformed
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.l2tp.avp import AvpType, CdnResult, GeneralError, StopCcnResult
from rrasctl.protocols.l2tp.call import L2tpCall
from rrasctl.protocols.l2tp.control import (
    CallRequested, L2tpTunnel, SessionClosed, SessionUp, TunnelClosed, TunnelConfig, TunnelRequested, TunnelState,
    TunnelUp,
)
from rrasctl.protocols.l2tp.messages import decode_control
from rrasctl.router.admission import Protocol, Refuse, Use

log = logging.getLogger(__name__)

L2TP_PORT = 1701
UNREACHABLE_LIMIT = 3          # ICMP port unreachable answers in a row that end a peer's tunnels
_HHH = struct.Struct("!HHH")
_H = struct.Struct("!H")
PLAIN_NOTE = ("L2TP: plain L2TP only (IPsec not available yet); calls are accepted only when the allowed "
              "encryption levels include 'none'")


@dataclass(eq=False)
class _Tunnel:
    core: L2tpTunnel
    addr: tuple[str, int]
    initiator: bool
    calls: dict[int, Call] = field(default_factory=dict)             # local session id -> call
    waiters: dict[int, asyncio.Future] = field(default_factory=dict)  # LAC: local session id -> session up?
    unreachable: int = 0                                              # ICMP port unreachable in a row
    up: bool = False                                                  # the handshake completed (TunnelUp)

    @property
    def key(self) -> tuple[str, int]:
        return ("l2tp-tunnel", self.core.local_tunnel_id)


class L2tpCarrier:
    """One session's way to the peer (calls.Carrier)."""

    __slots__ = ("driver", "tunnel", "local_session_id", "core", "session", "call")

    def __init__(self, driver: "L2tpDriver", tunnel: _Tunnel, local_session_id: int, core: L2tpCall,
                 session: Session) -> None:
        self.driver, self.tunnel, self.local_session_id = driver, tunnel, local_session_id
        self.core, self.session = core, session
        self.call: Call | None = None

    def send(self, packets: list[bytes]) -> None:
        addr, sendto = self.tunnel.addr, self.driver._sendto
        for pkt in packets:
            sendto(pkt, addr)

    def make_tx(self, call: Call) -> Any:
        """TUN -> peer for one session: a closure over the call's sealer, the prebuilt header and the endpoint
        (the TUN reader counts bytes and packets out)."""
        d, core, t = self.driver, self.core, self.tunnel
        seal_view, sendto = core.seal_view, d.endpoint.sendto
        dropped = d.ctx.counters.dropped
        batch, hook = d.batch, getattr(d.ctx.tun, "add_batch_end", None)
        if batch is not None and batch.enabled and hook is not None and hook(batch.flush):
            add, add_parts, addr = batch.add, batch.add_parts, t.addr
            clear_head, l2tp_head = core.link.clear_ipv4_head, core.seal_header
            prefixes: dict[bytes, bytes] = {}

            def tx_batched(ip: memoryview) -> None:   # queued; sent at the end of this TUN batch (UDP GSO)
                if ip[0] >> 4 == 4:                   # clear IPv4 (the TUN reader passes IPv4 only, >= 20 bytes)
                    head = clear_head(len(ip))
                    if head is not None:              # L2TP header + PPP head, then the packet: one copy
                        prefix = prefixes.get(head)
                        if prefix is None:
                            prefix = prefixes[head] = l2tp_head + head
                        add_parts(prefix, ip, addr)
                        return
                pkt = seal_view(ip)
                if pkt is not None:
                    add(pkt, addr)
            return tx_batched

        def tx(ip: memoryview) -> None:
            pkt = seal_view(ip)
            if pkt is not None:
                try:
                    sendto(pkt, t.addr)
                except OSError:
                    dropped.count("l2tp: send failed")
        return tx

    def network_up(self, call: Call) -> None:
        d, t = self.driver, self.tunnel
        if d.ctx.tun is not None:
            d._fast[t.core.local_tunnel_id << 16 | self.local_session_id] = (
                t.addr[0], self.core.open_data, d.ctx.tun.write, self.session)

    def clear(self, call: Call, cause: Cause, now: float) -> None:
        d, t = self.driver, self.tunnel
        if t.core.state is TunnelState.ESTABLISHED:
            from rrasctl.router.causes import explain

            d._pump_tunnel(t, t.core.close_call(self.local_session_id, now, CdnResult.ADMIN, None,
                                                explain(cause).text[:60]))
        elif self.local_session_id in t.core.calls:
            d._pump_tunnel(t, t.core.close_call(self.local_session_id, now))

    def release(self, call: Call) -> None:
        d, t = self.driver, self.tunnel
        t.calls.pop(self.local_session_id, None)
        d._fast.pop(t.core.local_tunnel_id << 16 | self.local_session_id, None)
        # an initiator tunnel with no session left is closed (SoftEther hangs on idle session-less tunnels)
        if t.initiator and not t.calls and t.core.state is TunnelState.ESTABLISHED and not d._stopping:
            d._pump_tunnel(t, t.core.close(d.ctx.loop.time(), StopCcnResult.CLEAR, None, "no sessions left"))


class L2tpDriver:
    protocol = "l2tp"
    port = L2TP_PORT

    def __init__(self) -> None:
        self.ctx: Any = None
        self.endpoint: Any = None
        self.batch: Any = None                     # UDP GSO for the TUN -> peer path (decision 0067)
        self.tunnels: dict[int, _Tunnel] = {}
        self.sccrq_index: dict[tuple[str, int, int], _Tunnel] = {}   # (peer ip, peer port, peer tunnel id)
        self.malformed = 0
        self.unknown_tunnel = 0
        self.unknown_session = 0
        self.unreachable = 0
        self.half_open_failed = 0                  # answered tunnels that never completed the handshake
        self.warnings: Any = None                  # RateLimitedLog, made in start()
        self.listen = ""
        self._stopping = False
        self._all_closed: asyncio.Event | None = None
        # (tunnel id << 16 | session id) -> (peer ip, call.open_data, tun.write, Session): sessions with IP up
        self._fast: dict[int, tuple[str, Any, Any, Session]] = {}
        self._rng = os.urandom

    # ------------------------------------------------------------------------------------------------ lifecycle
    async def start(self, ctx: Any) -> None:
        self.ctx = ctx
        self.warnings = RateLimitedLog(log, ctx.loop.call_later)
        addr = ctx.config.server.listen_address
        self.endpoint = ctx.transport.open_udp(addr, self.port)
        self.endpoint.attach(ctx.loop, self._on_datagram, on_unreachable=self._on_unreachable)
        self.batch = self.endpoint.send_batch()
        self.listen = f"{addr}:{self.port}/udp"
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
                ctx.runner.pump(call, call.core.close(Cause.ENGINE_STOPPED, now))
                ctx.runner.end(call, Cause.ENGINE_STOPPED)
            if t.core.state is not TunnelState.CLOSED:
                self._pump_tunnel(t, t.core.close(now, StopCcnResult.SHUTTING_DOWN, None, "engine stopped",
                                                  cause=Cause.ENGINE_STOPPED))
        if self.tunnels:                  # wait (bounded) for the StopCCN acks; _forget_tunnel sets the event
            self._all_closed = asyncio.Event()
            try:
                await asyncio.wait_for(self._all_closed.wait(), 3.0)
            except asyncio.TimeoutError:
                log.warning("L2TP: %d tunnel(s) did not acknowledge StopCCN within 3 s", len(self.tunnels))
        for t in list(self.tunnels.values()):
            self._forget_tunnel(t)
        if self.endpoint is not None:
            self.endpoint.detach(ctx.loop)
        if self.batch is not None:
            self.batch.flush()
            unhook = getattr(ctx.tun, "remove_batch_end", None)
            if unhook is not None:
                unhook(self.batch.flush)
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None

    def status(self) -> dict[str, Any]:
        drops: dict[str, int] = {}
        for t in self.tunnels.values():
            for k, v in t.core.stats.items():
                drops[k] = drops.get(k, 0) + v
        st: dict[str, Any] = {
            "listening": self.listen,
            "mode": "plain L2TP only (no IPsec yet); needs encryption 'none' allowed",
            "tunnels": len(self.tunnels),
            "sessions": sum(len(t.calls) for t in self.tunnels.values()),
            "malformed": self.malformed,
            "unknown_tunnel": self.unknown_tunnel,
            "unknown_session": self.unknown_session,
            "port_unreachable": self.unreachable,
            "half_open_failed": self.half_open_failed,
            "control_drops": dict(sorted(drops.items())),
        }
        b = self.batch
        if b is not None:
            ep = self.endpoint.stats() if self.endpoint is not None else {}
            st["offload"] = {"mode": self._offload_mode(), "gso_sends": b.sends, "gso_packets": b.packets,
                             "gso_dropped": b.dropped, "gso_fallbacks": b.fallbacks,
                             "gro_glued_reads": ep.get("gro_glued_reads", 0)}
        return st

    def _offload_mode(self) -> str:
        gso = self.batch is not None and self.batch.enabled
        gro = bool(getattr(self.endpoint, "gro", False))
        return ",".join(x for x, on in (("gso", gso), ("gro", gro)) if on) or "none"

    async def reload(self, ctx: Any, old: Any, new: Any) -> None:
        """Sessions that remain allowed stay; as on PPTP, an inbound user who is gone or now denied (dial-in or
        policies) and a dial-out whose interface was removed or disabled are disconnected; so is an inbound call
        once plain L2TP (encryption 'none') is no longer allowed."""
        for t in list(self.tunnels.values()):
            for call in list(t.calls.values()):
                if call.session.direction is Direction.INBOUND and "none" not in new.auth.encryption:
                    await ctx.runner.hang_up(call, Cause.CONFIG_CHANGED, "encryption 'none' no longer allowed")
                else:
                    cause = call.glue.still_allowed(new)
                    if cause is not None:
                        await ctx.runner.hang_up(call, cause)

    # ------------------------------------------------------------------------------------------------ helpers
    def _now(self) -> float:
        return self.ctx.loop.time()

    def _tunnel_config(self, *, responder: bool) -> TunnelConfig:
        cfg = self.ctx.config
        l2 = getattr(cfg, "l2tp", None)
        secret = None
        if l2 is not None and l2.secret:
            try:
                plain = self.ctx.open_secret(l2.secret)
            except Exception as exc:   # the key file is gone: no tunnel authentication can succeed
                log.error("L2TP tunnel secret: %s", exc)
                plain = None
            secret = plain.encode() if plain else None
        return TunnelConfig(host_name=socket.gethostname() or "rrasctl", vendor_name="rrasctl", secret=secret,
                            hide_avps=bool(l2 and l2.hide_avps and secret),
                            hello_s=float(l2.hello_interval_s) if l2 else 60.0,
                            idle_timeout_s=float(l2.no_session_timeout_s) if l2 and responder else 0.0)

    def _new_tunnel_id(self) -> int:
        while True:
            tid = int.from_bytes(self._rng(2), "big")
            if tid and tid not in self.tunnels:
                return tid

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.endpoint.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.ctx.counters.dropped.count("l2tp: socket buffer full")
        except OSError as exc:
            self.ctx.counters.dropped.count(f"l2tp: send failed ({exc.strerror or exc})")

    def _malformed(self, reason: str) -> None:
        self.malformed += 1
        self.ctx.counters.malformed.count("l2tp: " + reason)

    # ------------------------------------------------------------------------------------------------ input
    def _on_datagram(self, view: memoryview, n: int, addr: Any) -> None:
        # fast path: a short-header data message of a session whose network layer is up (DESIGN.md §5)
        if n > 6:
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
        if n < 6:
            self._malformed("short header")
            return
        flags = _H.unpack_from(view)[0]
        if flags & 0x000F != 2:
            self._malformed("not version 2")
            return
        if not flags & 0x8000:
            self._on_data(view, n, flags, addr)
            return
        if n < 12:
            self._malformed("short control header")
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
        t.unreachable = 0
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
        cfg = self._tunnel_config(responder=True)
        try:
            msg = decode_control(data, cfg.secret)
            peer_tid = msg.get(AvpType.ASSIGNED_TUNNEL_ID)
        except Malformed as exc:
            self._malformed(exc.reason)
            return
        if not isinstance(peer_tid, int) or msg.name != "SCCRQ":
            self._malformed("tunnel id 0 on a message other than SCCRQ")
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
                self._malformed(exc.reason)
                return
            tid, sid, start, end = h.tunnel_id, h.session_id, h.payload_offset, h.length or n
        t = self.tunnels.get(tid)
        call = t.calls.get(sid) if t is not None else None
        if call is None or addr[0] != t.addr[0]:
            self.unknown_session += 1
            return
        t.unreachable = 0
        core = call.core
        ip = core.open_data(view[start:end])
        if ip is not None:
            tun = self.ctx.tun
            if tun is not None:
                tun.write(ip)
            s = call.session
            s.bytes_in += len(ip)
            s.packets_in += 1
        elif core.pending:
            self.ctx.runner.receive_pending(call)

    def _on_unreachable(self, addr: tuple[str, int]) -> None:
        """ICMP port unreachable for a datagram we sent to ADDR: its L2TP server is not there (any more)."""
        self.unreachable += 1
        for t in list(self.tunnels.values()):
            if t.addr[0] != addr[0] or t.core.state is TunnelState.CLOSED:
                continue
            t.unreachable += 1
            if t.unreachable >= UNREACHABLE_LIMIT:
                log.warning("L2TP tunnel %d: %s answers that its L2TP port is closed; the tunnel is gone",
                            t.core.local_tunnel_id, t.addr[0])
                self._lost(t, Cause.LINK_LOST if t.core.state is TunnelState.ESTABLISHED else
                           Cause.CONNECTION_REFUSED, "the remote L2TP port is closed (ICMP port unreachable)")

    def _lost(self, t: _Tunnel, cause: Cause, detail: str) -> None:
        for call in list(t.calls.values()):
            self.ctx.runner.lower_down(call, cause, detail)
        self._fail_waiters(t, cause, detail)
        t.core.channel.abandon()
        t.core.state = TunnelState.CLOSED
        self._forget_tunnel(t)

    # ------------------------------------------------------------------------------------------------ tunnels
    def _pump_tunnel(self, t: _Tunnel, events: list) -> None:
        now = self._now()
        queue = list(events)
        while queue:                      # core commands return the events they cause: they join the queue
            e = queue.pop(0)
            try:
                queue += self._on_tunnel_event(t, e, now) or []
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
        cause = t.core.close_cause or Cause.LOWER_LAYER_DOWN
        for call in list(t.calls.values()):
            self.ctx.runner.lower_down(call, cause, t.core.close_reason or "tunnel closed")
        self._fail_waiters(t, cause, t.core.close_reason or "tunnel closed")
        self.ctx.timers.cancel(t.key)
        if self.tunnels.get(t.core.local_tunnel_id) is t:
            del self.tunnels[t.core.local_tunnel_id]
        for k in [k for k, v in self.sccrq_index.items() if v is t]:
            del self.sccrq_index[k]
        if not self.tunnels and self._all_closed is not None:
            self._all_closed.set()

    def _fail_waiters(self, t: _Tunnel, cause: Cause, detail: str) -> None:
        for fut in t.waiters.values():
            if not fut.done():
                fut.set_exception(DialFailed(cause, detail))
                fut.exception()
        t.waiters.clear()

    def _on_tunnel_event(self, t: _Tunnel, e: Any, now: float) -> list:
        ctx = self.ctx
        peer = t.addr[0]
        if isinstance(e, TunnelRequested):
            if "none" not in ctx.config.auth.encryption:
                ctx.refused(Cause.ENCRYPTION_MISMATCH, protocol="l2tp", peer=peer,
                            wire="StopCCN result 4 (not authorized)", wire_result=4,
                            detail="plain L2TP needs encryption level 'none' to be allowed")
                return t.core.refuse_tunnel(StopCcnResult.NOT_AUTHORIZED, None,
                                            "plain L2TP is not allowed: encryption required", now,
                                            Cause.ENCRYPTION_MISMATCH)
            verdict = ctx.admission.check(Protocol.L2TP, Use.INBOUND)
            if isinstance(verdict, Refuse):
                r = verdict.refusal
                ctx.refused(r.cause, protocol="l2tp", peer=peer, detail=r.detail, wire_result=2,
                            wire="StopCCN result 2 error 4 (insufficient resources)")
                return t.core.refuse_tunnel(StopCcnResult.GENERAL_ERROR, GeneralError.NO_RESOURCES, r.detail, now,
                                            r.cause)
            log.info("L2TP tunnel %d from %s:%d (%s) accepted", t.core.local_tunnel_id, peer, t.addr[1],
                     e.peer_host_name)
            return t.core.accept_tunnel(now)
        if isinstance(e, TunnelUp):
            t.up = True
            log.info("L2TP tunnel %d with %s (%s) up, peer tunnel id %d", t.core.local_tunnel_id, peer,
                     e.peer_host_name, e.peer_tunnel_id)
        elif isinstance(e, TunnelClosed):
            quiet = e.cause in (Cause.ADMIN_DISCONNECT, Cause.PEER_DISCONNECTED, Cause.ENGINE_STOPPED,
                                Cause.IDLE_TIMEOUT)
            if not quiet and not t.up and not t.initiator:     # half-open: a flood must not flood the log
                self.half_open_failed += 1
                self.warnings.log("half-open", "L2TP tunnels that never completed the handshake",
                                  "L2TP tunnel %d from %s never completed the handshake: %s",
                                  t.core.local_tunnel_id, peer, e.detail)
            else:
                log.log(logging.INFO if quiet else logging.WARNING, "L2TP tunnel %d with %s closed: %s",
                        t.core.local_tunnel_id, peer, e.detail)
        elif isinstance(e, CallRequested):
            return self._call_requested(t, e, now)
        elif isinstance(e, SessionUp):
            call = t.calls.get(e.local_session_id)
            if call is not None:
                call.core.connect(t.core.peer_tunnel_id, e.peer_session_id)
                call.session.extra["peer_session_id"] = e.peer_session_id
                call.session.extra["peer_tunnel_id"] = t.core.peer_tunnel_id
                ctx.runner.start(call, now)           # PPP starts; frames that came first are replayed
            waiter = t.waiters.pop(e.local_session_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(e)
        elif isinstance(e, SessionClosed):
            waiter = t.waiters.pop(e.local_session_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(DialFailed(e.cause, e.detail))
                waiter.exception()
            call = t.calls.get(e.local_session_id)
            if call is not None:
                ctx.runner.lower_down(call, e.cause, e.detail)
        return []

    def _call_requested(self, t: _Tunnel, e: CallRequested, now: float) -> list:
        ctx = self.ctx
        peer = t.addr[0]
        if e.outgoing:
            return t.core.refuse_call(e.local_session_id, now, CdnResult.PERMANENT_LACK, None,
                                      "outgoing calls are not served")
        verdict = ctx.admission.try_admit(Protocol.L2TP, Use.INBOUND, source=peer)
        if isinstance(verdict, Refuse):
            r = verdict.refusal
            ctx.refused(r.cause, protocol="l2tp", peer=peer, wire=r.wire, detail=r.detail, wire_result=r.wire_result)
            return t.core.refuse_call(e.local_session_id, now, r.wire_result, None, r.detail)
        s = Session("l2tp", verdict.port, peer=f"{peer}:{t.addr[1]}", direction=Direction.INBOUND)
        s.extra.update({"tunnel_id": t.core.local_tunnel_id, "session_id": e.local_session_id})
        ctx.sessions.add(s)
        glue = ctx.runner.glue("l2tp", s, peer)
        core = L2tpCall(t.core.local_tunnel_id, e.local_session_id, glue.link,
                        peer_tunnel_id=t.core.peer_tunnel_id, peer_session_id=e.peer_session_id)
        self._register(t, e.local_session_id, core, s, glue)
        return t.core.accept_call(e.local_session_id, now)

    def _register(self, t: _Tunnel, sid: int, core: L2tpCall, session: Session, glue: Any) -> Call:
        carrier = L2tpCarrier(self, t, sid, core, session)
        call = self.ctx.runner.attach("l2tp", session, glue, core, carrier)
        carrier.call = call
        t.calls[sid] = call
        return call

    # ------------------------------------------------------------------------------------------------ LAC
    async def connect(self, ctx: Any, peer: str, iface: Any, glue: Any, holder: dict) -> Call:
        """The dial skeleton's connect step: a tunnel to PEER (shared with its other sessions), then the call."""
        self.ctx = ctx
        if iface.encryption != "none":
            raise DialFailed(Cause.ENCRYPTION_MISMATCH, f"plain L2TP carries no encryption, and the interface "
                                                        f"requires '{iface.encryption}' (set its encryption to none)")
        now = self._now()
        t = next((t for t in self.tunnels.values() if t.initiator and t.addr[0] == peer
                  and t.core.state in (TunnelState.WAIT_CTL_REPLY, TunnelState.ESTABLISHED)), None)
        events: list = []
        if t is None:
            t = _Tunnel(L2tpTunnel(self._tunnel_config(responder=False), self._new_tunnel_id()), (peer, self.port),
                        initiator=True)
            self.tunnels[t.core.local_tunnel_id] = t
            events = t.core.start(now)
        sid = t.core.place_call(now)
        session = glue.session
        session.peer = f"{peer}:{self.port}"
        session.extra.update({"tunnel_id": t.core.local_tunnel_id, "session_id": sid})
        # the call exists (and takes PPP frames) before its ICRQ goes out (decision 0073)
        call = holder["call"] = self._register(t, sid, L2tpCall(t.core.local_tunnel_id, sid, glue.link), session,
                                               glue)
        t.waiters[sid] = waiter = ctx.loop.create_future()
        self._pump_tunnel(t, events)
        await asyncio.shield(waiter)
        return call
