"""`connections watch`: rates from successive snapshots, the header (totals, refusals of the last minute), 80
columns; plain snapshots in a pipe (--count); the live view in a pseudo-terminal, where `q` quits and the terminal
comes back (alternate screen left, cursor shown, cbreak mode undone)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import struct
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from rrasctl.cli.watch import Rates, Snapshot, plain_frame, si
from support import read_until, screen_lines, spawn_in_pty, wait_exit
from rrasctl.control import messages

T0 = 1_800_000_000.0
ISO = "%Y-%m-%dT%H:%M:%SZ"


def iso(t: float) -> str:
    return time.strftime(ISO, time.gmtime(t))


def row(i, user, bi, bo, proto="pptp", peer="198.51.100.7", started=T0 - 3725):
    return {"id": i, "protocol": proto, "user": user, "interface": None, "peer": peer, "port": f"{proto.upper()}-{i}",
            "ip": f"10.87.0.{i + 1}", "encryption": "mppe-128", "auth": "ms-chap-v2", "started": iso(started),
            "bytes_in": bi, "bytes_out": bo}


def test_rates_sort_and_frame():
    rates = Rates()
    refusals = [{"time": iso(T0 - 30)}, {"time": iso(T0 - 90)}]
    first = Snapshot(at=10.0, wall=T0, rows=[row(1, "alice", 1000, 500), row(2, "bob", 0, 0, "l2tp",
                                                                              "203.0.113.5:1701")], refusals=refusals)
    v1 = rates.view(first)
    assert [r["rate_in"] for r in v1] == [None, None]
    second = Snapshot(at=12.0, wall=T0 + 2, rows=[row(1, "alice", 3000, 500), row(2, "bob", 250_000, 125_000, "l2tp",
                                                                                    "203.0.113.5:1701")],
                      refusals=refusals)
    v2 = rates.view(second)
    assert [(r["id"], r["rate_in"], r["rate_out"]) for r in v2] == [(2, 1_000_000.0, 500_000.0), (1, 8000.0, 0.0)]
    assert v2[0]["peer"] == "203.0.113.5" and v2[1]["duration"] == 3727
    text = plain_frame(v2, second, 1.0)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[1] == "2 connections (l2tp 1, pptp 1)   in 1.01Mb/s   out 500kb/s"
    assert lines[2] == "transferred in 253kB out 126kB   refused in the last minute: 1"
    assert lines[3] == " ID USER       PROT PEER            AUTH       ENC            UP    IN/s   OUT/s"
    assert lines[4] == "  2 bob        l2tp 203.0.113.5     ms-chap-v2 mppe-128  1:02:07   1.00M    500k"
    assert lines[5] == "  1 alice      pptp 198.51.100.7    ms-chap-v2 mppe-128  1:02:07   8.00k       0"


def test_a_connection_that_restarted_its_counters_has_no_rate():
    rates = Rates()
    rates.view(Snapshot(1.0, T0, [row(1, "a", 5000, 5000)], []))
    (r,) = rates.view(Snapshot(2.0, T0 + 1, [row(1, "a", 10, 10)], []))
    assert r["rate_in"] is None


@pytest.mark.parametrize("v,text", [(0, "0"), (999, "999"), (1000, "1.00k"), (12_345, "12.3k"), (123_456, "123k"),
                                    (9_990_000, "9.99M"), (2.5e12, "2.50T")])
def test_si(v, text):
    assert si(v) == text


class FakeEngine:
    """A control socket whose connection counters grow by 125 kB (1 Mbit) in and 12.5 kB out per request."""

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.lists = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                if not buf:
                    continue
                req_id, op, _ = messages.parse_request(messages.decode(buf))
                if op == "connections.list":
                    self.lists += 1
                    n = self.lists
                    result = [row(3, "alice", 125_000 * n, 12_500 * n, started=time.time() - 62)]
                else:
                    result = [{"time": iso(time.time() - 5), "peer": "198.51.100.9"}]
                conn.sendall(messages.encode(messages.ok(req_id, result)))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def engine():
    e = FakeEngine(os.environ["RRASCTL_SOCKET"])
    yield e
    e.close()


def test_in_a_pipe_it_prints_count_snapshots(rr, engine):
    r = rr("connections", "watch", "--count", "3", "--interval", "0.1")
    assert r.exit_code == 0, r.stderr
    frames = r.stdout.split("\n\n")
    assert len(frames) == 3
    assert all(f.splitlines()[2].endswith("   refused in the last minute: 1") for f in frames)
    first, third = frames[0].splitlines()[4], frames[2].splitlines()[4]
    assert re.match(r"^  3 alice +pptp 198\.51\.100\.7 +ms-chap-v2 mppe-128 +0:01:0\d +- +-$", first), first
    rin, rout = third.split()[-2:]
    assert rin.endswith(("k", "M")) and rout.endswith(("k", "M"))      # ~1 Mbit per 0.1 s refresh: megabits
    assert all(len(line) <= 80 for line in r.stdout.splitlines())


def test_no_engine_exits_5(rr):
    r = rr("connections", "watch", "--count", "1")
    assert r.exit_code == 5 and r.stderr.startswith("error: the engine is not running")


def test_live_view_in_a_pty_changes_and_quits_on_q(engine):
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="24")
    env.pop("NO_COLOR", None)
    pid, fd = spawn_in_pty([sys.executable, "-m", "rrasctl", "connections", "watch", "--interval", "0.3"], env)
    try:
        raw = read_until(fd, lambda b: b.count(b"refused in the last minute") >= 3 and b"Mb/s" in b)
        assert b"\x1b[?1049h" in raw                         # alternate screen, like top
        lines = screen_lines(raw)
        assert all(len(line) <= 80 for line in lines), max(lines, key=len)
        rows = [line for line in lines if re.search(r"^\s*3 alice", line)]
        assert rows and rows[0].split()[-2:] == ["-", "-"]  # first frame: no rate yet
        rates = {tuple(line.split()[-2:]) for line in rows[1:]}
        assert rates and all(r[0] != "-" for r in rates)     # then rates, recomputed each refresh
        assert any("q quits" in line for line in lines)
        os.write(fd, b"q")
        tail = read_until(fd, lambda b: b"\x1b[?1049l" in b, timeout=10)
        assert wait_exit(pid) == 0
        assert b"\x1b[?25h" in tail                           # cursor shown again
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def test_ctrl_c_quits_cleanly_in_a_pty(engine):
    env = dict(os.environ, TERM="xterm", COLUMNS="80", LINES="24")
    pid, fd = spawn_in_pty([sys.executable, "-m", "rrasctl", "connections", "watch", "--interval", "0.3"], env)
    try:
        read_until(fd, lambda b: b"refused in the last minute" in b)
        os.write(fd, b"\x03")                                # the terminal turns ^C into SIGINT
        tail = read_until(fd, lambda b: b"\x1b[?1049l" in b, timeout=10)
        assert wait_exit(pid) == 0 and b"Traceback" not in tail
    finally:
        os.close(fd)
