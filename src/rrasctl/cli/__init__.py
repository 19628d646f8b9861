"""The root of the Click tree: a lazy group (one module per command group, imported only when used), the global
``--config`` option, and the mapping of RrasctlError to ``error: …`` on stderr and its exit code (SPEC §7)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

# name -> "module:attribute"; a module is imported only when its group runs (or for --help listings).
COMMANDS: dict[str, str] = {
    "server": "rrasctl.cli.server:server",
    "ports": "rrasctl.cli.ports:ports",
    "auth": "rrasctl.cli.auth:auth",
    "users": "rrasctl.cli.users:users",
    "policy": "rrasctl.cli.policy:policy",
    "demand-dial": "rrasctl.cli.demand_dial:demand_dial",
    "connections": "rrasctl.cli.connections:connections",
    "engine": "rrasctl.cli.engine:engine",
    "config": "rrasctl.cli.config:config",
    "dump": "rrasctl.cli.dump:dump",
    "trace": "rrasctl.cli.trace:trace",  # helper H5's module; listed only once it exists
}

SHORT_HELP: dict[str, str] = {
    "server": "Show or set the server: edition, addresses, logging.",
    "ports": "PPTP and L2TP port pools.",
    "auth": "Authentication methods, encryption, RADIUS, PSK, lockout.",
    "users": "Local users and their dial-in permission.",
    "policy": "Ordered remote access policies; test which one matches.",
    "demand-dial": "Demand-dial (router-to-router) interfaces.",
    "connections": "Live connections and refused attempts (engine).",
    "engine": "Run the tunnel engine, ask its status, reload it.",
    "config": "Where the files are; check, export, import the config.",
    "dump": "Print a script of rrasctl commands that recreates the config.",
    "trace": "Decode pcap captures with the engine's own protocol code.",
}


def _available(name: str) -> bool:
    module = COMMANDS[name].partition(":")[0]
    if module.startswith("rrasctl.cli."):
        here = os.path.dirname(__file__)
        return os.path.exists(os.path.join(here, module.rsplit(".", 1)[1] + ".py"))
    return importlib.util.find_spec(module) is not None


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _available(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module, _, attr = COMMANDS[cmd_name].partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            if os.environ.get("RRASCTL_DEBUG"):
                raise
            return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # short help from the table above, so `rrasctl --help` imports no group module
        rows = [(n, SHORT_HELP.get(n, "")) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        from rrasctl.errors import RrasctlError

        try:
            return super().invoke(ctx)
        except RrasctlError as e:
            report(e)
            ctx.exit(e.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            _quiet_broken_pipe()
            ctx.exit(1)
        except Exception as e:  # an unexpected failure: one line, no traceback unless RRASCTL_DEBUG=1
            if os.environ.get("RRASCTL_DEBUG"):
                raise
            detail = str(e).strip() or "no detail"   # never the exception's class name (decision 0123)
            click.echo(f"error: an unexpected internal failure stopped the command ({detail})", err=True)
            click.echo("hint: run again with RRASCTL_DEBUG=1 for the traceback, and report it", err=True)
            ctx.exit(1)


def _quiet_broken_pipe() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def report(e) -> None:
    click.echo(f"error: {e.message}", err=True)
    if e.hint:
        click.echo(f"hint: {e.hint}", err=True)


def _version() -> str:
    from rrasctl import __version__

    return __version__


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", type=click.Path(dir_okay=False),
              help="The config file (default: $RRASCTL_CONFIG, else the user config dir).")
@click.version_option(package_name="rrasctl", prog_name="rrasctl", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """rrasctl: a Windows-RRAS-style VPN router for Linux (PPTP, L2TP, L2TP/IPsec).

    Configuration commands change the TOML config file; engine-backed commands talk to a running
    `rrasctl engine run` over its control socket (exit code 5 when none runs).

    Exit codes: 0 ok, 1 failure, 2 usage or validation error, 3 not found, 4 limit or conflict,
    5 engine not running.

    \b
    Example:
        rrasctl ports list
        rrasctl --config ./lab.toml server set --edition enterprise
    """
    from rrasctl.cli._app import App

    ctx.obj = App(config_path)


def run() -> None:
    cli.main(prog_name="rrasctl")
