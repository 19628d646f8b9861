"""The systemd unit `rrasctl engine install-service` writes: the template shipped in rrasctl/data, filled in.

Pure and light (standard library only): the CLI imports it inside the command. docs/decisions/0164 explains every
option and what it costs; the `systemd-analyze security` exposure score is recorded there.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

UNIT_NAME = "rrasctl.service"
UNIT_DIR = "/etc/systemd/system"
SERVICE_CONFIG = "/etc/rrasctl/rrasctl.toml"
HIDDEN_BY_PROTECT_HOME = ("/home", "/root", "/run/user")


@dataclass(frozen=True)
class Unit:
    text: str
    exec_start: str
    config: str
    protect_home: str        # "yes" | "read-only"
    notes: tuple[str, ...]


def template() -> str:
    from importlib.resources import files

    return files("rrasctl").joinpath("data", UNIT_NAME).read_text(encoding="utf-8")


def default_exec() -> str:
    """How systemd should start rrasctl: the `rrasctl` script beside this interpreter, else `python -m rrasctl`."""
    script = Path(sys.executable).with_name("rrasctl")
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    found = shutil.which("rrasctl")
    if found:
        return os.path.abspath(found)
    return f"{sys.executable} -m rrasctl"


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def render(*, exec_start: str | None = None, config: str = SERVICE_CONFIG) -> Unit:
    exe = exec_start or default_exec()
    notes = []
    protect_home = "yes"
    program = exe.split()[0]
    hidden = [p for p in (program, os.path.realpath(program), config) if _under(p, HIDDEN_BY_PROTECT_HOME)]
    if hidden:
        protect_home = "read-only"
        notes.append(f"ProtectHome=read-only instead of yes: {hidden[0]} is under a home directory, which "
                     "ProtectHome=yes would hide from the service")
    for bad in ("\n", "%"):
        if bad in exe or bad in config:
            raise ValueError(f"a path for the unit contains {bad!r}")
    text = (template().replace("@EXEC@", exe).replace("@CONFIG@", config)
            .replace("@PROTECT_HOME@", protect_home))
    return Unit(text=text, exec_start=exe, config=config, protect_home=protect_home, notes=tuple(notes))
