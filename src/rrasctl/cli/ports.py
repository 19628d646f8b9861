"""rrasctl ports list|show|add|remove|set (SPEC §3)."""

from __future__ import annotations

import click

from rrasctl import editions
from rrasctl.cli import _types
from rrasctl.cli._output import output_option


@click.group()
def ports() -> None:
    """PPTP and L2TP port pools: count and use flags (remote access, demand-dial).

    \b
    Example:
        rrasctl ports add l2tp 10
    """


def _pool_row(proto: str, pool) -> dict:
    return {"protocol": proto, "count": pool.count, "remote_access": pool.remote_access,
            "demand_dial": pool.demand_dial}


@ports.command("list")
@output_option
@click.pass_obj
def list_(app) -> None:
    """One row per protocol: count, use flags, and ports in use when the engine runs.

    JSON: a list of objects with protocol (pptp/l2tp), count, remote_access, demand_dial, and in_use and free
    when the engine runs.

    \b
    Example:
        rrasctl ports list -o json
    """
    config = app.load()
    rows = [_pool_row(p, config.ports[p]) for p in editions.PROTOCOLS]
    live = app.engine_if_running("ports.list")
    columns = ["protocol", "count", "remote_access", "demand_dial"]
    if isinstance(live, list):
        by_proto = {r.get("protocol"): r for r in live if isinstance(r, dict)}
        for r in rows:
            in_use = int(by_proto.get(r["protocol"], {}).get("in_use", 0))
            r["in_use"], r["free"] = in_use, max(r["count"] - in_use, 0)
        columns += ["in_use", "free"]
    app.emit(rows, columns)


@ports.command("show")
@click.argument("protocol", type=_types.PROTOCOL)
@output_option
@click.pass_obj
def show(app, protocol: str) -> None:
    """The pool, and with the engine running one row per port (PPTP-0 …).

    JSON: an object with protocol, count, remote_access, demand_dial, and ports: null without an engine, else a
    list of objects with port, state, user, interface, peer, duration_s, bytes_in, bytes_out.

    \b
    Example:
        rrasctl ports show pptp
    """
    config = app.load()
    data = _pool_row(protocol, config.ports[protocol])
    live = app.engine_if_running("ports.show", {"protocol": protocol})
    data["ports"] = live if isinstance(live, list) else (live or {}).get("ports") if isinstance(live, dict) else None
    if app.output == "json":
        app.emit(data)
        return
    pool = {k: v for k, v in data.items() if k != "ports"}
    app.emit(pool)
    if data["ports"] is not None:
        click.echo()
        app.emit(data["ports"], ["port", "state", "user", "interface", "peer", "duration_s", "bytes_in", "bytes_out"],
                 drop=("interface", "bytes_in", "bytes_out"))
    else:
        app.say("(engine not running: no per-port state)")


def _remove_check(app, protocol: str, new_count: int, force: bool) -> None:
    """Ask a running engine whether ports above NEW_COUNT carry connections (it refuses unless force)."""
    import os

    if not os.path.exists(app.paths.socket):
        return
    from rrasctl.errors import EngineUnavailable

    try:
        app.engine("ports.remove_check", {"protocol": protocol, "count": new_count, "force": force})
    except EngineUnavailable:
        return


class _Delta(int):
    """A relative change (ports add/remove), applied to the count read under the lock."""


def _change(app, protocol: str, new_count, remote_access=None, demand_dial=None, force: bool = False) -> None:
    with app.edit() as e:
        old = e.config.ports[protocol]
        if new_count is not None:
            target = old.count + int(new_count) if isinstance(new_count, _Delta) else new_count
            if isinstance(new_count, _Delta) and target < 0:
                from rrasctl.errors import ValidationError

                raise ValidationError(f"{protocol} has only {old.count} port{'s' if old.count != 1 else ''}; "
                                      f"cannot remove {-int(new_count)}",
                                      hint=f"rrasctl ports set {protocol} --count 0 disables {protocol}")
            e.set(["ports", protocol, "count"], target)  # validation names the edition's limit, or 0
        if remote_access is not None:
            e.set(["ports", protocol, "remote_access"], remote_access)
        if demand_dial is not None:
            e.set(["ports", protocol, "demand_dial"], demand_dial)
        after = e.preview().ports[protocol]
        if after.count < old.count:
            _remove_check(app, protocol, after.count, force)
    app.say(f"{protocol}: {after.count} ports (remote access {'on' if after.remote_access else 'off'}, "
            f"demand-dial {'on' if after.demand_dial else 'off'})")


@ports.command("add")
@click.argument("protocol", type=_types.PROTOCOL)
@click.argument("count", type=click.IntRange(min=1), default=1)
@click.pass_obj
def add(app, protocol: str, count: int) -> None:
    """Add COUNT ports (default 1) to PROTOCOL's pool, up to the edition's limit.

    \b
    Example:
        rrasctl ports add pptp 10
    """
    _change(app, protocol, _Delta(count))


@ports.command("remove")
@click.argument("protocol", type=_types.PROTOCOL)
@click.argument("count", type=click.IntRange(min=1), default=1)
@click.option("--force", is_flag=True, help="Disconnect live connections on the removed ports (highest first).")
@click.pass_obj
def remove(app, protocol: str, count: int, force: bool) -> None:
    """Remove COUNT ports (default 1) from PROTOCOL's pool; refused if they carry connections, unless --force.

    \b
    Example:
        rrasctl ports remove l2tp 2
    """
    _change(app, protocol, _Delta(-count), force=force)


@ports.command("set")
@click.argument("protocol", type=_types.PROTOCOL)
@click.option("--count", type=int, help="The number of ports (0 disables the protocol).")
@click.option("--remote-access/--no-remote-access", default=None,
              help="Use for remote access connections (inbound only).")
@click.option("--demand-dial/--no-demand-dial", default=None,
              help="Use for demand-dial routing connections (inbound and outbound).")
@click.option("--force", is_flag=True, help="When lowering the count, disconnect connections on removed ports.")
@click.pass_obj
def set_(app, protocol: str, count, remote_access, demand_dial, force) -> None:
    """Set PROTOCOL's pool: count and use flags.

    \b
    Example:
        rrasctl ports set pptp --count 0
        rrasctl ports set l2tp --no-remote-access --demand-dial
    """
    _change(app, protocol, count, remote_access, demand_dial, force)
