"""The suite's own rules (decision 0090; DESIGN.md §10): shared helpers come from `support`, never from a module
named `conftest` (several exist, so which one answers depends on load order); tests never sleep on the wall clock."""

from __future__ import annotations

import re

from support import ROOT

TESTS = ROOT / "tests"
CONFTEST_IMPORT = re.compile(r"^\s*(from\s+\.?conftest\s+import|import\s+conftest\b)", re.M)
WALL_CLOCK_SLEEP = re.compile(r"(^|[^a-z_])(time\.sleep|asyncio\.sleep)\((?!0(\.0+)?\))")


def _test_sources():
    return sorted(p for p in TESTS.rglob("*.py") if ".venv" not in p.parts)


def test_no_test_imports_from_a_conftest_module():
    bad = [str(p.relative_to(ROOT)) for p in _test_sources() if CONFTEST_IMPORT.search(p.read_text())]
    assert bad == []


def test_no_test_sleeps_on_the_wall_clock():
    bad = [f"{p.relative_to(ROOT)}:{n}" for p in _test_sources() if p.name != "test_test_conventions.py"
           for n, line in enumerate(p.read_text().splitlines(), 1) if WALL_CLOCK_SLEEP.search(line)]
    assert bad == []
