"""CLI test helpers: run the Click tree in-process (CliRunner) or as a real subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from rrasctl.cli import cli


class Run:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None):
        return self.runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)


@pytest.fixture
def rr() -> Run:
    return Run()


@pytest.fixture
def cfg() -> Path:
    return Path(os.environ["RRASCTL_CONFIG"])


@pytest.fixture
def fake_engine():
    """start(handlers) -> a support.FakeEngine on this test's control socket; closed afterwards."""
    from support import FakeEngine

    made = []

    def start(handlers):
        e = FakeEngine(os.environ["RRASCTL_SOCKET"], handlers)
        made.append(e)
        return e

    yield start
    for e in made:
        e.close()
