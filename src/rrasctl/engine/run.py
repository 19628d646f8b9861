"""`rrasctl engine run`: check privileges, build the parts, serve, shut down cleanly (SPEC §6, DESIGN.md §2).

Order of start-up, each step failing with a plain message and an exit code before the next one touches anything:

1. capabilities (CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE in CapEff; root normally has them) -> exit 1
2. RLIMIT_NOFILE soft limit raised to the hard limit (1,000 sessions need more than the usual 1,024 fds)
3. the configuration (invalid -> exit 2, message naming the key)
3a. the instance lock: one engine per network namespace and state dir (engine/instance.py) -> exit 4
4. the control socket claimed (another engine answering on it -> exit 4; a stale socket file is replaced)
5. the TUN device (`server.tun_name`) with the server's tunnel address -> exit 1 when it cannot be created
6. the drivers of `drivers.DRIVERS` that exist; the log names each listener that is not available
7. serve until SIGINT/SIGTERM (exit 0); SIGHUP or `engine reload` re-reads the configuration, keeping the old one
   when the new one is invalid.

Exit codes: 0 clean stop, 1 missing capability / TUN / runtime failure, 2 invalid configuration, 4 another engine
already serves the socket. Decision record: docs/decisions/0020-engine-start-up-and-exit-codes.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import resource
import signal
import sys
import time
from typing import Any

from rrasctl.errors import Conflict, RrasctlError, ValidationError

log = logging.getLogger("rrasctl.engine")


# Capability bits (linux/capability.h) and what the engine needs each for.
CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW = 10, 12, 13
REQUIRED_CAPS: tuple[tuple[int, str, str], ...] = (
    (CAP_NET_ADMIN, "CAP_NET_ADMIN", "create the TUN device and set its addresses and routes"),
    (CAP_NET_RAW, "CAP_NET_RAW", "open the raw GRE socket (IP protocol 47) for PPTP"),
    (CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE", "listen on TCP 1723 and UDP 500/1701/4500"),
)
HOW_TO_GET_CAPS = ("run the engine as root (sudo rrasctl engine run), or grant the capabilities, e.g. as a systemd "
                   "service with AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE")


# ---------------------------------------------------------------------------------------------------- privileges
def effective_caps(status_text: str | None = None) -> int:
    """CapEff of this process (from /proc/self/status, or the text given)."""
    if status_text is None:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            status_text = f.read()
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split(":", 1)[1].strip(), 16)
    return 0


def missing_capabilities(cap_eff: int | None = None) -> list[tuple[str, str]]:
    """[(name, why)] of the required capabilities not in `cap_eff` (this process's CapEff by default)."""
    if cap_eff is None:
        try:
            cap_eff = effective_caps()
        except OSError:   # no /proc: fall back on the effective uid
            return [] if os.geteuid() == 0 else [(n, why) for _, n, why in REQUIRED_CAPS]
    return [(name, why) for bit, name, why in REQUIRED_CAPS if not cap_eff >> bit & 1]


def raise_nofile_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return soft, hard


# ---------------------------------------------------------------------------------------------------- logging
def setup_logging(level: str = "info") -> None:
    """stderr: the journal's native protocol when stderr is the journal (engine/journal.py), else rich on a TTY
    (unless NO_COLOR), plain lines otherwise; a redacting filter on the handler."""
    from rrasctl.redact import RedactingFilter

    root = logging.getLogger("rrasctl")
    for h in list(root.handlers):
        root.removeHandler(h)
    from rrasctl.engine.journal import make_handler

    handler: logging.Handler | None = make_handler()   # stderr is the journal: native protocol with fields
    if handler is None and sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False,
                              log_time_format="%H:%M:%S")
        handler.setFormatter(logging.Formatter("%(message)s"))
    elif handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    root.propagate = False


# ---------------------------------------------------------------------------------------------------- config
def load_config(path: Any, *, doing: str = "start") -> Any:
    """The configuration at PATH, refused (ValidationError) when it asks for what this engine cannot do yet
    (config/supported.py, decision 0121): starting or reloading on it would silently ignore a setting."""
    from rrasctl.config.store import load
    from rrasctl.config.supported import check

    cfg = load(path)
    check(cfg, doing=doing)
    return cfg


