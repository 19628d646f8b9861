"""rrasctl connections list|show|disconnect|refusals (SPEC §6, §7): all through the engine's control socket."""

from __future__ import annotations

import click

from rrasctl.cli import _complete
from rrasctl.cli._output import output_option

COLUMNS = ["id", "protocol", "user", "interface", "peer", "port", "ip", "encryption", "auth", "started",
           "bytes_in", "bytes_out"]
# left out first when the terminal is narrow (decision 0124); `-o json` keeps them
DROP = ("started", "interface", "bytes_in", "bytes_out", "encryption", "protocol")
REFUSAL_COLUMNS = ["time", "peer", "user", "protocol", "cause", "wire_code", "windows_error"]
REFUSAL_DROP = ("wire_code", "protocol")


@click.group()
def connections() -> None:
    """Live connections and refused attempts, from the running engine.

    \b
    Example:
        rrasctl connections list
    """


@connections.command("list")
@output_option
@click.pass_obj
def list_(app) -> None:
    """List live connections.

    JSON: a list of objects with id, protocol, user, interface (or null), peer, port, ip, encryption, auth,
    started (ISO 8601 UTC), bytes_in, bytes_out.

    \b
    Example:
        rrasctl connections list -o json
    """
    rows = app.engine("connections.list")
    app.emit(rows or [], COLUMNS, drop=DROP)


@connections.command("show")
@click.argument("id_", metavar="ID", shell_complete=_complete.connection_ids)
@output_option
@click.pass_obj
def show(app, id_: str) -> None:
    """Show one connection.

    JSON: an object with the keys of `connections list` and whatever detail the engine adds.

    \b
    Example:
        rrasctl connections show 3
    """
    app.emit(app.engine("connections.show", {"id": _id(id_)}))


@connections.command("disconnect")
@click.argument("id_", metavar="ID", shell_complete=_complete.connection_ids)
@click.pass_obj
def disconnect(app, id_: str) -> None:
    """Disconnect one connection (the peer gets the protocol's clean teardown).

    \b
    Example:
        rrasctl connections disconnect 3
    """
    app.engine("connections.disconnect", {"id": _id(id_)})
    app.say(f"connection {id_} disconnected")


@connections.command("refusals")
@output_option
@click.pass_obj
def refusals(app) -> None:
    """List refused connection attempts with the cause, the wire code sent and the Windows error shown.

    JSON: a list of objects with time, peer, user, protocol, cause, wire_code, windows_error.

    \b
    Example:
        rrasctl connections refusals -o json
    """
    rows = app.engine("connections.refusals")
    app.emit(rows or [], REFUSAL_COLUMNS, drop=REFUSAL_DROP, tail="cause")


@connections.command("watch")
@click.option("--interval", type=click.FloatRange(min=0.1, max=3600), default=1.0, show_default=True,
              metavar="SECONDS", help="Time between refreshes.")
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="Stop after N refreshes (default: never).")
@click.pass_obj
def watch(app, interval: float, count: int | None) -> None:
    """Live view of the connections: rates in and out, duration, auth, encryption, sorted by rate.

    The header shows the totals and the refusals of the last minute. On a terminal it redraws in place (q or
    Ctrl-C quits); in a pipe it prints one plain snapshot per refresh.

    \b
    Example:
        rrasctl connections watch
        rrasctl connections watch --count 3 --interval 5 | tee snapshots.txt
    """
    import sys

    from rrasctl.cli import watch as live

    def call(op: str):
        return app.engine(op, timeout=5.0)

    call("connections.list")       # no engine: exit 5 before the screen is taken over
    try:
        if sys.stdout.isatty():
            live.run_tty(call, interval, count)
        else:
            live.run_plain(call, interval, count)
    except KeyboardInterrupt:
        pass


def _id(value: str):
    return int(value) if value.isdigit() else value
