"""Decision 0120: each installation derives its own client address pool inside 10.80.0.0/12 (tunnel address: the
pool's first host) from the machine id and the config path, and the first write of a fresh config pins it."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import tomlkit

from rrasctl.config import installation, store


def test_the_derivation_is_stable_and_inside_the_space():
    a = installation.address_defaults("/etc/rrasctl/a.toml", host_id="host-1")
    assert a == installation.address_defaults("/etc/rrasctl/a.toml", host_id="host-1")
    pool, tunnel = a
    net = ipaddress.IPv4Network(pool)
    assert net.prefixlen == 24 and net.subnet_of(installation.POOL_SPACE)
    assert tunnel == str(net.network_address + 1)
    # another config on the same host, or the same path on another host: another pool
    assert installation.address_defaults("/etc/rrasctl/b.toml", host_id="host-1")[0] != pool
    assert installation.address_defaults("/etc/rrasctl/a.toml", host_id="host-2")[0] != pool


def test_explicit_values_win_and_a_lone_pool_brings_its_first_host(tmp_path):
    raw = {"server": {"address_pool": "192.168.50.0/24"}}
    assert installation.fill_raw(raw, tmp_path / "x.toml")["server"] == {
        "address_pool": "192.168.50.0/24", "tunnel_address": "192.168.50.1"}
    both = {"server": {"address_pool": "10.1.2.0/24", "tunnel_address": "10.1.2.9"}}
    assert installation.fill_raw(both, tmp_path / "x.toml") is both


def test_two_fresh_configs_on_one_host_differ_and_the_first_write_pins_them(rr, tmp_path):
    one, two = tmp_path / "one" / "rrasctl.toml", tmp_path / "two" / "rrasctl.toml"
    shown = []
    for path in (one, two):
        path.parent.mkdir()
        r = rr("--config", str(path), "server", "show", "-o", "json")
        assert r.exit_code == 0 and not path.exists()            # reading writes nothing
        shown.append(json.loads(r.stdout))
    assert shown[0]["address_pool"] != shown[1]["address_pool"]
    assert rr("--config", str(one), "ports", "add", "pptp").exit_code == 0
    server = tomlkit.parse(one.read_text())["server"]
    assert (server["address_pool"], server["tunnel_address"]) == (shown[0]["address_pool"],
                                                                 shown[0]["tunnel_address"])
    moved = tmp_path / "elsewhere.toml"                         # pinned: a moved file keeps its pool
    moved.write_text(one.read_text())
    assert store.load(moved).server.address_pool == shown[0]["address_pool"]


def test_an_existing_file_is_not_given_keys_it_did_not_have(tmp_path):
    path = tmp_path / "rrasctl.toml"
    path.write_text("schema_version = 1\n\n[ports.pptp]\ncount = 7\n")
    with store.edit(path) as e:
        e.set("ports.pptp.count", 8)
    assert path.read_text() == "schema_version = 1\n\n[ports.pptp]\ncount = 8\n"
    pool, tunnel = installation.address_defaults(path)
    assert (store.load(path).server.address_pool, store.load(path).server.tunnel_address) == (pool, tunnel)


def test_the_engine_reads_the_same_pool_the_cli_shows(rr, cfg):
    shown = json.loads(rr("server", "show", "-o", "json").stdout)
    loaded = store.load(Path(cfg))
    assert (loaded.server.address_pool, loaded.server.tunnel_address) == (shown["address_pool"],
                                                                          shown["tunnel_address"])
