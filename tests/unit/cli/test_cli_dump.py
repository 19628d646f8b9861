"""Acceptance 6: `dump`, replayed by bash into an empty config, recreates an equivalent configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rrasctl.config import store
from rrasctl.config.model import to_plain
from rrasctl.redact import redact

SETUP = [
    (["server", "set", "--edition", "enterprise", "--address-pool", "10.50.0.0/23", "--tunnel-address", "10.50.0.1",
      "--dns", "10.0.0.53,10.0.0.54", "--wins", "10.0.0.60", "--log-level", "debug", "--tun-name", "vpn7",
      "--pptp-echo-interval", "30", "--l2tp-hello-interval", "20", "--l2tp-hide-avps", "--l2tp-secret-stdin"],
     "l2tp-secret\n"),
    (["ports", "set", "pptp", "--count", "2000", "--no-demand-dial"], None),
    (["ports", "set", "l2tp", "--count", "0"], None),
    (["auth", "set", "--methods", "ms-chap-v2,eap-tls", "--encryption", "strong,strongest", "--provider", "radius",
      "--radius-server", "192.0.2.5", "--radius-server", "192.0.2.6:11812", "--radius-timeout", "7",
      "--accounting", "local", "--lockout-max", "5", "--lockout-reset", "30", "--secret-stdin"], "radius\n"),
    (["auth", "set", "--psk-stdin"], "psk-value\n"),
    (["users", "add", "alice", "--dial-in", "allow", "--static-ip", "10.50.0.9", "--password-stdin"], "pw\n"),
    (["users", "add", "branch2", "--route", "10.2.0.0/16", "--route", "10.3.0.0/16"], None),
    (["demand-dial", "add", "branch1", "--destination", "vpn.example.net", "--user", "hq", "--domain", "CORP",
      "--type", "l2tp", "--persistent", "--idle-timeout", "0", "--redial-attempts", "9", "--redial-interval", "15",
      "--route", "10.2.0.0/16", "--route", "10.9.0.0/24/7", "--dial-hours", "mon-fri 08:00-18:00; sat 09:00-12:00",
      "--encryption", "strongest", "--disabled", "--password-stdin"], "dd\n"),
    (["policy", "add", "staff", "--permission", "grant", "--users", "alice,bob", "--tunnel-type", "l2tp",
      "--methods", "ms-chap-v2", "--idle-timeout", "600", "--client-ip", "198.51.100.0/24"], None),
    (["policy", "add", "night", "--hours", "daily 00:00-06:00", "--auth-type", "pap,chap", "--position", "3"], None),
    (["policy", "add", "vip.users", "--permission", "grant", "--max-session", "3600", "--encryption", "strongest",
      "--static-ip", "10.50.1.1", "--address-pool", "10.60.0.0/24", "--position", "4"], None),
    (["policy", "set", "default", "--permission", "grant", "--tunnel-type", "pptp"], None),
]


def _masked(path: Path) -> dict:
    return redact(to_plain(store.load(path)))


def _replay(script: str, target: Path) -> subprocess.CompletedProcess:
    target.parent.mkdir(parents=True, exist_ok=True)     # an explicit config path needs its directory (0123)
    env = dict(os.environ, RRASCTL_CONFIG=str(target),
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(["bash", "-e"], input=script, env=env, capture_output=True, text=True, timeout=120)


def test_dump_replays_to_an_equivalent_config(rr, cfg, tmp_path):
    for args, inp in SETUP:
        r = rr(*args, input=inp)
        assert r.exit_code == 0, (args, r.stderr)
    r = rr("dump")
    assert r.exit_code == 0
    script = r.stdout
    for marker in ("# secret left out: the L2TP tunnel secret", "# secret left out: the RADIUS shared secret",
                   "# secret left out: the L2TP/IPsec pre-shared key", "# secret left out: the password of alice",
                   "# secret left out: the password of demand-dial interface branch1"):
        assert marker in script
    assert "enc:v" not in script
    target = tmp_path / "fresh" / "rrasctl.toml"
    p = _replay(script, target)
    assert p.returncode == 0, p.stderr
    original, replayed = _masked(cfg), _masked(target)
    # secrets are left out of a dump by design: the replayed config has them unset
    for where in (("users", "alice", "password"), ("auth", "psk"), ("auth", "radius_secret"),
                  ("demand_dial", "branch1", "password"), ("l2tp", "secret")):
        node_o, node_r = original, replayed
        for k in where[:-1]:
            node_o, node_r = node_o[k], node_r[k]
        assert node_o[where[-1]] == "********" and node_r[where[-1]] is None
        node_o[where[-1]] = None
    assert replayed == original
    assert [p["name"] for p in original["policies"]] == ["staff", "default", "night", "vip.users"]


def test_dump_of_a_config_without_the_default_policy(rr, cfg, tmp_path):
    assert rr("policy", "add", "only", "--permission", "grant").exit_code == 0
    assert rr("policy", "remove", "default").exit_code == 0
    target = tmp_path / "fresh.toml"
    p = _replay(rr("dump").stdout, target)
    assert p.returncode == 0, p.stderr
    assert _masked(target) == _masked(cfg)


def test_dump_of_defaults_replays_to_defaults(rr, cfg, tmp_path):
    target = tmp_path / "fresh.toml"
    p = _replay(rr("dump").stdout, target)
    assert p.returncode == 0, p.stderr
    # the defaults of this installation, its own address pool included (decision 0120)
    assert _masked(target) == redact(to_plain(store.load(cfg)))


def _export(target: Path) -> str:
    env = dict(os.environ, RRASCTL_CONFIG=str(target))
    p = subprocess.run([sys.executable, "-m", "rrasctl", "config", "export"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_the_dump_replays_twice_to_the_same_configuration(rr, cfg, tmp_path):
    """Issue #12: a second replay used to stop at "user 'alice' exists"; `--if-exists update` and
    `policy remove --missing-ok` make the script idempotent."""
    for args, inp in SETUP:
        assert rr(*args, input=inp).exit_code == 0
    assert rr("policy", "remove", "default").exit_code == 0           # the script then removes it, once
    script = rr("dump").stdout
    assert "rrasctl policy remove default --missing-ok" in script
    target = tmp_path / "fresh" / "rrasctl.toml"
    first = _replay(script, target)
    assert first.returncode == 0, first.stderr
    once = _export(target)
    second = _replay(script, target)
    assert second.returncode == 0, second.stderr
    assert "updated (it existed)" in second.stderr and "exists" not in second.stderr.replace("(it existed)", "")
    assert _export(target) == once
    original, replayed = _masked(cfg), _masked(target)
    for where in (("users", "alice", "password"), ("auth", "psk"), ("auth", "radius_secret"),
                  ("demand_dial", "branch1", "password"), ("l2tp", "secret")):
        node = original
        for k in where[:-1]:
            node = node[k]
        node[where[-1]] = None                                         # secrets are left out by design
    assert replayed == original


def test_if_exists_update_keeps_the_password_and_sets_exactly_what_is_given(rr, cfg):
    assert rr("users", "add", "alice", "--static-ip", "10.9.0.9", "--route", "10.2.0.0/16", "--password-stdin",
              input="pw\n").exit_code == 0
    r = rr("users", "add", "alice", "--dial-in", "allow")
    assert (r.exit_code, r.stderr) == (4, "error: user 'alice' exists\nhint: change it with: rrasctl users set "
                                          "alice …\n")
    r = rr("users", "add", "alice", "--dial-in", "allow", "--if-exists", "update")
    assert (r.exit_code, r.stderr) == (0, "user alice updated (it existed)\n")
    user = store.load(cfg).users["alice"]
    assert (user.dial_in, user.static_ip, user.routes) == ("allow", None, ()) and user.password is not None
    assert rr("demand-dial", "add", "hq", "--destination", "203.0.113.1", "--user", "b", "--persistent",
              "--password-stdin", input="dd\n").exit_code == 0
    r = rr("demand-dial", "add", "hq", "--destination", "203.0.113.9", "--user", "b", "--if-exists", "update")
    assert r.stderr == "demand-dial interface hq updated (it existed)\n"
    dd = store.load(cfg).demand_dial["hq"]
    assert (dd.destination, dd.persistent) == ("203.0.113.9", False) and dd.password is not None
    assert rr("policy", "add", "p1", "--permission", "grant").exit_code == 0
    r = rr("policy", "add", "p1", "--permission", "deny", "--position", "2", "--if-exists", "update")
    assert r.stderr == "policy p1 updated (it existed), now at position 2\n"
    assert [(p.name, p.permission) for p in store.load(cfg).policies] == [("default", "deny"), ("p1", "deny")]
    assert rr("policy", "remove", "nope", "--missing-ok").stderr == "policy nope does not exist: nothing to remove\n"
    assert rr("policy", "remove", "nope").exit_code == 3
