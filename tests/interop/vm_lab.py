"""The VM lab (../shared/lab/vm) for interop tests: why it cannot run, `vm(cmd)` through its agent, and a module
fixture `vmlab` that boots the VM when it is built but stopped (and stops it again afterwards).

The VM and the namespace vmlab-cli are one shared resource: the fixture holds an exclusive flock on
$VMLAB_STATE/interop.lock while a module uses them, so two test runs at once take turns instead of colliding (a
second engine in vmlab-cli cannot even create its TUN device). It waits up to RRASCTL_VMLAB_WAIT seconds (200).

Used by test_pptp_lab.py and test_l2tp_vm_xl2tpd.py; the engines themselves come from tests/integration/pptp_lab.py.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from support import OUTSIDE

LAB = Path(os.environ.get("RRASCTL_VMLAB", Path(__file__).resolve().parents[3] / "shared" / "lab" / "vm"))
STATE = Path(os.environ.get("VMLAB_STATE", "/tmp/vmlab"))
VM_IP, CLI_NS, CLI_IP = "198.51.100.1", "vmlab-cli", "198.51.100.2"


def why_not() -> str | None:
    """Why the VM lab cannot run, or None. A lab that is absent from ../shared, or whose build failed (tools/venv.sh
    test records the failure), is outside the project: CI=true lets those skip; a lab not built, or qemu missing,
    is this machine's set-up, which CI=true turns into a failure (decision 0127)."""
    if os.geteuid() != 0:
        return "the VM lab needs root (network namespaces, qemu, TUN)"
    if not (LAB / "up.sh").exists():
        return f"{OUTSIDE}no VM lab at {LAB} (set RRASCTL_VMLAB)"
    if not all((STATE / f).exists() for f in ("vmlinuz", "initrd.img", "root.img")):
        failed = STATE / "rrasctl-build.failed"
        if failed.exists():
            tail = " | ".join(line.strip() for line in failed.read_text(errors="replace").splitlines() if line.strip())
            return f"{OUTSIDE}the VM lab's build.sh failed (tools/venv.sh test ran it): {tail[-300:]}"
        return f"the VM lab is not built: run {LAB}/build.sh first (about 70 s; tools/venv.sh test does)"
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed (build.sh installs it)"
    return None


def vm(cmd: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """Run `cmd` (bash) in the VM through the lab's agent; stdout/stderr as text, rc as the command's."""
    return subprocess.run([str(LAB / "vmexec.sh"), "-t", str(timeout), cmd], capture_output=True, text=True,
                          timeout=timeout + 30)


def _lock(timeout: float):
    """An exclusive flock on the lab, or None after `timeout` s; waits in select(), never sleeps."""
    f = open(STATE / "interop.lock", "a")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() >= deadline:
                f.close()
                return None
            select.select([], [], [], 0.5)


@pytest.fixture(scope="module")
def vmlab():
    why = why_not()
    if why:
        pytest.skip(why)
    wait = float(os.environ.get("RRASCTL_VMLAB_WAIT", "200"))
    lock = _lock(wait)
    if lock is None:
        pytest.skip(f"{OUTSIDE}the VM lab stayed busy (another test run holds {STATE / 'interop.lock'}) for "
                    f"{wait:.0f} s")
    try:
        yield from _booted()
    finally:
        lock.close()


def _booted():
    started = False
    if vm("true", 10).returncode != 0:
        up = subprocess.run([str(LAB / "up.sh")], capture_output=True, text=True, timeout=400)
        if up.returncode != 0:
            pytest.skip(f"{OUTSIDE}the VM lab's up.sh did not start it: {up.stderr.strip()[-300:]}")
        started = True
    try:
        assert vm("true", 10).returncode == 0
        yield
    finally:
        if started:
            subprocess.run([str(LAB / "down.sh")], capture_output=True, text=True, timeout=120)
