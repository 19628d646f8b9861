"""Decision 0122: a change the running engine applies only when it starts is reported as such, not as applied;
`engine status` lists what waits."""

from __future__ import annotations

import json

from rrasctl.control import messages

WAIT = [{"key": "server.tunnel_address", "running": "10.87.0.1", "saved": "10.88.0.1",
         "why": "the TUN device holds it and every new call claims it in IPCP"}]


def test_server_set_tunnel_address_says_it_needs_a_restart(rr, fake_engine):
    e = fake_engine({"reload": lambda i, a: [messages.ok(i, {"reloaded": True, "restart_needed": WAIT})]})
    r = rr("server", "set", "--tunnel-address", "10.88.0.1")
    assert r.exit_code == 0
    assert r.stderr == ("saved; the running engine applies server.tunnel_address (running 10.87.0.1, saved "
                        "10.88.0.1) only when it starts: restart it (stop it, then rrasctl engine run); rrasctl "
                        "engine status lists what waits\nserver settings saved\n")
    assert "applied" not in r.stderr
    assert e.calls == [("reload", {})]


def test_a_change_applied_live_still_says_applied(rr, fake_engine):
    fake_engine({"reload": lambda i, a: [messages.ok(i, {"reloaded": True, "restart_needed": []})]})
    r = rr("server", "set", "--dns", "10.0.0.53")
    assert r.stderr == "the running engine applied the change\nserver settings saved\n"


def test_engine_status_shows_pending_changes(rr, fake_engine):
    status = {"running": True, "pid": 7, "edition": "standard", "notes": [], "pending_restart": WAIT, "ports": []}
    fake_engine({"status": lambda i, a: [messages.ok(i, status)]})
    out = rr("engine", "status").stdout
    assert "PENDING RESTART\n  server.tunnel_address  running 10.87.0.1, saved 10.88.0.1\n" in out
    assert json.loads(rr("engine", "status", "-o", "json").stdout)["pending_restart"] == WAIT
