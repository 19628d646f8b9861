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


def _lockout(app, config: model.Config):
    """The engine's lockout table from the state dir (empty when absent or unreadable)."""
    return _lockout_file(app).read(config)


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
    import time

    config = app.load()
    table, now = _lockout(app, config), time.time()
    rows = [user_view(u, table.is_locked(n, now)) for n, u in sorted(config.users.items())]
    app.emit(rows, ["name", "dial_in", "static_ip", "locked", "routes", "password"])


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
    import time

    config = app.load()
    u = _get(config, name)
    app.emit(user_view(u, _lockout(app, config).is_locked(name, time.time())))


@users.command("add")
@click.argument("name", type=_types.NAME)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (else a hidden prompt on a TTY).")
@click.option("--dial-in", type=click.Choice(model.DIAL_IN), default="policy", show_default=True,
              help="Remote access permission: allow, deny, or decided by policy.")
@click.option("--static-ip", type=_types.IP, help="Always give this user this address.")
@click.option("--route", "routes", type=_types.CIDR, multiple=True, help="A route behind a router caller (repeat).")
@click.pass_obj
def add(app, name, password_stdin, dial_in, static_ip, routes) -> None:
    """Add a local user.

    Without --password-stdin the password is asked on a hidden prompt when there is a terminal; otherwise the user
    is added without one (it cannot authenticate until `users set NAME --password-stdin`).

    \b
    Example:
        printf '%s\\n' "$PW" | rrasctl users add alice --password-stdin --dial-in allow
        rrasctl users add branch2 --route 10.2.0.0/16
    """
    password = _secrets.read("password", stdin=password_stdin, ask=_secrets.stdin_is_tty())
    with app.edit() as e:
        if name in e.config.users:
            raise Conflict(f"user {name!r} exists", hint=f"change it with: rrasctl users set {name} …")
        values = {"dial_in": dial_in, "static_ip": static_ip, "routes": list(routes) if routes else None,
                  "password": app.seal(password) if password is not None else None}
        e.set_table(["users", name], {k: v for k, v in values.items() if v is not None})
    app.say(f"user {name} added" + ("" if password else " (no password yet)"))


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
@click.pass_obj
def remove(app, name: str) -> None:
    """Remove a local user.

    \b
    Example:
        rrasctl users remove alice
    """
    with app.edit() as e:
        _get(e.config, name)
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

    config = app.load()
    _get(config, name)
    with _lockout_file(app).update(config) as table:  # under the lock the engine takes too
        locked = table.is_locked(name, time.time())
        table.unlock(name)
    app.say(f"user {name} unlocked" if locked else f"user {name} was not locked")
