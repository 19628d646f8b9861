"""rrasctl users add|set|remove|list|show|unlock (SPEC §4)."""

from __future__ import annotations

import click

from rrasctl.cli import _complete, _secrets, _types
from rrasctl.cli._output import output_option
from rrasctl.config import model
from rrasctl.errors import Conflict, NotFound

MASK = "********"


@click.group()
def users() -> None:
    """Local users: password, dial-in permission (allow, deny, policy), static IP, routes.

    \b
    Example:
        printf '%s\\n' "$PW" | rrasctl users add alice --password-stdin --dial-in allow
    """


def _lockout_file(app):
    from rrasctl.config.state import LockoutFile

    return LockoutFile(app.paths.state_dir)


def _locked(app, config: model.Config) -> dict[str, bool]:
    """{user: locked}: from the running engine (its table is in memory, the file is written behind), else from
    the state dir's lockout file (absent or unreadable: nobody is locked)."""
    import time

    from rrasctl.router.lockout import LockoutTable

    live = app.engine_if_running("users.lockout")
    if isinstance(live, dict):
        return {str(k): bool(v) for k, v in live.items()}
    lo = config.auth.lockout
    table = LockoutTable.from_dict(_lockout_file(app).read(), max_failures=lo.max_failures,
                                   reset_minutes=lo.reset_minutes)
    now = time.time()
    return {name: table.is_locked(name, now) for name in config.users}


def user_view(u: model.User, locked: bool) -> dict:
    return {"name": u.name, "dial_in": u.dial_in, "static_ip": u.static_ip, "locked": locked,
            "routes": list(u.routes), "password": MASK if u.password else None}


def _get(config: model.Config, name: str) -> model.User:
    u = config.users.get(name)
    if u is None:
        raise NotFound(f"no user {name!r}", hint="see: rrasctl users list")
    return u


@users.command("list")
@output_option
@click.pass_obj
def list_(app) -> None:
    """List local users.

    JSON: a list of objects with name, dial_in, static_ip, locked, routes, password (******** or null).

    \b
    Example:
        rrasctl users list
    """
    config = app.load()
    locked = _locked(app, config)
    rows = [user_view(u, locked.get(n, False)) for n, u in sorted(config.users.items())]
    app.emit(rows, ["name", "dial_in", "static_ip", "locked", "routes", "password"], drop=("password",))


@users.command("show")
@click.argument("name", shell_complete=_complete.user_names)
@output_option
@click.pass_obj
def show(app, name: str) -> None:
    """Show one user.

    JSON: an object with name, dial_in, static_ip, locked, routes, password (******** or null).

    \b
    Example:
        rrasctl users show alice -o json
    """
    config = app.load()
    u = _get(config, name)
    app.emit(user_view(u, _locked(app, config).get(name, False)))


@users.command("add")
@click.argument("name", type=_types.NAME)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (else a hidden prompt on a TTY).")
@click.option("--dial-in", type=click.Choice(model.DIAL_IN), default="policy", show_default=True,
              help="Remote access permission: allow, deny, or decided by policy.")
@click.option("--static-ip", type=_types.IP, help="Always give this user this address.")
@click.option("--route", "routes", type=_types.CIDR, multiple=True, help="A route behind a router caller (repeat).")
@_types.if_exists_option("user")
@click.pass_obj
def add(app, name, password_stdin, dial_in, static_ip, routes, if_exists) -> None:
    """Add a local user.

    Without --password-stdin the password is asked on a hidden prompt when there is a terminal; otherwise the user
    is added without one (it cannot authenticate until `users set NAME --password-stdin`). With --if-exists update,
    an existing user gets exactly these settings and keeps its password unless a new one is given (what `dump`
    writes, so that its script can be replayed).

    \b
    Example:
        printf '%s\\n' "$PW" | rrasctl users add alice --password-stdin --dial-in allow
        rrasctl users add branch2 --route 10.2.0.0/16
    """
    exists = False
    password = _secrets.read("password", stdin=password_stdin,
                             ask=_secrets.stdin_is_tty() and if_exists != "update")
    with app.edit() as e:
        exists = name in e.config.users
        if exists and if_exists != "update":
            raise Conflict(f"user {name!r} exists", hint=f"change it with: rrasctl users set {name} …")
        values = {"dial_in": dial_in, "static_ip": static_ip, "routes": list(routes) if routes else None}
        if password is not None:
            values["password"] = app.seal(password)
        if exists:
            for k, v in values.items():       # in place: the table keeps its comments and its password
                e.set(["users", name, k], v)
        else:
            e.set_table(["users", name], {k: v for k, v in values.items() if v is not None})
    kept = exists and password is None and e.config.users[name].password
    app.say(f"user {name} " + ("updated (it existed)" if exists else "added")
            + ("" if password or kept else " (no password yet)"))