def build_context(loop: asyncio.AbstractEventLoop, paths: Any, cfg: Any, transport: Any = None) -> Any:
    """The engine's shared parts. TRANSPORT is the network (engine/transport.py; OsTransport when None)."""
    from rrasctl.engine.accounting import Accounting
    from rrasctl.engine.calls import CallRunner
    from rrasctl.engine.drivers import EngineContext
    from rrasctl.engine.lockout import LockoutStore
    from rrasctl.engine.sessions import SessionTable
    from rrasctl.engine.timers import TimerQueue
    from rrasctl.engine.transport import OsTransport
    from rrasctl.router.addrpool import AddressPool
    from rrasctl.router.admission import Admission, pools_from_config

    state_dir = getattr(paths, "state_dir", None)
    ctx = EngineContext(
        loop=loop,
        timers=TimerQueue(loop),
        sessions=SessionTable(),
        admission=Admission(pools_from_config(cfg.ports), cfg.server.max_concurrent, cfg.server.edition,
                            setup_per_source=cfg.server.setup_per_source, setup_total=cfg.server.setup_total),
        addrpool=AddressPool(cfg.server.address_pool, server_address=cfg.server.tunnel_address,
                             static=_static_ips(cfg)),
        config=cfg,
        accounting=Accounting(state_dir, enabled=_accounting_on(cfg)),
        paths=paths,
        transport=transport or OsTransport(loop, offload=os.environ.get("RRASCTL_L2TP_OFFLOAD", "gso,gro")),
        lockout=LockoutStore(state_dir, loop=loop),
    )
    ctx.runner = CallRunner(ctx)
    key_path = getattr(paths, "key", None)

    def open_secret(sealed: str | None) -> str | None:
        if not sealed:
            return None
        from rrasctl.config.secrets import open_secret as _open
        from rrasctl.redact import register

        plain = _open(key_path, sealed)
        register(plain)   # the logging filter masks it should it ever reach a log line
        return plain

    ctx.open_secret = open_secret
    return ctx


def _accounting_on(cfg: Any) -> bool:
    """`auth.accounting`: none writes no accounting records; local (and radius, until RADIUS accounting exists)
    writes accounting.jsonl (decision 0144)."""
    return getattr(getattr(cfg, "auth", None), "accounting", "local") != "none"


def _static_ips(cfg: Any) -> list[str]:
    return [u.static_ip for u in (getattr(cfg, "users", {}) or {}).values() if getattr(u, "static_ip", None)]


def apply_config(ctx: Any, cfg: Any) -> None:
    """Push a (re)loaded configuration into the shared parts. Live sessions keep their ports and addresses."""
    from rrasctl.router.admission import pools_from_config

    ctx.config = cfg
    ctx.accounting.enabled = _accounting_on(cfg)
    apply_notes(ctx, cfg)
    ctx.admission.reconfigure(pools_from_config(cfg.ports), cfg.server.max_concurrent, cfg.server.edition)
    ctx.admission.setup_per_source, ctx.admission.setup_total = cfg.server.setup_per_source, cfg.server.setup_total
    ctx.addrpool.reconfigure(cfg.server.address_pool, server_address=cfg.server.tunnel_address,
                             static=_static_ips(cfg))
    for proto in ("pptp", "l2tp"):
        over = ctx.admission.over_limit(proto)
        if over:
            log.warning("%s pool shrank below live ports %s; they stay until their connections end",
                        proto, ", ".join(f"{proto.upper()}-{p}" for p in over))


def apply_notes(ctx: Any, cfg: Any) -> None:
    """The security notes of router/notes.py in `engine status` (ctx.notes), each logged once when it appears and
    removed when it no longer applies (PPTP turned off); notes of other origins are left alone (decision 0147)."""
    from rrasctl.router import notes

    wanted = notes.pptp_notes(cfg) + _secret_notes(ctx, cfg)
    ctx.notes[:] = [n for n in ctx.notes if not _is_ours(n) or n in wanted]
    for n in wanted:
        if n not in ctx.notes:
            ctx.notes.append(n)
            log.warning("%s", n)


_SECRETS_NOTE = "sealed secrets cannot be opened: "


