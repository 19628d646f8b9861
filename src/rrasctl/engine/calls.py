"""ONE call lifecycle for every tunnel type: feed, timers, pump, the end of a call, the dial skeleton (decision 0083).

A call is one PPP link inside one tunnel: a PPTP call (GRE window + PppLink, protocols/pptp/call.py) or an L2TP
session (data header + PppLink, protocols/l2tp/call.py); L2TP/IPsec will be the same. The driver owns the tunnel
(control connection, demultiplexing, wire framing) and gives each call a small `Carrier`; everything else a call does
happens here, once, whatever the protocol:

    glue = runner.glue(protocol, session, peer, iface=..., progress=...)    # authorization, policy, addresses
    call = runner.attach(protocol, session, glue, core, carrier)            # core built on glue.link
    runner.start(call, now)                    # PPP starts (frames that came first are replayed)
    runner.pump(call, core.receive(...))       # any events: glue decides, output goes out, the one timer is armed
    runner.end(call, Cause.PEER_DISCONNECTED)  # accounting, routes, address, port, refusal records: once

`dial()` is the demand-dial skeleton shared by every protocol: resolve, admission (a demand-dial port), session,
the driver's `connect` (tunnel and call up, PPP started), authentication, registration; failures are `DialFailed`
with a typed cause (router/causes.py gives both sides the same Windows error).

A session's whole data-path state lives in its `Call` (core, carrier, the session's counters): a later
multi-process data plane can hand a set of calls to a worker.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from rrasctl.engine.drivers import DialFailed, EngineContext
from rrasctl.engine.ppp_session import PppSession
from rrasctl.engine.sessions import Direction, Session, SessionState
from rrasctl.protocols.causes import Cause
from rrasctl.router.causes import cause_for_error

log = logging.getLogger(__name__)

DIAL_TIMEOUT_S = 60.0          # from "connecting" to the network layer up
CONNECT_TIMEOUT_S = 60.0       # the driver's connect step (tunnel and call up; the drivers' own timeouts are shorter)
DISCONNECT_WAIT_S = 3.0        # LCP Terminate before the call is cleared anyway
SETUP_TIMEOUT_S = 30.0         # an inbound call that has not authenticated by then is hung up (issue #13)


class Carrier(Protocol):
    """What a driver gives each call: how its packets reach the peer, and how the call is cleared on the wire."""

    def send(self, packets: list[bytes]) -> None:
        """Whole tunnel packets from the call's core (`core.take_output()`: GRE packets, L2TP data messages)."""

    def make_tx(self, call: "Call") -> Callable[[memoryview], None]:
        """The TUN -> peer data path for one IP packet, once the network layer is up."""

    def network_up(self, call: "Call") -> None:
        """The network layer is up: register the call on the driver's fast receive path, if it has one."""

    def clear(self, call: "Call", cause: Cause, now: float) -> None:
        """Hang up on the wire (PPTP CDN or CCRQ, L2TP CDN); the call is ending."""

    def release(self, call: "Call") -> None:
        """Forget the call in the driver's tables (demux, fast path, its tunnel's list)."""


@dataclass(eq=False)
class Call:
    """One call of any tunnel type."""

    protocol: str
    session: Session
    core: Any                                   # PptpCall | L2tpCall: the carrier framing + the PppLink
    carrier: Carrier
    glue: PppSession
    up: asyncio.Future | None = None            # outbound: set when the network layer is up
    down: asyncio.Future | None = None          # set when the call has ended
    failure: DialFailed | None = None
    ended: bool = False
    started: bool = False                       # PPP started
    cleared: bool = False                       # the tunnel already knows the call is gone (no clear on the wire)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def outbound(self) -> bool:
        return self.session.direction is Direction.OUTBOUND

    @property
    def link(self) -> Any:
        return self.core.link

    @property
    def key(self) -> tuple[str, int]:
        return ("call", id(self))