@users.command("set")
@click.argument("name", shell_complete=_complete.user_names)
@click.option("--password-stdin", is_flag=True, help="Read a new password from stdin.")
@click.option("--password", "ask_password", is_flag=True, help="Ask a new password on a hidden prompt.")
@click.option("--dial-in", type=click.Choice(model.DIAL_IN), help="allow, deny or policy.")
@click.option("--static-ip", type=_types.IP_OR_EMPTY, help="A static address ('' removes it).")
@click.option("--route", "routes", type=_types.CIDR, multiple=True, help="Routes (repeat; replaces the list).")
@click.option("--no-routes", is_flag=True, help="Remove every route.")
@click.pass_obj
def set_(app, name, password_stdin, ask_password, dial_in, static_ip, routes, no_routes) -> None:
    """Change a local user; only the options given change.

    \b
    Example:
        rrasctl users set alice --dial-in deny
        printf '%s\\n' "$PW" | rrasctl users set alice --password-stdin
    """
    password = _secrets.read("password", stdin=password_stdin, ask=ask_password)
    with app.edit() as e:
        _get(e.config, name)
        if dial_in is not None:
            e.set(["users", name, "dial_in"], dial_in)
        if static_ip is not None:
            e.set(["users", name, "static_ip"], static_ip or None)
        if no_routes:
            e.delete(["users", name, "routes"])
        if routes:
            e.set(["users", name, "routes"], list(routes))
        if password is not None:
            e.set(["users", name, "password"], app.seal(password))
    app.say(f"user {name} changed")


@users.command("remove")
@click.argument("name", shell_complete=_complete.user_names)
@click.option("--force", is_flag=True, help="End the user's live connections (else they refuse the removal).")
@click.pass_obj
def remove(app, name: str, force: bool) -> None:
    """Remove a local user; refused while it has live connections, unless --force ends them.

    \b
    Example:
        rrasctl users remove alice
        rrasctl users remove alice --force
    """
    with app.edit() as e:
        _get(e.config, name)
        ended = app.live_check("users.remove_check", {"name": name, "force": force})
        app.say_ended(ended)
        e.delete(["users", name])
    app.say(f"user {name} removed")


@users.command("unlock")
@click.argument("name", shell_complete=_complete.user_names)
@click.pass_obj
def unlock(app, name: str) -> None:
    """Unlock a user locked out by too many failed authentications.

    \b
    Example:
        rrasctl users unlock alice
    """
    import time

    from rrasctl.router.lockout import LockoutTable

    config = app.load()
    _get(config, name)
    lo = config.auth.lockout
    with _lockout_file(app).update() as data:  # under the lock the engine's write-behind takes too
        table = LockoutTable.from_dict(data, max_failures=lo.max_failures, reset_minutes=lo.reset_minutes)
        locked = table.is_locked(name, time.time())
        data.pop(name, None)
    live = app.engine_if_running("users.unlock", {"name": name})    # the running engine forgets at once
    if isinstance(live, dict):
        locked = locked or bool(live.get("was_locked"))
    app.say(f"user {name} unlocked" if locked else f"user {name} was not locked")
