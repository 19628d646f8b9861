"""Acceptance 9 (the import half): read-only commands import neither asyncio nor cryptography; the group modules
are imported lazily; --version answers without click. The timing half is bench/cli_startup.py."""

from __future__ import annotations

import re

import pytest

READ_ONLY = [
    ["ports", "list"], ["ports", "list", "-o", "json"], ["ports", "show", "pptp"], ["server", "show"],
    ["auth", "show"], ["users", "list"], ["policy", "list"], ["demand-dial", "list"], ["config", "path"],
    ["config", "check"], ["config", "export"], ["dump"], ["--help"], ["ports", "--help"],
]


def _imported(args: list[str]) -> set[str]:
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "rrasctl", *args], capture_output=True, text=True,
                       env=dict(os.environ), timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    mods = set()
    for line in p.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", line)
        if m:
            mods.add(m.group(1))
    return mods


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_import_neither_asyncio_nor_cryptography(args):
    mods = _imported(args)
    assert "click" in mods  # the parse worked: the command really ran
    assert not {m for m in mods if m == "asyncio" or m.startswith("asyncio.")}
    assert not {m for m in mods if m == "cryptography" or m.startswith("cryptography.")}


DRIVER = """
import atexit, json, sys
atexit.register(lambda: sys.__stderr__.write("MODULES:" + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["rrasctl", *json.loads(sys.argv[1])]
from rrasctl.__main__ import main
main()
"""


def _modules(args: list[str]) -> set[str]:
    import json
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(args)], capture_output=True, text=True,
                       env=dict(os.environ), timeout=60)
    line = [x for x in p.stderr.splitlines() if x.startswith("MODULES:")][-1]
    return set(json.loads(line[len("MODULES:"):]))


def test_groups_are_lazy():
    mods = _modules(["ports", "list"])
    assert "rrasctl.cli.ports" in mods
    assert not {"rrasctl.cli.users", "rrasctl.cli.policy", "rrasctl.cli.demand_dial", "rrasctl.cli.dump",
                "rrasctl.cli.engine", "rrasctl.router.access", "rich"} & mods


def test_version_answers_before_click():
    mods = _modules(["--version"])
    assert "click" not in mods


def test_writing_a_secret_does_import_cryptography():  # the check above can fail
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "rrasctl", "auth", "set", "--psk-stdin"],
                       input="k3y\n", capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert p.returncode == 0
    assert re.search(r"\|\s*cryptography\b", p.stderr)
