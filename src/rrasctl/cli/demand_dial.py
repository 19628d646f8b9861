"""rrasctl demand-dial add|set|remove|list|show|connect|disconnect|status and route add|remove|list (SPEC §5)."""

from __future__ import annotations

import click

from rrasctl.cli import _complete, _secrets, _types
from rrasctl.cli._output import output_option
from rrasctl.config import model
from rrasctl.errors import Conflict, NotFound

MASK = "********"


@click.group("demand-dial")
def demand_dial() -> None:
    """Demand-dial interfaces: router-to-router VPN connections this server dials.

    An inbound caller whose user name equals an interface's name is a router: its connection binds to that
    interface and the interface's routes go through it.

    \b
    Example:
        printf '%s\\n' "$PW" | rrasctl demand-dial add branch1 --destination vpn.example.net --user hq \\
            --password-stdin --route 10.2.0.0/16 --persistent
    """


def _get(config: model.Config, name: str) -> model.DemandDial:
    d = config.demand_dial.get(name)
    if d is None:
        raise NotFound(f"no demand-dial interface {name!r}", hint="see: rrasctl demand-dial list")
    return d


def dd_view(d: model.DemandDial) -> dict:
    from rrasctl.router import dialplan

    return {"name": d.name, "destination": d.destination, "type": d.type,
            "protocols": dialplan.protocols(d.type), "user": d.user, "domain": d.domain,
            "password": MASK if d.password else None, "routes": [r.cidr for r in d.routes],
            "route_metrics": {r.cidr: r.metric for r in d.routes}, "persistent": d.persistent,
            "idle_timeout_s": d.idle_timeout_s, "redial_attempts": d.redial_attempts,
            "redial_interval_s": d.redial_interval_s, "dial_hours": d.dial_hours, "encryption": d.encryption,
            "enabled": d.enabled}


_COMMON = [
    ("--type", "type_", click.Choice(model.DEMAND_DIAL_TYPES),
     "automatic (L2TP/IPsec when available, else PPTP; today PPTP only), pptp, or l2tp (plain L2TP until "
     "IPsec lands)."),
    ("--domain", "domain", str, "The domain of the user name ('' = none)."),
    ("--idle-timeout", "idle_timeout", click.IntRange(0, 604800), "Hang up an on-demand link idle this long (s)."),
    ("--redial-attempts", "redial_attempts", click.IntRange(0, 1000), "Redials after a failure or loss."),
    ("--redial-interval", "redial_interval", click.IntRange(0, 86400), "Seconds between redials."),
    ("--dial-hours", "dial_hours", _types.HOURS, "When dialling may happen, e.g. 'mon-fri 08:00-18:00' ('' = always)."),
    ("--encryption", "encryption", click.Choice(model.ENCRYPTION_LEVELS), "The weakest encryption accepted."),
]


def _common_options(f):
    f = click.option("--enabled/--disabled", "enabled", default=None, help="Whether the interface may dial.")(f)
    f = click.option("--persistent/--on-demand", "persistent", default=None,
                     help="Persistent: dialled at engine start and redialled; on demand: dialled by traffic.")(f)
    for opt, dest, typ, help_ in reversed(_COMMON):
        f = click.option(opt, dest, type=typ, default=None, help=help_)(f)
    f = click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")(f)
    return f


def _values(type_, domain, idle_timeout, redial_attempts, redial_interval, dial_hours, encryption, enabled,
            persistent) -> dict:
    return {"type": type_, "domain": domain, "idle_timeout_s": idle_timeout, "redial_attempts": redial_attempts,
            "redial_interval_s": redial_interval, "dial_hours": dial_hours, "encryption": encryption,
            "enabled": enabled, "persistent": persistent}


def _route_items(routes) -> list:
    return [r.cidr if r.metric == 1 else {"cidr": r.cidr, "metric": r.metric} for r in routes]