def _is_ours(note: str) -> bool:
    from rrasctl.router.notes import PPTP_NOTE

    return note == PPTP_NOTE or note.startswith(_SECRETS_NOTE)


def _secret_notes(ctx: Any, cfg: Any) -> list[str]:
    """A missing or foreign key file, said at start-up and in `engine status` rather than at the first login
    (decision 0141); the logins that need those secrets are refused by the drivers."""
    key = getattr(getattr(ctx, "paths", None), "key", None)
    if key is None:
        return []
    from rrasctl.config import secrets
    from rrasctl.config.model import to_plain

    try:
        problem = secrets.check_key(key, list(secrets.find_sealed(to_plain(cfg))))
    except Exception:      # a check that fails must not stop the engine; opening will say why
        log.debug("secrets key check failed", exc_info=True)
        return []
    if problem is None:
        return []
    return [f"{_SECRETS_NOTE}{problem.message}; logins that need them will be refused ({problem.hint})"]


def make_reload(ctx: Any, paths: Any, service: Any = None):
    """The `reload` coroutine for SIGHUP and the control op: re-read, validate, apply; a bad file keeps the old."""
    from rrasctl.engine.pending import describe, hold_restart_only, pending

    lock = asyncio.Lock()

    async def reload() -> dict[str, Any]:
        async with lock:
            try:
                new = load_config(paths.config, doing="reload")
            except RrasctlError as exc:
                log.error("reload failed, keeping the running configuration: %s", exc.message)
                raise ValidationError(f"the configuration was not reloaded: {exc.message}",
                                      hint=exc.hint or "fix it (rrasctl config check), then reload again") from None
            old = ctx.config
            saved, new = new, hold_restart_only(old, new)      # decision 0122: those wait for a restart
            apply_config(ctx, new)
            if new.server.log_level != old.server.log_level:
                logging.getLogger("rrasctl").setLevel(getattr(logging, new.server.log_level.upper(), logging.INFO))
            for d in list(ctx.drivers.values()):
                hook = getattr(d, "reload", None)
                if hook is not None:
                    try:
                        await hook(ctx, old, new)
                    except Exception:
                        log.exception("%s driver failed to apply the new configuration", d.protocol)
            if service is not None:
                await service.reload(new)
            log.info("configuration reloaded from %s", paths.config)
            waiting = pending(new, saved)
            if waiting:
                log.warning("applied at the next start of the engine, not now: %s", describe(waiting))
            return {"reloaded": True, "config": str(paths.config), "restart_needed": waiting}

    return reload


# ---------------------------------------------------------------------------------------------------- main
def main(paths: Any, log_level: str | None = "info") -> int:
    """Run the engine in the foreground until SIGINT/SIGTERM. Returns the process exit code."""
    setup_logging(log_level or "info")
    missing = missing_capabilities()
    if missing:
        for name, why in missing:
            sys.stderr.write(f"error: missing capability {name} (needed to {why})\n")
        sys.stderr.write(f"hint: {HOW_TO_GET_CAPS}\n")
        return 1
    soft, _ = raise_nofile_limit()
    try:
        cfg = load_config(paths.config)
    except RrasctlError as exc:
        log.error("cannot start: %s", exc.message)
        if exc.hint:
            log.error("hint: %s", exc.hint)
        return exc.exit_code
    if log_level is None:
        setup_logging(cfg.server.log_level)
    log.debug("open-file limit %d", soft)
    try:
        return asyncio.run(serve(paths, cfg))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


@dataclasses.dataclass
class Engine:
    """A running engine's parts (`start_engine`): what `serve` runs, and what a test drives in process."""

    ctx: Any
    ops: Any
    listeners: dict[str, str]
    tun: Any = None
    started: float = 0.0


