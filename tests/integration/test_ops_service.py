"""Issue #11 acceptance 1-3 with real engines in network namespaces (root): the notify protocol against a socket of
our own (no systemd runs here), the journal's native protocol through $JOURNAL_STREAM, and the metrics endpoint of
an engine with a live PPTP connection compared with `engine status -o json`.

Waits poll a condition with a deadline (select on sockets and pipes); nothing sleeps.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pptp_lab import SERVER_IP, Lab, setup_pair, wait_for

pytestmark = [pytest.mark.root]
REASON = None
if os.geteuid() != 0:
    REASON = "needs root to create network namespaces, TUN devices and a raw GRE socket"
elif shutil.which("ip") is None or shutil.which("ss") is None:
    REASON = "needs iproute2 (ip, ss)"
elif not os.path.exists("/dev/net/tun"):
    REASON = "needs /dev/net/tun"
if REASON:
    pytestmark.append(pytest.mark.skip(reason=REASON))

PY = sys.executable
WATCHDOG_USEC = 1_000_000          # systemd's WatchdogSec=1: the engine must ping every 0.5 s
STALL_S = 2.5


class Datagrams:
    """A Unix datagram socket of our own, standing in for systemd's notify socket or journald's socket."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.seen: list[tuple[float, bytes]] = []

    def wait(self, pred, timeout: float = 20.0) -> tuple[float, bytes]:
        """The first datagram (from now on) for which pred(data) holds; every datagram is kept in `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching datagram within {timeout} s; last: {self.seen[-5:]}")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                item = (time.monotonic(), self.sock.recv(1 << 20))
                self.seen.append(item)
                if pred(item[1]):
                    return item

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def netns():
    name = f"rrops{os.getpid() % 10000}{time.monotonic_ns() % 10000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def listening(ns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "ss", "-lntuxp"], capture_output=True, text=True).stdout


def test_ready_after_listeners_watchdog_stall_and_stopping(netns, tmp_path, _isolated_env):
    notify = Datagrams(tmp_path / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC=str(WATCHDOG_USEC),
               RRASCTL_TEST_STALL_S=str(STALL_S), NO_COLOR="1")
    sock_path = env["RRASCTL_SOCKET"]
    proc = subprocess.Popen(["ip", "netns", "exec", netns, PY, "-m", "rrasctl", "engine", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, ready = notify.wait(lambda d: b"READY=1" in d)
        engine_pid = int(subprocess.run(["ip", "netns", "pids", netns], capture_output=True,
                                         text=True).stdout.split()[0])
        os.kill(engine_pid, signal.SIGSTOP)           # frozen at READY: what is bound now was bound before it
        try:
            ss = listening(netns)
        finally:
            os.kill(engine_pid, signal.SIGCONT)
        assert ready == b"READY=1\nSTATUS=ready: no connections\n"
        assert ":1723 " in ss and ":1701 " in ss and sock_path in ss, ss
        assert [d for _, d in notify.seen].index(ready) == 0            # nothing came before READY=1

        # pings keep coming, never further apart than WatchdogSec, never more often than twice per interval
        start = len(notify.seen)
        for _ in range(6):
            notify.wait(lambda d: d == b"WATCHDOG=1\n")
        pings = [t for t, d in notify.seen[start:] if d == b"WATCHDOG=1\n"]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.25 <= g < WATCHDOG_USEC / 1e6 for g in gaps), gaps

        # a stuck loop sends nothing until it runs again
        os.kill(engine_pid, signal.SIGUSR2)
        notify.wait(lambda d: d == b"X_RRASCTL_TEST=stall-begin\n")
        mark = len(notify.seen)
        notify.wait(lambda d: d == b"X_RRASCTL_TEST=stall-end\n", timeout=STALL_S + 20)
        assert [d for _, d in notify.seen[mark:-1]] == []                # no WATCHDOG=1 while stuck
        notify.wait(lambda d: d == b"WATCHDOG=1\n", timeout=5)           # and pings resume
        status = json.loads(subprocess.run([PY, "-m", "rrasctl", "engine", "status", "-o", "json"], env=env,
                                           capture_output=True, text=True, timeout=30).stdout)
        assert status["event_loop"]["lag_max_s"] >= STALL_S - 0.5        # the probe saw the stall

        proc.send_signal(signal.SIGTERM)
        notify.wait(lambda d: d.startswith(b"STOPPING=1\n"))
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()


def scrape(ns: str, url: str) -> subprocess.CompletedProcess:
    code = ("import sys, urllib.request\n"
            "try:\n    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())\n"
            "except OSError as e:\n    sys.stderr.write(str(e)); sys.exit(7)\n")
    return subprocess.run(["ip", "netns", "exec", ns, PY, "-c", code, url], capture_output=True, text=True,
                          timeout=30)


def metrics(ns: str, url: str) -> dict[tuple[str, tuple], float]:
    res = scrape(ns, url)
    assert res.returncode == 0, res.stderr
    out = {}
    for fam in text_string_to_metric_families(res.stdout):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def v(smp, name, **labels) -> float:
    return smp.get((name, tuple(sorted((k, str(x)) for k, x in labels.items()))), 0.0)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path / "lab", f"o{os.getpid() % 10000}")
    try:
        yield lab
    finally:
        lab.close()


def start_under_journal(eng, tmp_path) -> tuple[Datagrams, Datagrams]:
    """Start `eng` as systemd would: NOTIFY_SOCKET, and stderr = the journal stream ($JOURNAL_STREAM matches)."""
    notify = Datagrams(tmp_path / f"{eng.name}-notify.sock")
    journal = Datagrams(tmp_path / f"{eng.name}-journal.sock")
    r, w = os.pipe()
    st = os.fstat(w)
    env = dict(eng.env, NOTIFY_SOCKET=notify.path, RRASCTL_JOURNAL_SOCKET=journal.path,
               JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    eng.proc = subprocess.Popen(["ip", "netns", "exec", eng.ns, PY, "-m", "rrasctl", "engine", "run"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=w)
    os.close(w)
    eng._stderr_pipe = r
    notify.wait(lambda d: b"READY=1" in d)
    return notify, journal


def fields(data: bytes) -> dict[str, str]:
    from rrasctl.engine.journal import decode_entry

    return {k: vals[0].decode() for k, vals in decode_entry(data).items()}


def test_two_engines_metrics_match_status_refusals_counted_journal_fields(lab, tmp_path):
    c1, c2 = setup_pair(lab, n_clients=2)
    canary = "Canary-wrong-pw-5e1d"
    c2.cli("demand-dial", "set", "hq", "--password-stdin", stdin=canary + "\n", check=True)
    lab.server.cli("server", "set", "--metrics-listen", "127.0.0.1:9477", check=True)
    notify, journal = start_under_journal(lab.server, tmp_path)
    try:
        for c in (c1, c2):
            c.start()
        assert c1.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
        assert c1.ping("10.87.0.1", 5).returncode == 0
        refused = c2.cli("demand-dial", "connect", "hq", timeout=90)
        assert refused.returncode != 0 and "691" in refused.stderr
        assert wait_for(lambda: lab.server.json("engine", "status")["counters"]["refused"], 10)

        status = lab.server.json("engine", "status")
        smp = metrics(lab.server.ns, "http://127.0.0.1:9477/metrics")
        rows = lab.server.connections()
        assert status["metrics"]["state"] == "listening" and status["metrics"]["listen"] == "127.0.0.1:9477"
        assert v(smp, "rrasctl_sessions", protocol="pptp", state="up") == status["sessions"] == len(rows) == 1
        for port in status["ports"]:
            assert v(smp, "rrasctl_ports", protocol=port["protocol"], status="in_use") == port["in_use"]
            assert v(smp, "rrasctl_ports_configured", protocol=port["protocol"]) == port["count"]
        assert v(smp, "rrasctl_inbound_connections") == status["inbound"]
        assert v(smp, "rrasctl_connections_accepted_total", protocol="pptp") == status["counters"]["accepted"]["pptp"]
        assert status["counters"]["refused"] == {"auth_failed": 1}
        assert v(smp, "rrasctl_refusals_total", protocol="pptp", cause="auth_failed", windows_error=691) == 1
        assert v(smp, "rrasctl_traffic_bytes_total", protocol="pptp", direction="in") == rows[0]["bytes_in"] > 0
        assert v(smp, "rrasctl_traffic_bytes_total", protocol="pptp", direction="out") == rows[0]["bytes_out"] > 0
        assert v(smp, "rrasctl_setup_seconds_count", protocol="pptp", direction="in") == 1
        for reason, n in status["counters"]["malformed"].items():
            proto, _, why = reason.partition(": ")
            assert v(smp, "rrasctl_malformed_packets_total", protocol=proto, reason=why) == n

        # only where configured: not on the namespace's other address
        assert scrape(lab.server.ns, f"http://{SERVER_IP}:9477/metrics").returncode == 7
        assert scrape(c1.ns, f"http://{SERVER_IP}:9477/metrics").returncode == 7
        # a non-loopback address written out explicitly: the running engine moves the endpoint there
        res = lab.server.cli("server", "set", "--metrics-listen", f"{SERVER_IP}:9477", check=True)
        assert "not a loopback address" in res.stderr and "the running engine applied the change" in res.stderr
        assert v(metrics(c1.ns, f"http://{SERVER_IP}:9477/metrics"), "rrasctl_sessions", protocol="pptp",
                 state="up") == 1
        assert scrape(lab.server.ns, "http://127.0.0.1:9477/metrics").returncode == 7
        lab.server.cli("server", "set", "--metrics-listen", "off", check=True)
        assert scrape(c1.ns, f"http://{SERVER_IP}:9477/metrics").returncode == 7

        # STATUS= followed the session count; the journal got every line with its fields, no secret anywhere
        notify.wait(lambda d: d == b"STATUS=ready: 1 connection (pptp 1)\n")
        entries = []
        while True:
            r, _, _ = select.select([journal.sock], [], [], 0.5)
            if not r:
                break
            entries.append(journal.sock.recv(1 << 20))
        assert all(canary.encode() not in e and b"Pw-alice-1" not in e for e in entries)
        parsed = [fields(e) for e in entries]
        ready = [f for f in parsed if f["MESSAGE"].startswith("engine ready")]
        assert ready and ready[0]["SYSLOG_IDENTIFIER"] == "rrasctl" and ready[0]["PRIORITY"] == "6"
        assert ready[0]["CODE_FILE"].endswith("engine/run.py")
        assert any("refused pptp call" in f["MESSAGE"] and f["PRIORITY"] == "4" for f in parsed)
        os.set_blocking(lab.server._stderr_pipe, False)
        with pytest.raises(BlockingIOError):                       # nothing went to plain stderr
            os.read(lab.server._stderr_pipe, 65536)
    finally:
        notify.close()
        journal.close()
        os.close(lab.server._stderr_pipe)


def test_journal_session_and_refusal_lines_carry_rras_fields(lab, tmp_path):
    (c1,) = setup_pair(lab, n_clients=1)
    notify, journal = start_under_journal(lab.server, tmp_path)
    try:
        c1.start()
        assert c1.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
        _, up = journal.wait(lambda d: b"up: 10.87.0.2" in d)
        f = fields(up)
        assert (f.get("RRAS_USER"), f.get("RRAS_PROTOCOL"), f.get("RRAS_PEER")) == ("alice", "pptp", c1.address)
    finally:
        notify.close()
        journal.close()
        os.close(lab.server._stderr_pipe)


HARDEN = r'''
set -e
mount --bind / / && mount -o remount,bind,ro /
if touch /usr/.rrasctl-probe 2>/dev/null; then echo "root is still writable" >&2; exit 99; fi
mount --bind "$STATE" "$STATE" && mount -o remount,bind,rw "$STATE"
exec setpriv --no-new-privs --inh-caps=-all --bounding-set=-all,+net_admin,+net_raw,+net_bind_service "$@"
'''
MDWE = r'''
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:        # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN: MemoryDenyWriteExecute=yes
    sys.exit(f"PR_SET_MDWE: {os.strerror(ctypes.get_errno())}")
os.execv(sys.executable, [sys.executable, "-m", "rrasctl", "engine", "run"])
'''


@pytest.mark.skipif(shutil.which("setpriv") is None or shutil.which("unshare") is None,
                    reason="needs util-linux setpriv and unshare")
def test_the_engine_runs_under_the_units_hardening(lab, tmp_path):
    """What the unit's hardening leaves the engine, emulated without systemd: a read-only file system except the
    state dir (ProtectSystem=strict + StateDirectory), no_new_privs, a capability bounding set of the three
    capabilities, W^X memory (PR_SET_MDWE, as MemoryDenyWriteExecute). A client connects, pings, disconnects."""
    (c1,) = setup_pair(lab, n_clients=1)
    srv = lab.server
    srv.cli("auth", "set", "--accounting", "local", check=True)      # a file the engine must be able to write
    state = srv.home / "state"
    state.mkdir(parents=True, exist_ok=True)
    notify = Datagrams(state / "notify.sock")       # inside the writable dir, like /run/systemd/notify
    env = dict(srv.env, STATE=str(state), NOTIFY_SOCKET=notify.path)
    srv.proc = subprocess.Popen(["ip", "netns", "exec", srv.ns, "unshare", "--mount", "--propagation", "private",
                                 "sh", "-c", HARDEN, "harden", PY, "-c", MDWE], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        try:
            notify.wait(lambda d: b"READY=1" in d, timeout=30)
        except AssertionError:
            srv.proc.kill()
            raise AssertionError(srv.proc.communicate()[1])
        caps = json.loads(srv.cli("engine", "status", "-o", "json").stdout)
        assert caps["listeners"]["pptp"].startswith("PPTP on TCP")
        pid = int(subprocess.run(["ip", "netns", "pids", srv.ns], capture_output=True, text=True).stdout.split()[0])
        st = Path(f"/proc/{pid}/status").read_text()
        assert "NoNewPrivs:\t1" in st and "CapBnd:\t0000000000003400" in st, st
        c1.start()
        assert c1.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
        assert c1.ping("10.87.0.1", 3).stdout.strip() == "sent 3 received 3"
        assert c1.cli("demand-dial", "disconnect", "hq").returncode == 0
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(30) == 0
        assert (state / "accounting.jsonl").exists()             # the state dir was writable
    finally:
        notify.close()


def test_connections_watch_in_a_pty_shows_rates_that_change_during_a_ping_flood(lab):
    from support import read_until, screen_lines, spawn_in_pty, wait_exit

    (c1,) = setup_pair(lab, n_clients=1)
    lab.server.start()
    c1.start()
    assert c1.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
    flood = subprocess.Popen(["ip", "netns", "exec", c1.ns, PY, str(Path(__file__).with_name("pptp_net.py")), "ping",
                              "10.87.0.1", "100000", "2", "", ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(lab.server.env, TERM="xterm", COLUMNS="80", LINES="24")
    pid, fd = spawn_in_pty(["ip", "netns", "exec", lab.server.ns, PY, "-m", "rrasctl", "connections", "watch",
                            "--interval", "0.5"], env)
    try:
        raw = read_until(fd, lambda b: b.count(b"refused in the last minute") >= 6, timeout=60)
        lines = screen_lines(raw)
        rows = [line for line in lines if re.search(r"^\s*\d+ alice +pptp " + re.escape(c1.address), line)]
        rates = [tuple(r.split()[-2:]) for r in rows[1:]]
        assert rates and all(a != "-" and b != "-" for a, b in rates), rows
        assert len(set(rates)) >= 2, rates               # the figures move with the traffic
        assert all(len(line) <= 80 for line in lines)
        os.write(fd, b"q")
        read_until(fd, lambda b: b"\x1b[?1049l" in b, timeout=10)
        assert wait_exit(pid) == 0
    finally:
        flood.kill()
        flood.wait()
        os.close(fd)
