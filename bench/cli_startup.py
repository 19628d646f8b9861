#!/usr/bin/env python3
"""CLI start-up cost as ratios to references measured in the same run (issue 3, acceptance 9).

    rrasctl --version   ÷  python3 -c pass                                          (target ≤ 1.6)
    rrasctl ports list  ÷  python3 -c 'import click, rich.console, rich.table, tomlkit, platformdirs'  (≤ 1.2)

Medians of N runs each (default 21, at least 15), interleaved so drift hits every command alike. Runs with a
scratch config (a small file) and bytecode caching on (PYTHONDONTWRITEBYTECODE unset, warm-up runs first), as an
installed rrasctl runs.

    .venv/bin/python bench/cli_startup.py [-n 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=21)
    n = max(15, ap.parse_args().n)
    py = sys.executable
    script = str(Path(py).with_name("rrasctl"))
    rrasctl = [script] if os.path.exists(script) else [py, "-m", "rrasctl"]
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "rrasctl.toml"
        cfg.write_text("# bench\nschema_version = 1\n\n[ports.pptp]\ncount = 10\n\n[users.alice]\ndial_in = \"allow\"\n")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(RRASCTL_CONFIG=str(cfg), RRASCTL_STATE_DIR=str(Path(d) / "state"),
                   RRASCTL_SOCKET=str(Path(d) / "state" / "control.sock"), NO_COLOR="1")
        cases = {
            "python -c pass": [py, "-c", "pass"],
            "rrasctl --version": [*rrasctl, "--version"],
            "import floor": [py, "-c", "import click, rich.console, rich.table, tomlkit, platformdirs"],
            "rrasctl ports list": [*rrasctl, "ports", "list"],
        }
        for cmd in cases.values():  # warm-up: page cache and bytecode
            for _ in range(2):
                timed(cmd, env)
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(n):
            for k, cmd in cases.items():
                samples[k].append(timed(cmd, env))
    med = {k: statistics.median(v) for k, v in samples.items()}
    for k, v in med.items():
        print(f"{k:22s} median {v * 1000:7.1f} ms  (n={n})")
    r1 = med["rrasctl --version"] / med["python -c pass"]
    r2 = med["rrasctl ports list"] / med["import floor"]
    print(f"rrasctl --version  / python -c pass = {r1:.2f}  (target <= 1.6) {'OK' if r1 <= 1.6 else 'OVER'}")
    print(f"rrasctl ports list / import floor   = {r2:.2f}  (target <= 1.2) {'OK' if r2 <= 1.2 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
