"""Decision 0127: under CI=true a test that would skip for a missing tool or lab fails instead; the RRASCTL_LONG
runs and reasons outside the project still skip. Checked on a probe and on a real test module with `ping` made
missing by PATH (nothing is uninstalled)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _pytest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def _summary(out: str) -> dict[str, int]:
    last = out.strip().splitlines()[-1]
    return {k.rstrip("s"): int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?)", last)}


@pytest.mark.parametrize("ci, expect", [("", {"passed": 1, "skipped": 3}),
                                        ("true", {"passed": 1, "failed": 1, "skipped": 2})])
def test_only_missing_tools_and_labs_fail_under_ci(ci, expect):
    res = _pytest(str(HERE / "ci_probe.py"), env={"CI": ci})
    assert _summary(res.stdout) == expect, res.stdout
    if ci:
        assert ("CI=true: this test would have skipped: frobnicate is not installed (apt-get install frobnicate)"
                in res.stdout)
        assert "outside the project: the lab's package archive did not answer" in res.stdout   # still a skip
        assert res.returncode == 1
    else:
        assert res.returncode == 0


def test_a_real_module_with_ping_made_missing_fails_under_ci(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ip",):                      # ip present, ping absent: PATH holds nothing else
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    module = "tests/integration/test_l2tp_netns.py"
    plain = _pytest(module, env={"CI": "", "PATH": str(bin_dir)})
    ci = _pytest(module, env={"CI": "true", "PATH": str(bin_dir)})
    n = _summary(plain.stdout)["skipped"]
    assert n >= 5 and "passed" not in _summary(plain.stdout), plain.stdout
    assert _summary(ci.stdout) == {"error": n}, ci.stdout              # skips at set-up become errors
    assert ci.returncode == 1
    reason = "needs ip and ping" if os.geteuid() == 0 else "needs root"
    assert ci.stdout.count(f"CI=true: this test would have skipped: {reason}") == n
