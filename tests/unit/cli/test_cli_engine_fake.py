"""Engine-backed commands against a scripted control socket (no root needed): live columns, progress, the exit code
of an error reply, `ports remove` refused by live connections (file unchanged)."""

from __future__ import annotations

import json
import os

import pytest
from support import FakeEngine

from rrasctl.control import messages


@pytest.fixture
def engine():
    made = []

    def start(handlers):
        e = FakeEngine(os.environ["RRASCTL_SOCKET"], handlers)
        made.append(e)
        return e

    yield start
    for e in made:
        e.close()


def ok(result):
    return lambda i, a: [messages.ok(i, result)]


def test_ports_list_shows_live_columns(rr, engine):
    engine({"ports.list": ok([{"protocol": "pptp", "in_use": 2}, {"protocol": "l2tp", "in_use": 0}])})
    r = rr("ports", "list")
    assert r.stdout == ("PROTOCOL  COUNT  REMOTE_ACCESS  DEMAND_DIAL  IN_USE  FREE\n"
                        "pptp      5      yes            yes          2       3\n"
                        "l2tp      5      yes            yes          0       5\n")
    rows = json.loads(rr("ports", "list", "-o", "json").stdout)
    assert rows[0] == {"protocol": "pptp", "count": 5, "remote_access": True, "demand_dial": True, "in_use": 2,
                       "free": 3}


def test_connect_shows_progress_and_returns_0(rr, engine):
    assert rr("demand-dial", "add", "b1", "--destination", "203.0.113.2", "--user", "hq").exit_code == 0

    def connect(i, a):
        return [messages.progress(i, s) for s in ("resolving", "connecting", "verifying user name and password",
                                                  "registering")] + [messages.ok(i, {"name": "b1", "state": "connected"})]

    e = engine({"demand_dial.connect": connect})
    r = rr("demand-dial", "connect", "b1")
    assert r.exit_code == 0
    assert r.stderr == ("b1: resolving\nb1: connecting\nb1: verifying user name and password\nb1: registering\n"
                        "b1: connected\n")
    assert e.calls == [("demand_dial.connect", {"name": "b1", "wait": True})]
    assert rr("demand-dial", "connect", "b1", "--no-wait").exit_code == 0
    assert e.calls[-1] == ("demand_dial.connect", {"name": "b1", "wait": False})


def test_connect_says_connected_once_when_the_engine_reports_it_as_progress(rr, engine):
    assert rr("demand-dial", "add", "b1", "--destination", "203.0.113.2", "--user", "hq").exit_code == 0

    def connect(i, a):  # the real engine's last progress line is the final state itself
        return [messages.progress(i, s) for s in ("resolving", "connecting", "connected")] + [
            messages.ok(i, {"name": "b1", "state": "connected"})]

    engine({"demand_dial.connect": connect})
    r = rr("demand-dial", "connect", "b1")
    assert r.exit_code == 0
    assert r.stderr == "b1: resolving\nb1: connecting\nb1: connected\n"


@pytest.mark.parametrize("kind,code", [("failed", 1), ("not_found", 3), ("conflict", 4), ("invalid", 2)])
def test_error_reply_gives_its_exit_code(rr, engine, kind, code):
    assert rr("demand-dial", "add", "b1", "--destination", "203.0.113.2", "--user", "hq").exit_code == 0
    engine({"demand_dial.connect": lambda i, a: [
        messages.progress(i, "connecting"),
        messages.error(i, kind, "error 691: access was denied because the user name or password is not valid",
                       "check the interface's --user and password")]})
    r = rr("demand-dial", "connect", "b1")
    assert r.exit_code == code
    assert r.stderr == ("b1: connecting\n"
                        "error: error 691: access was denied because the user name or password is not valid\n"
                        "hint: check the interface's --user and password\n")


