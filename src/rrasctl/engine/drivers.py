"""The driver interface: how a tunnel protocol (PPTP, L2TP) plugs into the engine shell.

`engine/run.py` builds one `EngineContext`, then loads each entry of `DRIVERS` ("module:Class") whose module exists,
instantiates the class with no arguments and awaits `start(ctx)`. A driver owns its transport (PPTP: TCP 1723 + raw
GRE; L2TP: UDP 1701), feeds its sans-I/O cores, and uses the shared parts in the context for everything else:

    ctx.loop        the asyncio loop (ctx.loop.time() is the `now` every core receives)
    ctx.timers      TimerQueue: `ctx.timers.arm(key, core.next_timer(), fire)` after each pump; never call_later
    ctx.sessions    SessionTable: `ctx.sessions.add(Session(...))`, `bind_ip`, `bind_routes`, `remove`
    ctx.admission   router.admission.Admission: `try_admit(Protocol.PPTP, Use.INBOUND)` -> Admit(port) | Refuse(cause)
    ctx.addrpool    router.addrpool.AddressPool: `allocate(static=user.static_ip)` / `release(ip)`
    ctx.config      the current rrasctl.config.model.Config (replaced on reload: read it when you need it)
    ctx.tun         Tun: `ctx.tun.write(packet)`; `add_route(cidr, metric=None, *, src=None)` / `del_route(cidr)`; None if no TUN yet
    ctx.accounting  Accounting: `start(session)`, `stop(session, cause)`, `refusal(...)`
    ctx.counters    EngineCounters: accepted / refused (by reason) / malformed (by "proto: reason") / dropped
    ctx.open_secret(sealed) -> str   opens a sealed secret from the config (never log the result)

The session lifecycle a driver follows (helpers below do the bookkeeping in one call each):

    verdict = ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND)
    if isinstance(verdict, Refuse):
        core.refuse_call(peer_call_id, verdict.cause.wire_result)
        ctx.refused(verdict.cause, peer=ip)                          # log + count + refusal record
        return
    session = ctx.sessions.add(Session("pptp", verdict.port, peer=ip))
    session.tx = call.send_ip             # TUN -> peer: called with one IP packet (memoryview, valid during the call)
    session.disconnect = call.hang_up     # `connections disconnect`, `ports remove --force`, shutdown
    ... after authentication:
    ctx.admission.classify(...)           # REMOTE_ACCESS or ROUTER_IN (the router rule)
    ctx.sessions.bind_routes(session, cidrs)   # BEFORE session_up: prefixes behind a router / interface routes
    ctx.session_up(session, ip)           # binds the address, adds the TUN routes (ip/32 + session.routes), marks
                                          # it UP, counts it accepted, writes the accounting start
    ... outbound: our IPCP address goes on the TUN with ctx.tun.add_address(local_ip) (del_address when down)
    ... on the data path: ctx.tun.write(ip_packet); session.bytes_in += n; session.packets_in += 1
    ... when it ends, whatever the reason:
    ctx.session_down(session, cause)      # accounting stop, route + address + port released, table entry removed

Outbound (demand-dial) calls come through `dial()`: the engine hands the interface's config and a `progress`
callback (stages as SPEC §5: "resolving", "connecting", "verifying user name and password", "registering",
"connected") and awaits the returned Session in state UP, or a `DialFailed` naming the RRAS-style reason.

Shutdown: `stop(ctx)` must end every session of the driver cleanly on the wire (PPTP Call-Disconnect-Notify + Stop-
Control-Connection; L2TP CDN + StopCCN), call `ctx.session_down` for each, close its sockets, and return within a few
seconds (the engine waits at most `STOP_TIMEOUT_S`, then carries on).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.util
import logging
from typing import TYPE_CHECKING, Any, Callable, Protocol as TypingProtocol, runtime_checkable

from rrasctl.protocols.base import Counters

if TYPE_CHECKING:
    from rrasctl.engine.accounting import Accounting
    from rrasctl.engine.sessions import Session, SessionTable
    from rrasctl.engine.timers import TimerQueue
    from rrasctl.engine.tun import Tun
    from rrasctl.router.addrpool import AddressPool
    from rrasctl.router.admission import Admission, Cause

log = logging.getLogger(__name__)

# The drivers the engine loads, in order. A module that does not exist yet is reported as "not available yet".
DRIVERS: list[str] = [
    "rrasctl.engine.pptp:PptpDriver",
    "rrasctl.engine.l2tp:L2tpDriver",
]
STOP_TIMEOUT_S = 5.0

Progress = Callable[[str], None]


class DialFailed(Exception):
    """An outbound call that did not come up. `reason` is RRAS-style text ("the remote computer did not respond",
    "authentication failed"), `windows_error` the RAS error a Windows router would log (e.g. 691, 800, 809)."""

    def __init__(self, reason: str, windows_error: int | None = None, *, unreachable: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.windows_error = windows_error
        self.unreachable = unreachable or "CONNECTION_FAILURE"   # RRAS fUnReachabilityReasons name


@runtime_checkable
class Driver(TypingProtocol):
    """What a protocol driver implements. Constructed with no arguments; everything arrives through `ctx`."""

    protocol: str        # "pptp" | "l2tp": the config pool and the Session.protocol it serves

    async def start(self, ctx: "EngineContext") -> None:
        """Bind listeners and register readers. Raise OSError (e.g. port in use) to be reported, not fatal."""

    async def stop(self, ctx: "EngineContext") -> None:
        """Clean shutdown: end every session on the wire, `ctx.session_down` each, close sockets."""

    async def dial(self, ctx: "EngineContext", name: str, interface: Any, progress: Progress) -> "Session":
        """Place an outbound call for demand-dial interface `name` (config `interface`, a DemandDial); return the
        Session once it is UP, or raise DialFailed. Cancellation (demand-dial disconnect) must hang up cleanly."""

    def status(self) -> dict[str, Any]:
        """Driver figures for `engine status`: e.g. {"listening": "0.0.0.0:1723", "tunnels": 3, "malformed": {...}}."""

    # Optional (looked up with getattr):
    #   async def reload(self, ctx, old_config, new_config) -> None   config changed (SIGHUP / engine reload)
    #   def listener(self) -> str                                    one line for the start-up log


@dataclasses.dataclass
class EngineCounters:
    """Engine-wide figures for `engine status` (the drivers' own stats are added under their names)."""

    accepted: Counters = dataclasses.field(default_factory=Counters)    # by protocol
    refused: Counters = dataclasses.field(default_factory=Counters)     # by reason (admission.Reason value, ...)
    malformed: Counters = dataclasses.field(default_factory=Counters)   # by "pptp: short header" etc.
    dropped: Counters = dataclasses.field(default_factory=Counters)     # by reason ("tun: no session for 10.1.2.3")
    ended: Counters = dataclasses.field(default_factory=Counters)       # by cause

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {f.name: getattr(self, f.name).as_dict() for f in dataclasses.fields(self)}


@dataclasses.dataclass(eq=False)
class EngineContext:
    loop: asyncio.AbstractEventLoop
    timers: "TimerQueue"
    sessions: "SessionTable"
    admission: "Admission"
    addrpool: "AddressPool"
    config: Any                                  # rrasctl.config.model.Config
    accounting: "Accounting"
    paths: Any = None                            # rrasctl.paths.Paths
    tun: "Tun | None" = None
    tun_reader: Any = None                       # engine.tun.TunReader (TUN -> session demux), set by run.py
    counters: EngineCounters = dataclasses.field(default_factory=EngineCounters)
    drivers: dict[str, Any] = dataclasses.field(default_factory=dict)   # protocol -> driver instance
    notes: list[str] = dataclasses.field(default_factory=list)          # shown by `engine status` ("plain L2TP only")
    open_secret: Callable[[str | None], str | None] = lambda sealed: None

    # --- bookkeeping helpers (one call each for the drivers) ---------------------------------------------------
    def refused(self, cause: "Cause", *, peer: str, user: str | None = None, interface: str | None = None) -> None:
        """An admission refusal: log it with the reason, count it, record it (`connections refusals`)."""
        self.counters.refused.count(cause.reason.value)
        log.warning("refused %s call from %s%s: %s (%s; answered %s; client sees error %s)", cause.protocol.value,
                    peer, f" user {user}" if user else "", cause.reason.value, cause.detail, cause.wire,
                    cause.windows_error)
        self.accounting.refusal(peer=peer, user=user, protocol=cause.protocol.value, cause=cause.detail,
                                reason=cause.reason.value, wire=cause.wire, wire_result=cause.wire_result,
                                windows_error=cause.windows_error, interface=interface)

    def refused_other(self, *, protocol: str, peer: str, reason: str, detail: str, wire: str,
                      windows_error: int | None, user: str | None = None, wire_result: int | None = None) -> None:
        """A refusal that is not admission's: authentication failed (691), no dial-in permission (649), ..."""
        self.counters.refused.count(reason)
        log.warning("refused %s call from %s%s: %s (%s; answered %s; client sees error %s)", protocol, peer,
                    f" user {user}" if user else "", reason, detail, wire, windows_error)
        self.accounting.refusal(peer=peer, user=user, protocol=protocol, cause=detail, reason=reason, wire=wire,
                                wire_result=wire_result, windows_error=windows_error)

    def session_up(self, session: "Session", ip: str | None = None) -> None:
        """The network layer is open: bind the peer's address (TUN route + demux), mark UP, account the start."""
        from rrasctl.engine.sessions import SessionLog, SessionState

        if ip is not None:
            self.sessions.bind_ip(session, ip)
            if self.tun is not None:
                self.tun.add_route(f"{ip}/32")
        for cidr in session.routes:
            if self.tun is not None:
                self.tun.add_route(cidr)
        session.state = SessionState.UP
        self.counters.accepted.count(session.protocol)
        self.accounting.start(session)
        SessionLog(log, session).info("up: %s, %s, %s", session.ip, session.auth, session.encryption)

    def session_down(self, session: "Session", cause: str) -> None:
        """The session ended (any reason): account the stop, remove routes, free its address and port. Idempotent."""
        from rrasctl.engine.sessions import SessionLog, SessionState
        from rrasctl.router.admission import Protocol

        if self.sessions.get(session.id) is not session:
            return
        was_up = session.state is SessionState.UP
        session.state = SessionState.CLOSING
        if self.tun is not None:
            if session.ip is not None and self.sessions.by_ip.get(_ip_int(session.ip)) is session:
                self.tun.del_route(f"{session.ip}/32")
            for cidr in session.routes:
                self.tun.del_route(cidr)
        if was_up:
            self.accounting.stop(session, cause)
        self.counters.ended.count(cause)
        self.sessions.remove(session)
        if session.ip is not None and session.direction.value == "in":
            self.addrpool.release(session.ip)
        self.admission.release(Protocol(session.protocol), session.port)
        SessionLog(log, session).info("down: %s", cause)


def _ip_int(ip: str) -> int:
    import ipaddress

    return int(ipaddress.IPv4Address(ip))


def load_drivers(specs: list[str] | None = None) -> tuple[list[Any], dict[str, str]]:
    """Instantiate every available driver. Returns (drivers, {spec: why not available})."""
    drivers: list[Any] = []
    missing: dict[str, str] = {}
    for spec in DRIVERS if specs is None else specs:
        mod_name, _, cls_name = spec.partition(":")
        try:
            found = importlib.util.find_spec(mod_name)
        except (ImportError, ValueError):
            found = None
        if found is None:
            missing[spec] = "not available yet"
            continue
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
            drivers.append(cls())
        except Exception as exc:  # a half-written driver must not keep the engine from starting
            log.exception("driver %s failed to load", spec)
            missing[spec] = f"failed to load: {exc.__class__.__name__}: {exc}"
    return drivers, missing


def protocol_of(spec: str) -> str:
    """"rrasctl.engine.pptp:PptpDriver" -> "pptp"."""
    return spec.partition(":")[0].rsplit(".", 1)[-1]


__all__ = ["DRIVERS", "DialFailed", "Driver", "EngineContext", "EngineCounters", "Progress",
           "STOP_TIMEOUT_S", "load_drivers", "protocol_of"]
