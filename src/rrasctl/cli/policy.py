"""rrasctl policy add|set|remove|list|show|move|test (SPEC §4, §8). Policies are ordered; the first match decides."""

from __future__ import annotations

import dataclasses

import click

from rrasctl.cli import _complete, _types
from rrasctl.cli._output import output_option
from rrasctl.config import model
from rrasctl.errors import Conflict, NotFound, ValidationError

# option name -> (policy field, click type, help)
_FIELDS = [
    ("--permission", "permission", click.Choice(model.PERMISSIONS), "grant or deny remote access."),
    ("--tunnel-type", "tunnel_types", _types.TUNNELS, "Condition: tunnel types, e.g. pptp,l2tp ('' = any)."),
    ("--hours", "hours", _types.HOURS, "Condition: day-and-time, e.g. 'mon-fri 08:00-18:00' ('' = any)."),
    ("--users", "users", _types.NAMES, "Condition: user names, comma-separated ('' = any)."),
    ("--client-ip", "client_ips", _types.CIDRS, "Condition: client address CIDRs ('' = any)."),
    ("--auth-type", "auth_types", _types.METHODS, "Condition: authentication methods ('' = any)."),
    ("--methods", "methods", _types.METHODS, "Profile: allowed methods ('' = those of `auth`)."),
    ("--encryption", "encryption", _types.LEVELS, "Profile: allowed encryption levels ('' = those of `auth`)."),
    ("--idle-timeout", "idle_timeout_s", click.IntRange(0), "Profile: idle timeout in seconds (0 = none)."),
    ("--max-session", "max_session_s", click.IntRange(0), "Profile: maximum session time in seconds (0 = none)."),
    ("--static-ip", "static_ip", _types.IP_OR_EMPTY, "Profile: a static client address ('' = none)."),
    ("--address-pool", "address_pool", _types.CIDR_OR_EMPTY, "Profile: an address pool CIDR ('' = the server's)."),
]
_PROFILE_LISTS = ("methods", "encryption")
_ZERO_IS_NONE = ("idle_timeout_s", "max_session_s")


def _policy_options(f):
    for opt, dest, typ, help_ in reversed(_FIELDS):
        f = click.option(opt, dest, type=typ, default=None, help=help_)(f)
    return f


def policy_table(p: model.Policy) -> dict:
    """The TOML table of a policy: name, permission and every field that is not its default."""
    out = {"name": p.name, "permission": p.permission}
    for f in dataclasses.fields(p):
        if f.name in out:
            continue
        v = getattr(p, f.name)
        if v != f.default:
            out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def policy_view(p: model.Policy, order: int) -> dict:
    d = {"name": p.name, "order": order, "permission": p.permission}
    for f in dataclasses.fields(p):
        if f.name not in d:
            v = getattr(p, f.name)
            d[f.name] = list(v) if isinstance(v, tuple) else v
    return d


def _conditions(p: model.Policy) -> str:
    parts = []
    if p.tunnel_types:
        parts.append("tunnel " + ",".join(p.tunnel_types))
    if p.users:
        parts.append("users " + ",".join(p.users))
    if p.auth_types:
        parts.append("auth " + ",".join(p.auth_types))
    if p.client_ips:
        parts.append("from " + ",".join(p.client_ips))
    if p.hours:
        parts.append(f"hours {p.hours}")
    return "; ".join(parts) or "any"


def _normalise(values: dict) -> dict:
    """CLI values to stored values: '' and empty lists clear a condition; 0 clears a timeout."""
    out = {}
    for k, v in values.items():
        if v is None:
            continue
        if k in _PROFILE_LISTS:
            out[k] = list(v) if v else None  # None: the profile falls back to `auth`
        elif isinstance(v, tuple):
            out[k] = list(v) if v else None
        elif k in _ZERO_IS_NONE:
            out[k] = v or None
        elif v == "":
            out[k] = None
        else:
            out[k] = v
    return out


def _aot(e):
    """The document's policies array, materialising the implied default policy first."""
    import tomlkit
    import tomlkit.items

    if "policies" in e.doc and not isinstance(e.doc["policies"], tomlkit.items.AoT):
        # `policies = []` (every policy removed): start a fresh array of tables
        if len(e.doc["policies"]) == 0:
            del e.doc["policies"]
    if "policies" not in e.doc:
        aot = tomlkit.aot()
        for p in e.config.policies:
            aot.append(_table(policy_table(p)))
        e.doc["policies"] = aot
        e.changed = True
    return e.doc["policies"]


