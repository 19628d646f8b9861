"""PPP on L2TP sessions, for the L2TP driver (engine/l2tp.py): starting and pumping each session's link, handing
its events to the shared glue (engine/ppp_session.py: authorization, policy, lockout, addresses, sessions, routes,
the same for PPTP), and the TUN -> peer data path.

A mixin of `L2tpDriver` (it uses the driver's `ctx`, `sock`, `_fast`, `_sendto`, `_end_call`, `_hang_up`).
"""

from __future__ import annotations

import logging
from typing import Any

from rrasctl.engine.ppp_session import PppSession
from rrasctl.engine.sessions import SessionState as EngineSessionState

log = logging.getLogger("rrasctl.engine.l2tp")

WINDOWS_ENCRYPTION_REQUIRED = 741      # "The local computer does not support the required data encryption type"


class PppSessions:
    def _start_ppp(self, call: "_Call", now: float, outbound_iface: Any = None) -> None:
        call.glue = PppSession(self.ctx, "l2tp", call.session, call.tunnel.addr[0], iface=outbound_iface,
                               progress=call.progress)
        call.link = call.glue.new_link()
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
        """Authorization, addresses, sessions, refusals: the shared glue; here only what is L2TP's own."""
        from rrasctl.protocols.ppp.link import LinkDown, NetworkUp

        more = call.glue.handle(e, now)
        if isinstance(e, NetworkUp) and call.glue.up:
            s = call.session
            s.tx = self._make_tx(call)
            if self.ctx.tun is not None:
                t = call.tunnel
                self._fast[t.core.local_tunnel_id << 16 | call.local_session_id] = (
                    t.addr[0], call.link.open_data, self.ctx.tun.write, s)
            if call.done is not None and not call.done.done():
                call.done.set_result(e)
        elif isinstance(e, LinkDown):
            self._end_call(call, e.reason, send_cdn=True)
        self._link_events(call, more, now)

    def _make_tx(self, call: "_Call") -> Any:
        """TUN -> peer for one session: a closure over the link's sealer, the prebuilt header and the socket
        (the TUN reader counts bytes and packets out)."""
        if self.loss is not None:
            return lambda ip: self._tx(call, ip)
        call.data.link = call.link      # seal_view: header + PPP frame built in the session's buffer, no concatenation
        seal_view, sendto, t = call.data.seal_view, self.sock.sendto, call.tunnel
        dropped = self.ctx.counters.dropped
        batch, hook = self.batch, getattr(self.ctx.tun, "add_batch_end", None)
        if batch is not None and batch.enabled and hook is not None and hook(batch.flush):
            add, add_parts, addr = batch.add, batch.add_parts, t.addr
            clear_head, l2tp_head = call.link.clear_ipv4_head, call.data.seal_header
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

    def _tx(self, call: "_Call", ip: memoryview) -> None:
        frame = call.link.seal_data(ip)
        if frame is not None:
            self._sendto(call.data.seal_header + frame, call.tunnel.addr)
