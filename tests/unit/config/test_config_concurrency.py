"""Acceptance 3: concurrent read-modify-writes lose nothing; kill -9 at random instants leaves old or new file."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
from pathlib import Path

from rrasctl.config import store


def test_50_concurrent_ports_add(tmp_path):
    cfg = tmp_path / "rrasctl.toml"
    env = dict(os.environ, RRASCTL_CONFIG=str(cfg))
    procs = [subprocess.Popen([sys.executable, "-m", "rrasctl", "ports", "add", "l2tp", "1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(50)]
    codes = [p.wait(timeout=120) for p in procs]
    errs = [p.stderr.read() for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert codes == [0] * 50, errs
    assert store.load(cfg).ports["l2tp"].count == 55
    out = subprocess.run([sys.executable, "-m", "rrasctl", "ports", "list", "-o", "json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)[1] == {"protocol": "l2tp", "count": 55, "remote_access": True, "demand_dial": True}
    assert sorted(os.listdir(tmp_path)) == ["rrasctl.toml", "rrasctl.toml.lock"]


def _content(i: int) -> str:
    # what the writer leaves after its i-th completed write (the header + the file the loop builds)
    return f"# kill test\nschema_version = 1\n\n[ports.pptp]\ncount = {i % 1000}\n\n[server]\nlog_level = \"{'debug' if i % 2 else 'info'}\"\n"


def _wait_readable(fd: int, deadline_s: float) -> bool:
    r, _, _ = select.select([fd], [], [], deadline_s)
    return bool(r)


def test_kill_9_at_random_instants_leaves_old_or_new(tmp_path):
    cfg = tmp_path / "rrasctl.toml"
    rnd = random.Random(20261125)
    outcomes = {"old": 0, "new": 0, "temp_left_behind": 0}
    for trial in range(100):
        start = trial * 7
        cfg.write_text(_content(start))
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the writer: rewrites the file forever, acknowledging each completed write
            try:
                os.close(r)
                i = start
                while True:
                    i += 1
                    with store.edit(cfg) as e:
                        e.set("ports.pptp.count", i % 1000)
                        e.set("server.log_level", "debug" if i % 2 else "info")
                    os.write(w, b".")
            finally:
                os._exit(1)
        os.close(w)
        try:
            acks = 0
            target = rnd.randint(0, 4)
            while acks < target:
                assert _wait_readable(r, 30.0), "writer stalled"
                acks += len(os.read(r, 1))
            for _ in range(rnd.randint(0, 30000)):  # a random instant inside the next write (CPU spin, no sleep)
                pass
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        while True:  # count every acknowledged write
            if not _wait_readable(r, 0):
                break
            chunk = os.read(r, 4096)
            if not chunk:
                break
            acks += len(chunk)
        os.close(r)
        done = start + acks
        text = cfg.read_text()
        assert text in (_content(done), _content(done + 1)), (trial, done, text)
        c = store.load(cfg)
        assert c.ports["pptp"].count in (done % 1000, (done + 1) % 1000)
        outcomes["old" if text == _content(done) else "new"] += 1
        outcomes["temp_left_behind"] += any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
        with store.edit(cfg) as e:  # a later writer cleans the killed writer's temp file
            pass
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rrasctl.toml", "rrasctl.toml.lock"]
    print(f"kill -9 outcomes over 100 trials: {outcomes}")
    assert outcomes["old"] + outcomes["new"] == 100
