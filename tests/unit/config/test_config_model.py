from __future__ import annotations

import pytest

from rrasctl import editions
from rrasctl.config.model import (DEFAULT_POLICY, HoursWindow, Route, hours_allow, parse_hours, to_plain,
                                  validate)
from rrasctl.errors import ValidationError


def test_defaults_follow_the_spec():
    c = validate({})
    assert c.server.edition == "standard" and c.max_concurrent == 1000
    assert {p: (v.count, v.remote_access, v.demand_dial) for p, v in c.ports.items()} == {
        "pptp": (5, True, True), "l2tp": (5, True, True)}
    assert c.auth.methods == ("ms-chap", "ms-chap-v2")
    assert c.auth.encryption == ("basic", "strong", "strongest")
    assert c.policies == (DEFAULT_POLICY,) and DEFAULT_POLICY.permission == "deny"
    assert c.server.address_pool == "10.87.0.0/24" and c.server.tunnel_address == "10.87.0.1"
    assert c.server.tun_name == "rras0" and c.pptp.echo_interval_s == 60
    assert (c.l2tp.secret, c.l2tp.hide_avps, c.l2tp.hello_interval_s) == (None, False, 60)


@pytest.mark.parametrize("edition,cap", [("web", 1), ("standard", 1000), ("enterprise", None), ("datacenter", None)])
def test_edition_caps(edition, cap):
    assert validate({"server": {"edition": edition}}).max_concurrent == cap


@pytest.mark.parametrize("edition,proto,limit", [
    ("web", "pptp", 1000), ("standard", "l2tp", 1000), ("enterprise", "pptp", 16384), ("datacenter", "l2tp", 30000)])
def test_port_limits_name_the_limit(edition, proto, limit):
    validate({"server": {"edition": edition}, "ports": {proto: {"count": limit}}})
    with pytest.raises(ValidationError) as e:
        validate({"server": {"edition": edition}, "ports": {proto: {"count": limit + 1}}})
    assert e.value.message == (f"ports.{proto}.count: {limit + 1} is over the {edition} edition's "
                               f"limit of {limit}")
    assert editions.port_limit(edition, proto) == limit


@pytest.mark.parametrize("raw,msg", [
    ({"ports": {"pptp": {"count": -1}}}, "ports.pptp.count: -1 is below the minimum of 0"),
    ({"server": {"address_pool": "10.0.0.0/33"}}, "server.address_pool: '10.0.0.0/33' is not a valid CIDR"),
    ({"server": {"edition": "home"}}, "server.edition: 'home' is not one of web, standard, enterprise, datacenter"),
    ({"server": {"colour": 1}}, "server.colour: unknown key"),
    ({"users": {"bad name": {}}}, 'users."bad name": \'bad name\' is not a valid name'),
    ({"users": {"al": {"password": "hunter2"}}}, "users.al.password: is not a sealed secret"),
    ({"demand_dial": {"b1": {"destination": "h"}}}, "demand_dial.b1.user: is required"),
    ({"demand_dial": {"b1": {"destination": "h", "user": "u", "dial_hours": "mon 25:00-26:00"}}},
     "demand_dial.b1.dial_hours: 'mon 25:00-26:00' is not a valid hours spec"),
    ({"policies": [{"name": "a"}, {"name": "a"}]}, "policies[1].name: 'a' is used by an earlier policy"),
    ({"schema_version": 9}, "schema_version: 9 is not 1"),
])
def test_validation_names_the_key(raw, msg):
    with pytest.raises(ValidationError) as e:
        validate(raw)
    assert e.value.message.startswith(msg)


def test_sealed_values_are_never_echoed_in_errors():
    with pytest.raises(ValidationError) as e:
        validate({"auth": {"psk": 5}})
    assert "5" not in e.value.message.split(":", 1)[0]
    with pytest.raises(ValidationError) as e:
        validate({"auth": {"radius_timeout_s": "enc:v1:abc"}})
    assert "enc:v1:abc" not in e.value.message


def test_routes_parse_metric():
    c = validate({"demand_dial": {"b": {"destination": "h", "user": "u",
                                        "routes": ["10.1.0.0/16", "10.2.0.0/24/5", {"cidr": "10.3.0.0/24"}]}}})
    assert c.demand_dial["b"].routes == (Route("10.1.0.0/16", 1), Route("10.2.0.0/24", 5), Route("10.3.0.0/24", 1))
    assert to_plain(c)["demand_dial"]["b"]["routes"] == ["10.1.0.0/16", "10.2.0.0/24/5", "10.3.0.0/24"]


def test_hours_spec():
    w = parse_hours("mon-fri 08:00-18:00; sat 22:00-02:00")
    assert w[0] == HoursWindow(0, 480, 1080) and len(w) == 7
    assert hours_allow(w, 6, 60) and not hours_allow(w, 6, 120) and hours_allow(w, 5, 23 * 60)
    assert len(parse_hours("always")) == 7 and parse_hours("never") == ()
    assert parse_hours("fri-mon 00:00-24:00") == tuple(HoursWindow(d, 0, 1440) for d in (4, 5, 6, 0))
    for bad in ("someday 08:00-09:00", "mon 08:00", "mon 09:00-09:00", "mon 08:60-09:00", ""):
        with pytest.raises(ValueError):
            parse_hours(bad)
