"""rrasctl config path|check|export|import (SPEC §2)."""

from __future__ import annotations

import click

from rrasctl.cli._output import output_option
from rrasctl.errors import ValidationError


@click.group()
def config() -> None:
    """The configuration file: where it is, whether it is valid, export and import.

    \b
    Example:
        rrasctl config path
    """


@config.command("path")
@output_option
@click.pass_obj
def path(app) -> None:
    """Print the config file, the secrets key, the state dir and the control socket in use.

    JSON: an object with config, key, state_dir, socket.

    \b
    Example:
        rrasctl config path -o json
    """
    app.emit(app.paths.as_dict())


def _unopenable(app, raw: dict) -> list[str]:
    from rrasctl.config import secrets

    problem = secrets.check_key(app.paths.key, list(secrets.find_sealed(raw)), open_all=True)
    return list(problem.unopenable) if problem else []


@config.command("check")
@click.option("--secrets", "check_secrets", is_flag=True,
              help="Also open every secret with the key (by default only the key file's identity is checked).")
@click.pass_obj
def check(app, check_secrets: bool) -> None:
    """Validate the config file: exit 0 when valid, 2 naming the key (or line and column) when not.

    When the config holds sealed secrets, the key file must be there and be the key they were sealed with:
    otherwise exit 1 with the reason (missing, damaged, or another key, named by its key id).

    \b
    Example:
        rrasctl config check && echo fine
    """
    from rrasctl.config import store

    from rrasctl.config.supported import describe, unsupported

    p = app.config_file()
    text = store.read_text(p)
    parsed = store.parse_config(p, text)
    if text is not None:
        from rrasctl.config import secrets

        sealed = list(secrets.find_sealed(store._unwrapped(store._parse(p, text))))
        problem = secrets.check_key(app.paths.key, sealed, open_all=check_secrets)
        if problem is not None:
            raise problem.error()
    app.say(f"{p}: valid" if text is not None else f"{p}: absent (the defaults apply)")
    for item in unsupported(parsed):   # valid, but the engine refuses it until it changes (decision 0121)
        app.say(f"warning: {describe(item)}; the engine refuses this configuration ({item.fix})")


@config.command("rekey")
@click.option("--reset-secrets", is_flag=True,
              help="Remove every sealed secret (they must be set again) instead of re-sealing them.")
@click.pass_obj
def rekey(app, reset_secrets: bool) -> None:
    """Start a new secrets key. Every secret is re-sealed under it (the current key must open them all), or with
    --reset-secrets removed: the way out when the key file is lost or replaced.

    Commands that seal a secret never create a new key while the config holds secrets sealed under another: this
    command is the explicit way to do it.

    \b
    Example:
        rrasctl config rekey
        rrasctl config rekey --reset-secrets
    """
    from rrasctl.config import secrets, store

    try:
        with store.edit(app.paths.config) as e:     # not app.edit(): the engine hears of it once the key is in place
            resealed, removed = secrets.rekey(app.paths.key, e, reset=reset_secrets)
            e.changed = True
    except BaseException:
        secrets.abandon_rekey(app.paths.key)
        raise
    secrets.commit_rekey(app.paths.key)
    app._tell_engine()
    if removed:
        app.say(f"warning: removed {len(removed)} sealed secret(s) that must now be set again: {', '.join(removed)}")
    app.say(f"new secrets key {app.paths.key}" + (f"; {len(resealed)} secret(s) re-sealed" if resealed else ""))


@config.command("export")
@click.option("--effective", is_flag=True, help="Print every setting, defaults included, not just the file.")
@click.pass_obj
def export(app, effective: bool) -> None:
    """Print the config file (TOML, comments kept; secrets stay sealed) to stdout.

    \b
    Example:
        rrasctl config export > backup.toml
    """
    from rrasctl.config import store

    text = store.read_text(app.config_file())
    config = store.parse_config(app.paths.config, text)
    if effective or text is None:
        click.echo(render_effective(config), nl=False)
    else:
        click.echo(text, nl=False)


def render_effective(config) -> str:
    import tomlkit

    from rrasctl.config.model import to_plain

    data = to_plain(config)

    def drop_none(x):
        if isinstance(x, dict):
            return {k: drop_none(v) for k, v in x.items() if v is not None}
        if isinstance(x, list):
            return [drop_none(v) for v in x]
        return x

    data = drop_none(data)
    for u in data.get("users", {}).values():
        u.pop("name", None)
    for d in data.get("demand_dial", {}).values():
        d.pop("name", None)
    doc = tomlkit.document()
    doc.add(tomlkit.comment(" rrasctl configuration (effective: defaults included)"))
    for k, v in data.items():
        if k == "policies":
            aot = tomlkit.aot()
            for p in v:
                t = tomlkit.table()
                t.update(p)
                aot.append(t)
            doc[k] = aot
        else:
            doc[k] = v
    return doc.as_string()


@config.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.pass_obj
def import_(app, file) -> None:
    """Replace the config with FILE ('-' for stdin) after validating it; an invalid FILE changes nothing.

    Secrets sealed under another key do not open here: you are told which, and must set them again.

    \b
    Example:
        rrasctl config import backup.toml
    """
    from rrasctl.config import migrate, store

    text = file.read()
    name = getattr(file, "name", "FILE")
    doc = store._parse(name, text)
    migrate.migrate(doc)  # an older file is imported in the current layout
    raw = doc.unwrap()
    from rrasctl.config.model import validate

    try:
        validate(raw)
    except ValidationError as e:
        raise ValidationError(f"{name}: {e.message}", hint="nothing was changed") from None
    bad = _unopenable(app, raw)
    with app.edit() as e:
        e.replace(doc)
    app.say(f"imported {name} into {app.paths.config}")
    if bad:
        app.say(f"warning: {len(bad)} secret(s) were sealed under another key and do not open here: "
                f"{', '.join(bad)}; set them again")
