"""rrasctl auth show|set (SPEC §4)."""

from __future__ import annotations

import click

from rrasctl.cli import _secrets, _types
from rrasctl.cli._output import output_option
from rrasctl.config import model
from rrasctl.router.notes import weak_choices

MASK = "********"


def offer_order(methods: tuple[str, ...]) -> tuple[str, ...]:
    """SPEC §4: the order an authenticator asks for METHODS in: strongest first (model.METHODS is weakest first),
    whatever the list's order; the PPP core (protocols/ppp/auth STRENGTH_ORDER) asks in the same order."""
    return tuple(sorted(dict.fromkeys(methods), key=model.METHODS.index, reverse=True))


def auth_view(c: model.Config) -> dict:
    a = c.auth
    return {
        "methods": list(a.methods), "offer_order": list(offer_order(a.methods)),
        "encryption": list(a.encryption), "provider": a.provider,
        "radius_servers": [str(s) for s in a.radius_servers], "radius_secret": MASK if a.radius_secret else None,
        "radius_timeout_s": a.radius_timeout_s, "accounting": a.accounting, "psk": MASK if a.psk else None,
        "lockout_max": a.lockout.max_failures, "lockout_reset_minutes": a.lockout.reset_minutes,
        "eap_tls_cert": a.eap_tls_cert, "eap_tls_key": a.eap_tls_key, "eap_tls_ca": a.eap_tls_ca,
        "weak": weak_choices(a.methods, a.encryption),
    }


def _marked(view: dict) -> dict:
    """The table form: weak methods and levels marked where they are listed, and why, one line each."""
    from rrasctl.router.notes import why_weak

    weak = set(view["weak"])
    out = dict(view)
    for key in ("methods", "encryption"):
        out[key] = [f"{x} (weak)" if x in weak else x for x in view[key]]
    out["weak"] = "; ".join(f"{x}: {why_weak(x)}" for x in view["weak"]) or None
    return out


@click.group()
def auth() -> None:
    """Authentication: methods, encryption levels, provider (local/RADIUS), accounting, PSK, lockout.

    \b
    Example:
        rrasctl auth set --methods ms-chap-v2 --encryption strongest
    """


@auth.command("show")
@output_option
@click.pass_obj
def show(app) -> None:
    """Show the authentication settings (secrets as ********).

    offer_order is the order the server asks a caller for the methods in: strongest first (eap-tls, ms-chap-v2,
    ms-chap, chap, pap), whatever the order of the list. Weak choices are marked: PAP, CHAP, MS-CHAP v1, no
    encryption, basic (40-bit MPPE / DES) and strong (56-bit MPPE / DES).

    JSON: an object with methods, offer_order, encryption, provider, radius_servers, radius_secret,
    radius_timeout_s, accounting, psk, lockout_max, lockout_reset_minutes, eap_tls_cert, eap_tls_key, eap_tls_ca,
    weak (the weak methods and levels among those allowed).

    \b
    Example:
        rrasctl auth show -o json
    """
    view = auth_view(app.load())
    app.emit(view if app.output == "json" else _marked(view))


@auth.command("set")
@click.option("--methods", type=_types.METHODS,
              help="Allowed methods: pap,chap,ms-chap,ms-chap-v2,eap-tls (asked for strongest first, any order).")
@click.option("--encryption", type=_types.LEVELS, help="Allowed encryption levels: none,basic,strong,strongest.")
@click.option("--provider", type=click.Choice(model.PROVIDERS), help="Who checks credentials: local or radius.")
@click.option("--radius-server", "radius_servers", type=_types.RADIUS, multiple=True,
              help="A RADIUS server HOST[:PORT]; repeat in order of preference (replaces the list).")
@click.option("--no-radius-servers", is_flag=True, help="Remove every RADIUS server.")
@click.option("--secret-stdin", is_flag=True, help="Read the RADIUS shared secret from stdin.")
@click.option("--radius-timeout", type=click.IntRange(1, 300), metavar="SECONDS", help="RADIUS reply timeout.")
@click.option("--accounting", type=click.Choice(model.ACCOUNTING), help="none, local (JSON lines) or radius.")
@click.option("--psk-stdin", is_flag=True, help="Read the L2TP/IPsec pre-shared key from stdin.")
@click.option("--no-psk", is_flag=True, help="Remove the L2TP/IPsec pre-shared key.")
@click.option("--lockout-max", type=click.IntRange(0, 1000), metavar="N", help="Failures before lockout (0 = off).")
@click.option("--lockout-reset", type=click.IntRange(0, 525600), metavar="MINUTES",
              help="Minutes until a locked account unlocks and failures are forgotten.")
@click.option("--eap-tls-cert", type=click.Path(dir_okay=False), help="EAP-TLS server certificate (PEM).")
@click.option("--eap-tls-key", type=click.Path(dir_okay=False), help="EAP-TLS server private key (PEM).")
@click.option("--eap-tls-ca", type=click.Path(dir_okay=False), help="EAP-TLS CA certificate(s) (PEM).")
@click.pass_obj
def set_(app, methods, encryption, provider, radius_servers, no_radius_servers, secret_stdin, radius_timeout,
         accounting, psk_stdin, no_psk, lockout_max, lockout_reset, eap_tls_cert, eap_tls_key, eap_tls_ca) -> None:
    """Change authentication settings; only the options given change.

    \b
    Example:
        rrasctl auth set --methods ms-chap-v2 --encryption strong,strongest
        printf '%s\\n' "$PSK" | rrasctl auth set --psk-stdin
        printf '%s\\n' "$SECRET" | rrasctl auth set --provider radius --radius-server 10.0.0.5 --secret-stdin
    """
    if secret_stdin and psk_stdin:
        raise click.UsageError("--secret-stdin and --psk-stdin both read stdin: give one per command")
    secret = _secrets.read("RADIUS shared secret", stdin=secret_stdin, ask=False)
    psk = _secrets.read("pre-shared key", stdin=psk_stdin, ask=False)
    with app.edit() as e:
        for key, v in (("methods", methods), ("encryption", encryption)):
            if v is not None:
                e.set(["auth", key], list(v))
        for key, v in (("provider", provider), ("radius_timeout_s", radius_timeout), ("accounting", accounting),
                       ("eap_tls_cert", eap_tls_cert), ("eap_tls_key", eap_tls_key), ("eap_tls_ca", eap_tls_ca)):
            if v is not None:
                e.set(["auth", key], v)
        if no_radius_servers:
            e.delete("auth.radius_servers")
        if radius_servers:
            e.set("auth.radius_servers", [str(s) for s in radius_servers])
        if lockout_max is not None:
            e.set("auth.lockout.max_failures", lockout_max)
        if lockout_reset is not None:
            e.set("auth.lockout.reset_minutes", lockout_reset)
        if secret is not None:
            e.set("auth.radius_secret", app.seal(secret))
        if psk is not None:
            e.set("auth.psk", app.seal(psk))
        if no_psk:
            e.delete("auth.psk")
        after = e.preview()
    app.say("authentication settings saved")
    warn_unsupported(app, after, {"auth.provider": provider, "auth.accounting": accounting, "auth.methods": methods})


def warn_unsupported(app, config: model.Config, given: dict) -> None:
    """A setting just stored that the engine cannot honour yet: say so, and that the engine refuses it (0121)."""
    from rrasctl.config.supported import describe, unsupported

    for item in unsupported(config):
        if given.get(item.key) is not None:
            app.say(f"warning: {describe(item)}; `rrasctl engine run` and `engine reload` refuse this "
                    f"configuration until it changes ({item.fix})")
