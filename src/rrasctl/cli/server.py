"""rrasctl server show|set (SPEC §3)."""

from __future__ import annotations

import click

from rrasctl import editions
from rrasctl.cli import _secrets, _types
from rrasctl.cli._output import output_option
from rrasctl.config import model
from rrasctl.errors import Conflict

SECRET_MASK = "********"


def server_view(c: model.Config) -> dict:
    s = c.server
    return {
        "edition": s.edition, "max_concurrent": s.max_concurrent,
        "port_limits": dict(editions.PORT_LIMITS[s.edition]),
        "listen_address": s.listen_address, "address_pool": s.address_pool, "tunnel_address": s.tunnel_address,
        "dns": list(s.dns), "wins": list(s.wins), "log_level": s.log_level, "tun_name": s.tun_name,
        "pptp_echo_interval_s": c.pptp.echo_interval_s,
        "l2tp_secret": SECRET_MASK if c.l2tp.secret else None, "l2tp_hide_avps": c.l2tp.hide_avps,
        "l2tp_hello_interval_s": c.l2tp.hello_interval_s,
        "metrics_listen": s.metrics_listen, "metrics_per_session": s.metrics_per_session,
        "setup_per_source": s.setup_per_source, "setup_total": s.setup_total,
        "pptp_no_call_timeout_s": c.pptp.no_call_timeout_s, "l2tp_no_session_timeout_s": c.l2tp.no_session_timeout_s,
    }


@click.group()
def server() -> None:
    """Show or set the server: edition, addresses handed to clients, logging.

    \b
    Example:
        rrasctl server show
    """


@server.command("show")
@output_option
@click.pass_obj
def show(app) -> None:
    """Show the server settings, the edition and its limits.

    JSON: an object with edition, max_concurrent (null = no edition cap), port_limits, listen_address,
    address_pool, tunnel_address, dns, wins, log_level, tun_name, pptp_echo_interval_s, l2tp_secret,
    l2tp_hide_avps, l2tp_hello_interval_s, metrics_listen (null = off), metrics_per_session, setup_per_source and
    setup_total (0 = no limit), pptp_no_call_timeout_s and l2tp_no_session_timeout_s (0 = never).

    \b
    Example:
        rrasctl server show -o json
    """
    app.emit(server_view(app.load()))


def check_edition(config: model.Config, edition: str) -> None:
    """SPEC §3: switching to an edition whose port limit a pool exceeds is a conflict naming the pool."""
    for proto in model.PROTOCOLS:
        count, limit = config.ports[proto].count, editions.port_limit(edition, proto)
        if count > limit:
            raise Conflict(f"the {proto} pool has {count} ports, over the {edition} edition's limit of {limit}",
                           hint=f"first: rrasctl ports set {proto} --count {limit}")


@server.command("set")
@click.option("--edition", type=click.Choice(model.EDITIONS), help="web, standard, enterprise or datacenter.")
@click.option("--listen-address", type=_types.IP, help="Address the listeners bind (0.0.0.0 = all); a running engine applies it when restarted.")
@click.option("--address-pool", type=_types.CIDR, help="CIDR the clients' addresses come from.")
@click.option("--tunnel-address", type=_types.IP, help="The server's own address on the tunnel; a running engine applies it when restarted.")
@click.option("--dns", type=_types.IPS, help="DNS servers handed to clients, comma-separated ('' = none).")
@click.option("--wins", type=_types.IPS, help="WINS servers handed to clients, comma-separated ('' = none).")
@click.option("--log-level", type=click.Choice(model.LOG_LEVELS), help="The engine's log level.")
@click.option("--tun-name", type=_types.TUN, help="Name of the engine's TUN device; a running engine applies it when restarted.")
@click.option("--pptp-echo-interval", type=click.IntRange(0, 3600), metavar="SECONDS",
              help="PPTP Echo-Request interval (0 = off).")
@click.option("--l2tp-hello-interval", type=click.IntRange(0, 3600), metavar="SECONDS",
              help="L2TP HELLO interval (0 = off).")
@click.option("--l2tp-hide-avps/--no-l2tp-hide-avps", default=None, help="Hide sensitive L2TP AVPs (needs a secret).")
@click.option("--l2tp-secret-stdin", is_flag=True, help="Read the L2TP tunnel secret from stdin.")
@click.option("--no-l2tp-secret", is_flag=True, help="Remove the L2TP tunnel secret.")
@click.option("--metrics-listen", type=_types.LISTEN_OR_OFF, metavar="HOST:PORT|off",
              help="Serve Prometheus metrics there (a bare PORT means 127.0.0.1:PORT; off = no endpoint).")
@click.option("--metrics-per-session", type=_types.ON_OFF, metavar="on|off",
              help="Add one series per live connection to the metrics (off by default: cardinality).")
