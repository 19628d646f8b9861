"""rrasctl engine run|status|reload (SPEC §6). `run` imports the engine (asyncio) inside the function."""

from __future__ import annotations

import click

from rrasctl.cli._output import output_option
from rrasctl.config.model import LOG_LEVELS


@click.group()
def engine() -> None:
    """The tunnel engine: run it in the foreground, ask its status, make it re-read the config.

    \b
    Example:
        sudo rrasctl engine run --log-level debug
    """


@engine.command("run")
@click.option("--log-level", type=click.Choice(LOG_LEVELS), help="Default: server.log_level of the config.")
@click.option("--config", "config_path", metavar="PATH", type=click.Path(dir_okay=False),
              help="The config file (same as the global --config).")
@click.pass_obj
def run(app, log_level: str | None, config_path: str | None) -> None:
    """Run the engine in the foreground until Ctrl-C or SIGTERM (needs root or CAP_NET_ADMIN + CAP_NET_RAW).

    It logs to stderr, listens on the enabled protocols, brings up the TUN device and serves the control socket.
    SIGHUP re-reads the configuration.

    \b
    Example:
        sudo rrasctl engine run
    """
    if config_path is not None:
        app.config_flag, app._paths = config_path, None
    app.config_file()   # an explicit path in a missing directory: exit 2 before anything starts
    if log_level is None:
        log_level = app.load().server.log_level
    from rrasctl.engine.run import main

    raise SystemExit(main(app.paths, log_level))


@engine.command("status")
@output_option
@click.pass_obj
def status(app) -> None:
    """Ask the running engine for its status: grouped text (everything the JSON has), or -o json.

    pending_restart lists saved settings the engine applies only when it starts (listen address, tunnel address,
    TUN name) whose saved value differs from the running one.

    JSON: the engine's status object: pid, version, started, uptime_s, edition, max_concurrent, inbound, sessions,
    config, socket, state_dir, ports, listeners, tun, address_pool, counters (accepted, refused, malformed,
    dropped, ended), drivers (each driver's figures, L2TP offload included), timers, metrics (listen, state,
    scrapes), event_loop (lag_s, lag_max_s, probes), notes, pending_restart (a list of objects with key, running,
    saved, why).

    \b
    Example:
        rrasctl engine status -o json
    """
    status = app.engine("status")
    if app.output == "json" or not isinstance(status, dict):
        app.emit(status)
        return
    from rrasctl.cli._status import render

    click.echo(render(status), nl=False)


@engine.command("install-service")
@click.option("--unit-dir", type=click.Path(file_okay=False), default="/etc/systemd/system", show_default=True,
              help="Where to write rrasctl.service.")
@click.option("--service-config", metavar="PATH", default="/etc/rrasctl/rrasctl.toml", show_default=True,
              help="The config file the service reads (RRASCTL_CONFIG in the unit).")
@click.option("--exec", "exec_start", metavar="COMMAND", help="How to start rrasctl (default: this installation).")
@click.option("--dry-run", "--stdout", "dry_run", is_flag=True, help="Print the unit on stdout; write nothing.")
@click.pass_obj
def install_service(app, unit_dir: str, service_config: str, exec_start: str | None, dry_run: bool) -> None:
    """Write the systemd unit rrasctl.service (Type=notify, watchdog, hardening) and say what to run next.

    The service reads --service-config (default /etc/rrasctl/rrasctl.toml), not your shell's config: configure it
    with RRASCTL_CONFIG set to the same path. It runs as root with only CAP_NET_ADMIN, CAP_NET_RAW and
    CAP_NET_BIND_SERVICE, a read-only file system except /var/lib/rrasctl, and logs to the journal with fields
    (journalctl -u rrasctl RRAS_USER=alice).

    \b
    Example:
        sudo rrasctl engine install-service
        sudo systemctl daemon-reload && sudo systemctl enable --now rrasctl
        rrasctl engine install-service --dry-run
    """
    import os

    from rrasctl import service_unit
    from rrasctl.errors import RrasctlError, ValidationError

    if not os.path.isabs(service_config):
        raise ValidationError(f"--service-config must be an absolute path, not {service_config!r}")
    try:
        unit = service_unit.render(exec_start=exec_start, config=service_config)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    if dry_run:
        click.echo(unit.text, nl=False)
        return
    path = os.path.join(unit_dir, service_unit.UNIT_NAME)
    existed = os.path.exists(path)
    tmp = path + ".tmp"
    try:
        os.makedirs(unit_dir, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(unit.text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise RrasctlError(f"cannot write {path}: {exc.strerror or exc}",
                           hint="run it as root, or choose another --unit-dir") from None
    app.say(f"{'replaced' if existed else 'wrote'} {path}")
    app.say(f"  ExecStart={unit.exec_start} engine run")
    app.say(f"  RRASCTL_CONFIG={unit.config}; state in /var/lib/rrasctl")
    for note in unit.notes:
        app.say(f"  note: {note}")
    app.say("next:")
    app.say("  systemctl daemon-reload && systemctl enable --now rrasctl")
    app.say(f"  export RRASCTL_CONFIG={unit.config}    # so rrasctl commands edit the file the service reads")
    app.say("  journalctl -u rrasctl -f")


@engine.command("reload")
@click.pass_obj
def reload(app) -> None:
    """Make the running engine re-read the configuration (like SIGHUP); a bad config is refused and the old kept.

    \b
    Example:
        rrasctl engine reload
    """
    app.engine("reload")
    app.say("engine reloaded the configuration")
