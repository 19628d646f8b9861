"""`engine status` in text mode: grouped, at most 80 columns, and every key and value of the JSON shows up."""

from __future__ import annotations

import json

from rrasctl.cli._status import SUMMARY, render

STATUS = {
    "running": True, "pid": 4242, "version": "0.1.0", "started": "2026-12-03T20:29:40Z", "uptime_s": 3725,
    "config": "/etc/rrasctl/rrasctl.toml", "socket": "/var/lib/rrasctl/control.sock", "state_dir": "/var/lib/rrasctl",
    "edition": "standard", "max_concurrent": 1000, "inbound": 1, "sessions": 2,
    "ports": [{"protocol": "pptp", "count": 5, "remote_access": True, "demand_dial": True, "in_use": 2,
               "available": True},
              {"protocol": "l2tp", "count": 5, "remote_access": True, "demand_dial": False, "in_use": 0,
               "available": True}],
    "listeners": {"pptp": "PPTP on TCP 0.0.0.0:1723 and GRE (IP protocol 47)",
                  "l2tp": "0.0.0.0:1701/udp (plain L2TP only: needs encryption 'none' allowed)"},
    "tun": {"name": "rras0", "address": "10.87.0.1", "mtu": 1400, "routes": 3, "forwarded": 1234,
            "no_session": 2, "not_ipv4": 7, "write_drops": 0, "netlink_errors": 0},
    "address_pool": {"cidr": "10.87.0.0/24", "size": 253, "in_use": 1},
    "counters": {"accepted": {"pptp": 3}, "refused": {"authentication failed": 1, "edition limit reached": 2},
                 "malformed": {"pptp: unknown GRE call id": 1042, "l2tp: short header": 3}, "dropped": {},
                 "ended": {"peer terminated": 1}},
    "drivers": {"pptp": {"listening": "0.0.0.0:1723", "tunnels": 2, "calls": 2,
                         "counts": {"rx_start_control_connection_request": 2, "ack_only_sent": 99}},
                "l2tp": {"listening": "0.0.0.0:1701", "mode": "plain L2TP only (no IPsec yet); needs encryption "
                                                          "'none' allowed", "tunnels": 0, "sessions": 0,
                         "malformed": 0, "unknown_tunnel": 0, "unknown_session": 0, "control_drops": {},
                         "offload": {"mode": "gso,gro", "gso_sends": 17, "gso_packets": 170, "gso_dropped": 0,
                                     "gso_fallbacks": 0, "gro_glued_reads": 5}}},
    "timers": {"armed": 4, "fired": 812, "errors": 0},
    "metrics": {"listen": "127.0.0.1:9477", "state": "listening", "scrapes": 12},
    "event_loop": {"lag_s": 0.000581, "lag_max_s": 0.024639, "probes": 7449},
    "notes": ["L2TP: plain L2TP only (IPsec not available yet); calls are accepted only when the allowed encryption "
              "levels include 'none'"],
    "future_key": {"something": 1},
}


def leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, (*path, k))
    elif isinstance(obj, list):
        for x in obj:
            yield from leaves(x, path)
    else:
        yield path, obj


def test_text_has_every_key_and_value_and_fits_80_columns():
    text = render(STATUS)
    flat = " ".join(text.split())                       # wrapped lines joined back
    assert all(len(line) <= 80 for line in text.splitlines()), max(text.splitlines(), key=len)
    for path, value in leaves(STATUS):
        if path[0] in ("running",):
            continue
        shown = {True: "yes", False: "no", None: "-"}.get(value, value) if not isinstance(value, (int, float)) \
            or isinstance(value, bool) else value
        if path[0] == "uptime_s":
            shown = "1h02m"
        elif isinstance(shown, float):
            shown = f"{shown:g}"
        assert str(shown) in flat, (path, shown)
        if path[0] not in ("ports", *SUMMARY):      # the summary says them in words ("pid 4242", "up 1h02m")
            assert path[-1].replace("_", " ") in flat or path[-1] in flat or path[-1].upper() in flat, path
    for heading in ("LISTENERS", "PORTS", "TUN DEVICE", "ADDRESS POOL", "METRICS", "EVENT LOOP", "COUNTERS",
                    "DRIVERS", "TIMERS", "NOTES", "OTHER"):
        assert f"\n{heading}\n" in text


def test_text_head_and_groups_exactly():
    text = render(STATUS)
    assert text.startswith("engine running, pid 4242, version 0.1.0, up 1h02m (since 2026-12-03T20:29:40Z)\n"
                           "standard edition: 1 inbound of 1000; 2 connections in all\n"
                           "  config     /etc/rrasctl/rrasctl.toml\n")
    assert ("\nPORTS\n  PROTOCOL  COUNT  IN_USE  REMOTE_ACCESS  DEMAND_DIAL  AVAILABLE\n"
            "  pptp      5      2       yes            yes          yes\n") in text
    assert "\nCOUNTERS\n  accepted   pptp 3\n  refused    authentication failed 1, edition limit reached 2\n" in text
    assert "    offload          mode gso,gro, gso_sends 17, gso_packets 170, gso_dropped 0,\n" in text


def test_engine_status_command_text_and_json(rr, monkeypatch):
    import rrasctl.control.client as client

    monkeypatch.setattr(client, "call", lambda path, op, args=None, **kw: STATUS)
    r = rr("engine", "status")
    assert r.exit_code == 0 and r.stdout == render(STATUS)
    assert json.loads(rr("engine", "status", "-o", "json").stdout) == STATUS
