"""The lockout state file shared by the engine and the CLI (config/state.py): updates under one lock lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys

from rrasctl.config.state import LockoutFile

COUNT_ONE = """
import sys
from rrasctl.config.state import LockoutFile
with LockoutFile(sys.argv[1]).update() as data:
    entry = data.setdefault("alice", {"failures": 0, "last_failure": 0.0})
    entry["failures"] += 1
"""


def test_concurrent_updates_from_many_processes_lose_nothing(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", COUNT_ONE, str(tmp_path)]) for _ in range(30)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 30
    data = json.loads((tmp_path / "lockout.json").read_text())
    assert data["alice"]["failures"] == 30
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_unchanged_data_is_not_rewritten_and_unlock_removes_the_entry(tmp_path):
    f = LockoutFile(tmp_path)
    with f.update() as data:
        assert data == {}
    assert not (tmp_path / "lockout.json").exists()
    with f.update() as data:
        data["bob"] = {"failures": 1, "last_failure": 1_700_000_000.0}
    assert f.read()["bob"]["failures"] == 1
    with f.update() as data:
        del data["bob"]
    assert f.read() == {}


def test_a_damaged_file_means_nobody_is_locked_out(tmp_path):
    (tmp_path / "lockout.json").write_text("{not json")
    assert LockoutFile(tmp_path).read() == {}


def test_without_a_state_dir_the_data_lives_in_memory():
    f = LockoutFile(None)
    with f.update() as data:
        data["carol"] = {"failures": 1, "last_failure": 1.0}
    assert f.read()["carol"]["failures"] == 1


def test_config_imports_nothing_from_router():
    """config/ is below router/ (router/access.py reads config.model): no import the other way (issue #10)."""
    import pathlib

    src = pathlib.Path(__file__).resolve().parents[3] / "src" / "rrasctl" / "config"
    offenders = [p.name for p in src.glob("*.py") if "rrasctl.router" in p.read_text()]
    assert offenders == []