async def start_engine(paths: Any, cfg: Any, *, transport: Any = None, tun: Any = None,
                       drivers: list[Any] | None = None, service: Any = None) -> Engine:
    """Build the context, bring the TUN (given, or none) and the drivers up. The same for `serve` (real sockets,
    the real TUN, the systemd service hooks) and for tests (engine/memnet.py's transport and TUN, virtual clock)."""
    from rrasctl import __version__
    from rrasctl.engine.drivers import load_drivers, protocol_of
    from rrasctl.engine.ops import Ops

    loop = asyncio.get_running_loop()
    started = time.time()
    ctx = build_context(loop, paths, cfg, transport)
    if service is not None:
        service.attach(ctx)
    ctx.accounting.close_orphans()     # sessions a killed engine left open (decision 0144; under the instance lock)
    if tun is not None:
        ctx.tun = tun
        ctx.tun_reader = tun.attach_reader(loop, ctx.sessions, ctx.counters)
    listeners: dict[str, str] = {}
    if drivers is None:
        drivers, missing = load_drivers()
        for spec, why in missing.items():
            proto = protocol_of(spec)
            listeners[proto] = why
            log.warning("%s listener %s", proto.upper(), why)
    for d in drivers:
        try:
            await d.start(ctx)
        except Exception as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            listeners[d.protocol] = f"not available: {why}"
            log.error("%s listener not available: %s", d.protocol.upper(), why)
            continue
        ctx.drivers[d.protocol] = d
        describe = getattr(d, "listener", None)
        listeners[d.protocol] = describe() if callable(describe) else "listening"
        log.info("%s listener: %s", d.protocol.upper(), listeners[d.protocol])
    apply_notes(ctx, cfg)       # after the drivers: "PPTP is enabled: MS-CHAP v2 ... cracked offline"
    ops = Ops(ctx, reload=make_reload(ctx, paths, service), listeners=listeners, started=started,
              version=__version__)
    return Engine(ctx, ops, listeners, tun, started)