def _table(values: dict):
    import tomlkit

    from rrasctl.config.store import to_item

    t = tomlkit.table()
    for k, v in values.items():
        if v is not None:
            t[k] = to_item(v)
    t.add(tomlkit.nl())  # a blank line after each [[policies]] table, as a person would write it
    return t


def _index(config: model.Config, name: str) -> int:
    for i, p in enumerate(config.policies):
        if p.name == name:
            return i
    raise NotFound(f"no policy {name!r}", hint="see: rrasctl policy list")


@click.group()
def policy() -> None:
    """Remote access policies, in order: conditions, permission (grant/deny), profile.

    The default configuration holds one policy, `default`, that matches everything and denies. A user connects
    when its dial-in is `allow`, or when a granting policy matches first.

    \b
    Example:
        rrasctl policy add staff --permission grant --tunnel-type l2tp --hours 'mon-fri 07:00-20:00'
    """


@policy.command("list")
@output_option
@click.pass_obj
def list_(app) -> None:
    """List policies in evaluation order.

    JSON: a list of objects with name, order (1 = first), permission, and every condition and profile field
    (tunnel_types, hours, users, client_ips, auth_types, methods, encryption, idle_timeout_s, max_session_s,
    static_ip, address_pool).

    \b
    Example:
        rrasctl policy list -o json
    """
    config = app.load()
    rows = [policy_view(p, i + 1) for i, p in enumerate(config.policies)]
    if app.output == "json":
        app.emit(rows)
        return
    for r, p in zip(rows, config.policies):
        r["conditions"] = _conditions(p)
    app.emit(rows, ["order", "name", "permission", "conditions"])


@policy.command("show")
@click.argument("name", shell_complete=_complete.policy_names)
@output_option
@click.pass_obj
def show(app, name: str) -> None:
    """Show one policy.

    JSON: an object with the keys of `policy list`.

    \b
    Example:
        rrasctl policy show default
    """
    config = app.load()
    i = _index(config, name)
    app.emit(policy_view(config.policies[i], i + 1))


@policy.command("add")
@click.argument("name", type=_types.NAME)
@_policy_options
@click.option("--position", type=click.IntRange(min=1), default=1, show_default=True,
              help="Where it goes in the order (1 = first, evaluated before the others).")
@_types.if_exists_option("policy")
@click.pass_obj
def add(app, name: str, position: int, if_exists: str, **values) -> None:
    """Add a policy; by default it goes first, before `default`. With --if-exists update, an existing policy gets
    exactly these settings and moves to --position (what `dump` writes, so that its script can be replayed).

    \b
    Example:
        rrasctl policy add staff --permission grant --users alice,bob
        rrasctl policy add night --permission deny --hours 'daily 00:00-06:00' --position 2
    """
    stored = _normalise(values)
    stored.setdefault("permission", "deny")
    with app.edit() as e:
        exists = e.config.policy(name) is not None
        if exists and if_exists != "update":
            raise Conflict(f"policy {name!r} exists", hint=f"change it with: rrasctl policy set {name} …")
        aot = _aot(e)
        if exists:
            del aot[_index(e.config, name)]
        t = _table({"name": name, **stored})
        if position > len(aot):
            aot.append(t)
        else:
            aot.insert(position - 1, t)
        e.changed = True
        after = e.preview()
    app.say(f"policy {name} {'updated (it existed), now' if exists else 'added'} at position "
            f"{_index(after, name) + 1}")


@policy.command("set")
@click.argument("name", shell_complete=_complete.policy_names)
@_policy_options
@click.pass_obj
def set_(app, name: str, **values) -> None:
    """Change a policy; only the options given change ('' clears a condition).

    \b
    Example:
        rrasctl policy set default --permission grant --tunnel-type l2tp
    """
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        raise ValidationError("nothing to change", hint="see: rrasctl policy set --help")
    stored = _normalise(given)
    with app.edit() as e:
        i = _index(e.config, name)
        t = _aot(e)[i]
        for k in given:
            v = stored.get(k)
            if v is None:
                if k in t:
                    del t[k]
            else:
                from rrasctl.config.store import to_item

                t[k] = to_item(v)
        e.changed = True
    app.say(f"policy {name} changed")


