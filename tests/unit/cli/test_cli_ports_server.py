"""Acceptance 1 and 2: defaults, edition caps and limits; nothing written on a refused change."""

from __future__ import annotations

import json

import pytest


def test_fresh_ports_list_json(rr, cfg):
    r = rr("ports", "list", "-o", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [
        {"protocol": "pptp", "count": 5, "remote_access": True, "demand_dial": True},
        {"protocol": "l2tp", "count": 5, "remote_access": True, "demand_dial": True},
    ]
    assert r.stderr == ""
    assert not cfg.exists()  # reading never writes


def test_fresh_ports_list_plain(rr):
    r = rr("ports", "list")
    assert r.stdout == ("PROTOCOL  COUNT  REMOTE_ACCESS  DEMAND_DIAL\n"
                        "pptp      5      yes            yes\n"
                        "l2tp      5      yes            yes\n")


def test_output_env_var(rr):
    r = rr("ports", "list", env={"RRASCTL_OUTPUT": "json"})
    assert json.loads(r.stdout)[0]["protocol"] == "pptp"


@pytest.mark.parametrize("edition,cap", [("standard", 1000), ("web", 1), ("enterprise", None), ("datacenter", None)])
def test_server_show_edition(rr, edition, cap):
    if edition != "standard":
        assert rr("server", "set", "--edition", edition).exit_code == 0
    data = json.loads(rr("server", "show", "-o", "json").stdout)
    assert data["edition"] == edition and data["max_concurrent"] == cap


def test_add_remove_set(rr, cfg):
    r = rr("ports", "add", "pptp", "10")
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == "pptp: 15 ports (remote access on, demand-dial on)\n"
    assert rr("ports", "remove", "l2tp").exit_code == 0
    assert rr("ports", "set", "l2tp", "--count", "0", "--no-remote-access").exit_code == 0
    data = json.loads(rr("ports", "list", "-o", "json").stdout)
    assert data == [{"protocol": "pptp", "count": 15, "remote_access": True, "demand_dial": True},
                    {"protocol": "l2tp", "count": 0, "remote_access": False, "demand_dial": True}]


@pytest.mark.parametrize("edition,args,msg", [
    ("standard", ["ports", "add", "pptp", "996"], "ports.pptp.count: 1001 is over the standard edition's limit of 1000"),
    ("web", ["ports", "set", "l2tp", "--count", "1001"], "ports.l2tp.count: 1001 is over the web edition's limit of 1000"),
    ("enterprise", ["ports", "add", "pptp", "16380"],
     "ports.pptp.count: 16385 is over the enterprise edition's limit of 16384"),
    ("datacenter", ["ports", "set", "l2tp", "--count", "30001"],
     "ports.l2tp.count: 30001 is over the datacenter edition's limit of 30000"),
    ("standard", ["ports", "remove", "pptp", "6"],
     "pptp has only 5 ports; cannot remove 6\nhint: rrasctl ports set pptp --count 0 disables pptp"),
    ("standard", ["ports", "set", "pptp", "--count", "-1"], "ports.pptp.count: -1 is below the minimum of 0"),
])
def test_beyond_limits_exit_2_and_file_unchanged(rr, cfg, edition, args, msg):
    assert rr("server", "set", "--edition", edition).exit_code == 0
    before = cfg.read_bytes()
    r = rr(*args)
    assert r.exit_code == 2
    assert r.stderr == f"error: {msg}\n" and r.stdout == ""
    assert cfg.read_bytes() == before


def test_limits_exactly_reachable(rr):
    assert rr("ports", "set", "pptp", "--count", "1000").exit_code == 0
    assert rr("server", "set", "--edition", "datacenter").exit_code == 0
    assert rr("ports", "set", "l2tp", "--count", "30000").exit_code == 0


def test_edition_switch_conflict_names_the_pool(rr, cfg):
    assert rr("server", "set", "--edition", "enterprise").exit_code == 0
    assert rr("ports", "set", "l2tp", "--count", "1500").exit_code == 0
    before = cfg.read_bytes()
    r = rr("server", "set", "--edition", "standard")
    assert r.exit_code == 4
    assert r.stderr == ("error: the l2tp pool has 1500 ports, over the standard edition's limit of 1000\n"
                        "hint: first: rrasctl ports set l2tp --count 1000\n")
    assert cfg.read_bytes() == before


def test_new_pool_moves_the_tunnel_address_into_it(rr):
    r = rr("server", "set", "--address-pool", "10.60.0.0/23")
    assert r.stderr == "tunnel address moved into the new pool: 10.60.0.1\nserver settings saved\n"
    data = json.loads(rr("server", "show", "-o", "json").stdout)
    assert (data["address_pool"], data["tunnel_address"]) == ("10.60.0.0/23", "10.60.0.1")
    assert rr("server", "set", "--address-pool", "10.70.0.0/24", "--tunnel-address", "192.0.2.1").exit_code == 0
    assert json.loads(rr("server", "show", "-o", "json").stdout)["tunnel_address"] == "192.0.2.1"