@click.option("--setup-per-source", type=click.IntRange(0, 1000), metavar="N",
              help="Calls one address may have in set-up (not yet authenticated) at once; 0 = no limit. Default 2.")
@click.option("--setup-total", type=click.IntRange(0, 2000), metavar="N",
              help="Calls all addresses together may have in set-up at once; 0 = no limit (the default).")
@click.option("--pptp-no-call-timeout", type=click.IntRange(0, 86400), metavar="SECONDS",
              help="Close an answered PPTP control connection that carries no call this long (0 = never). Default 60.")
@click.option("--l2tp-no-session-timeout", type=click.IntRange(0, 86400), metavar="SECONDS",
              help="Close an answered L2TP tunnel that carries no session this long (0 = never). Default 60.")
@click.pass_obj
def set_(app, edition, listen_address, address_pool, tunnel_address, dns, wins, log_level, tun_name,
         pptp_echo_interval, l2tp_hello_interval, l2tp_hide_avps, l2tp_secret_stdin, no_l2tp_secret,
         metrics_listen, metrics_per_session, setup_per_source, setup_total, pptp_no_call_timeout,
         l2tp_no_session_timeout) -> None:
    """Change server settings; only the options given change.

    A running engine applies them at once, except --listen-address, --tunnel-address and --tun-name, which it
    applies when it next starts: the command then says so, and `rrasctl engine status` lists them as pending.
    The metrics endpoint is off by default; it listens on loopback unless a non-loopback address is written out,
    and a running engine moves it at once. A call counts as in set-up from its first message until its user is
    authenticated (at most 30 s); a caller over --setup-per-source or --setup-total is answered busy (error 676).
    The no-call/no-session timeouts apply to connections answered after the change.

    \b
    Example:
        rrasctl server set --edition enterprise --dns 10.0.0.53,10.0.0.54
        printf '%s\\n' "$SECRET" | rrasctl server set --l2tp-secret-stdin --l2tp-hide-avps
        rrasctl server set --metrics-listen 127.0.0.1:9477
        rrasctl server set --setup-per-source 4 --setup-total 64
    """
    secret = _secrets.read("L2TP tunnel secret", stdin=l2tp_secret_stdin, ask=False)
    values = {"edition": edition, "listen_address": listen_address, "address_pool": address_pool,
              "tunnel_address": tunnel_address, "dns": None if dns is None else list(dns),
              "wins": None if wins is None else list(wins), "log_level": log_level, "tun_name": tun_name,
              "setup_per_source": setup_per_source, "setup_total": setup_total}
    with app.edit() as e:
        if edition is not None:
            check_edition(e.config, edition)
        for k, v in values.items():
            if v is not None:
                e.set(["server", k], v)
        moved = None
        if address_pool is not None and tunnel_address is None:
            import ipaddress

            net = ipaddress.IPv4Network(address_pool)
            if ipaddress.IPv4Address(e.config.server.tunnel_address) not in net and net.num_addresses > 2:
                moved = str(next(net.hosts()))  # keep the server's own address inside its pool
                e.set("server.tunnel_address", moved)
        if pptp_echo_interval is not None:
            e.set("pptp.echo_interval_s", pptp_echo_interval)
        if l2tp_hello_interval is not None:
            e.set("l2tp.hello_interval_s", l2tp_hello_interval)
        if pptp_no_call_timeout is not None:
            e.set("pptp.no_call_timeout_s", pptp_no_call_timeout)
        if l2tp_no_session_timeout is not None:
            e.set("l2tp.no_session_timeout_s", l2tp_no_session_timeout)
        if l2tp_hide_avps is not None:
            e.set("l2tp.hide_avps", l2tp_hide_avps)
        if secret is not None:
            e.set("l2tp.secret", app.seal(secret))
        if no_l2tp_secret:
            e.delete("l2tp.secret")
        if metrics_listen == "off":
            e.delete("server.metrics_listen")
        elif metrics_listen is not None:
            e.set("server.metrics_listen", metrics_listen)
        if metrics_per_session is not None:
            e.set("server.metrics_per_session", metrics_per_session)
        after = e.preview()
    if moved is not None:
        app.say(f"tunnel address moved into the new pool: {moved}")
    if metrics_listen is not None:
        _say_metrics(app, after.server.metrics_listen)
    if edition is not None:
        app.say(f"edition: {after.server.edition} (max concurrent: {after.max_concurrent or 'no edition cap'})")
    else:
        app.say("server settings saved")


def _say_metrics(app, listen: str | None) -> None:
    if listen is None:
        app.say("metrics endpoint: off")
        return
    app.say(f"metrics endpoint: http://{listen}/metrics")
    host = listen.rpartition(":")[0].strip("[]")
    if host != "localhost" and not host.startswith("127.") and host != "::1":
        app.say(f"warning: {host} is not a loopback address: anyone who can reach it can read the metrics "
                "(no authentication); filter the port or use 127.0.0.1")
