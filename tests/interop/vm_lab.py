"""The VM lab (../shared/lab/vm) for interop tests: why it cannot run, `vm(cmd)` through its agent, and a module
fixture `vmlab` that boots the VM when it is built but stopped (and stops it again afterwards).

Used by test_pptp_lab.py and test_l2tp_vm_xl2tpd.py; the engines themselves come from tests/integration/pptp_lab.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LAB = Path(os.environ.get("RRASCTL_VMLAB", Path(__file__).resolve().parents[3] / "shared" / "lab" / "vm"))
STATE = Path(os.environ.get("VMLAB_STATE", "/tmp/vmlab"))
VM_IP, CLI_NS, CLI_IP = "198.51.100.1", "vmlab-cli", "198.51.100.2"


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "the VM lab needs root (network namespaces, qemu, TUN)"
    if not (LAB / "up.sh").exists():
        return f"no VM lab at {LAB} (set RRASCTL_VMLAB)"
    if not all((STATE / f).exists() for f in ("vmlinuz", "initrd.img", "root.img")):
        return f"the VM lab is not built: run {LAB}/build.sh first (about 70 s)"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed (build.sh installs it)"
    return None


def vm(cmd: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """Run `cmd` (bash) in the VM through the lab's agent; stdout/stderr as text, rc as the command's."""
    return subprocess.run([str(LAB / "vmexec.sh"), "-t", str(timeout), cmd], capture_output=True, text=True,
                          timeout=timeout + 30)


@pytest.fixture(scope="module")
def vmlab():
    why = why_not()
    if why:
        pytest.skip(why)
    started = False
    if vm("true", 10).returncode != 0:
        up = subprocess.run([str(LAB / "up.sh")], capture_output=True, text=True, timeout=400)
        if up.returncode != 0:
            pytest.skip(f"the VM lab did not start: {up.stderr.strip()[-300:]}")
        started = True
    try:
        assert vm("true", 10).returncode == 0
        yield
    finally:
        if started:
            subprocess.run([str(LAB / "down.sh")], capture_output=True, text=True, timeout=120)
