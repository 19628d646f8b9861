from __future__ import annotations

from datetime import datetime

from rrasctl.config.model import Auth, Config, Policy, User
from rrasctl.router.authorize import (
    achievable_levels, authorize, counts_towards_lockout, encryption_allowed, offered,
)
from rrasctl.router.lockout import LockoutTable

AT = datetime(2026, 11, 24, 10, 0)      # a Tuesday


def cfg(policies=(Policy("default"),), **users):
    return Config(auth=Auth(methods=("pap", "ms-chap-v2"), encryption=("none", "basic", "strongest")),
                  users={n: User(n, password="sealed", dial_in=d) for n, d in users.items()},
                  policies=tuple(policies))


def decide(config, user, tunnel="pptp", method="ms-chap-v2", table=None, levels=("none", "basic", "strongest")):
    return authorize(config, table or LockoutTable(), user=user, tunnel=tunnel, method=method, at=AT, now=100.0,
                     client_ip="203.0.113.9", link_levels=levels)


def test_the_same_verdict_for_both_tunnels():
    c = cfg(carol="policy", alice="allow", bob="deny")
    for tunnel in ("pptp", "l2tp"):
        got = [(v.allowed, v.reason, v.windows_error) for v in
               (decide(c, u, tunnel) for u in ("carol", "alice", "bob", "nobody"))]
        assert got == [(False, "access denied by policy", 649), (True, "user alice's dial-in is allow", None),
                       (False, "no dial-in permission", 649), (False, "authentication failed", 691)], tunnel


def test_locked_user_is_refused_with_647_before_the_policies():
    table = LockoutTable(max_failures=1, reset_minutes=10)
    table.record_failure("alice", 50.0)
    v = decide(cfg(alice="allow"), "DOM\\alice", table=table)
    assert (v.allowed, v.user, v.reason, v.windows_error) == (False, "alice", "account locked out", 647)
    assert decide(cfg(alice="allow"), "alice", table=LockoutTable(max_failures=1)).allowed


def test_profile_levels_meet_what_the_tunnel_and_method_can_carry():
    strongest = Policy("s", permission="grant", encryption=("strongest",))
    assert decide(cfg([strongest], alice="policy"), "alice").levels == ("strongest",)
    for tunnel, method in (("pptp", "pap"), ("l2tp", "ms-chap-v2")):
        v = decide(cfg([strongest], alice="policy"), "alice", tunnel, method)
        assert (v.allowed, v.reason, v.windows_error) == (False, "encryption required", 741)
    assert achievable_levels("l2tp", ("none", "basic"), "ms-chap-v2") == ("none",)
    assert achievable_levels("pptp", ("basic", "strongest"), "chap") == ()
    assert encryption_allowed(("strongest",), "mppe-128") and not encryption_allowed(("strongest",), "mppe-40")


def test_offered_and_lockout_counting():
    pols = (Policy("v2", permission="grant", tunnel_types=("pptp",), methods=("ms-chap-v2",), encryption=("basic",)),)
    assert offered(cfg(pols), "pptp", "203.0.113.9") == (("ms-chap-v2",), ("basic",))
    assert offered(cfg(pols), "l2tp", "203.0.113.9") == (("pap", "ms-chap-v2"), ("none",))
    assert [counts_towards_lockout(k, e) for k, e in ((True, 691), (True, 0), (True, 649), (False, 691))] == [
        True, True, False, False]