class CallRunner:
    """The one call runner of an engine (ctx.runner)."""

    def __init__(self, ctx: EngineContext, *, setup_timeout_s: float = SETUP_TIMEOUT_S,
                 dial_timeout_s: float = DIAL_TIMEOUT_S) -> None:
        self.ctx = ctx
        self.setup_timeout_s = setup_timeout_s
        self.dial_timeout_s = dial_timeout_s
        self.calls: set[Call] = set()

    # ---- making calls ---------------------------------------------------------------------------------------------
    def glue(self, protocol: str, session: Session, peer: str, *, iface: Any = None,
             progress: Callable[[str], None] | None = None, mppe_stateless: bool = True) -> PppSession:
        """The PPP session glue (authorization, policy, lockout, addresses) and its new PppLink (`glue.link`)."""
        glue = PppSession(self.ctx, protocol, session, peer, iface=iface, progress=progress,
                          mppe_stateless=mppe_stateless)
        glue.new_link()
        return glue

    def attach(self, protocol: str, session: Session, glue: PppSession, core: Any, carrier: Carrier) -> Call:
        """Make the call object for CORE (built on `glue.link`); the driver registers it for demux."""
        loop = self.ctx.loop
        call = Call(protocol, session, core, carrier, glue, down=loop.create_future())
        if call.outbound:
            call.up = loop.create_future()
        session.core = call
        session.disconnect = lambda cause, c=call: self.hang_up(c, cause)
        if session.state is SessionState.STARTING:
            session.state = SessionState.AUTHENTICATING
        self.calls.add(call)
        if not call.outbound and self.setup_timeout_s > 0:
            self.ctx.timers.arm(("setup", id(call)), loop.time() + self.setup_timeout_s,
                                lambda: self._setup_expired(call))
        return call

    def start(self, call: Call, now: float | None = None) -> None:
        """The tunnel-level call is connected: start PPP."""
        if call.started or call.ended:
            return
        call.started = True
        if call.outbound and call.glue.progress is not None:
            call.glue.progress("verifying user name and password")
        self.pump(call, call.core.open(self.ctx.loop.time() if now is None else now))

    # ---- the pump -------------------------------------------------------------------------------------------------
    def pump(self, call: Call, events: list) -> None:
        """Handle a core's events (the glue decides; commands it issues return more events, handled too), send the
        core's output, arm the call's one deadline."""
        from rrasctl.protocols.ppp.link import LinkDown, NetworkUp     # lazily: it pulls in cryptography

        now = self.ctx.loop.time()
        queue = list(events)
        down: Any = None
        i = 0
        while i < len(queue):
            ev = queue[i]
            i += 1
            try:
                more = call.glue.handle(ev, now)
            except Exception:
                log.exception("[%s] PPP event %r failed", call.session.port_name, ev)
                more = []
            if isinstance(ev, NetworkUp) and call.glue.up:
                self._network_up(call)
            elif isinstance(ev, LinkDown) and down is None:
                down = ev
            queue.extend(more)
        if call.ended:
            return
        out = call.core.take_output()
        if out:
            call.carrier.send(out)
        if down is not None:
            cause = down.cause
            if cause is Cause.AUTH_FAILED and down.error:
                cause = cause_for_error(down.error)
            self.end(call, cause, down.detail)
            return
        self.ctx.timers.arm(call.key, call.core.next_timer(), lambda: self.fire(call))

    def fire(self, call: Call) -> None:
        if not call.ended:
            self.pump(call, call.core.handle_timer(self.ctx.loop.time()))

    def receive_pending(self, call: Call) -> None:
        """PPP control frames the core kept from the data path (`core.pending`)."""
        if not call.ended:
            self.pump(call, call.core.receive_pending(self.ctx.loop.time()))

    def _network_up(self, call: Call) -> None:
        ctx = self.ctx
        ctx.timers.cancel(("setup", id(call)))
        s = call.session
        s.tx = call.carrier.make_tx(call)
        call.carrier.network_up(call)
        if call.up is not None and not call.up.done():
            call.up.set_result(s)

    def _setup_expired(self, call: Call) -> None:
        if call.ended or call.glue.up:
            return
        detail = f"not authenticated within {self.setup_timeout_s:g} s"
        self.pump(call, call.core.close(Cause.AUTH_TIMEOUT, self.ctx.loop.time(), detail))
        if not call.ended:           # the link waits for the peer's Terminate-Ack: the port is freed now anyway
            self.end(call, Cause.AUTH_TIMEOUT, detail)

    # ---- the end --------------------------------------------------------------------------------------------------
    def end(self, call: Call, cause: Cause, detail: str = "") -> None:
        """The one end of a call, whatever ended it: clear it on the wire (unless the tunnel already knows), the
        glue's pending refusal records, accounting, routes, address, port; a dial waiting on it fails with the
        call's failure or this cause. Idempotent."""
        if call.ended:
            return
        call.ended = True
        ctx = self.ctx
        now = ctx.loop.time()
        ctx.timers.cancel(call.key)
        ctx.timers.cancel(("setup", id(call)))
        self.calls.discard(call)
        if not call.cleared:            # on the wire first (CDN), then out of the driver's tables (which may
            call.cleared = True         # close a dial-out tunnel that has no call left)
            try:
                call.carrier.clear(call, cause, now)
            except Exception:
                log.exception("[%s] clearing the call failed", call.session.port_name)
        call.carrier.release(call)
        call.glue.finish(cause, detail)
        if call.outbound and call.failure is None:
            call.failure = call.glue.failure
        ctx.session_down(call.session, cause, detail)
        if call.up is not None and not call.up.done():
            call.up.set_exception(call.failure or DialFailed(cause, detail))
            call.up.exception()
        if call.down is not None and not call.down.done():
            call.down.set_result(cause)

    def lower_down(self, call: Call, cause: Cause, detail: str = "") -> None:
        """The tunnel under the call ended it (CDN, control connection or tunnel closed): no clear on the wire."""
        if call.ended:
            return
        call.cleared = True
        self.pump(call, call.core.lower_down(self.ctx.loop.time(), cause, detail))
        if call.outbound and call.failure is None and not call.glue.up:
            # the link may know better (it ended first: the peer's LCP Terminate overtook its CDN)
            call.failure = call.glue.failure or DialFailed(cause, detail)
        self.end(call, cause, detail)

    async def hang_up(self, call: Call, cause: Cause, detail: str = "") -> None:
        """`connections disconnect`, `demand-dial disconnect`, reload: LCP Terminate, then the call is cleared."""
        if call.ended:
            return
        self.pump(call, call.core.close(cause, self.ctx.loop.time(), detail))
        if call.down is not None and not call.ended:
            try:
                await asyncio.wait_for(asyncio.shield(call.down), DISCONNECT_WAIT_S)
            except asyncio.TimeoutError:
                pass
        self.end(call, cause, detail)

    # ---- the dial skeleton ----------------------------------------------------------------------------------------
    async def dial(self, driver: Any, name: str, iface: Any, progress: Callable[[str], None]) -> Session:
        """Dial demand-dial interface NAME (config IFACE) with DRIVER: resolve, admission, session, connect,
        authenticate, register. Returns the UP session, or raises DialFailed."""
        from rrasctl.router.admission import Protocol as Proto, Refuse, Use

        ctx = self.ctx
        progress("resolving")
        try:
            peer = await ctx.transport.resolve(iface.destination, getattr(driver, "port", 0))
        except OSError as exc:
            why = getattr(exc, "strerror", None) or str(exc) or "no such name"
            raise DialFailed(Cause.NAME_RESOLUTION, f"{iface.destination}: {why}") from None
        verdict = ctx.admission.try_admit(Proto(driver.protocol), Use.ROUTER_OUT)
        if isinstance(verdict, Refuse):
            raise DialFailed(Cause.NO_LOCAL_PORT, verdict.refusal.detail)
        session = ctx.sessions.add(Session(driver.protocol, verdict.port, peer=peer, direction=Direction.OUTBOUND,
                                           interface=name, user=iface.user))
        glue = self.glue(driver.protocol, session, peer, iface=iface, progress=progress,
                         mppe_stateless=getattr(driver, "mppe_stateless", True))
        holder: dict[str, Call] = {}
        try:
            progress("connecting")
            call = await asyncio.wait_for(driver.connect(ctx, peer, iface, glue, holder), CONNECT_TIMEOUT_S)
            assert call.up is not None
            await asyncio.wait_for(asyncio.shield(call.up), self.dial_timeout_s)
            return session
        except asyncio.TimeoutError:
            call_ = holder.get("call")
            failure = (call_.failure if call_ is not None else None) or glue.failure or DialFailed(
                Cause.NO_ANSWER, "no answer in time")
            self._abort(session, holder, failure.cause, failure.detail)
            raise failure from None
        except asyncio.CancelledError:
            self._abort(session, holder, Cause.ADMIN_DISCONNECT, "dial cancelled")
            raise
        except DialFailed as exc:
            self._abort(session, holder, exc.cause, exc.detail)
            raise
        except Exception as exc:
            log.exception("[%s] %s dial failed", name, driver.protocol)
            self._abort(session, holder, Cause.INTERNAL_ERROR, str(exc))
            raise DialFailed(Cause.INTERNAL_ERROR, f"in the {driver.protocol} driver") from None

    def _abort(self, session: Session, holder: dict[str, Call], cause: Cause, detail: str) -> None:
        call = holder.get("call")
        if call is not None:
            self.end(call, cause, detail)
        else:
            self.ctx.session_down(session, cause, detail)


__all__ = ["Call", "CallRunner", "Carrier", "DIAL_TIMEOUT_S", "DISCONNECT_WAIT_S", "SETUP_TIMEOUT_S"]
