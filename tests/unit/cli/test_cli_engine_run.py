"""Acceptance 7 (engine half), through the CLI: with `rrasctl engine run` up (root, in a private network namespace),
`engine status -o json` answers, live columns appear, reload works, and SIGTERM ends it with exit 0."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest


pytestmark = pytest.mark.root


def subprocess_rr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rrasctl", *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))


def _wait_for_line(proc: subprocess.Popen, needle: str, deadline_s: float) -> str:
    """Read the engine's stderr until a line holds NEEDLE (waits on select, never sleeps)."""
    seen = []
    end = time.monotonic() + deadline_s
    fd = proc.stderr.fileno()
    buf = b""
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            text = line.decode(errors="replace")
            seen.append(text)
            if needle in text:
                return text
    raise AssertionError(f"engine never said {needle!r}; it said:\n" + "\n".join(seen[-30:]))


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("needs root: the engine creates a TUN device (run the suite as root to cover this)")
    if subprocess.run(["ip", "-V"], capture_output=True).returncode != 0:
        pytest.skip("needs iproute2 (ip)")
    name = f"rr{os.getpid()}c1"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_engine_run_status_reload_sigterm(netns):
    assert subprocess_rr("users", "add", "alice", "--dial-in", "allow").returncode == 0
    assert subprocess_rr("demand-dial", "add", "b1", "--destination", "203.0.113.2", "--user", "hq").returncode == 0
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m", "rrasctl", "engine", "run",
                             "--log-level", "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ))
    try:
        _wait_for_line(proc, "engine ready", 60)
        r = subprocess_rr("engine", "status", "-o", "json")
        assert r.returncode == 0, r.stderr
        status = json.loads(r.stdout)
        assert status["running"] is True and status["edition"] == "standard" and status["max_concurrent"] == 1000
        assert oct(os.stat(os.environ["RRASCTL_SOCKET"]).st_mode & 0o777) == "0o600"
        rows = json.loads(subprocess_rr("ports", "list", "-o", "json").stdout)
        assert [(x["protocol"], x["count"], x["in_use"], x["free"]) for x in rows] == [("pptp", 5, 0, 5),
                                                                                        ("l2tp", 5, 0, 5)]
        show = json.loads(subprocess_rr("ports", "show", "pptp", "-o", "json").stdout)
        assert [p["port"] for p in show["ports"]] == [f"PPTP-{i}" for i in range(5)]
        assert json.loads(subprocess_rr("connections", "list", "-o", "json").stdout) == []
        assert json.loads(subprocess_rr("demand-dial", "show", "b1", "-o", "json").stdout)["state"] is not None
        assert subprocess_rr("ports", "add", "pptp", "2").returncode == 0
        r = subprocess_rr("engine", "reload")
        assert (r.returncode, r.stderr) == (0, "engine reloaded the configuration\n")
        rows = json.loads(subprocess_rr("ports", "list", "-o", "json").stdout)
        assert rows[0]["count"] == 7 and rows[0]["free"] == 7
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    r = subprocess_rr("engine", "status")
    assert r.returncode == 5
