"""The README's first tour runs as written and prints what the README shows (issue #12: its examples must match real
output). Each `$ ` line goes to `sh -c` with this checkout's `rrasctl` first on PATH; the lines after it, up to the
next command, are its exact stdout and stderr; `(exit N, …)` at the end of a line is the exit code it states."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"
EXIT = re.compile(r"\s+\(exit (\d+)[^)]*\)$")


def tour_block() -> list[tuple[str, list[str], int]]:
    text = README.read_text()
    block = text.split("## A tour", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, list[str], int]] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        assert line.startswith("$ "), line
        command = line[2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + lines[i].strip()
        i += 1
        out, code = [], 0
        while i < len(lines) and not lines[i].startswith("$ "):
            m = EXIT.search(lines[i])
            if m:
                code = int(m.group(1))
            out.append(EXIT.sub("", lines[i]))
            i += 1
        steps.append((command, out, code))
    return steps


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (apt-get install jq)")
def test_the_readme_tour_prints_what_the_readme_shows(tmp_path):
    steps = tour_block()
    assert len(steps) == 10
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", COLUMNS="80")
    for command, expected, code in steps:
        res = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
        shown = (res.stdout + res.stderr).replace(os.environ["RRASCTL_SOCKET"], "/var/lib/rrasctl/control.sock")
        assert (res.returncode, shown.splitlines()) == (code, expected), command
    assert (tmp_path / "rras.sh").read_text().startswith("#!/bin/sh\n# rrasctl dump")
