"""The lockout state file shared by the engine and the CLI (config/state.py): updates under one lock lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

from rrasctl.config.state import LockoutFile

CONFIG = SimpleNamespace(auth=SimpleNamespace(lockout=SimpleNamespace(max_failures=1000, reset_minutes=2880)))

COUNT_ONE = """
import sys
from types import SimpleNamespace
from rrasctl.config.state import LockoutFile
cfg = SimpleNamespace(auth=SimpleNamespace(lockout=SimpleNamespace(max_failures=1000, reset_minutes=2880)))
with LockoutFile(sys.argv[1]).update(cfg) as table:
    table.record_failure("alice", 1_700_000_000.0)
"""


def test_concurrent_updates_from_many_processes_lose_nothing(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", COUNT_ONE, str(tmp_path)]) for _ in range(30)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 30
    data = json.loads((tmp_path / "lockout.json").read_text())
    assert data["alice"]["failures"] == 30
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_unchanged_table_is_not_rewritten_and_unlock_removes_the_entry(tmp_path):
    f = LockoutFile(tmp_path)
    with f.update(CONFIG) as table:
        assert table.entries == {}
    assert not (tmp_path / "lockout.json").exists()
    with f.update(CONFIG) as table:
        table.record_failure("bob", 1_700_000_000.0)
    assert f.read(CONFIG).entries["bob"].failures == 1
    with f.update(CONFIG) as table:
        assert table.unlock("bob")
    assert f.read(CONFIG).entries == {}


def test_a_damaged_file_means_nobody_is_locked_out(tmp_path):
    (tmp_path / "lockout.json").write_text("{not json")
    assert LockoutFile(tmp_path).read(CONFIG).entries == {}


def test_without_a_state_dir_the_table_lives_in_memory():
    f = LockoutFile(None)
    with f.update(CONFIG) as table:
        table.record_failure("carol", 1_700_000_000.0)
    assert f.read(CONFIG).entries["carol"].failures == 1
