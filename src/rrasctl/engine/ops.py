"""The control socket's operations (control/messages.py OPS) over the engine's parts. No packet code here.

Result shapes (JSON, snake_case; the CLI renders them):

- `status` -> {running, pid, version, started, uptime_s, config, socket, state_dir, edition, max_concurrent,
  inbound, sessions, ports: [ports.list rows], listeners: {pptp: str, l2tp: str}, tun: {...}, counters: {accepted,
  refused, malformed, dropped, ended: {key: n}}, drivers: {proto: {...}}, timers: {armed, fired}, metrics: {listen,
  state, scrapes}, event_loop: {lag_s, lag_max_s, probes}, notes: [str], pending_restart: [{key, running, saved,
  why}]}
- `reload` -> {reloaded: true, config, restart_needed: [{key, running, saved, why}]}   (a bad file: error kind
  "invalid", the old config stays; restart_needed: saved settings applied only at the next start, decision 0122)
- `ports.list` -> [{protocol, count, remote_access, demand_dial, in_use, available}]
- `ports.show {protocol}` -> {protocol, count, remote_access, demand_dial, in_use, available, ports: [{port, state,
  use, connection_id, user, interface, peer, duration_s, bytes_in, bytes_out}]}
- `ports.remove_check {protocol, count, force}` (count = the pool size after the change) -> {protocol, count, remove,
  affected: [port names], disconnected: [ids]} (live connections on removed ports and no force: error "conflict")
- `connections.list` -> [Session.row()]; `connections.show {id}` -> Session.detail() + session_id (accounting's);
  `connections.disconnect {id}` -> {id, disconnected: true}; `connections.refusals` -> [refusal records]
- `demand_dial.connect {name, wait}` -> demand_dial.status row; progress lines while dialling
- `users.remove_check {name, force}`, `demand_dial.remove_check {name, force}` -> {affected: [conn], disconnected:
  [conn]} with conn = {id, port, user, interface, peer, text}: live connections of that user (inbound) or bound to
  that interface (and a dial in progress) refuse the removal (error "conflict") unless force ends them
- `demand_dial.disconnect {name}` -> status row; `demand_dial.status {name|null}` -> row or [rows]:
  {name, type, state, since, last_error, last_cause, windows_error, unreachable_reason, connection_id, protocol, ip,
  bytes_in, bytes_out}
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
import time
from typing import Any, Awaitable, Callable

from rrasctl.engine.drivers import DialFailed, EngineContext
from rrasctl.engine.sessions import Direction, Session, SessionState, iso_utc
from rrasctl.protocols.causes import Cause
from rrasctl.errors import Conflict, NotFound, RrasctlError, ValidationError
from rrasctl.router import dialplan
from rrasctl.router.admission import Protocol, port_name

log = logging.getLogger(__name__)

DISCONNECT_TIMEOUT_S = 5.0
PROTOCOLS = ("pptp", "l2tp")


@dataclasses.dataclass
class DialState:
    state: str = "disconnected"          # connected | connecting | disconnected | unreachable | disabled
    since: float = dataclasses.field(default_factory=time.time)
    last_error: str | None = None
    last_cause: str | None = None        # its stable key (protocols/causes.py Cause value)
    windows_error: int | None = None
    unreachable_reason: str | None = None
    task: asyncio.Task[Any] | None = None
    listeners: list[Callable[[str], None]] = dataclasses.field(default_factory=list)

    def set(self, state: str) -> None:
        if state != self.state:
            self.state, self.since = state, time.time()


class Ops:
    def __init__(self, ctx: EngineContext, *, reload: Callable[[], Awaitable[dict[str, Any]]],
                 listeners: dict[str, str], started: float, version: str = "") -> None:
        self.ctx = ctx
        self._reload = reload
        self.listeners = listeners          # protocol -> one line ("listening on 0.0.0.0:1723", "not available yet")
        self.started = started
        self.version = version
        self.dials: dict[str, DialState] = {}
        ctx.on_session_down.append(self._interface_down)

    def _interface_down(self, s: Session, cause: Cause, detail: str) -> None:
        """A demand-dial connection ended: `demand-dial status` keeps why (the peer hung up, keepalives failed...),
        unless an operator or the engine itself ended it."""
        if s.direction is not Direction.OUTBOUND or not s.interface or s.state is not SessionState.CLOSING:
            return
        if cause in (Cause.ADMIN_DISCONNECT, Cause.ENGINE_STOPPED, Cause.CONFIG_CHANGED):
            return
        st = self.dials.setdefault(s.interface, DialState())
        if st.task is not None and not st.task.done():
            return                      # a dial in progress reports its own failure
        failure = DialFailed(cause, detail)
        st.last_cause = cause.value
        st.last_error, st.windows_error, st.unreachable_reason = (failure.reason, failure.windows_error,
                                                                  failure.unreachable)

    def table(self) -> dict[str, Callable[[dict[str, Any], Callable[[str], None]], Awaitable[Any]]]:
        return {
            "status": self.status,
            "reload": self.reload,
            "ports.list": self.ports_list,
            "ports.show": self.ports_show,
            "ports.remove_check": self.ports_remove_check,
            "connections.list": self.connections_list,
            "connections.show": self.connections_show,
            "connections.disconnect": self.connections_disconnect,
            "connections.refusals": self.connections_refusals,
            "demand_dial.connect": self.dd_connect,
            "demand_dial.disconnect": self.dd_disconnect,
            "demand_dial.status": self.dd_status,
            "users.lockout": self.users_lockout,
            "users.unlock": self.users_unlock,
            "users.remove_check": self.users_remove_check,
            "demand_dial.remove_check": self.dd_remove_check,
        }

    # --- engine ------------------------------------------------------------------------------------------------
    async def status(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        ctx = self.ctx
        cfg = ctx.config
        paths = ctx.paths
        drivers: dict[str, Any] = {}
        for proto, d in ctx.drivers.items():
            try:
                drivers[proto] = d.status()
            except Exception as exc:  # a driver's status bug must not hide the rest
                log.exception("%s driver status failed", proto)
                drivers[proto] = {"error": f"status failed: {str(exc).strip() or 'no detail'}"}
        tun = None
        if ctx.tun is not None:
            tun = {"name": ctx.tun.name, "address": cfg.server.tunnel_address, "mtu": ctx.tun.mtu,
                   "routes": len(ctx.tun.routes)}
            reader = getattr(ctx, "tun_reader", None)
            if reader is not None:
                tun.update(reader.stats())
        return {
            "running": True,
            "pid": os.getpid(),
            "version": self.version,
            "started": iso_utc(self.started),
            "uptime_s": int(time.time() - self.started),
            "config": str(paths.config) if paths else None,
            "socket": str(paths.socket) if paths else None,
            "state_dir": str(paths.state_dir) if paths else None,
            "edition": cfg.server.edition,
            "max_concurrent": ctx.admission.edition_cap,
            "inbound": ctx.admission.inbound_count(),
            "sessions": len(ctx.sessions),
            "ports": self._ports_rows(),
            "listeners": dict(self.listeners),
            "tun": tun,
            "address_pool": {"cidr": str(ctx.addrpool.network), "size": ctx.addrpool.size,
                             "in_use": ctx.addrpool.in_use},
            "counters": ctx.counters.as_dict(),
            "drivers": drivers,
            "timers": {"armed": len(ctx.timers), "fired": ctx.timers.fired, "errors": ctx.timers.errors},
            **(ctx.metrics.describe() if getattr(ctx, "metrics", None) is not None else {}),   # metrics, event_loop
            "notes": list(ctx.notes),
            "pending_restart": self._pending_restart(),
        }

    def _pending_restart(self) -> list[dict[str, Any]]:
        """Restart-only settings the file changed since the engine started (decision 0122); [] when unreadable."""
        from rrasctl.config.store import load
        from rrasctl.engine.pending import pending

        paths = self.ctx.paths
        try:
            return pending(self.ctx.config, load(paths.config)) if paths is not None else []
        except RrasctlError:
            return []

    async def reload(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        return await self._reload()

    # --- ports -------------------------------------------------------------------------------------------------
    def _ports_rows(self) -> list[dict[str, Any]]:
        rows = []
        for proto in PROTOCOLS:
            pool = self.ctx.admission.pool(proto)
            rows.append({"protocol": proto, "count": pool.count, "remote_access": pool.remote_access,
                         "demand_dial": pool.demand_dial, "in_use": self.ctx.admission.in_use(proto),
                         "available": proto in self.ctx.drivers})
        return rows

    async def ports_list(self, args: dict[str, Any], progress: Any) -> list[dict[str, Any]]:
        return self._ports_rows()

    def _protocol(self, args: dict[str, Any]) -> str:
        proto = str(args.get("protocol", "")).lower()
        if proto not in PROTOCOLS:
            raise ValidationError(f"protocol must be pptp or l2tp, not {args.get('protocol')!r}")
        return proto

    async def ports_show(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        proto = self._protocol(args)
        ctx = self.ctx
        pool = ctx.admission.pool(proto)
        occupied = ctx.admission.occupied(proto)
        by_port = {s.port: s for s in ctx.sessions.of_protocol(proto)}
        available = proto in ctx.drivers
        idle = "listening" if available else "unavailable"
        now = time.monotonic()
        ports = []
        for i in sorted(set(range(pool.count)) | set(occupied) | set(by_port)):
            s = by_port.get(i)
            use = occupied.get(i)
            row: dict[str, Any] = {"port": port_name(proto, i), "state": idle, "use": use.value if use else None,
                                   "connection_id": None, "user": None, "interface": None, "peer": None,
                                   "duration_s": None, "bytes_in": 0, "bytes_out": 0}
            if s is not None:
                row.update({"state": "active" if s.state is SessionState.UP else s.state.value,
                            "connection_id": s.id, "user": s.user, "interface": s.interface, "peer": s.peer,
                            "duration_s": s.duration_s(now), "bytes_in": s.bytes_in, "bytes_out": s.bytes_out})
            elif use is not None:
                row["state"] = "starting"
            if i >= pool.count:
                row["state"] += " (removed)"
            ports.append(row)
        return {"protocol": proto, "count": pool.count, "remote_access": pool.remote_access,
                "demand_dial": pool.demand_dial, "in_use": ctx.admission.in_use(proto), "available": available,
                "ports": ports}

    async def ports_remove_check(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        """`count` is the pool's size after the change (`ports remove` / `ports set --count`): every port at or
        above it goes away. Live connections there: Conflict, or with `force` they are disconnected, highest first."""
        proto = self._protocol(args)
        try:
            new_count = int(args.get("count", 0))
        except (TypeError, ValueError, OverflowError):
            raise ValidationError(f"count must be a number, not {args.get('count')!r}") from None
        if new_count < 0:
            raise ValidationError(f"count must be 0 or more, not {new_count}")
        force = bool(args.get("force", False))
        current = self.ctx.admission.pool(proto).count
        victims = sorted((p for p in self.ctx.admission.occupied(proto) if p >= new_count), reverse=True)
        names = [port_name(proto, p) for p in victims]
        remove = max(0, current - new_count)
        result: dict[str, Any] = {"protocol": proto, "count": new_count, "remove": remove, "affected": names,
                                  "disconnected": []}
        if not victims:
            return result
        if not force:
            raise Conflict(f"{', '.join(names)} {'carries' if len(names) == 1 else 'carry'} live connections",
                           hint="add --force to disconnect them (highest-numbered first)")
        for p in victims:  # highest first
            s = self.ctx.sessions.by_port(proto, p)
            if s is not None:
                await self._disconnect(s, Cause.ADMIN_DISCONNECT)
                result["disconnected"].append(s.id)
            else:
                self.ctx.admission.release(Protocol(proto), p)
        return result

    # --- removing what live connections use (users remove, demand-dial remove; as ports.remove_check) ----------
    async def users_remove_check(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        """`users remove NAME`: its inbound connections refuse the removal (Conflict) unless `force` ends them."""
        name = str(args.get("name", ""))
        victims = [s for s in list(self.ctx.sessions) if s.direction is Direction.INBOUND and s.user == name]
        return await self._end_for_removal(f"user {name}", victims, bool(args.get("force")),
                                           Cause.ADMIN_DISCONNECT)

    async def dd_remove_check(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        """`demand-dial remove NAME`: connections bound to the interface (dialled out, or a router calling in) and
        a dial in progress refuse the removal unless `force` ends them."""
        name = str(args.get("name", ""))
        force = bool(args.get("force"))
        st = self.dials.get(name)
        dialling = st is not None and st.task is not None and not st.task.done()
        if dialling and not force:
            raise Conflict(f"demand-dial interface {name} is dialling",
                           hint="add --force to stop the dial and remove the interface")
        if dialling:
            await self.dd_disconnect({"name": name}, progress)
        victims = [s for s in list(self.ctx.sessions) if s.interface == name]
        return await self._end_for_removal(f"demand-dial interface {name}", victims, force,
                                           Cause.ADMIN_DISCONNECT)

    async def _end_for_removal(self, what: str, victims: list[Session], force: bool, cause: Cause) -> dict[str, Any]:
        affected = [_brief(s) for s in sorted(victims, key=lambda s: s.id)]
        result: dict[str, Any] = {"affected": affected, "disconnected": []}
        if not victims:
            return result
        if not force:
            listed = ", ".join(a["text"] for a in affected)
            raise Conflict(f"{what} has live connection{'s' if len(victims) > 1 else ''}: {listed}",
                           hint="add --force to end them")
        for s, brief in zip(sorted(victims, key=lambda s: s.id), affected):
            await self._disconnect(s, cause)
            result["disconnected"].append(brief)
        return result

    # --- connections -------------------------------------------------------------------------------------------
    async def connections_list(self, args: dict[str, Any], progress: Any) -> list[dict[str, Any]]:
        return self.ctx.sessions.rows()

    def _session(self, args: dict[str, Any]) -> Session:
        raw = args.get("id")
        try:
            sid = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise ValidationError(f"connection id must be a number, not {raw!r}") from None
        s = self.ctx.sessions.get(sid)
        if s is None:
            raise NotFound(f"no connection {sid}", hint="rrasctl connections list")
        return s

    async def connections_show(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        s = self._session(args)
        detail = s.detail()
        detail["session_id"] = self.ctx.accounting.session_id(s)   # accounting's id, unique across restarts
        return detail

    async def connections_disconnect(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        s = self._session(args)
        await self._disconnect(s, Cause.ADMIN_DISCONNECT)
        return {"id": s.id, "disconnected": True}

    async def connections_refusals(self, args: dict[str, Any], progress: Any) -> list[dict[str, Any]]:
        return self.ctx.accounting.refusal_rows()

    async def _disconnect(self, s: Session, cause: Cause) -> None:
        if s.disconnect is not None:
            try:
                res = s.disconnect(cause)
                if inspect.isawaitable(res):
                    await asyncio.wait_for(res, DISCONNECT_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("[%s] did not close within %g s; dropping it", s.port_name, DISCONNECT_TIMEOUT_S)
            except Exception:
                log.exception("[%s] disconnect failed; dropping it", s.port_name)
        self.ctx.session_down(s, cause)   # idempotent: a driver that already did it is not double-counted

    # --- lockout (engine/lockout.py keeps it in memory) -----------------------------------------------------------
    async def users_lockout(self, args: dict[str, Any], progress: Any) -> dict[str, bool]:
        """{user: locked} for every configured user, from the engine's table (the file lags by up to a second)."""
        store, cfg = self.ctx.lockout, self.ctx.config
        return {name: store.is_locked(cfg, name) for name in sorted(cfg.users)}

    async def users_unlock(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        name = args.get("name")
        if not isinstance(name, str) or not name:
            raise ValidationError("users.unlock needs a user name")
        was = self.ctx.lockout.is_locked(self.ctx.config, name)
        self.ctx.lockout.unlock(name)
        return {"name": name, "was_locked": was}

    # --- demand-dial -------------------------------------------------------------------------------------------
    def _iface(self, name: Any) -> Any:
        ifaces = getattr(self.ctx.config, "demand_dial", {}) or {}
        if not isinstance(name, str) or name not in ifaces:
            raise NotFound(f"no demand-dial interface named {name!r}", hint="rrasctl demand-dial list")
        return ifaces[name]

    def dial_row(self, name: str) -> dict[str, Any]:
        """The demand_dial.status row of one interface (also read by the metrics endpoint at scrape time)."""
        return self._dial_row(name)

    def _dial_row(self, name: str) -> dict[str, Any]:
        iface = (getattr(self.ctx.config, "demand_dial", {}) or {}).get(name)
        st = self.dials.setdefault(name, DialState())
        s = self.ctx.sessions.by_interface(name)
        if iface is not None and not iface.enabled and st.state != "connected":
            st.set("disabled")
        elif s is not None and s.state is SessionState.UP:
            st.set("connected")
        elif st.task is not None and not st.task.done():
            st.set("connecting")
        elif st.state in ("connected", "connecting", "disabled"):
            st.set("disconnected")
        return {"name": name, "type": getattr(iface, "type", None), "state": st.state, "since": iso_utc(st.since),
                "last_error": st.last_error, "last_cause": st.last_cause, "windows_error": st.windows_error,
                "unreachable_reason": st.unreachable_reason,
                "connection_id": s.id if s else None, "protocol": s.protocol if s else None,
                "ip": s.local_ip if s else None, "bytes_in": s.bytes_in if s else 0,
                "bytes_out": s.bytes_out if s else 0}

    async def dd_status(self, args: dict[str, Any], progress: Any) -> Any:
        name = args.get("name")
        if name:
            self._iface(name)
            return self._dial_row(name)
        return [self._dial_row(n) for n in sorted(getattr(self.ctx.config, "demand_dial", {}) or {})]

    async def dd_connect(self, args: dict[str, Any], progress: Callable[[str], None]) -> dict[str, Any]:
        name = args.get("name")
        iface = self._iface(name)
        wait = bool(args.get("wait", True))
        if not iface.enabled:
            raise Conflict(f"demand-dial interface {name} is disabled",
                           hint=f"rrasctl demand-dial set {name} --enabled")
        s = self.ctx.sessions.by_interface(name)
        if s is not None and s.state is SessionState.UP:
            return self._dial_row(name)
        protocols = dialplan.protocols(iface.type)          # decision 0125: automatic is PPTP only, for now
        if iface.type == "automatic":
            log.info("[%s] type automatic: %s", name, dialplan.AUTOMATIC)
        usable = [p for p in protocols if p in self.ctx.drivers]
        if not usable:
            raise RrasctlError(f"cannot dial {name}: the {' or '.join(protocols)} driver is not available yet in "
                               "this engine", hint="rrasctl engine status lists the listeners available")
        st = self.dials.setdefault(name, DialState())
        if st.task is None or st.task.done():
            st.last_error = st.last_cause = st.windows_error = st.unreachable_reason = None
            st.listeners = []
            st.task = asyncio.get_running_loop().create_task(self._dial(name, iface, usable, st))
            st.task.add_done_callback(_consume)
        if not wait:
            return self._dial_row(name)
        st.listeners.append(progress)
        try:
            await asyncio.shield(st.task)
        except DialFailed as exc:
            raise RrasctlError(f"{name} is unreachable: {exc.explained}",
                               hint=f"rrasctl demand-dial status {name}") from None
        except asyncio.CancelledError:
            if st.task.cancelled():
                raise RrasctlError(f"dialling {name} was cancelled (demand-dial disconnect)") from None
            raise
        finally:
            if progress in st.listeners:
                st.listeners.remove(progress)
        return self._dial_row(name)

    async def _dial(self, name: str, iface: Any, protocols: list[str], st: DialState) -> Session:
        st.set("connecting")

        def progress(stage: str) -> None:
            log.info("[%s] %s", name, stage)
            for cb in list(st.listeners):
                try:
                    cb(stage)
                except Exception:  # a closed control connection must not abort the dial
                    pass

        last: DialFailed | None = None
        for proto in protocols:
            driver = self.ctx.drivers[proto]
            try:
                session = await self.ctx.runner.dial(driver, name, iface, progress)
            except DialFailed as exc:
                last = exc
                log.warning("[%s] %s dial failed: %s", name, proto, exc.explained)
                continue
            except asyncio.CancelledError:
                st.set("disconnected")
                raise
            except Exception:  # a driver bug: report it as a failure, not a dead task
                log.exception("[%s] %s dial crashed", name, proto)
                last = DialFailed(Cause.INTERNAL_ERROR, f"in the {proto} driver")
                continue
            session.interface = session.interface or name
            st.set("connected")
            progress("connected")
            return session
        assert last is not None
        st.last_error, st.windows_error, st.unreachable_reason = last.reason, last.windows_error, last.unreachable
        st.last_cause = last.cause.value
        st.set("unreachable")
        raise last

    async def dd_disconnect(self, args: dict[str, Any], progress: Any) -> dict[str, Any]:
        name = args.get("name")
        self._iface(name)
        st = self.dials.setdefault(name, DialState())
        if st.task is not None and not st.task.done():
            st.task.cancel()
            try:
                await asyncio.wait_for(asyncio.gather(st.task, return_exceptions=True), DISCONNECT_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("[%s] the dial did not stop within %g s", name, DISCONNECT_TIMEOUT_S)
        s = self.ctx.sessions.by_interface(name)
        if s is not None:
            await self._disconnect(s, Cause.ADMIN_DISCONNECT)
        st.set("disconnected")
        return self._dial_row(name)

    async def shutdown(self) -> None:
        """Cancel dials in progress (engine stopping)."""
        tasks = [st.task for st in self.dials.values() if st.task is not None and not st.task.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _brief(s: Session) -> dict[str, Any]:
    """A connection as the CLI names it: `connection 3 (PPTP-0, alice from 198.51.100.7)`."""
    who = f"{s.user} from {s.peer}" if s.user else f"from {s.peer}"
    return {"id": s.id, "port": s.port_name, "user": s.user, "interface": s.interface, "peer": s.peer,
            "text": f"connection {s.id} ({s.port_name}, {who})"}


def _consume(task: "asyncio.Task[Any]") -> None:
    """Retrieve a finished dial's exception so a `--no-wait` failure is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()
