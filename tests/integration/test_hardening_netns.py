"""Issue 13 on real engines in network namespaces (root): spoofed far-ahead GRE against a live PPTP session, a second
engine in the namespace of a live L2TP session, SIGKILL and restart with accounting, shared routes on a real TUN.
The lab harnesses (pptp_lab.py, l2tp_netns.py) are used as they are. Waits poll conditions with deadlines."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pptp_lab import SERVER_IP, Engine, Lab, setup_pair, wait_for

pytestmark = [pytest.mark.root]
if os.geteuid() != 0:
    pytestmark.append(pytest.mark.skip(reason="needs root to create network namespaces, TUN devices, raw sockets"))
elif shutil.which("ip") is None or not os.path.exists("/dev/net/tun"):
    pytestmark.append(pytest.mark.skip(reason="needs iproute2 (ip) and /dev/net/tun"))

HERE = Path(__file__).resolve().parent
_counter = iter(range(1000))


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path / "lab", f"h{os.getpid() % 10000}{next(_counter)}")
    try:
        yield lab
    finally:
        lab.close()


def _pinger(eng: Engine, dst: str, count: int, timeout_s: float = 2.0) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", eng.ns, sys.executable, str(HERE / "pptp_net.py"), "ping", dst,
                             str(count), str(timeout_s)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


SPOOF = r'''
import socket, sys
from rrasctl.protocols.pptp.gre import GreHeader
server, call_id, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
for i in range(20):     # the live call id, from the peer's own address, a far-ahead number, an LCP-looking payload
    raw.sendto(GreHeader(call_id, 8, seq=(first + i) & 0xFFFFFFFF, ack=i).encode(b"\xff\x03\xc0\x21\x09\x01\x00\x04"),
               (server, 0))
print(20)
'''


def test_twenty_spoofed_far_ahead_gre_packets_cost_at_most_one_ping(lab):
    """Issue 13, hole 2: the window moved to the spoofed numbers and the session passed nothing for 163 s."""
    (c,) = setup_pair(lab)
    lab.server.start()
    c.start()
    assert c.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
    assert c.ping("10.87.0.1", 3).stdout.strip() == "sent 3 received 3"
    (row,) = lab.server.connections()
    call_id = lab.server.json("connections", "show", str(row["id"]))["details"]["local_call_id"]
    spoof = subprocess.run(["ip", "netns", "exec", c.ns, sys.executable, "-c", SPOOF, SERVER_IP, str(call_id),
                            str(1 << 30)], capture_output=True, text=True, timeout=60, env=c.env)
    assert spoof.returncode == 0 and spoof.stdout.strip() == "20", spoof.stderr
    out, _ = _pinger(c, "10.87.0.1", 10).communicate(timeout=120)
    sent, received = (int(x) for x in out.split()[1::2])
    assert sent == 10 and received >= 9, out
    counters = lab.server.json("engine", "status")["counters"]
    far = counters["malformed"].get("pptp: far ahead", 0) + counters["dropped"].get("pptp: far ahead", 0)
    assert far == 20, counters
    assert c.ping("10.87.0.1", 3).stdout.strip() == "sent 3 received 3"
    assert [r["peer"] for r in lab.server.connections()] == [c.address]


def test_a_second_engine_in_the_namespace_exits_4_and_the_first_keeps_pinging(tmp_path):
    """Issue 13, hole 5: the second engine bound UDP 1701 beside the first and took its datagrams."""
    from l2tp_netns import Lab as L2tpLab

    with L2tpLab(tmp_path, f"2e{os.getpid() % 1000}") as lab:
        lab.configure("ms-chap-v2")
        lab.a.start()
        lab.b.start()
        p = lab.b.cli("demand-dial", "connect", "hq", check=False, timeout=120)
        assert p.returncode == 0, p.stderr + lab.b.drain_log() + lab.a.drain_log()
        pinger = subprocess.Popen(["ip", "netns", "exec", lab.b.name, "ping", "-n", "-q", "-c", "20", "-i", "0.2",
                                   "-W", "2", "198.51.100.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        home = tmp_path / "second"
        env = dict(lab.a.env, RRASCTL_CONFIG=str(home / "rrasctl.toml"), RRASCTL_STATE_DIR=str(home / "state"),
                   RRASCTL_SOCKET=str(home / "state" / "ctl.sock"))
        home.mkdir()
        (home / "rrasctl.toml").write_text('[auth]\nencryption = ["none"]\n')
        second = subprocess.run(["ip", "netns", "exec", lab.a.name, sys.executable, "-m", "rrasctl", "engine",
                                 "run"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 4, second.stderr
        assert (f"another engine is already running in this network namespace (pid {lab.a.proc.pid})"
                in second.stderr), second.stderr
        assert "engine ready" not in second.stderr and not (home / "state" / "ctl.sock").exists()
        udp = lab.a.ns("ss", "-Hunlp", "sport = :1701").stdout.splitlines()
        assert len(udp) == 1 and f"pid={lab.a.proc.pid}," in udp[0], udp
        out, _ = pinger.communicate(timeout=120)
        assert "20 packets transmitted, 20 received" in out, out
        assert lab.a.proc.poll() is None and len(lab.a.json("connections", "list")) == 1


def test_sigkill_and_restart_close_every_open_accounting_record(lab):
    """Issue 13, hole 8: after SIGKILL, sessions had a start and no stop."""
    (c,) = setup_pair(lab)
    lab.server.cli("auth", "set", "--accounting", "local", check=True)
    lab.server.start()
    c.start()
    assert c.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
    assert c.ping("10.87.0.1", 2).returncode == 0
    (row,) = lab.server.connections()
    shown = lab.server.json("connections", "show", str(row["id"]))
    lab.server.proc.kill()
    lab.server.proc.wait(10)
    acct = lab.server.home / "state" / "accounting.jsonl"
    (start,) = [json.loads(x) for x in acct.read_text().splitlines()]
    assert start["event"] == "start" and start["session_id"] == shown["session_id"]
    restarted = Engine(lab.server_ns, lab.server.home, "server-again")
    lab.engines.append(restarted)
    restarted.start()
    assert "closed 1 accounting record(s) left open" in "".join(restarted.log)
    recs = [json.loads(x) for x in acct.read_text().splitlines()]
    assert [(r["event"], r["session_id"]) for r in recs] == [("start", start["session_id"]),
                                                           ("stop", start["session_id"])]
    assert recs[1]["cause"] == "NAS reboot" and recs[1]["approximate"] is True and recs[1]["bytes_in"] is None
    # the client redials the restarted server: a new session id, never the old one
    assert wait_for(lambda: c.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0, 60, 1.0)
    (row,) = wait_for(lambda: restarted.connections(), 30)
    new_id = restarted.json("connections", "show", str(row["id"]))["session_id"]
    assert new_id != start["session_id"] and row["id"] == start["id"]      # the small id may repeat; this not
    assert restarted.stop() == 0
    recs = [json.loads(x) for x in acct.read_text().splitlines()]
    starts = sorted(r["session_id"] for r in recs if r["event"] == "start")
    stops = sorted(r["session_id"] for r in recs if r["event"] == "stop")
    assert starts == stops and len(starts) == 2


ROUTES = r'''
import json, subprocess
from rrasctl.engine.tun import Tun
t = Tun("rrt0"); t.open(); t.configure("10.87.0.1")
def routes():
    out = subprocess.run(["ip", "-4", "route", "show", "dev", "rrt0"], capture_output=True, text=True).stdout
    return sorted(" ".join(l.split()) for l in out.splitlines())
def up(local, peer, rs):           # engine/ppp_session.py _outbound_up + drivers.py session_up, in that order
    t.add_address(local); t.add_route(peer + "/32"); [t.add_route(r) for r in rs]
    [t.add_route(x, src=local) for x in (peer + "/32", *rs)]
def down(local, peer, rs):         # PppSession.finish, then drivers.py session_down
    t.del_address(local); t.del_route(peer + "/32"); [t.del_route(r) for r in rs]
up("10.91.0.2", "10.1.0.1", ["192.0.2.0/24"]); up("10.92.0.2", "10.2.0.1", ["192.0.2.0/24"])
both = routes()
down("10.92.0.2", "10.2.0.1", ["192.0.2.0/24"]); one = routes()
down("10.91.0.2", "10.1.0.1", ["192.0.2.0/24"]); none = routes()
print(json.dumps({"both": both, "one": one, "none": none, "errors": t.netlink_errors}))
t.close()
'''


def test_two_demand_dial_interfaces_share_a_route_on_a_real_tun(tmp_path):
    """Issue 13, hole 9, with the kernel's own rules (a route whose preferred source goes away is flushed)."""
    ns = f"rrrt{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", ROUTES], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        got = json.loads(p.stdout)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    assert got == {"both": ["10.1.0.1 proto static src 10.91.0.2", "10.2.0.1 proto static src 10.92.0.2",
                            "192.0.2.0/24 proto static src 10.92.0.2"],
                   "one": ["10.1.0.1 proto static src 10.91.0.2", "192.0.2.0/24 proto static src 10.91.0.2"],
                   "none": [], "errors": 0}


