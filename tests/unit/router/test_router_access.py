"""router/access.py: RRAS 2003 policy rules, as tables."""

from __future__ import annotations

from datetime import datetime

import pytest

from rrasctl.config.model import validate
from rrasctl.router.access import Request, Step, evaluate

MON_9 = datetime(2024, 1, 1, 9, 0)  # a Monday
SUN_3 = datetime(2024, 1, 7, 3, 0)


def cfg(policies=None, users=None, demand_dial=None):
    raw = {"users": users or {}, "demand_dial": demand_dial or {}}
    if policies is not None:
        raw["policies"] = policies
    return validate(raw)


def req(user="alice", tunnel="pptp", auth="ms-chap-v2", at=MON_9, ip=None):
    return Request(user=user, tunnel=tunnel, auth=auth, at=at, client_ip=ip)


@pytest.mark.parametrize("dial_in,allowed,reason", [
    ("policy", False, "policy default denies remote access permission"),
    ("allow", True, "user alice's dial-in is allow"),
    ("deny", False, "user alice's dial-in is deny (overrides policy default)"),
])
def test_default_policy_and_dial_in_override(dial_in, allowed, reason):
    d = evaluate(cfg(users={"alice": {"dial_in": dial_in}}), req())
    assert (d.allowed, d.policy, d.reason) == (allowed, "default", reason)
    assert d.windows_error == (None if allowed else 649)


def test_unknown_user_defers_to_policy():
    d = evaluate(cfg(), req(user="mallory"))
    assert (d.allowed, d.dial_in) == (False, "policy")


def test_first_match_decides_and_earlier_ones_are_explained():
    c = cfg(policies=[
        {"name": "l2tp-only", "permission": "grant", "tunnel_types": ["l2tp"]},
        {"name": "office-hours", "permission": "grant", "hours": "mon-fri 08:00-18:00", "users": ["alice"]},
        {"name": "from-lab", "permission": "grant", "client_ips": ["198.51.100.0/24"]},
        {"name": "default", "permission": "deny"},
    ])
    d = evaluate(c, req(at=SUN_3, ip="203.0.113.5"))
    assert d.steps == (
        Step("l2tp-only", False, "tunnel type pptp is not l2tp"),
        Step("office-hours", False, "Sun 03:00 is outside the hours 'mon-fri 08:00-18:00'"),
        Step("from-lab", False, "client IP 203.0.113.5 is not in 198.51.100.0/24"),
        Step("default", True, "all conditions match"),
    )
    assert not d.allowed
    d = evaluate(c, req())
    assert (d.allowed, d.policy, d.reason) == (True, "office-hours", "policy office-hours grants access")
    d = evaluate(c, req(user="bob", ip="198.51.100.7"))
    assert (d.allowed, d.policy) == (True, "from-lab")


def test_no_match_denies_even_with_dial_in_allow():
    c = cfg(policies=[{"name": "l2tp-only", "permission": "grant", "tunnel_types": ["l2tp"]}],
            users={"alice": {"dial_in": "allow"}})
    d = evaluate(c, req())
    assert (d.allowed, d.policy, d.reason, d.profile) == (False, None, "no remote access policy matches", None)


def test_profile_applies_even_with_dial_in_allow():
    c = cfg(policies=[{"name": "strict", "permission": "deny", "methods": ["ms-chap-v2"], "encryption": ["strongest"],
                       "idle_timeout_s": 600}], users={"alice": {"dial_in": "allow", "static_ip": "10.87.0.50"}})
    d = evaluate(c, req(auth="pap"))
    assert (d.allowed, d.windows_error) == (False, 919)
    d = evaluate(c, req())
    assert d.allowed and d.profile.encryption == ("strongest",) and d.profile.idle_timeout_s == 600
    assert d.profile.static_ip == "10.87.0.50"


def test_auth_type_condition_and_default_profile_from_auth():
    c = cfg(policies=[{"name": "pap-deny", "permission": "deny", "auth_types": ["pap"]},
                      {"name": "rest", "permission": "grant"}])
    assert evaluate(c, req(auth="pap")).policy == "pap-deny"
    d = evaluate(c, req(auth="ms-chap"))
    assert d.policy == "rest" and d.profile.methods == ("ms-chap", "ms-chap-v2")


def test_router_rule_binds_to_the_demand_dial_interface():
    c = cfg(users={"branch1": {"dial_in": "allow"}},
            demand_dial={"branch1": {"destination": "203.0.113.2", "user": "hq"}})
    assert evaluate(c, req(user="branch1")).router_interface == "branch1"
    assert evaluate(c, req(user="alice")).router_interface is None


def test_as_dict_is_json_ready():
    import json

    d = evaluate(cfg(), req())
    assert json.loads(json.dumps(d.as_dict()))["steps"] == [
        {"policy": "default", "matched": True, "why": "all conditions match"}]
