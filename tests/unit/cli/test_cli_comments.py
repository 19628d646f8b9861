"""Acceptance 4: a hand-written comment survives every kind of change; an invalid file is never overwritten."""

from __future__ import annotations

import pytest

HAND = ("# Written by hand: keep me.\nschema_version = 1\n\n[server] # server notes\nedition = \"standard\" # ed\n\n"
        "[ports.pptp]\n# pool comment\ncount = 5 # five\n")

CHANGES = [
    ["ports", "add", "pptp", "3"], ["ports", "remove", "pptp"], ["ports", "set", "l2tp", "--count", "9"],
    ["server", "set", "--edition", "enterprise", "--dns", "10.0.0.53"],
    ["auth", "set", "--methods", "ms-chap-v2", "--lockout-max", "3"],
    ["users", "add", "alice", "--dial-in", "allow"], ["users", "set", "alice", "--dial-in", "deny"],
    ["users", "remove", "alice"],
    ["demand-dial", "add", "b1", "--destination", "h.example", "--user", "u"],
    ["demand-dial", "route", "add", "b1", "10.2.0.0/16"], ["demand-dial", "set", "b1", "--persistent"],
    ["demand-dial", "route", "remove", "b1", "10.2.0.0/16"], ["demand-dial", "remove", "b1"],
    ["policy", "add", "staff", "--permission", "grant"], ["policy", "move", "staff", "2"],
    ["policy", "set", "staff", "--tunnel-type", "l2tp"], ["policy", "remove", "staff"],
]


def test_comments_survive_every_change(rr, cfg):
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(HAND)
    for args in CHANGES:
        r = rr(*args)
        assert r.exit_code == 0, (args, r.stderr)
        text = cfg.read_text()
        for comment in ("# Written by hand: keep me.", "# server notes", "# pool comment", "# five", "# ed"):
            assert comment in text, (args, comment, text)
    r = rr("users", "add", "bob", input="s3cret-pw\n")
    assert rr("users", "set", "bob", "--password-stdin", input="other-pw\n").exit_code == 0
    assert "# Written by hand: keep me." in cfg.read_text()


@pytest.mark.parametrize("text,msg", [
    ("[ports.pptp]\ncount = \n", "TOML syntax error at line 2, column 9"),
    ("[ports]\npptp = {count = 5\n", "TOML syntax error at line 2"),
    ("[ports.pptp]\ncount = \"five\"\n", "ports.pptp.count: 'five' is not a whole number"),
    ("[server]\nedition = \"home\"\n", "server.edition: 'home' is not one of"),
    ("[demand_dial.b1]\ndestination = \"h\"\nuser = \"u\"\nroutes = [\"10.0.0.0/40\"]\n",
     "demand_dial.b1.routes[0]: '10.0.0.0/40' is not a valid CIDR"),
])
@pytest.mark.parametrize("args", [["ports", "add", "pptp"], ["server", "set", "--edition", "web"], ["ports", "list"],
                                  ["config", "check"]])
def test_invalid_file_exit_2_untouched(rr, cfg, text, msg, args):
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    r = rr(*args)
    assert r.exit_code == 2
    assert msg in r.stderr and r.stdout == ""
    assert cfg.read_text() == text