@demand_dial.command("add")
@click.argument("name", type=_types.NAME)
@click.option("--destination", required=True, type=_types.HOST, help="Host name or address to dial.")
@click.option("--user", required=True, help="The user name this router gives the remote one.")
@click.option("--route", "routes", type=_types.ROUTE, multiple=True, help="CIDR[/metric] routed through it (repeat).")
@_common_options
@_types.if_exists_option("interface")
@click.pass_obj
def add(app, name, destination, user, routes, password_stdin, if_exists, **opts) -> None:
    """Add a demand-dial interface.

    Without --password-stdin the password is asked on a hidden prompt when there is a terminal. With --if-exists
    update, an existing interface gets exactly these settings (the others back to their defaults) and keeps its
    password unless a new one is given (what `dump` writes, so that its script can be replayed).

    \b
    Example:
        printf '%s\\n' "$PW" | rrasctl demand-dial add branch1 --destination 203.0.113.2 --user hq \\
            --password-stdin --type l2tp --route 10.2.0.0/16 --route 10.3.0.0/16/5 --persistent
    """
    password = _secrets.read("password", stdin=password_stdin,
                             ask=_secrets.stdin_is_tty() and if_exists != "update")
    values = {k: v for k, v in _values(**opts).items() if v is not None and v != ""}
    with app.edit() as e:
        exists = name in e.config.demand_dial
        if exists and if_exists != "update":
            raise Conflict(f"demand-dial interface {name!r} exists",
                           hint=f"change it with: rrasctl demand-dial set {name} …")
        table = {"destination": destination, "user": user, **values}
        if routes:
            table["routes"] = _route_items(routes)
        if password is not None:
            table["password"] = app.seal(password)
        if exists:          # in place: every setting as given (the rest back to defaults), the password kept
            keys = {k for k in e.get(["demand_dial", name], {}) if k != "password"} | set(table)
            for k in sorted(keys):
                e.set(["demand_dial", name, k], table.get(k))
        else:
            e.set_table(["demand_dial", name], table)
    kept = exists and password is None and e.config.demand_dial[name].password
    app.say(f"demand-dial interface {name} " + ("updated (it existed)" if exists else "added")
            + ("" if password or kept else " (no password yet)"))


@demand_dial.command("set")
@click.argument("name", shell_complete=_complete.demand_dial_names)
@click.option("--destination", type=_types.HOST, help="Host name or address to dial.")
@click.option("--user", help="The user name this router gives the remote one.")
@click.option("--route", "routes", type=_types.ROUTE, multiple=True, help="CIDR[/metric] (repeat; replaces the list).")
@click.option("--password", "ask_password", is_flag=True, help="Ask a new password on a hidden prompt.")
@_common_options
@click.pass_obj
def set_(app, name, destination, user, routes, ask_password, password_stdin, **opts) -> None:
    """Change a demand-dial interface; only the options given change.

    \b
    Example:
        rrasctl demand-dial set branch1 --on-demand --idle-timeout 600
    """
    password = _secrets.read("password", stdin=password_stdin, ask=ask_password)
    values = _values(**opts)
    with app.edit() as e:
        _get(e.config, name)
        for k, v in {"destination": destination, "user": user, **values}.items():
            if v is None:
                continue
            e.set(["demand_dial", name, k], v if v != "" else None)
        if routes:
            e.set(["demand_dial", name, "routes"], _route_items(routes))
        if password is not None:
            e.set(["demand_dial", name, "password"], app.seal(password))
    app.say(f"demand-dial interface {name} changed")


@demand_dial.command("remove")
@click.argument("name", shell_complete=_complete.demand_dial_names)
@click.option("--force", is_flag=True,
              help="End the interface's live connection or dial (else they refuse the removal).")
@click.pass_obj
def remove(app, name: str, force: bool) -> None:
    """Remove a demand-dial interface; refused while it is connected or dialling, unless --force ends that.

    \b
    Example:
        rrasctl demand-dial remove branch1
        rrasctl demand-dial remove branch1 --force
    """
    with app.edit() as e:
        _get(e.config, name)
        ended = app.live_check("demand_dial.remove_check", {"name": name, "force": force})
        app.say_ended(ended)
        e.delete(["demand_dial", name])
    app.say(f"demand-dial interface {name} removed")


