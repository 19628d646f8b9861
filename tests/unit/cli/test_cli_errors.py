"""Acceptance 7 (no engine: exit 5) and 10 (bad input exits 2 naming the value; nothing written)."""

from __future__ import annotations

import os

import pytest

ENGINE_COMMANDS = [
    ["engine", "status"], ["engine", "reload"],
    ["connections", "list"], ["connections", "show", "1"], ["connections", "disconnect", "1"],
    ["connections", "refusals"],
    ["demand-dial", "connect", "b1"], ["demand-dial", "disconnect", "b1"], ["demand-dial", "status"],
    ["demand-dial", "status", "b1"], ["connections", "list", "-o", "json"],
]


@pytest.mark.parametrize("args", ENGINE_COMMANDS, ids=" ".join)
def test_engine_backed_commands_exit_5_without_engine(rr, args):
    assert rr("demand-dial", "add", "b1", "--destination", "203.0.113.2", "--user", "hq").exit_code == 0
    r = rr(*args)
    sock = os.environ["RRASCTL_SOCKET"]
    assert r.exit_code == 5
    assert r.stdout == ""
    assert r.stderr == (f"error: the engine is not running (no socket at {sock})\n"
                        "hint: start it with: rrasctl engine run\n")


def test_ports_list_without_engine_leaves_live_columns_out(rr):
    r = rr("ports", "list", "-o", "json")
    assert r.exit_code == 0 and "in_use" not in r.stdout


BAD = [
    (["frobnicate"], "No such command 'frobnicate'"),
    (["ports", "list", "--colour"], "No such option '--colour'"),
    (["ports", "add", "gre", "1"], "'gre' is not one of 'pptp', 'l2tp'"),
    (["ports", "add", "pptp", "many"], "'many' is not a valid integer"),
    (["ports", "add", "pptp", "0"], "0 is not in the range x>=1"),
    (["server", "set", "--edition", "home"], "'home' is not one of 'web', 'standard', 'enterprise', 'datacenter'"),
    (["server", "set", "--address-pool", "10.0.0.0/33"], "'10.0.0.0/33' is not a valid CIDR"),
    (["server", "set", "--address-pool", "10.0.0.1/24"], "'10.0.0.1/24' is not a valid CIDR"),
    (["server", "set", "--listen-address", "300.1.1.1"], "'300.1.1.1' is not an IPv4 address"),
    (["server", "set", "--dns", "8.8.8.8,nope"], "'nope' is not an IPv4 address"),
    (["users", "add", "bad name"], "'bad name' is not a valid name"),
    (["users", "add", "al", "--static-ip", "10.1.2"], "'10.1.2' is not an IPv4 address"),
    (["users", "add", "al", "--route", "10.1.0.0"], "'10.1.0.0' is not a CIDR"),
    (["demand-dial", "add", "b1", "--destination", "h", "--user", "u", "--dial-hours", "mon 08:00-25:00"],
     "'mon 08:00-25:00' is not a valid hours spec"),
    (["demand-dial", "add", "b1", "--destination", "h", "--user", "u", "--route", "10.0.0.0/8/x"],
     "'10.0.0.0/8/x' has a metric that is not a number"),
    (["policy", "add", "p", "--hours", "someday 01:00-02:00"], "'someday 01:00-02:00' is not a valid hours spec"),
    (["auth", "set", "--methods", "ms-chap,md5"], "'md5' is not one of pap, chap, ms-chap, ms-chap-v2, eap-tls"),
    (["auth", "set", "--radius-server", "r1:99999"], "'r1:99999' has no valid port"),
    (["policy", "test", "--user", "a", "--tunnel", "pptp", "--auth", "pap", "--at", "tomorrow"],
     "--at: 'tomorrow' is not a time"),
]


@pytest.mark.parametrize("args,msg", BAD, ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_bad_input_exits_2_naming_the_value_and_writes_nothing(rr, cfg, args, msg):
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("# hand\nschema_version = 1\n")
    r = rr(*args)
    assert r.exit_code == 2, r.output
    assert msg in r.stderr
    assert r.stdout == ""
    assert cfg.read_text() == "# hand\nschema_version = 1\n"


@pytest.mark.parametrize("args,code,msg", [
    (["users", "show", "nobody"], 3, "error: no user 'nobody'\nhint: see: rrasctl users list\n"),
    (["users", "remove", "nobody"], 3, "error: no user 'nobody'\nhint: see: rrasctl users list\n"),
    (["policy", "show", "nope"], 3, "error: no policy 'nope'\nhint: see: rrasctl policy list\n"),
    (["demand-dial", "show", "x"], 3,
     "error: no demand-dial interface 'x'\nhint: see: rrasctl demand-dial list\n"),
    (["demand-dial", "connect", "x"], 3,
     "error: no demand-dial interface 'x'\nhint: see: rrasctl demand-dial list\n"),
])
def test_not_found_exit_3(rr, args, code, msg):
    r = rr(*args)
    assert (r.exit_code, r.stderr) == (code, msg)


def test_name_exists_exit_4(rr):
    assert rr("users", "add", "al").exit_code == 0
    r = rr("users", "add", "al")
    assert r.exit_code == 4 and r.stderr.startswith("error: user 'al' exists\n")
    r = rr("policy", "add", "default")
    assert r.exit_code == 4 and r.stderr.startswith("error: policy 'default' exists\n")


def test_unexpected_error_is_one_line_without_traceback(rr, monkeypatch):
    import rrasctl.config.store as store

    def boom(path):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "load", boom)
    r = rr("ports", "list")
    assert r.exit_code == 1
    assert r.stderr == ("error: an unexpected internal failure stopped the command (disk on fire)\n"
                        "hint: run again with RRASCTL_DEBUG=1 for the traceback, and report it\n")
    monkeypatch.setenv("RRASCTL_DEBUG", "1")
    with pytest.raises(RuntimeError):
        rr("ports", "list")
