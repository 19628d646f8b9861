"""PPP on L2TP sessions, for the L2TP driver (engine/l2tp.py): link configuration, the link's events (local
authentication and policy, address assignment, network up), and the TUN -> peer data path.

A mixin of `L2tpDriver` (it uses the driver's `ctx`, `sock`, `_fast`, `_sendto`, `_end_call`, `_hang_up`); split out so
that each module stays readable. Once the PPTP driver's equivalent is shared, this belongs in an engine module of its
own for both (see the final report of helper H7).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
from typing import Any

from rrasctl.engine.sessions import Direction, SessionState as EngineSessionState

log = logging.getLogger("rrasctl.engine.l2tp")

WINDOWS_ENCRYPTION_REQUIRED = 741      # "The local computer does not support the required data encryption type"


class PppSessions:
    def _ppp_config(self, call: "_Call", outbound_iface: Any = None) -> Any:
        from rrasctl.protocols.ppp.auth import AuthMethod
        from rrasctl.protocols.ppp.link import PppConfig, Role

        cfg = self.ctx.config
        methods = tuple(AuthMethod(m) for m in cfg.auth.methods if m != "eap-tls")
        if outbound_iface is None:
            return PppConfig(role=Role.AUTHENTICATOR, methods=methods, encryption=("none",),
                             local_address=ipaddress.IPv4Address(cfg.server.tunnel_address), peer_address=None,
                             dns=tuple(ipaddress.IPv4Address(a) for a in cfg.server.dns),
                             nbns=tuple(ipaddress.IPv4Address(a) for a in cfg.server.wins))
        user = outbound_iface.user
        if outbound_iface.domain:
            user = f"{outbound_iface.domain}\\{user}"
        password = self.ctx.open_secret(outbound_iface.password) or ""
        return PppConfig(role=Role.PEER, methods=methods, encryption=("none",), user=user, password=password)

    def _start_ppp(self, call: "_Call", now: float, outbound_iface: Any = None) -> None:
        from rrasctl.protocols.ppp.link import PppLink

        call.link = PppLink(self._ppp_config(call, outbound_iface))
        call.session.state = EngineSessionState.AUTHENTICATING
        events = call.link.open(now)
        early, call.early = call.early, []
        for frame in early:
            ip = call.link.open_data(frame)
            events += call.link.receive(frame, now) if ip is None else []
        self._pump_link(call, events)

    def _flush_link(self, call: "_Call") -> None:
        if call.data is None or call.link is None:
            return
        addr = call.tunnel.addr
        seal = call.data.seal
        for frame in call.link.take_output():
            self._sendto(seal(frame), addr)

    def _link_events(self, call: "_Call", events: list, now: float) -> None:
        for e in events or ():
            try:
                self._on_link_event(call, e, now)
            except Exception:
                log.exception("[%s] PPP event %r failed", call.session.port_name, e)

    def _pump_link(self, call: "_Call", events: list) -> None:
        now = self._now()
        self._link_events(call, events, now)
        if call.ended:
            return
        self._flush_link(call)
        link = call.link
        if link is not None:
            self.ctx.timers.arm(call.key, link.next_timer(), lambda: self._fire_link(call))

    def _fire_link(self, call: "_Call") -> None:
        if not call.ended and call.link is not None:
            self._pump_link(call, call.link.handle_timer(self._now()))

    def _on_link_event(self, call: "_Call", e: Any, now: float) -> None:
        from rrasctl.protocols.ppp.link import AuthFailed, AuthRequested, AuthSucceeded, LinkDown, NetworkUp

        s = call.session
        if isinstance(e, AuthRequested):
            self._authorize(call, e, now)
        elif isinstance(e, AuthSucceeded):
            s.auth = e.method.value if hasattr(e.method, "value") else str(e.method)
            if s.direction is Direction.OUTBOUND:
                s.user = call.iface.user if call.iface is not None else None
            else:
                s.user = e.user.rsplit("\\", 1)[-1]
                self._assign(call, now)
        elif isinstance(e, AuthFailed):
            if s.direction is Direction.INBOUND and not call.refusal_recorded:
                call.refusal_recorded = True          # once per call, retries included (MS-CHAP R=1)
                self.ctx.refused_other(protocol="l2tp", peer=s.peer.rsplit(":", 1)[0], user=e.user or None,
                                       reason="authentication failed", detail=e.reason,
                                       wire=f"PPP {getattr(e.method, 'value', e.method)} failure",
                                       windows_error=e.error or 691)
        elif isinstance(e, NetworkUp):
            s.encryption = e.encryption
            s.local_ip = str(e.local_ip)
            s.tx = self._make_tx(call)
            if self.ctx.tun is not None:
                t = call.tunnel
                self._fast[t.core.local_tunnel_id << 16 | call.local_session_id] = (
                    t.addr[0], call.link.open_data, self.ctx.tun.write, s)
            if s.direction is Direction.INBOUND:
                self.ctx.session_up(s, str(e.peer_ip))
            else:
                s.ip = str(e.peer_ip)
                if call.done is not None and not call.done.done():
                    call.done.set_result(e)
        elif isinstance(e, LinkDown):
            self._end_call(call, e.reason, send_cdn=True)

    def _authorize(self, call: "_Call", e: Any, now: float) -> None:
        from rrasctl.router.access import Request, evaluate

        cfg = self.ctx.config
        s = call.session
        peer = s.peer.rsplit(":", 1)[0]
        method = e.method.value if hasattr(e.method, "value") else str(e.method)
        name = e.user.rsplit("\\", 1)[-1]                      # DOMAIN\user from Windows clients
        user = cfg.users.get(name)
        if user is None or user.password is None:
            self._link_events(call, call.link.answer_password(None, now), now)                 # unknown user: 691, never say which
            return
        decision = evaluate(cfg, Request(user=name, tunnel="l2tp", auth=method, at=datetime.datetime.now(),
                                         client_ip=peer))
        if not decision.allowed or (decision.profile and "none" not in decision.profile.encryption):
            reason = decision.reason if not decision.allowed else "the profile does not allow plain L2TP (no encryption)"
            err = decision.windows_error or WINDOWS_ENCRYPTION_REQUIRED
            self.ctx.refused_other(protocol="l2tp", peer=peer, user=name, reason="access denied by policy",
                                   detail=reason, wire=f"PPP {method} failure E={err}", windows_error=err)
            self._link_events(call, call.link.answer_external(False, now=now, error=err, message=reason[:60]), now)
            return
        call.profile = decision.profile
        if decision.router_interface:
            s.interface = decision.router_interface
        from rrasctl.router.admission import Protocol, Use

        refuse = self.ctx.admission.classify(Protocol.L2TP, s.port, Use.ROUTER_IN if decision.router_interface
                                             else Use.REMOTE_ACCESS)
        if refuse is not None:
            self._link_events(call, call.link.answer_external(False, now=now, error=refuse.cause.windows_error,
                                                             message=refuse.cause.detail), now)
            self._refusal(refuse.cause, s.peer.rsplit(":", 1)[0])
            return
        self._link_events(call, call.link.answer_password(self.ctx.open_secret(user.password), now), now)

    def _assign(self, call: "_Call", now: float) -> None:
        s = call.session
        static = call.profile.static_ip if call.profile is not None else None
        ip = self.ctx.addrpool.allocate(static=static)
        if ip is None:
            self._hang_up(call, "no free address in the pool")
            return
        s.ip = str(ip)
        if s.interface:
            dd = self.ctx.config.demand_dial.get(s.interface)
            user = self.ctx.config.users.get(s.user or "")
            routes = tuple(r.cidr for r in dd.routes) if dd is not None else ()
            routes += tuple(user.routes) if user is not None else ()
            if routes:
                self.ctx.sessions.bind_routes(s, routes)
        self._link_events(call, call.link.assign_address(ipaddress.IPv4Address(str(ip)), now), now)

    def _make_tx(self, call: "_Call") -> Any:
        """TUN -> peer for one session: a closure over the link's sealer, the prebuilt header and the socket
        (the TUN reader counts bytes and packets out)."""
        if self.loss is not None:
            return lambda ip: self._tx(call, ip)
        seal, hdr, sendto, t = call.link.seal_data, call.data.seal_header, self.sock.sendto, call.tunnel
        dropped = self.ctx.counters.dropped

        def tx(ip: memoryview) -> None:
            frame = seal(ip)
            if frame is not None:
                try:
                    sendto(hdr + frame, t.addr)
                except OSError:
                    dropped.count("l2tp: send failed")
        return tx

    def _tx(self, call: "_Call", ip: memoryview) -> None:
        frame = call.link.seal_data(ip)
        if frame is not None:
            self._sendto(call.data.seal_header + frame, call.tunnel.addr)
