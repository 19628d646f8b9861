"""Test isolation: every test gets its own config, key, state dir and control socket; no colour."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import CAPTURES, DATA, ROOT, VECTORS, fixed_rng, is_root  # noqa: F401  (re-exported for tests.conftest users)


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

