"""rrasctl dump: a shell script of rrasctl commands that recreates the configuration (like `netsh ras dump`).

Replayed by bash into an empty config it gives an equivalent configuration; secrets are left out, each marked by a
comment saying how to set it (docs/decisions/0008-dump-format.md)."""

from __future__ import annotations

import shlex

import click

from rrasctl.config import model


def _q(v) -> str:
    return shlex.quote(str(v))


def _csv(values) -> str:
    return _q(",".join(values))


def script(c: model.Config) -> str:
    d = model.Config()
    out = ["#!/bin/sh", "# rrasctl dump: replay with `sh FILE` (or bash) to recreate this configuration.",
           f"# schema_version {c.schema_version}; secrets are left out and marked below.", "set -e", ""]
    s, ds = c.server, d.server
    args = [f"--edition {_q(s.edition)}"] if s.edition != ds.edition else []
    # ports first when lowering an edition would not fit, edition first otherwise: emit edition after pools
    # only if needed; pools are set below and always fit the dumped edition.
    # the pool and tunnel address are always written: their default differs per installation (decision 0120)
    args += [f"--address-pool {_q(s.address_pool)}", f"--tunnel-address {_q(s.tunnel_address)}"]
    for opt, v, dv in (("--listen-address", s.listen_address, ds.listen_address),
                       ("--log-level", s.log_level, ds.log_level), ("--tun-name", s.tun_name, ds.tun_name)):
        if v != dv:
            args.append(f"{opt} {_q(v)}")
    if s.dns:
        args.append(f"--dns {_csv(s.dns)}")
    if s.wins:
        args.append(f"--wins {_csv(s.wins)}")
    if c.pptp.echo_interval_s != d.pptp.echo_interval_s:
        args.append(f"--pptp-echo-interval {c.pptp.echo_interval_s}")
    if c.l2tp.hello_interval_s != d.l2tp.hello_interval_s:
        args.append(f"--l2tp-hello-interval {c.l2tp.hello_interval_s}")
    if c.l2tp.hide_avps:
        args.append("--l2tp-hide-avps")
    for opt, v, dv in (("--setup-per-source", s.setup_per_source, ds.setup_per_source),
                       ("--setup-total", s.setup_total, ds.setup_total),
                       ("--pptp-no-call-timeout", c.pptp.no_call_timeout_s, d.pptp.no_call_timeout_s),
                       ("--l2tp-no-session-timeout", c.l2tp.no_session_timeout_s, d.l2tp.no_session_timeout_s)):
        if v != dv:
            args.append(f"{opt} {v}")
    if s.metrics_listen:
        args.append(f"--metrics-listen {_q(s.metrics_listen)}")
    if s.metrics_per_session:
        args.append("--metrics-per-session on")
    out.append("# server")
    out.append("rrasctl server set " + " ".join(args) if args else "# (server: defaults)")
    if c.l2tp.secret:
        out.append("# secret left out: the L2TP tunnel secret; set it with: rrasctl server set --l2tp-secret-stdin")
    out.append("")
    out.append("# ports")
    for p in model.PROTOCOLS:
        pool = c.ports[p]
        out.append(f"rrasctl ports set {p} --count {pool.count} "
                   f"--{'' if pool.remote_access else 'no-'}remote-access --{'' if pool.demand_dial else 'no-'}demand-dial")
    out.append("")
    a, da = c.auth, d.auth
    args = [f"--methods {_csv(a.methods)}", f"--encryption {_csv(a.encryption)}"]
    if a.radius_servers:
        args += [f"--radius-server {_q(str(r))}" for r in a.radius_servers]
    args += [f"--provider {a.provider}", f"--accounting {a.accounting}"]
    if a.radius_timeout_s != da.radius_timeout_s:
        args.append(f"--radius-timeout {a.radius_timeout_s}")
    args += [f"--lockout-max {a.lockout.max_failures}", f"--lockout-reset {a.lockout.reset_minutes}"]
    for opt, v in (("--eap-tls-cert", a.eap_tls_cert), ("--eap-tls-key", a.eap_tls_key), ("--eap-tls-ca", a.eap_tls_ca)):
        if v:
            args.append(f"{opt} {_q(v)}")
    out.append("# authentication")
    out.append("rrasctl auth set " + " ".join(args))
    if a.radius_secret:
        out.append("# secret left out: the RADIUS shared secret; set it with: rrasctl auth set --secret-stdin")
    if a.psk:
        out.append("# secret left out: the L2TP/IPsec pre-shared key; set it with: rrasctl auth set --psk-stdin")
    out.append("")
    if c.users:
        out.append("# users")
    for name, u in sorted(c.users.items()):
        args = [f"rrasctl users add {_q(name)} --if-exists update --dial-in {u.dial_in}"]
        if u.static_ip:
            args.append(f"--static-ip {u.static_ip}")
        args += [f"--route {r}" for r in u.routes]
        out.append(" ".join(args) + " </dev/null")
        if u.password:
            out.append(f"# secret left out: the password of {name}; set it with: "
                       f"rrasctl users set {_q(name)} --password-stdin")
    if c.users:
        out.append("")
    if c.demand_dial:
        out.append("# demand-dial interfaces")
    for name, x in sorted(c.demand_dial.items()):
        args = [f"rrasctl demand-dial add {_q(name)} --if-exists update --destination {_q(x.destination)} "
                f"--user {_q(x.user)}",
                f"--type {x.type}"]
        if x.domain:
            args.append(f"--domain {_q(x.domain)}")
        args.append("--persistent" if x.persistent else "--on-demand")
        args += [f"--idle-timeout {x.idle_timeout_s}", f"--redial-attempts {x.redial_attempts}",
                 f"--redial-interval {x.redial_interval_s}", f"--encryption {x.encryption}",
                 "--enabled" if x.enabled else "--disabled"]
        if x.dial_hours:
            args.append(f"--dial-hours {_q(x.dial_hours)}")
        args += [f"--route {_q(str(r))}" for r in x.routes]
        out.append(" ".join(args) + " </dev/null")
        if x.password:
            out.append(f"# secret left out: the password of demand-dial interface {name}; set it with: "
                       f"rrasctl demand-dial set {_q(name)} --password-stdin")
    if c.demand_dial:
        out.append("")
    out.append("# remote access policies, in order (a fresh config holds `default`)")
    names = [p.name for p in c.policies]
    if "default" not in names:
        out.append("rrasctl policy remove default --missing-ok")
    for i, p in enumerate(c.policies):
        verb = "set default" if p.name == "default" else f"add {_q(p.name)} --if-exists update"
        args = [f"rrasctl policy {verb} --permission {p.permission}"]
        for opt, v in (("--tunnel-type", p.tunnel_types), ("--users", p.users), ("--client-ip", p.client_ips),
                       ("--auth-type", p.auth_types)):
            if v:
                args.append(f"{opt} {_csv(v)}")
        if p.hours:
            args.append(f"--hours {_q(p.hours)}")
        for opt, v in (("--methods", p.methods), ("--encryption", p.encryption)):
            if v is not None:
                args.append(f"{opt} {_csv(v)}")
        for opt, v in (("--idle-timeout", p.idle_timeout_s), ("--max-session", p.max_session_s),
                       ("--static-ip", p.static_ip), ("--address-pool", p.address_pool)):
            if v is not None:
                args.append(f"{opt} {_q(v)}")
        if p.name != "default":
            args.append(f"--position {i + 1}")
        out.append(" ".join(args))
    return "\n".join(out) + "\n"


@click.command()
@click.pass_obj
def dump(app) -> None:
    """Print a script of rrasctl commands that recreates the configuration (secrets left out, marked).

    \b
    Example:
        rrasctl dump > router.sh
        RRASCTL_CONFIG=/tmp/new.toml sh router.sh
    """
    click.echo(script(app.load()), nl=False)
