from __future__ import annotations

import json
import os
import time
from pathlib import Path


def test_users_show_json_keys(rr):
    assert rr("users", "add", "alice", "--dial-in", "allow", "--static-ip", "10.87.0.9",
              "--password-stdin", input="pw\n").exit_code == 0
    data = json.loads(rr("users", "show", "alice", "-o", "json").stdout)
    assert data == {"name": "alice", "dial_in": "allow", "static_ip": "10.87.0.9", "locked": False, "routes": [],
                    "password": "********"}
    r = rr("users", "add", "bob")
    assert r.stderr == "user bob added (no password yet)\n"
    assert json.loads(rr("users", "show", "bob", "-o", "json").stdout)["dial_in"] == "policy"


def test_locked_and_unlock(rr):
    assert rr("auth", "set", "--lockout-max", "3").exit_code == 0
    assert rr("users", "add", "alice").exit_code == 0
    state = Path(os.environ["RRASCTL_STATE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    (state / "lockout.json").write_text(json.dumps({"alice": {"failures": 3, "last_failure": time.time()}}))
    assert json.loads(rr("users", "show", "alice", "-o", "json").stdout)["locked"] is True
    r = rr("users", "unlock", "alice")
    assert (r.exit_code, r.stderr) == (0, "user alice unlocked\n")
    assert json.loads(rr("users", "show", "alice", "-o", "json").stdout)["locked"] is False
    assert json.loads((state / "lockout.json").read_text()) == {}


def test_users_set_remove(rr):
    assert rr("users", "add", "al", "--route", "10.1.0.0/16").exit_code == 0
    assert rr("users", "set", "al", "--dial-in", "deny", "--static-ip", "10.87.0.7", "--no-routes").exit_code == 0
    assert json.loads(rr("users", "show", "al", "-o", "json").stdout) == {
        "name": "al", "dial_in": "deny", "static_ip": "10.87.0.7", "locked": False, "routes": [], "password": None}
    assert rr("users", "set", "al", "--static-ip", "").exit_code == 0
    assert json.loads(rr("users", "show", "al", "-o", "json").stdout)["static_ip"] is None
    assert rr("users", "remove", "al").exit_code == 0
    assert json.loads(rr("users", "list", "-o", "json").stdout) == []


def test_policy_list_json_and_order(rr):
    assert json.loads(rr("policy", "list", "-o", "json").stdout)[0] == {
        "name": "default", "order": 1, "permission": "deny", "tunnel_types": [], "hours": None, "users": [],
        "client_ips": [], "auth_types": [], "methods": None, "encryption": None, "idle_timeout_s": None,
        "max_session_s": None, "static_ip": None, "address_pool": None}
    assert rr("policy", "add", "a", "--permission", "grant").exit_code == 0
    assert rr("policy", "add", "b", "--position", "9").exit_code == 0
    assert rr("policy", "move", "a", "3").exit_code == 0
    rows = json.loads(rr("policy", "list", "-o", "json").stdout)
    assert [(p["name"], p["order"], p["permission"]) for p in rows] == [("default", 1, "deny"), ("b", 2, "deny"),
                                                                         ("a", 3, "grant")]


def test_policy_test_explains(rr):
    assert rr("policy", "add", "staff", "--permission", "grant", "--tunnel-type", "l2tp",
              "--hours", "mon-fri 08:00-18:00").exit_code == 0
    r = rr("policy", "test", "--user", "alice", "--tunnel", "pptp", "--auth", "ms-chap-v2", "--at", "mon 09:00")
    assert r.exit_code == 0
    assert r.stdout == ("1. staff: no match: tunnel type pptp is not l2tp\n"
                        "2. default: matches\n"
                        "result: DENIED: policy default denies remote access permission\n"
                        "the client shows error 649\n"
                        "profile: methods ms-chap,ms-chap-v2; encryption basic,strong,strongest\n")
    r = rr("policy", "test", "--user", "alice", "--tunnel", "l2tp", "--auth", "ms-chap-v2", "--at",
           "2024-01-06 10:00", "-o", "json")
    data = json.loads(r.stdout)
    assert data["steps"][0] == {"policy": "staff", "matched": False,
                                "why": "Sat 10:00 is outside the hours 'mon-fri 08:00-18:00'"}
    r = rr("policy", "test", "--user", "alice", "--tunnel", "l2tp", "--auth", "ms-chap-v2", "--at", "tue 17:59",
           "-o", "json")
    assert json.loads(r.stdout)["allowed"] is True


def test_demand_dial_show_json(rr):
    assert rr("demand-dial", "add", "b1", "--destination", "203.0.113.2", "--user", "hq", "--route",
              "10.2.0.0/16", "--route", "10.3.0.0/16/4").exit_code == 0
    data = json.loads(rr("demand-dial", "show", "b1", "-o", "json").stdout)
    assert {k: data[k] for k in ("name", "destination", "type", "routes", "persistent")} == {
        "name": "b1", "destination": "203.0.113.2", "type": "automatic", "routes": ["10.2.0.0/16", "10.3.0.0/16"],
        "persistent": False}
    assert "state" not in data  # no engine
    assert rr("demand-dial", "route", "remove", "b1", "10.2.0.0/16").exit_code == 0
    assert json.loads(rr("demand-dial", "route", "list", "b1", "-o", "json").stdout) == [
        {"cidr": "10.3.0.0/16", "metric": 4}]
    r = rr("demand-dial", "route", "add", "b1", "10.3.0.0/16")
    assert r.exit_code == 4


def test_config_path_and_import_export(rr, cfg, tmp_path):
    data = json.loads(rr("config", "path", "-o", "json").stdout)
    assert data == {"config": str(cfg), "key": str(cfg.with_name("rrasctl.key")),
                    "state_dir": os.environ["RRASCTL_STATE_DIR"], "socket": os.environ["RRASCTL_SOCKET"]}
    assert rr("ports", "add", "pptp", "2").exit_code == 0
    exported = rr("config", "export").stdout
    assert exported == cfg.read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text("[ports.pptp]\ncount = 5000\n")
    r = rr("config", "import", str(bad))
    assert r.exit_code == 2 and "ports.pptp.count: 5000 is over" in r.stderr
    assert cfg.read_text() == exported
    good = tmp_path / "good.toml"
    good.write_text("# imported\n[ports.l2tp]\ncount = 12\n")
    assert rr("config", "import", str(good)).exit_code == 0
    assert cfg.read_text() == "# imported\nschema_version = 1\n[ports.l2tp]\ncount = 12\n"
    assert rr("config", "check").stderr == f"{cfg}: valid\n"
