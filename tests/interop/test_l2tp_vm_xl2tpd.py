"""L2TP interoperability with the VM lab's xl2tpd 1.3.18 + pppd 2.4.9 (kernel L2TP data path, l2tp_ppp).

1. Our LAC (an `l2tp` demand-dial interface) dials xl2tpd's LNS at 198.51.100.1:1701: tunnel, session, PPP with
   MS-CHAP v2 (pppd `require-mschap-v2`, no MPPE), the address pppd hands out through IPCP (203.0.113.70-99), ICMP
   both ways, then a clean hang-up (CDN + StopCCN) that xl2tpd logs.
2. xl2tpd as LAC in the VM (the README's recipe: the LNS stopped, `lns = 198.51.100.2`) dials our LNS: user labuser,
   MS-CHAP v2, plain L2TP; ICMP both ways between ppp20 and our engine; our hang-up; the VM's LNS is restarted.

The engine runs in the lab's client namespace `vmlab-cli` (198.51.100.2). The lab must be built
(`../shared/lab/vm/build.sh`); a stopped VM is booted (~14 s) and stopped again. Otherwise the tests skip and say why.
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

LNS_IP = "203.0.113.65"                   # xl2tpd's `local ip`; the pool is 203.0.113.70-99


def messages_since(mark: int) -> str:
    """The VM's syslog after line `mark` (pppd with debug, xl2tpd)."""
    return vm(f"tail -n +{mark + 1} /var/log/messages").stdout


def messages_mark() -> int:
    return int(vm("wc -l < /var/log/messages").stdout.strip() or 0)


@pytest.fixture
def engine(tmp_path, vmlab):
    eng = Engine(CLI_NS, tmp_path / "engine", "lab-engine")
    eng.address = CLI_IP
    eng.cli("server", "set", "--listen-address", CLI_IP, check=True)
    eng.cli("ports", "set", "pptp", "--count", "0", check=True)
    eng.cli("auth", "set", "--methods", "ms-chap-v2", "--encryption", "none", check=True)
    try:
        yield eng
    finally:
        eng.stop()


def test_our_lac_dials_xl2tpd_lns_mschapv2(engine):
    mark = messages_mark()
    engine.cli("demand-dial", "add", "lab", "--destination", VM_IP, "--user", "labuser", "--password-stdin",
               "--type", "l2tp", "--encryption", "none", "--on-demand", stdin="labpass\n", check=True)
    engine.start()
    res = engine.cli("demand-dial", "connect", "lab", timeout=120)
    assert res.returncode == 0, res.stderr + "".join(engine.log) + messages_since(mark)[-4000:]
    (row,) = engine.connections()
    assert (row["protocol"], row["interface"], row["peer"], row["ip"], row["auth"], row["encryption"]) == (
        "l2tp", "lab", f"{VM_IP}:1701", LNS_IP, "ms-chap-v2", "none"), row
    ours = engine.json("demand-dial", "status", "lab")["ip"]
    assert re.fullmatch(r"203\.0\.113\.([7-9]\d)", ours), ours          # xl2tpd's ip range 203.0.113.70-99
    out = engine.ping(LNS_IP, 3)
    assert out.stdout.strip() == "sent 3 received 3", out.stdout + out.stderr
    back = vm(f"ping -c 3 -W 2 {ours}")
    assert back.returncode == 0 and " 0% packet loss" in back.stdout, back.stdout + back.stderr
    assert engine.cli("demand-dial", "disconnect", "lab").returncode == 0
    assert engine.connections() == []
    assert wait_for(lambda: engine.json("engine", "status")["drivers"]["l2tp"]["tunnels"] == 0, 20)
    assert wait_for(lambda: "(no sessions left)" in messages_since(mark), 20), messages_since(mark)[-3000:]
    log = messages_since(mark)
    print("--- xl2tpd/pppd (VM syslog) for this run ---\n" + log[-5000:])
    assert f"Connection established to {CLI_IP}, 1701" in log
    assert f"Call established with {CLI_IP}" in log
    assert 'name = "labuser"]' in log and "sent [CHAP Success" in log and "<auth chap MS-v2>" in log
    assert f"remote IP address {ours}" in log
    assert f"Connection closed to {CLI_IP}, serial 1 (" in log                  # our CDN
    assert f"Connection closed to {CLI_IP}, port 1701 (no sessions left)" in log  # our StopCCN
    assert wait_for(lambda: not re.search(r"^ppp\d", vm("ip -br link").stdout, re.M), 20)   # pppd hung up


LAC_START = ("lab-stop xl2tpd; sed 's/^lns = .*/lns = {ip}/' /etc/xl2tpd/lac.conf > /run/lac-host.conf; "
             "mkdir -p /run/xl2tpd; xl2tpd -c /run/lac-host.conf -p /run/xl2tpd-lac.pid "
             "-C /run/xl2tpd/l2tp-control-lac")


def test_xl2tpd_lac_dials_our_lns_mschapv2(engine):
    engine.cli("users", "add", "labuser", "--password-stdin", "--dial-in", "allow", stdin="labpass\n", check=True)
    engine.start()
    mark = messages_mark()
    try:
        assert vm(LAC_START.format(ip=CLI_IP), 30).returncode == 0
        assert wait_for(lambda: vm("test -p /run/xl2tpd/l2tp-control-lac").returncode == 0, 10)
        assert vm('echo "c lab" > /run/xl2tpd/l2tp-control-lac', 10).returncode == 0
        rows = wait_for(lambda: [r for r in engine.connections() if r["ip"]], 60)
        assert rows, "".join(engine.log) + messages_since(mark)[-4000:]
        (row,) = rows
        assert (row["protocol"], row["user"], row["auth"], row["encryption"], row["peer"]) == (
            "l2tp", "labuser", "ms-chap-v2", "none", f"{VM_IP}:1701"), row
        theirs = row["ip"]
        assert wait_for(lambda: f"inet {theirs} peer" in vm("ip -4 addr show ppp20").stdout, 20), vm(
            "ip -4 addr").stdout
        ours = re.search(r"peer (\d+\.\d+\.\d+\.\d+)", vm("ip -4 addr show ppp20").stdout)[1]
        there = vm(f"ping -c 3 -W 2 -I ppp20 {ours}")
        assert there.returncode == 0 and " 0% packet loss" in there.stdout, there.stdout + there.stderr
        out = engine.ping(theirs, 3)
        assert out.stdout.strip() == "sent 3 received 3", out.stdout + out.stderr
        assert engine.cli("connections", "disconnect", str(row["id"])).returncode == 0
        assert wait_for(lambda: vm("ip link show ppp20").returncode != 0, 30)          # pppd hung up
        assert engine.connections() == []
        log = messages_since(mark)
        print("--- xl2tpd LAC/pppd (VM syslog) for this run ---\n" + log[-5000:])
        assert f"Connection established to {CLI_IP}, 1701" in log
        assert f"Call established with {CLI_IP}" in log
        assert "CHAP authentication succeeded" in log
        assert f"local  IP address {theirs}" in log
        assert "LCP terminated by peer" in log
    finally:
        vm("p=$(cat /run/xl2tpd-lac.pid 2>/dev/null) && kill $p && timeout 10 tail --pid=$p -f /dev/null; "
           "rm -f /run/xl2tpd-lac.pid /run/lac-host.conf; lab-start xl2tpd", 30)
        assert "/etc/xl2tpd/xl2tpd.conf" in vm("ps -o args= -C xl2tpd").stdout      # the VM's LNS is back