def _states(app) -> dict[str, dict]:
    live = app.engine_if_running("demand_dial.status", {"name": None})
    if isinstance(live, list):
        return {r.get("name"): r for r in live if isinstance(r, dict)}
    if isinstance(live, dict) and isinstance(live.get("interfaces"), list):
        return {r.get("name"): r for r in live["interfaces"] if isinstance(r, dict)}
    return {}


@demand_dial.command("list")
@output_option
@click.pass_obj
def list_(app) -> None:
    """List demand-dial interfaces (with their state when the engine runs).

    JSON: a list of objects with the keys of `demand-dial show`.

    \b
    Example:
        rrasctl demand-dial list
    """
    config = app.load()
    states = _states(app)
    rows = []
    for n, d in sorted(config.demand_dial.items()):
        row = dd_view(d)
        if states:
            row["state"] = states.get(n, {}).get("state")
        rows.append(row)
    cols = ["name", "destination", "type", "user", "persistent", "enabled", "routes"]
    app.emit(rows, cols + (["state"] if states else []), drop=("enabled", "persistent", "type"))


@demand_dial.command("show")
@click.argument("name", shell_complete=_complete.demand_dial_names)
@output_option
@click.pass_obj
def show(app, name: str) -> None:
    """Show one demand-dial interface.

    protocols are the tunnel types the engine dials, in order: automatic means L2TP/IPsec when available, else
    PPTP; this engine has no IPsec yet, so today automatic dials PPTP only.

    JSON: an object with name, destination, type, protocols (list, in the order tried), user, domain, password
    (******** or null), routes (CIDR strings), route_metrics (CIDR -> metric), persistent, idle_timeout_s,
    redial_attempts, redial_interval_s, dial_hours, encryption, enabled, and state when the engine runs.

    \b
    Example:
        rrasctl demand-dial show branch1 -o json
    """
    d = _get(app.load(), name)
    row = dd_view(d)
    states = _states(app)
    if states:
        row["state"] = states.get(name, {}).get("state")
    if d.type == "automatic" and app.output != "json":
        from rrasctl.router import dialplan

        row["protocols"] = f"{', '.join(row['protocols'])} (automatic: {dialplan.AUTOMATIC})"
    app.emit(row)


@demand_dial.group("route")
def route() -> None:
    """The routes reached through a demand-dial interface.

    \b
    Example:
        rrasctl demand-dial route add branch1 10.4.0.0/16/10
    """


@route.command("add")
@click.argument("name", shell_complete=_complete.demand_dial_names)
@click.argument("route_", metavar="CIDR[/METRIC]", type=_types.ROUTE)
@click.pass_obj
def route_add(app, name: str, route_) -> None:
    """Add a route (metric 1 unless given).

    \b
    Example:
        rrasctl demand-dial route add branch1 10.4.0.0/16
    """
    with app.edit() as e:
        d = _get(e.config, name)
        if any(r.cidr == route_.cidr for r in d.routes):
            raise Conflict(f"{name} already routes {route_.cidr}")
        e.set(["demand_dial", name, "routes"], _route_items((*d.routes, route_)))
    app.say(f"{name}: route {route_} added")


@route.command("remove")
@click.argument("name", shell_complete=_complete.demand_dial_names)
@click.argument("cidr", type=_types.CIDR)
@click.pass_obj
def route_remove(app, name: str, cidr: str) -> None:
    """Remove a route.

    \b
    Example:
        rrasctl demand-dial route remove branch1 10.4.0.0/16
    """
    with app.edit() as e:
        d = _get(e.config, name)
        if not any(r.cidr == cidr for r in d.routes):
            raise NotFound(f"{name} has no route {cidr}")
        rest = [r for r in d.routes if r.cidr != cidr]
        e.set(["demand_dial", name, "routes"], _route_items(rest) if rest else None)
    app.say(f"{name}: route {cidr} removed")


