"""`users remove` and `demand-dial remove` ask a running engine first: live connections refuse the removal (exit 4,
the file untouched) unless --force, and the command says what it ended."""

from __future__ import annotations

import pytest

from rrasctl.control import messages

CONN = {"id": 3, "port": "PPTP-0", "user": "alice", "interface": None, "peer": "198.51.100.7",
        "text": "connection 3 (PPTP-0, alice from 198.51.100.7)"}


@pytest.mark.parametrize("group, setup, op, what", [
    ("users", ("users", "add", "alice"), "users.remove_check", "user alice"),
    ("demand-dial", ("demand-dial", "add", "alice", "--destination", "203.0.113.2", "--user", "hq"),
     "demand_dial.remove_check", "demand-dial interface alice"),
])
def test_remove_with_live_connections(rr, cfg, fake_engine, group, setup, op, what):
    assert rr(*setup).exit_code == 0
    before = cfg.read_bytes()

    def check(i, a):
        if not a["force"]:
            return [messages.error(i, "conflict", f"{what} has live connections: {CONN['text']}",
                                   "add --force to end them")]
        return [messages.ok(i, {"affected": [CONN], "disconnected": [CONN]})]

    e = fake_engine({op: check, "reload": lambda i, a: [messages.ok(i, {"reloaded": True})]})
    r = rr(group, "remove", "alice")
    assert (r.exit_code, r.stderr) == (4, f"error: {what} has live connections: connection 3 (PPTP-0, alice from "
                                          "198.51.100.7)\nhint: add --force to end them\n")
    assert cfg.read_bytes() == before
    r = rr(group, "remove", "alice", "--force")
    assert r.exit_code == 0
    assert r.stderr == (f"ended connection 3 (PPTP-0, alice from 198.51.100.7)\n"
                        f"the running engine applied the change\n{what} removed\n")
    assert e.calls == [(op, {"name": "alice", "force": False}), (op, {"name": "alice", "force": True}),
                       ("reload", {})]
    assert b"alice" not in cfg.read_bytes()


def test_without_an_engine_removal_just_happens(rr):
    assert rr("users", "add", "bob").exit_code == 0
    r = rr("users", "remove", "bob")
    assert (r.exit_code, r.stderr) == (0, "user bob removed\n")