@policy.command("remove")
@click.argument("name", shell_complete=_complete.policy_names)
@click.option("--missing-ok", is_flag=True, help="A policy that does not exist is not an error (what `dump` writes).")
@click.pass_obj
def remove(app, name: str, missing_ok: bool) -> None:
    """Remove a policy (removing every policy denies every connection).

    \b
    Example:
        rrasctl policy remove night
    """
    with app.edit() as e:
        if missing_ok and e.config.policy(name) is None:
            app.say(f"policy {name} does not exist: nothing to remove")
            return
        i = _index(e.config, name)
        aot = _aot(e)
        del aot[i]
        if len(aot) == 0:  # an empty array of tables cannot be written as one: use an empty array
            import tomlkit

            del e.doc["policies"]
            e.doc["policies"] = tomlkit.array()
        e.changed = True
    app.say(f"policy {name} removed")


@policy.command("move")
@click.argument("name", shell_complete=_complete.policy_names)
@click.argument("position", type=click.IntRange(min=1))
@click.pass_obj
def move(app, name: str, position: int) -> None:
    """Move a policy to POSITION (1 = first).

    \b
    Example:
        rrasctl policy move staff 1
    """
    with app.edit() as e:
        i = _index(e.config, name)
        aot = _aot(e)
        t = aot[i]
        del aot[i]
        if position > len(aot):
            aot.append(t)
        else:
            aot.insert(position - 1, t)
        e.changed = True
        after = e.preview()
    app.say(f"policy {name} is now at position {_index(after, name) + 1}")


def parse_at(value: str | None):
    """--at: 'YYYY-MM-DD HH:MM', ISO 8601, or 'DAY HH:MM' (this week's day); default now."""
    import datetime as dt

    if value is None:
        return dt.datetime.now()
    v = value.strip()
    parts = v.lower().split()
    if len(parts) == 2 and parts[0] in model.DAYS:
        try:
            t = dt.datetime.strptime(parts[1], "%H:%M").time()
        except ValueError:
            raise ValidationError(f"--at: {value!r} is not 'DAY HH:MM'") from None
        monday = dt.date(2024, 1, 1)  # a Monday
        return dt.datetime.combine(monday + dt.timedelta(days=model.DAYS.index(parts[0])), t)
    try:
        return dt.datetime.fromisoformat(v)
    except ValueError:
        raise ValidationError(f"--at: {value!r} is not a time ('YYYY-MM-DD HH:MM' or 'mon 09:00')") from None


@policy.command("test")
@click.option("--user", required=True, help="The user name the caller gives.",
              shell_complete=_complete.user_names)
@click.option("--tunnel", required=True, type=click.Choice(model.TUNNEL_TYPES), help="pptp or l2tp.")
@click.option("--auth", "auth_method", required=True, type=click.Choice(model.METHODS), help="The method used.")
@click.option("--at", help="When: 'YYYY-MM-DD HH:MM' or 'mon 09:00' (default: now).")
@click.option("--client-ip", type=_types.IP, help="The caller's address.")
@output_option
@click.pass_obj
def test(app, user, tunnel, auth_method, at, client_ip) -> None:
    """Explain which policy matches a connection, why each earlier one did not, and the resulting profile.

    JSON: an object with allowed, policy, reason, windows_error, dial_in, router_interface, steps (objects with
    policy, matched, why) and profile (methods, encryption, idle_timeout_s, max_session_s, static_ip,
    address_pool) or null.

    \b
    Example:
        rrasctl policy test --user alice --tunnel l2tp --auth ms-chap-v2 --at 'mon 09:00'
    """
    from rrasctl.router import access

    config = app.load()
    decision = access.evaluate(config, access.Request(user=user, tunnel=tunnel, auth=auth_method,
                                                      at=parse_at(at), client_ip=client_ip))
    data = decision.as_dict()
    if app.output == "json":
        app.emit(data)
        return
    lines = []
    for n, s in enumerate(decision.steps, 1):
        lines.append(f"{n}. {s.policy}: {'matches' if s.matched else 'no match: ' + s.why}")
    if not decision.steps:
        lines.append("(no policies)")
    verdict = "ALLOWED" if decision.allowed else "DENIED"
    lines.append(f"result: {verdict}: {decision.reason}")
    if not decision.allowed and decision.windows_error:
        lines.append(f"the client shows error {decision.windows_error}")
    if decision.router_interface:
        lines.append(f"router caller: binds to demand-dial interface {decision.router_interface}")
    if decision.profile is not None:
        p = decision.profile
        lines.append(f"profile: methods {','.join(p.methods)}; encryption {','.join(p.encryption)}"
                     + (f"; idle timeout {p.idle_timeout_s} s" if p.idle_timeout_s else "")
                     + (f"; max session {p.max_session_s} s" if p.max_session_s else "")
                     + (f"; static ip {p.static_ip}" if p.static_ip else "")
                     + (f"; pool {p.address_pool}" if p.address_pool else ""))
    click.echo("\n".join(lines))