@route.command("list")
@click.argument("name", shell_complete=_complete.demand_dial_names)
@output_option
@click.pass_obj
def route_list(app, name: str) -> None:
    """List an interface's routes.

    JSON: a list of objects with cidr and metric.

    \b
    Example:
        rrasctl demand-dial route list branch1
    """
    d = _get(app.load(), name)
    app.emit([{"cidr": r.cidr, "metric": r.metric} for r in d.routes], ["cidr", "metric"])


@demand_dial.command("connect")
@click.argument("name", shell_complete=_complete.demand_dial_names)
@click.option("--no-wait", is_flag=True, help="Return as soon as the engine starts dialling.")
@click.option("--foreground", is_flag=True, help="With no engine running, run a private one for this interface.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120, show_default=True, metavar="SECONDS",
              help="Give up waiting for the next progress step after this long.")
@output_option
@click.pass_obj
def connect(app, name: str, no_wait: bool, foreground: bool, timeout: float) -> None:
    """Ask the running engine to dial NAME; shows progress and returns 0 once connected.

    On failure it exits non-zero with the RRAS-style reason (e.g. error 691: bad user name or password).

    JSON: the engine's final state object (name, state, …).

    \b
    Example:
        rrasctl demand-dial connect branch1
    """
    import os

    from rrasctl.errors import RrasctlError

    config = app.load()
    _get(config, name)
    if foreground and not os.path.exists(app.paths.socket):
        try:
            from rrasctl.engine import run as engine_run
        except ImportError:
            engine_run = None
        fg = getattr(engine_run, "run_foreground_dial", None)
        if fg is None:
            raise RrasctlError("--foreground needs the engine's private-dial mode, which is not available yet",
                               hint="start the engine (rrasctl engine run) and connect without --foreground")
        raise SystemExit(fg(app.paths, name, config.server.log_level))
    shown: list[str] = []

    def progress(stage: str) -> None:
        shown.append(stage)
        app.say(f"{name}: {stage}")

    result = app.engine("demand_dial.connect", {"name": name, "wait": not no_wait}, timeout=timeout,
                        on_progress=progress)
    if app.output == "json":
        app.emit(result)
    else:
        state = result.get("state") if isinstance(result, dict) else result
        if not shown or shown[-1] != state:  # the last progress line already said it
            app.say(f"{name}: {state}")


@demand_dial.command("disconnect")
@click.argument("name", shell_complete=_complete.demand_dial_names)
@click.pass_obj
def disconnect(app, name: str) -> None:
    """Ask the running engine to hang up NAME.

    \b
    Example:
        rrasctl demand-dial disconnect branch1
    """
    _get(app.load(), name)
    app.engine("demand_dial.disconnect", {"name": name})
    app.say(f"{name}: disconnected")


@demand_dial.command("status")
@click.argument("name", required=False, shell_complete=_complete.demand_dial_names)
@output_option
@click.pass_obj
def status(app, name: str | None) -> None:
    """State of one or every interface: connected, connecting, disconnected, unreachable, disabled.

    JSON: a list of objects (one object when NAME is given) with name, type, state, since, last_error,
    windows_error, unreachable_reason, connection_id, protocol, ip, bytes_in, bytes_out.

    \b
    Example:
        rrasctl demand-dial status branch1
    """
    if name is not None:
        _get(app.load(), name)
    result = app.engine("demand_dial.status", {"name": name})
    if isinstance(result, dict) and isinstance(result.get("interfaces"), list):
        result = result["interfaces"]
    cols = ["name", "state", "since", "windows_error", "last_error", "bytes_in", "bytes_out"]
    app.emit(result, cols if isinstance(result, list) else None, drop=("bytes_out", "bytes_in", "since"),
             tail="last_error")
