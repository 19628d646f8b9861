"""sd_notify datagrams (paths and abstract names, the watchdog variables) and the loop-health ticker on a virtual
clock: pings at half of WatchdogSec, STATUS= on change at most once a second, loop lag measured and windowed."""

from __future__ import annotations

import os
import socket

import pytest

from rrasctl.engine.health import LagStats, Ticker, status_line
from rrasctl.engine.notify import Notifier, socket_address, watchdog_interval_s
from rrasctl.engine.sessions import Session


@pytest.fixture
def listener(tmp_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    s.bind(path)
    s.settimeout(5)
    yield path, s
    s.close()


def test_socket_address_path_and_abstract():
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@rrasctl/test") == b"\0rrasctl/test"


@pytest.mark.parametrize("env,pid,expected", [
    ({"WATCHDOG_USEC": "20000000"}, 7, 20.0),
    ({"WATCHDOG_USEC": "250000", "WATCHDOG_PID": "7"}, 7, 0.25),
    ({"WATCHDOG_USEC": "250000", "WATCHDOG_PID": "8"}, 7, None),      # meant for another process
    ({"WATCHDOG_USEC": "0"}, 7, None),
    ({"WATCHDOG_USEC": "soon"}, 7, None),
    ({}, 7, None),
])
def test_watchdog_interval(env, pid, expected):
    assert watchdog_interval_s(env, pid) == expected


def test_from_env_reads_then_unsets_and_sends_to_a_path(listener):
    path, sock = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid()), "OTHER": "x"}
    n = Notifier.from_env(env)
    assert env == {"OTHER": "x"}
    assert n.enabled and n.watchdog_s == 2.0
    assert n.ready("ready: no connections")
    assert sock.recv(4096) == b"READY=1\nSTATUS=ready: no connections\n"
    assert n.watchdog() and sock.recv(4096) == b"WATCHDOG=1\n"
    assert n.status("a\nb") and sock.recv(4096) == b"STATUS=a b\n"          # one line per value
    assert n.stopping() and sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping\n"
    assert n.sent == 4 and n.errors == 0
    n.close()


def test_abstract_name():
    name = f"rrasctl-test-{os.getpid()}-{id(object())}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(b"\0" + name.encode())
    s.settimeout(5)
    try:
        n = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert n.watchdog_s is None
        assert n.send(READY=1)
        assert s.recv(4096) == b"READY=1\n"
    finally:
        s.close()


def test_no_socket_means_no_op_and_a_bad_value_is_ignored(tmp_path):
    n = Notifier.from_env({})
    assert not n.enabled and n.ready("x") is False and n.sent == 0
    assert not Notifier.from_env({"NOTIFY_SOCKET": "relative/path"}).enabled
    gone = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert gone.enabled and gone.watchdog() is False and gone.errors == 1   # counted, never raised


class Recorder:
    def __init__(self):
        self.out: list[tuple[str, object]] = []

    def ticker(self, watchdog_s, status=lambda: "ready: no connections", probe_s=0.5):
        self.lags: list[tuple[float, float]] = []
        return Ticker(ping=lambda: self.out.append(("ping", None)),
                      report=lambda text: self.out.append(("status", text)), status_text=status,
                      on_lag=lambda now, lag: self.lags.append((now, lag)), watchdog_s=watchdog_s, probe_s=probe_s)


def test_ticker_pings_at_half_the_watchdog_interval_on_a_virtual_clock():
    r = Recorder()
    t = r.ticker(watchdog_s=0.4, probe_s=0.5)
    deadlines = [t.begin(100.0)]
    for _ in range(5):
        deadlines.append(t.tick(deadlines[-1], deadlines[-1]))
    assert deadlines == pytest.approx([100.2, 100.4, 100.6, 100.8, 101.0, 101.2])
    assert t.pings == 6 and [k for k, _ in r.out].count("ping") == 6
    assert r.lags == [(100.0, 0.0)] + [(d, 0.0) for d in deadlines[:-1]]


def test_ticker_without_a_watchdog_only_probes():
    r = Recorder()
    t = r.ticker(watchdog_s=None)
    d = t.begin(0.0)
    assert d == 0.5 and t.pings == 0
    assert t.tick(0.75, 0.5) == 1.25               # woke 0.25 s late: lag recorded, next probe from now
    assert r.lags[-1] == (0.75, 0.25)


def test_a_late_tick_pings_at_once_and_reports_the_lag():
    r = Recorder()
    t = r.ticker(watchdog_s=1.0)
    assert t.begin(0.0) == 0.5
    assert t.tick(3.0, 0.5) == 3.5                  # the loop was stuck 2.5 s
    assert r.lags[-1] == (3.0, 2.5)
    assert t.pings == 2 and t.next_ping == 3.5


def test_status_lines_on_change_at_most_once_a_second():
    r = Recorder()
    text = ["ready: no connections"]
    t = r.ticker(watchdog_s=None, status=lambda: text[0], probe_s=0.25)
    now = t.begin(0.0)
    assert r.out == [("status", "ready: no connections")]
    text[0] = "ready: 1 connection (pptp 1)"
    now = t.tick(now, now)                          # 0.25: changed, but only 0.25 s since the last line
    now = t.tick(now, now)                          # 0.5
    now = t.tick(now, now)                          # 0.75
    assert r.out == [("status", "ready: no connections")]
    now = t.tick(now, now)                          # 1.0: allowed
    assert r.out[-1] == ("status", "ready: 1 connection (pptp 1)")
    for _ in range(8):
        now = t.tick(now, now)                      # no change: nothing more
    assert len(r.out) == 2


def test_lag_stats_keep_the_largest_of_the_last_minute():
    lag = LagStats(window_s=60.0)
    lag.add(0.0, 0.5)
    lag.add(10.0, 0.1)
    lag.add(20.0, 0.2)
    assert (lag.last_s, lag.max_s(), lag.probes) == (0.2, 0.5, 3)
    lag.add(61.0, 0.01)                             # the 0.5 s probe left the window
    assert lag.max_s() == 0.2
    lag.add(100.0, 0.0)
    assert lag.max_s() == 0.01                      # 61 s is still inside [40, 100]
    lag.add(130.0, 0.0)
    assert lag.max_s() == 0.0


def test_status_line_counts_by_protocol():
    assert status_line([]) == "ready: no connections"
    assert status_line([Session("pptp", 0, "198.51.100.7")]) == "ready: 1 connection (pptp 1)"
    three = [Session("pptp", 0, "a"), Session("l2tp", 0, "b"), Session("pptp", 1, "c")]
    assert status_line(three) == "ready: 3 connections (l2tp 1, pptp 2)"
