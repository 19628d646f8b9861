"""The driver interface: how a tunnel protocol (PPTP, L2TP) plugs into the engine shell.

`engine/run.py` builds one `EngineContext`, then loads each entry of `DRIVERS` ("module:Class") whose module exists,
instantiates the class with no arguments and awaits `start(ctx)`. A driver owns its protocol's tunnels (PPTP control
connections, L2TP tunnels) and demultiplexing; it gets its sockets from `ctx.transport` (engine/transport.py) and
hands every call to the one call runner (engine/calls.py), which does everything a call of any tunnel type does:

    ctx.loop        the asyncio loop (ctx.loop.time() is the `now` every core receives)
    ctx.transport   engine/transport.py: `open_udp`, `open_gre`, `listen_tcp`, `connect_tcp`, `resolve`
    ctx.runner      engine/calls.py CallRunner: `pump`, `start`, `end`, `hang_up`, `dial` (the dial skeleton)
    ctx.timers      TimerQueue: `ctx.timers.arm(key, core.next_timer(), fire)` after each pump; never call_later
    ctx.sessions    SessionTable: `add`, `bind_ip`, `bind_routes`, `remove`
    ctx.admission   router.admission.Admission: `try_admit(Protocol.PPTP, Use.INBOUND)` -> Admit(port) | Refuse(refusal)
    ctx.addrpool    router.addrpool.AddressPool: `allocate(static=user.static_ip)` / `release(ip)`
    ctx.config      the current rrasctl.config.model.Config (replaced on reload: read it when you need it)
    ctx.tun         Tun (or memnet.MemoryTun): `write`, `add_route`, `del_route`, `add_address`; None if no TUN yet
    ctx.accounting  Accounting: `start(session)`, `stop(session, cause)`, `refusal(...)`
    ctx.lockout     the lockout table in memory, persisted write-behind (engine/lockout.py)
    ctx.counters    EngineCounters: accepted / refused (by cause) / malformed (by "proto: reason") / dropped / ended
    ctx.open_secret(sealed) -> str   opens a sealed secret from the config (never log the result)

Refusals go through `ctx.refused(cause, ...)` (log, count, record with the Windows error from router/causes.py);
sessions come up with `ctx.session_up` and go down with `ctx.session_down(session, cause)` (the runner calls it).

Outbound (demand-dial) calls: `ctx.runner.dial(driver, name, interface, progress)` runs the shared skeleton and calls
the driver's `connect(ctx, peer, interface, call)`; failures raise `DialFailed(cause, detail)`.

Shutdown: `stop(ctx)` must end every session of the driver cleanly on the wire (PPTP Call-Disconnect-Notify + Stop-
Control-Connection; L2TP CDN + StopCCN) and return within a few seconds (the engine waits at most `STOP_TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.util
import logging
from typing import TYPE_CHECKING, Any, Callable, Protocol as TypingProtocol, runtime_checkable

from rrasctl.protocols.base import Counters
from rrasctl.protocols.causes import Cause

if TYPE_CHECKING:
    from rrasctl.engine.accounting import Accounting
    from rrasctl.engine.calls import Call
    from rrasctl.engine.sessions import Session, SessionTable
    from rrasctl.engine.timers import TimerQueue
    from rrasctl.engine.tun import Tun
    from rrasctl.router.addrpool import AddressPool
    from rrasctl.router.admission import Admission

log = logging.getLogger(__name__)

# The drivers the engine loads, in order. A module that does not exist yet is reported as "not available yet".
DRIVERS: list[str] = [
    "rrasctl.engine.pptp:PptpDriver",
    "rrasctl.engine.l2tp:L2tpDriver",
]
STOP_TIMEOUT_S = 5.0

Progress = Callable[[str], None]


class DialFailed(Exception):
    """An outbound call that did not come up, with its typed cause (router/causes.py gives the Windows error a
    Windows router would log and the operator's text) and a detail for people."""

    def __init__(self, cause: Cause, detail: str = "") -> None:
        from rrasctl.router.causes import explain

        self.cause = cause
        self.detail = detail
        self.explained = explain(cause, detail)
        super().__init__(str(self.explained))

    @property
    def reason(self) -> str:
        return self.explained.text

    @property
    def windows_error(self) -> int:
        return int(self.explained.windows_error)

    @property
    def unreachable(self) -> str:
        from rrasctl.router.causes import unreachability

        return unreachability(self.cause)


@runtime_checkable
class Driver(TypingProtocol):
    """What a protocol driver implements. Constructed with no arguments; everything arrives through `ctx`."""

    protocol: str        # "pptp" | "l2tp": the config pool and the Session.protocol it serves

    async def start(self, ctx: "EngineContext") -> None:
        """Bind listeners and register readers. Raise OSError (e.g. port in use) to be reported, not fatal."""

    async def stop(self, ctx: "EngineContext") -> None:
        """Clean shutdown: end every session on the wire, `ctx.session_down` each, close sockets."""

    async def connect(self, ctx: "EngineContext", peer: str, interface: Any, call: "Call") -> None:
        """The dial skeleton's protocol step (engine/calls.py `CallRunner.dial`): bring the tunnel and the call up
        towards PEER for CALL (whose session, glue and link already exist), register the call for demux BEFORE the
        request that lets the peer start PPP goes out, start PPP when the call is connected (`ctx.runner.start`),
        and return. Raise DialFailed with the cause when the peer refuses or does not answer."""

    def status(self) -> dict[str, Any]:
        """Driver figures for `engine status`: e.g. {"listening": "0.0.0.0:1723", "tunnels": 3, "malformed": {...}}."""

    # Optional (looked up with getattr):
    #   async def reload(self, ctx, old_config, new_config) -> None   config changed (SIGHUP / engine reload)
    #   def listener(self) -> str                                    one line for the start-up log


@dataclasses.dataclass
class EngineCounters:
    """Engine-wide figures for `engine status` (the drivers' own stats are added under their names)."""

    accepted: Counters = dataclasses.field(default_factory=Counters)    # by protocol
    refused: Counters = dataclasses.field(default_factory=Counters)     # by cause key (Cause.value)
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
    transport: Any = None                        # engine/transport.py Transport
    tun: "Tun | None" = None
    tun_reader: Any = None                       # engine.tun.TunReader (TUN -> session demux), set by run.py
    runner: Any = None                           # engine/calls.py CallRunner
    lockout: Any = None                          # engine/lockout.py LockoutStore
    counters: EngineCounters = dataclasses.field(default_factory=EngineCounters)
    drivers: dict[str, Any] = dataclasses.field(default_factory=dict)   # protocol -> driver instance
    notes: list[str] = dataclasses.field(default_factory=list)          # shown by `engine status` ("plain L2TP only")
    open_secret: Callable[[str | None], str | None] = lambda sealed: None
    on_session_down: list[Callable[["Session", Cause, str], None]] = dataclasses.field(default_factory=list)
    metrics: Any = None                          # engine/metrics.py recorder (NULL_METRICS when metrics are off)

    def __post_init__(self) -> None:
        if self.metrics is None:
            from rrasctl.engine.metrics import NULL_METRICS

            self.metrics = NULL_METRICS

    # --- bookkeeping helpers (one call each for the drivers) ---------------------------------------------------
    def refused(self, cause: Cause, *, protocol: str, peer: str, wire: str, detail: str = "",
                user: str | None = None, interface: str | None = None, wire_result: int | None = None) -> None:
        """A refused attempt, whatever refused it (admission, authentication, policy, encryption): log it with the
        cause, count it, record it (`connections refusals`) with the Windows error the client will show."""
        from rrasctl.router.causes import explain

        info = explain(cause, detail)
        self.counters.refused.count(cause.value)
        log.warning("refused %s call from %s%s: %s (answered %s; client sees error %d)", protocol, peer,
                    f" user {user}" if user else "", info.text, wire, int(info.windows_error),
                    extra={"cause": cause.value, "windows_error": int(info.windows_error), "user": user,
                           "peer": peer, "protocol": protocol})
        self.accounting.refusal(peer=peer, user=user, protocol=protocol, cause=info.text, reason=cause.value,
                                wire=wire, wire_result=wire_result, windows_error=int(info.windows_error),
                                interface=interface)

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

    def session_down(self, session: "Session", cause: Cause, detail: str = "") -> None:
        """The session ended (any reason): account the stop, remove routes, free its address and port. Idempotent."""
        from rrasctl.engine.sessions import SessionLog, SessionState
        from rrasctl.router.admission import Protocol
        from rrasctl.router.causes import explain

        if self.sessions.get(session.id) is not session:
            return
        was_up = session.state is SessionState.UP
        session.state = SessionState.CLOSING
        session.end_cause = cause
        if self.tun is not None:
            if session.ip is not None and self.sessions.by_ip.get(_ip_int(session.ip)) is session:
                self.tun.del_route(f"{session.ip}/32")
            for cidr in session.routes:
                self.tun.del_route(cidr)
        if was_up:
            self.accounting.stop(session, cause.value)
        self.counters.ended.count(cause.value)
        self.sessions.remove(session)
        if session.ip is not None and session.direction.value == "in":
            self.addrpool.release(session.ip)
        self.admission.release(Protocol(session.protocol), session.port)
        info = explain(cause, detail)
        SessionLog(log, session).info("down: %s", info, extra={"cause": cause.value,
                                                                "windows_error": int(info.windows_error)})
        for hook in list(self.on_session_down):
            try:
                hook(session, cause, detail)
            except Exception:          # a listener's bug must not stop the bookkeeping
                log.exception("session-down hook failed")


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
            missing[spec] = f"failed to load: {exc}"
    return drivers, missing


def protocol_of(spec: str) -> str:
    """"rrasctl.engine.pptp:PptpDriver" -> "pptp"."""
    return spec.partition(":")[0].rsplit(".", 1)[-1]


__all__ = ["DRIVERS", "DialFailed", "Driver", "EngineContext", "EngineCounters", "Progress",
           "STOP_TIMEOUT_S", "load_drivers", "protocol_of"]
