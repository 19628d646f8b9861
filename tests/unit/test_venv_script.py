"""Decision 0127: `tools/venv.sh test` (the README's test command) installs every Debian package the tests drive
and builds the VM lab of ../shared/lab, recording a failed build for the tests to name. Run here on a copy of the
script with a fake apt-get, python and lab on PATH: nothing is installed or built for real."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
{body}
"""


def _fake(bin_dir: Path, name: str, log: Path, body: str = "exit 0") -> None:
    path = bin_dir / name
    path.write_text(FAKE.format(log=log, body=body))
    path.chmod(0o755)


def _checkout(tmp_path: Path, present: tuple[str, ...], build_fails: bool) -> tuple[Path, dict[str, str], Path]:
    co, bin_dir, log = tmp_path / "co", tmp_path / "bin", tmp_path / "calls.log"
    (co / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools" / "venv.sh", co / "tools" / "venv.sh")
    (co / ".venv" / "bin").mkdir(parents=True)
    _fake(co / ".venv" / "bin", "python", log)
    bin_dir.mkdir()
    for tool in ("sh", "dirname", "basename", "mkdir", "rm", "tail", "sort", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    _fake(bin_dir, "id", log, 'echo 0')
    _fake(bin_dir, "apt-get", log)
    _fake(bin_dir, "python3", log)                      # `import ensurepip, venv` works
    for tool in present:
        _fake(bin_dir, tool, log)
    lab = tmp_path / "shared" / "lab"
    (lab / "vm").mkdir(parents=True)
    (lab / "softether").mkdir()
    _fake(lab / "softether", "up.sh", log)
    body = 'echo "E: Failed to fetch http://deb.example/dists/bookworm/InRelease  Could not connect" >&2; exit 1' \
        if build_fails else "exit 0"
    _fake(lab / "vm", "build.sh", log, body)
    env = {"PATH": str(bin_dir), "RRASCTL_SHARED": str(tmp_path / "shared"), "VMLAB_STATE": str(tmp_path / "vm"),
           "HOME": str(tmp_path)}
    return co, env, log


def test_missing_tools_are_installed_and_the_vm_lab_is_built(tmp_path):
    co, env, log = _checkout(tmp_path, present=("tshark", "editcap", "mergecap", "ip", "ss", "setpriv", "unshare",
                                                "systemd-analyze", "swanctl"), build_fails=False)
    res = subprocess.run(["sh", str(co / "tools" / "venv.sh"), "test"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines()
    install = [c for c in calls if c.startswith("apt-get") and " install " in c]
    softether = [] if os.path.exists("/usr/libexec/softether/vpnserver/vpnserver") and os.path.exists(
        "/usr/libexec/softether/vpncmd/vpncmd") else ["softether-vpncmd", "softether-vpnserver"]
    charon = [] if os.path.exists("/usr/lib/ipsec/charon") else ["strongswan-charon"]
    assert install == ["apt-get install -y -qq --no-install-recommends "
                       + " ".join(sorted(["iputils-ping", "jq", "nftables", "xl2tpd", *softether, *charon]))]
    assert "apt-get update -qq" in calls
    assert "python -m pip install -q --disable-pip-version-check -e .[test]" in calls
    assert "build.sh " in calls and not (tmp_path / "vm" / "rrasctl-build.failed").exists()


def test_a_failed_lab_build_is_recorded_for_the_tests(tmp_path):
    present = ("ping", "xl2tpd", "tshark", "editcap", "mergecap", "nft", "ip", "setpriv", "jq")
    co, env, log = _checkout(tmp_path, present=present, build_fails=True)
    res = subprocess.run(["sh", str(co / "tools" / "venv.sh"), "test"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr             # the suite still runs; the lab's tests say why
    assert "note: the VM lab did not build (its tests will say why): E: Failed to fetch" in res.stderr
    failed = (tmp_path / "vm" / "rrasctl-build.failed").read_text()
    assert "Could not connect" in failed
    from interop import vm_lab

    old_state, old_lab = vm_lab.STATE, vm_lab.LAB
    vm_lab.STATE, vm_lab.LAB = tmp_path / "vm", tmp_path / "shared" / "lab" / "vm"
    (vm_lab.LAB / "up.sh").write_text("")
    try:
        why = vm_lab.why_not()
    finally:
        vm_lab.STATE, vm_lab.LAB = old_state, old_lab
    if os.geteuid() == 0:
        assert why.startswith("outside the project: the VM lab's build.sh failed (tools/venv.sh test ran it): E: "
                              "Failed to fetch"), why