def test_the_pptp_note_appears_in_the_log_and_status_and_goes_when_pptp_is_off(tmp_path):
    """Issue 13, hole 12: with PPTP enabled the start-up log and `engine status` say once that MS-CHAP v2 over PPTP
    can be cracked offline; with PPTP off they do not."""
    from rrasctl.router.notes import PPTP_NOTE

    lab = Lab(tmp_path / "lab", f"n{os.getpid() % 10000}{next(_counter)}")
    try:
        s = lab.server
        s.cli("ports", "set", "pptp", "--count", "0", check=True)
        s.start()
        assert PPTP_NOTE not in "".join(s.log) and PPTP_NOTE not in s.json("engine", "status")["notes"]
        assert s.cli("ports", "set", "pptp", "--count", "3").returncode == 0      # applied at once (reload)
        assert PPTP_NOTE in s.json("engine", "status")["notes"]
        assert wait_for(lambda: "".join(s.log).count(PPTP_NOTE) == 1, 10)
        assert s.cli("ports", "set", "pptp", "--count", "0").returncode == 0
        assert PPTP_NOTE not in s.json("engine", "status")["notes"]
        assert s.stop() == 0
        again = Engine(lab.server_ns, s.home, "again")
        lab.engines.append(again)
        s.cli("ports", "set", "pptp", "--count", "5", check=True)
        again.start()
        assert "".join(again.log).count(PPTP_NOTE) == 1                      # said once at start-up
        assert again.json("engine", "status")["notes"].count(PPTP_NOTE) == 1
    finally:
        lab.close()
