"""Test isolation: every test gets its own config, key, state dir and control socket; no colour."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
VECTORS = Path(__file__).resolve().parent / "vectors"
CAPTURES = DATA / "captures"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("rrasctl-home")
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


def fixed_rng(seed: int = 0x5A):
    """A deterministic rng for cores: returns reproducible bytes."""
    import random

    r = random.Random(seed)
    return lambda n: bytes(r.getrandbits(8) for _ in range(n))


def is_root() -> bool:
    return os.geteuid() == 0
