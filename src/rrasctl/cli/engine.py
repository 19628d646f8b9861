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
    """Ask the running engine for its status.

    pending_restart lists saved settings the engine applies only when it starts (listen address, tunnel address,
    TUN name) whose saved value differs from the running one.

    JSON: the engine's status object (as documented by the engine: pid, uptime, listeners, sessions, …,
    pending_restart: a list of objects with key, running, saved, why).

    \b
    Example:
        rrasctl engine status -o json
    """
    status = app.engine("status")
    if app.output == "json" or not isinstance(status, dict):
        app.emit(status)
        return
    summary = {k: v for k, v in status.items() if not isinstance(v, (dict, list))}
    for k in ("listeners", "tun", "address_pool"):
        if isinstance(status.get(k), dict):
            summary[k] = status[k]
    if status.get("notes"):
        summary["notes"] = status["notes"]
    if status.get("pending_restart"):   # saved, applied when the engine starts (decision 0122)
        summary["pending_restart"] = [f"{p.get('key')} (running {p.get('running')}, saved {p.get('saved')})"
                                      for p in status["pending_restart"]]
    app.emit(summary)
    if isinstance(status.get("ports"), list) and status["ports"]:
        click.echo()
        app.emit(status["ports"])


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
