"""PPTP interoperability with the Linux reference stack in ../shared/lab/vm (pptpd + pppd, pptp-linux + pppd).

1. Our client (a `pptp` demand-dial interface) dials pptpd in the VM: MS-CHAP v2 + MPPE-128 (stateless, as pptpd
   requires), ICMP both ways through the tunnel, clean disconnect.
2. pptp-linux in the VM dials our server: the same checks from the other side.

The engine runs in the lab's client namespace `vmlab-cli` (198.51.100.2); the VM is 198.51.100.1. The lab must be
built (`../shared/lab/vm/build.sh`, ~70 s). If it is built but not running, the test boots it (~13 s) and stops it
afterwards. Otherwise the test skips and says why.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from interop.vm_lab import CLI_IP, CLI_NS, VM_IP, vm, vmlab  # noqa: E402,F401  (vmlab is a fixture)
from pptp_lab import Engine, wait_for  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.root]

@pytest.fixture
def engine(tmp_path, vmlab):
    eng = Engine(CLI_NS, tmp_path / "engine", "lab-engine")
    eng.address = CLI_IP
    # the tests name our addresses: pin the pool a fresh installation would derive (decision 0120)
    eng.cli("server", "set", "--address-pool", "10.87.0.0/24", "--tunnel-address", "10.87.0.1", check=True)
    try:
        yield eng
    finally:
        eng.stop()


def test_our_client_dials_pptpd_mschapv2_mppe128(engine):
    engine.cli("auth", "set", "--methods", "ms-chap-v2", "--encryption", "strongest", check=True)
    engine.cli("demand-dial", "add", "lab", "--destination", VM_IP, "--user", "labuser", "--password-stdin",
               "--type", "pptp", "--encryption", "strongest", stdin="labpass\n", check=True)
    engine.start()
    res = engine.cli("demand-dial", "connect", "lab", timeout=120)
    assert res.returncode == 0, res.stderr + "".join(engine.log) + vm("tail -40 /var/log/messages").stdout
    (row,) = engine.connections()
    assert (row["peer"], row["ip"], row["auth"], row["encryption"]) == (VM_IP, "203.0.113.1", "ms-chap-v2",
                                                                         "mppe-128")
    ours = engine.json("demand-dial", "status", "lab")["ip"]
    assert re.fullmatch(r"203\.0\.113\.(1\d|[2-4]\d)", ours), ours     # pptpd's pool 203.0.113.10-49
    out = engine.ping("203.0.113.1", 3)
    assert out.stdout.strip() == "sent 3 received 3", out.stdout + out.stderr
    back = vm(f"ping -c 3 -W 2 {ours}")
    assert back.returncode == 0 and " 0% packet loss" in back.stdout, back.stdout + back.stderr
    log = vm("grep -a 'MPPE 128-bit stateless' /var/log/messages | tail -2").stdout
    assert "MPPE 128-bit stateless compression enabled" in log
    assert engine.cli("demand-dial", "disconnect", "lab").returncode == 0
    assert engine.connections() == []
    assert wait_for(lambda: not re.search(r"^ppp\d", vm("ip -br link").stdout, re.M), 20)   # pptpd hung up


def test_pptp_linux_dials_our_server_mschapv2_mppe128(engine):
    engine.cli("users", "add", "labuser", "--password-stdin", "--dial-in", "allow", stdin="labpass\n",
               check=True)
    engine.cli("auth", "set", "--methods", "ms-chap-v2", "--encryption", "strongest", check=True)
    engine.start()
    vm("pkill -x pppd; true", 10)
    vm(f"lab-pptp-dial {CLI_IP} > /var/log/h6-dial.log 2>&1 &", 10)
    try:
        rows = wait_for(lambda: [r for r in engine.connections() if r["encryption"]], 60)
        assert rows, "".join(engine.log) + vm("tail -40 /var/log/h6-dial.log").stdout
        (row,) = rows
        assert (row["peer"], row["user"], row["auth"], row["encryption"], row["ip"]) == (
            VM_IP, "labuser", "ms-chap-v2", "mppe-128", "10.87.0.2")
        assert wait_for(lambda: "10.87.0.2" in vm("ip -br addr show ppp11").stdout, 20)
        there = vm("ping -c 3 -W 2 -I ppp11 10.87.0.1")
        assert there.returncode == 0 and " 0% packet loss" in there.stdout, there.stdout + there.stderr
        out = engine.ping("10.87.0.2", 3)
        assert out.stdout.strip() == "sent 3 received 3", out.stdout + out.stderr
        assert "MPPE 128-bit stateless compression enabled" in vm("cat /var/log/h6-dial.log").stdout + vm(
            "grep -a 'MPPE 128' /var/log/messages | tail -3").stdout
        assert engine.cli("connections", "disconnect", str(row["id"])).returncode == 0
        assert wait_for(lambda: vm("ip link show ppp11").returncode != 0, 30)          # pppd hung up
        assert "LCP terminated by peer" in vm("cat /var/log/h6-dial.log").stdout
        assert engine.connections() == []
    finally:
        vm("pkill -f '^pptp 198' || true", 10)
