"""Decision 0124: every table fits an 80-column terminal, in a pipe and on a TTY (rich), with realistic data: long
names, IPv4 peers with ports, durations, long error texts. Low-value columns go first, long ones wrap (nothing is
cut to an ellipsis); `-o json` keeps every field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrasctl.cli import _output
from rrasctl.control import messages

CAPTURE = str(Path(__file__).resolve().parents[2] / "data" / "captures" / "pptp-mschapv2-3frames-pptpd.pcap")
LONG_USER = "branch-office-frankfurt-am-main"
LONG_DD = "frankfurt-datacenter-primary"
PEER = "198.51.100.200:1701"
CONNS = [
    {"id": 1234, "protocol": "l2tp", "user": LONG_USER, "interface": LONG_DD, "peer": PEER, "port": "L2TP-999",
     "ip": "10.83.17.200", "encryption": "mppe-128", "auth": "ms-chap-v2", "started": "2026-11-25T03:00:00Z",
     "bytes_in": 123456789012, "bytes_out": 98765432109},
    {"id": 7, "protocol": "pptp", "user": "alice", "interface": None, "peer": "203.0.113.77", "port": "PPTP-3",
     "ip": "10.83.17.2", "encryption": "mppe-40", "auth": "ms-chap", "started": "2026-11-25T04:00:00Z",
     "bytes_in": 10, "bytes_out": 20}]
REFUSALS = [{"time": "2026-11-25T03:00:00Z", "peer": PEER, "user": LONG_USER, "protocol": "l2tp",
             "cause": "the user's dial-in permission is deny and no remote access policy grants it",
             "wire_code": "CDN result 2 error 0", "windows_error": 649}]
PORTS = {"protocol": "l2tp", "count": 1000, "remote_access": True, "demand_dial": True, "in_use": 1,
         "available": True, "ports": [
             {"port": "L2TP-999", "state": "active", "use": "remote_access", "connection_id": 1234,
              "user": LONG_USER, "interface": LONG_DD, "peer": PEER, "duration_s": 432000,
              "bytes_in": 123456789012, "bytes_out": 98765432109},
             {"port": "L2TP-998", "state": "listening (removed)", "use": None, "connection_id": None, "user": None,
              "interface": None, "peer": None, "duration_s": None, "bytes_in": 0, "bytes_out": 0}]}
DIALS = [{"name": LONG_DD, "type": "l2tp", "state": "unreachable", "since": "2026-11-25T03:00:00Z",
          "last_error": "the remote server did not answer on UDP 1701 (no SCCRP within 30 s)", "windows_error": 809,
          "unreachable_reason": "NO_ANSWER", "connection_id": None, "protocol": None, "ip": None, "bytes_in": 0,
          "bytes_out": 0}]
STATUS = {"running": True, "pid": 12345, "version": "0.1.0", "started": "2026-11-25T03:00:00Z", "uptime_s": 86400,
          "config": "/etc/rrasctl/a/rather/long/path/to/the/configuration/of/this/router/rrasctl.toml",
          "edition": "standard", "max_concurrent": 1000, "inbound": 1, "sessions": 2,
          "ports": [{"protocol": "pptp", "count": 1000, "remote_access": True, "demand_dial": True, "in_use": 1,
                     "available": True}],
          "listeners": {"pptp": "PPTP on TCP 0.0.0.0:1723 and GRE (IP protocol 47)",
                        "l2tp": "L2TP on UDP 0.0.0.0:1701 (plain L2TP only: IPsec is not available yet)"},
          "tun": {"name": "rras0", "address": "10.83.17.1", "mtu": 1400, "routes": 3},
          "notes": ["plain L2TP only until L2TP/IPsec lands"], "pending_restart": []}


@pytest.fixture(params=["pipe", "tty"])
def mode(request, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    if request.param == "tty":
        monkeypatch.setattr(_output, "_is_tty", lambda: True)
    return request.param


@pytest.fixture
def setup(rr, fake_engine):
    for args, stdin in [
        (("users", "add", LONG_USER, "--dial-in", "allow", "--static-ip", "10.83.17.200", "--route", "10.20.0.0/16",
          "--route", "10.21.0.0/16", "--route", "192.168.200.0/24", "--password-stdin"), "pw\n"),
        (("users", "add", "alice", "--password-stdin"), "pw\n"),
        (("demand-dial", "add", LONG_DD, "--destination", "vpn-gateway.frankfurt.example.net", "--user",
          "headquarters-router-01", "--type", "l2tp", "--route", "10.20.0.0/16", "--route", "10.21.0.0/16/5",
          "--persistent", "--password-stdin"), "pw\n"),
        (("policy", "add", "night-shift-contractors", "--permission", "grant", "--users", "alice,bob,carol",
          "--tunnel-type", "pptp,l2tp", "--hours", "mon-fri 22:00-06:00; sat 09:00-12:00", "--client-ip",
          "198.51.100.0/24"), None)]:
        assert rr(*args, input=stdin).exit_code == 0
    ok = lambda v: (lambda i, a: [messages.ok(i, v)])  # noqa: E731
    fake_engine({"connections.list": ok(CONNS), "connections.refusals": ok(REFUSALS), "ports.show": ok(PORTS),
                 "demand_dial.status": ok(DIALS), "status": ok(STATUS),
                 "ports.list": ok([{"protocol": "pptp", "in_use": 1}, {"protocol": "l2tp", "in_use": 1}])})


TABLES = [
    (("connections", "list"), [PEER, "L2TP-999", "10.83.17.200", "ms-chap-v2"]),
    (("connections", "refusals"), [PEER, "2026-11-25T03:00:00Z", "649"]),
    (("ports", "show", "l2tp"), [PEER, "L2TP-999", "432000"]),
    (("ports", "list"), ["REMOTE_ACCESS"]),
    (("demand-dial", "status"), ["unreachable", "809"]),
    (("demand-dial", "list"), ["unreachable"]),
    (("users", "list"), ["10.83.17.200", "192.168.200.0/24"]),
    (("policy", "list"), ["night-shift-contractors"]),
    (("engine", "status"), ["12345", "10.83.17.1"]),
    (("server", "show"), ["standard"]),
    (("auth", "show"), ["ms-chap-v2, ms-chap"]),
    (("config", "path"), []),
    (("demand-dial", "show", LONG_DD), ["vpn-gateway.frankfurt.example.net"]),
    (("policy", "show", "night-shift-contractors"), ["mon-fri 22:00-06:00; sat 09:00-12:00"]),
    (("demand-dial", "route", "list", LONG_DD), ["10.21.0.0/16"]),
    (("trace", "decode", CAPTURE), ["198.252.153.26", "Challenge"]),
]


@pytest.mark.parametrize("args, intact", TABLES, ids=["-".join(t[0][:2]) for t in TABLES])
def test_every_table_fits_80_columns(rr, setup, mode, args, intact):
    r = rr(*args)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, "\n" + r.stdout
    assert "…" not in r.stdout
    for text in intact:                               # short words are never broken
        assert text in r.stdout, (text, r.stdout)


def test_long_words_wrap_at_hyphens_and_lose_nothing(rr, setup, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = rr("connections", "list").stdout
    assert out == ("ID    USER               PEER                 PORT      IP            AUTH\n"
                   "1234  branch-office-     198.51.100.200:1701  L2TP-999  10.83.17.200  ms-chap-v2\n"
                   "      frankfurt-am-main\n"
                   "7     alice              203.0.113.77         PPTP-3    10.83.17.2    ms-chap\n")
    assert json.loads(rr("connections", "list", "-o", "json").stdout) == CONNS          # every field
    out = rr("connections", "refusals").stdout
    assert out.splitlines()[-2:] == [
        "        the user's dial-in permission is deny and no remote access policy grants", "        it"]
    assert json.loads(rr("connections", "refusals", "-o", "json").stdout) == REFUSALS


def test_a_wide_terminal_shows_every_column(rr, setup, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    head = rr("connections", "list").stdout.splitlines()[0].split()
    assert head == ["ID", "PROTOCOL", "USER", "INTERFACE", "PEER", "PORT", "IP", "ENCRYPTION", "AUTH", "STARTED",
                    "BYTES_IN", "BYTES_OUT"]


def test_fit_drops_in_order_then_wraps_prose_first():
    body = [["1", "alice", "a long piece of free text that explains everything", "x" * 10]]
    cols, widths = _output.fit(["id", "user", "cause", "low"], body, 40, drop=("low",))
    assert cols == ["id", "user", "cause"]
    assert widths == {"id": 2, "user": 5, "cause": 29, "low": 10}
    assert _output.plain_table([{"k": "v" * 30}], ["k"], width=12) == "K\n" + ("v" * 12 + "\n") * 2 + "v" * 6 + "\n"