def test_ports_remove_refused_by_live_connections_writes_nothing(rr, cfg, engine):
    assert rr("ports", "set", "pptp", "--count", "8").exit_code == 0
    before = cfg.read_bytes()
    e = engine({"ports.remove_check": lambda i, a: [messages.error(i, "conflict", "PPTP-7 carries live connections",
                                                                   "add --force to disconnect them")]})
    r = rr("ports", "remove", "pptp", "2")
    assert r.exit_code == 4
    assert r.stderr == "error: PPTP-7 carries live connections\nhint: add --force to disconnect them\n"
    assert cfg.read_bytes() == before
    assert e.calls == [("ports.remove_check", {"protocol": "pptp", "count": 6, "force": False})]
    e.handlers["ports.remove_check"] = ok({"disconnected": [4]})
    assert rr("ports", "remove", "pptp", "2", "--force").exit_code == 0
    assert e.calls[-2:] == [("ports.remove_check", {"protocol": "pptp", "count": 6, "force": True}),
                            ("reload", {})]  # the saved change is then applied by the engine
    e.handlers["ports.list"] = ok([{"protocol": "pptp", "in_use": 5}, {"protocol": "l2tp", "in_use": 0}])
    assert json.loads(rr("ports", "list", "-o", "json").stdout)[0] == {
        "protocol": "pptp", "count": 6, "remote_access": True, "demand_dial": True, "in_use": 5, "free": 1}


def test_connections_list_and_refusals(rr, engine):
    row = {"id": 3, "protocol": "pptp", "user": "alice", "interface": None, "peer": "198.51.100.7", "port": "PPTP-0",
           "ip": "10.87.0.2", "encryption": "mppe-128", "auth": "ms-chap-v2", "started": "2026-11-25T03:00:00Z",
           "bytes_in": 10, "bytes_out": 20}
    e = engine({"connections.list": ok([row]), "connections.disconnect": ok({"id": 3, "disconnected": True}),
                "connections.refusals": ok([])})
    assert json.loads(rr("connections", "list", "-o", "json").stdout) == [row]
    assert rr("connections", "list").stdout.splitlines()[1].split()[:3] == ["3", "pptp", "alice"]
    r = rr("connections", "disconnect", "3")
    assert (r.exit_code, r.stderr) == (0, "connection 3 disconnected\n")
    assert e.calls[-1] == ("connections.disconnect", {"id": 3})
    assert json.loads(rr("connections", "refusals", "-o", "json").stdout) == []


def test_live_columns_degrade_on_an_error_reply(rr, engine):
    engine({"ports.list": lambda i, a: [messages.error(i, "failed", "boom")]})
    r = rr("ports", "list", "-o", "json")
    assert r.exit_code == 0 and "in_use" not in r.stdout
    assert r.stderr == "warning: the engine could not give live figures: boom\n"


def test_a_saved_change_is_applied_by_a_running_engine(rr, engine):
    fake = engine({"reload": ok({"reloaded": True})})
    r = rr("ports", "add", "pptp", "2")
    assert r.exit_code == 0
    assert fake.calls == [("reload", {})]
    assert "the running engine applied the change" in r.stderr


def test_a_read_only_command_does_not_reload_the_engine(rr, engine):
    fake = engine({"reload": ok({"reloaded": True})})
    assert rr("server", "show").exit_code == 0
    assert fake.calls == []


def test_an_engine_that_refuses_the_reload_is_a_warning_and_the_change_stays(rr, engine):
    from rrasctl.control import messages as m

    engine({"reload": lambda i, a: [m.error(i, "invalid", "ports.pptp.count: over the limit")]})
    r = rr("ports", "add", "pptp", "1")
    assert r.exit_code == 0
    assert "warning: saved, but the running engine did not apply it: ports.pptp.count: over the limit" in r.stderr
    assert rr("ports", "list", "-o", "json").stdout.count('"count": 6') == 1


def test_no_engine_means_no_message(rr):
    r = rr("ports", "add", "pptp", "1")
    assert r.exit_code == 0 and "engine" not in r.stderr
