"""Test isolation: every test gets its own config, key, state dir and control socket; no colour."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import CAPTURES, DATA, ROOT, VECTORS, allowed_under_ci, ci, fixed_rng, is_root  # noqa: F401  (re-exported for tests.conftest users)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("rrasctl-home")
    (home / "config").mkdir()     # an explicit config path must be in an existing directory (decision 0123)
    monkeypatch.setenv("RRASCTL_CONFIG", str(home / "config" / "rrasctl.toml"))
    monkeypatch.setenv("RRASCTL_STATE_DIR", str(home / "state"))
    monkeypatch.setenv("RRASCTL_SOCKET", str(home / "state" / "control.sock"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "xdg-state"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("RRASCTL_OUTPUT", raising=False)
    monkeypatch.delenv("RRASCTL_DEBUG", raising=False)
    yield home


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a test that would skip because a tool is missing or a lab is not built fails instead, so CI on
    a machine that lacks them cannot stay green while testing less; the RRASCTL_LONG runs and reasons outside the
    project (support.skip_outside) still skip (decision 0127)."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not ci():
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if allowed_under_ci(reason):
        return
    report.outcome = "failed"
    report.longrepr = (f"CI=true: this test would have skipped: {reason}\n"
                       "install what it needs (tools/venv.sh test does, as root), or run without CI=true")