async def stop_engine(engine: Engine) -> None:
    """End every session cleanly on the wire, stop the drivers, write pending state."""
    from rrasctl.engine.drivers import STOP_TIMEOUT_S
    from rrasctl.protocols.causes import Cause

    ctx = engine.ctx
    await engine.ops.shutdown()
    for proto, d in list(ctx.drivers.items()):
        try:
            await asyncio.wait_for(d.stop(ctx), STOP_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("%s driver did not stop within %g s", proto.upper(), STOP_TIMEOUT_S)
        except Exception:
            log.exception("%s driver failed to stop cleanly", proto.upper())
    for s in list(ctx.sessions):
        ctx.session_down(s, Cause.ENGINE_STOPPED)
    await ctx.lockout.flush()
    ctx.timers.close()


async def serve(paths: Any, cfg: Any, *, with_tun: bool = True, dial: str | None = None) -> int:
    """The engine's life. With `dial`, a private engine for one demand-dial interface (`demand-dial connect
    --foreground`): it dials at once, prints live figures until Ctrl-C, and exits 1 if the dial fails or the
    connection drops. First of all, before anything is bound, the instance lock (one engine per network namespace
    and state dir; another engine: exit 4, decision 0143)."""
    from rrasctl.engine import instance

    try:
        lock = instance.claim(paths)
    except RrasctlError as exc:
        log.error("%s", exc.message)
        if exc.hint:
            log.error("hint: %s", exc.hint)
        return exc.exit_code
    try:
        return await _serve(paths, cfg, with_tun=with_tun, dial=dial)
    finally:
        lock.release()


async def _serve(paths: Any, cfg: Any, *, with_tun: bool = True, dial: str | None = None) -> int:
    from rrasctl import __version__
    from rrasctl.engine.control_server import ControlServer
    from rrasctl.engine.service import Service

    loop = asyncio.get_running_loop()
    service = Service.from_env()          # NOTIFY_SOCKET / WATCHDOG_USEC, read (and unset) before anything else
    try:
        os.makedirs(paths.state_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        log.error("cannot create the state dir %s: %s", paths.state_dir, exc.strerror or exc)
        return 1

    server = ControlServer(paths.socket, {})
    try:
        sock = server.claim()
    except Conflict as exc:
        log.error("%s", exc.message)
        return exc.exit_code
    except OSError as exc:
        log.error("cannot bind the control socket %s: %s", paths.socket, exc.strerror or exc)
        return 1

    tun = None
    if with_tun:
        from rrasctl.engine.tun import Tun

        tun = Tun(cfg.server.tun_name)
        try:
            tun.open()
            tun.configure(cfg.server.tunnel_address)
        except Exception as exc:
            log.error("%s", exc if isinstance(exc, OSError) and exc.strerror is None else
                      f"cannot set up the TUN device {cfg.server.tun_name}: {exc}")
            tun.close()
            sock.close()
            server.unlink()
            return 1
        log.info("TUN %s up with %s/32, MTU %d", tun.name, cfg.server.tunnel_address, tun.mtu)

    engine = await start_engine(paths, cfg, tun=tun, service=service)
    ctx, ops, started = engine.ctx, engine.ops, engine.started
    reload = ops._reload
    server.handlers = ops.table()
    await server.start(sock)
    await service.start(ctx, ops, version=__version__, started=started)   # metrics endpoint, READY=1, watchdog

    stop = asyncio.Event()
    pending: set[asyncio.Task[Any]] = set()

    def on_stop(signame: str) -> None:
        if not stop.is_set():
            log.info("%s received: stopping", signame)
            service.stopping()
        stop.set()

    def on_hup() -> None:
        async def run() -> None:
            try:
                await reload()
            except RrasctlError:
                pass   # already logged
        t = loop.create_task(run())
        pending.add(t)
        t.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGTERM, on_stop, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_stop, "SIGINT")
    loop.add_signal_handler(signal.SIGHUP, on_hup)

    pools = ", ".join(f"{p} {ctx.admission.pool(p).count} ports" for p in ("pptp", "l2tp"))
    cap = cfg.server.max_concurrent
    log.info("engine ready (pid %d): control socket %s; %s edition (%s); %s", os.getpid(), paths.socket,
             cfg.server.edition, "no edition cap" if cap is None else f"at most {cap} inbound", pools)
    exit_code = 0
    try:
        if dial is None:
            await stop.wait()
        else:
            exit_code = await _foreground_dial(ops, ctx, dial, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await stop_engine(engine)
        await server.close()
        await service.close()
        if tun is not None:
            tun.detach_reader(loop)
            tun.close()
        for t in list(pending):
            t.cancel()
    log.info("engine stopped")
    return exit_code


FOREGROUND_STATS_EVERY_S = 5.0


async def _foreground_dial(ops: Any, ctx: Any, name: str, stop: asyncio.Event) -> int:
    def say(line: str) -> None:
        sys.stderr.write(f"{name}: {line}\n")
        sys.stderr.flush()

    dialling = asyncio.ensure_future(ops.dd_connect({"name": name, "wait": True}, say))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({dialling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not dialling.done():
        dialling.cancel()
        await asyncio.gather(dialling, return_exceptions=True)
        return 0
    try:
        dialling.result()
    except RrasctlError as exc:
        say(exc.message)
        stopping.cancel()
        return 1
    while not stop.is_set():
        s = ctx.sessions.by_interface(name)
        if s is None:
            say("connection lost")
            stopping.cancel()
            return 1
        say(f"connected {s.protocol} {s.local_ip or '-'} <-> {s.ip or '-'}, {s.duration_s()} s, "
            f"in {s.bytes_in} B / {s.packets_in} pkts, out {s.bytes_out} B / {s.packets_out} pkts")
        try:
            await asyncio.wait_for(asyncio.shield(stopping), FOREGROUND_STATS_EVERY_S)
        except asyncio.TimeoutError:
            pass
    return 0


def run_foreground_dial(paths: Any, name: str, log_level: str | None = "info") -> int:
    """`rrasctl demand-dial connect NAME --foreground` with no engine running: a private engine for NAME."""
    setup_logging(log_level or "info")
    missing = missing_capabilities()
    if missing:
        for cap, why in missing:
            sys.stderr.write(f"error: missing capability {cap} (needed to {why})\n")
        sys.stderr.write(f"hint: {HOW_TO_GET_CAPS}\n")
        return 1
    raise_nofile_limit()
    try:
        cfg = load_config(paths.config)
    except RrasctlError as exc:
        log.error("cannot start: %s", exc.message)
        if exc.hint:
            log.error("hint: %s", exc.hint)
        return exc.exit_code
    if name not in (getattr(cfg, "demand_dial", {}) or {}):
        sys.stderr.write(f"error: no demand-dial interface named {name!r}\n")
        return 3
    try:
        return asyncio.run(serve(paths, cfg, dial=name))
    except KeyboardInterrupt:
        return 130
