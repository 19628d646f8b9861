"""L2TP interoperability with the VM lab's xl2tpd 1.3.18 + pppd 2.4.9 (kernel L2TP data path, l2tp_ppp).

1. Our LAC (an `l2tp` demand-dial interface) dials xl2tpd's LNS at 198.51.100.1:1701: tunnel, session, PPP with
   MS-CHAP v2 (pppd `require-mschap-v2`, no MPPE), the address pppd hands out through IPCP (203.0.113.70-99), ICMP
   both ways (small and fragmented), `connections` and `demand-dial status`, then a clean hang-up: our CDN and
   StopCCN, whose result messages xl2tpd logs.
2. xl2tpd as LAC in the VM (the README's recipe: the LNS stopped, `lns = 198.51.100.2`) dials our LNS: user
   labuser, MS-CHAP v2, plain L2TP; ICMP both ways between ppp20 and our engine; our hang-up (pppd logs "LCP
   terminated by peer"); the VM's own LNS is restarted in `finally`.
Each runs twice: as the lab is (no tunnel authentication), and with tunnel authentication (Challenge / Challenge
Response, RFC 2661 §5.1.1) and hidden AVPs on both sides, the xl2tpd side from a config made in the VM's /run.

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

LNS_IP = "203.0.113.65"                   # xl2tpd's `local ip`; its pool is 203.0.113.70-99
SECRET = "vm-tunnel-s3cret"
CONTROL = "/run/xl2tpd/l2tp-control-h10"
PIDFILE = "/run/xl2tpd-h10.pid"


def messages_since(mark: int) -> str:
    """The VM's syslog after line `mark` (pppd with debug, xl2tpd)."""
    return vm(f"tail -n +{mark + 1} /var/log/messages").stdout


def messages_mark() -> int:
    return int(vm("wc -l < /var/log/messages").stdout.strip() or 0)


def start_vm_xl2tpd(role: str, tunnel_auth: bool) -> None:
    """Stop the VM's LNS and start xl2tpd from a config in /run: the LNS with tunnel authentication, or the LAC
    pointed at us (with or without it)."""
    src, section = ("/etc/xl2tpd/xl2tpd.conf", "lns default") if role == "lns" else ("/etc/xl2tpd/lac.conf", "lac lab")
    edits = [f"-e 's/^lns = .*/lns = {CLI_IP}/'"]
    if tunnel_auth:
        edits += [r"-e '/^\[global\]/a auth file = /run/l2tp-secrets-h10'",
                  rf"-e '/^\[{section}\]/a challenge = yes\nhidden bit = yes'"]
    cmd = (f"lab-stop xl2tpd && printf '* * %s\\n' '{SECRET}' > /run/l2tp-secrets-h10 && "
           f"chmod 600 /run/l2tp-secrets-h10 && sed {' '.join(edits)} {src} > /run/xl2tpd-h10.conf && "
           f"mkdir -p /run/xl2tpd && xl2tpd -c /run/xl2tpd-h10.conf -p {PIDFILE} -C {CONTROL} </dev/null")
    res = vm(cmd, 30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert wait_for(lambda: vm(f"test -p {CONTROL}").returncode == 0, 10)


def restore_vm_lns() -> None:
    vm(f"p=$(cat {PIDFILE} 2>/dev/null) && kill $p && timeout 10 tail --pid=$p -f /dev/null; "
       f"rm -f {PIDFILE} {CONTROL} /run/xl2tpd-h10.conf /run/l2tp-secrets-h10; lab-start xl2tpd", 30)
    assert "/etc/xl2tpd/xl2tpd.conf" in vm("ps -o args= -C xl2tpd").stdout        # the VM's own LNS is back


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


def set_tunnel_secret(eng: Engine) -> None:
    eng.cli("server", "set", "--l2tp-secret-stdin", "--l2tp-hide-avps", stdin=SECRET + "\n", check=True)


@pytest.mark.parametrize("tunnel_auth,hang_up", [(False, "ours"), (True, "theirs")],
                         ids=["plain-we-hang-up", "tunnel-auth-hidden-pppd-hangs-up"])
def test_our_lac_dials_xl2tpd_lns_mschapv2(engine, tunnel_auth, hang_up):
    if tunnel_auth:
        set_tunnel_secret(engine)
    engine.cli("demand-dial", "add", "lab", "--destination", VM_IP, "--user", "labuser", "--password-stdin",
               "--type", "l2tp", "--encryption", "none", "--on-demand", stdin="labpass\n", check=True)
    engine.start()
    mark = messages_mark()
    try:
        if tunnel_auth:
            start_vm_xl2tpd("lns", True)
        res = engine.cli("demand-dial", "connect", "lab", timeout=120)
        assert res.returncode == 0, res.stderr + "".join(engine.log) + messages_since(mark)[-4000:]
        (row,) = engine.connections()
        assert (row["protocol"], row["interface"], row["user"], row["peer"], row["ip"], row["auth"],
                row["encryption"]) == ("l2tp", "lab", "labuser", f"{VM_IP}:1701", LNS_IP, "ms-chap-v2", "none"), row
        status = engine.json("demand-dial", "status", "lab")
        ours = status["ip"]
        assert re.fullmatch(r"203\.0\.113\.([7-9]\d)", ours), status        # xl2tpd's ip range 203.0.113.70-99
        out = engine.ping(LNS_IP, 3)
        assert out.stdout.strip() == "sent 3 received 3", out.stdout + out.stderr
        back = vm(f"ping -c 3 -W 2 {ours}")
        assert back.returncode == 0 and " 0% packet loss" in back.stdout, back.stdout + back.stderr
        big = vm(f"ping -c 2 -W 2 -s 3000 {ours}")                          # fragments inside the tunnel
        assert big.returncode == 0 and " 0% packet loss" in big.stdout, big.stdout + big.stderr
        if hang_up == "ours":
            assert engine.cli("demand-dial", "disconnect", "lab").returncode == 0
            assert engine.connections() == []
        else:                                   # pppd ends: xl2tpd sends CDN; our tunnel has no call left
            assert vm("pkill -x pppd", 10).returncode == 0
            assert wait_for(lambda: engine.connections() == [], 20), "".join(engine.log)
            assert "labuser 198.51.100.1:1701] down: the remote computer hung up" in "".join(engine.log)
        assert wait_for(lambda: engine.json("engine", "status")["drivers"]["l2tp"]["tunnels"] == 0, 20)
        assert engine.json("demand-dial", "status", "lab")["ip"] in ("", None)
        assert wait_for(lambda: "(no sessions left)" in messages_since(mark), 20), messages_since(mark)[-3000:]
        assert wait_for(lambda: not re.search(r"^ppp\d", vm("ip -br link").stdout, re.M), 20)   # pppd hung up
        log = messages_since(mark)
        print("--- xl2tpd/pppd (VM syslog) for this run ---\n" + log[-6000:])
    finally:
        if tunnel_auth:
            restore_vm_lns()
    assert f"Connection established to {CLI_IP}, 1701" in log
    assert f"Call established with {CLI_IP}" in log
    assert "<auth chap MS-v2>" in log and 'name = "labuser"]' in log and "sent [CHAP Success" in log
    assert f"remote IP address {ours}" in log
    # xl2tpd logs the result message of the CDN (when we hang up), then of the StopCCN, that we sent
    if hang_up == "ours":
        assert f"Connection closed to {CLI_IP}, serial 1 (disconnected by the administrator)" in log
    else:
        assert f"to {CLI_IP} disconnected" in log                        # xl2tpd's call_close: its CDN
    assert f"Connection closed to {CLI_IP}, port 1701 (no sessions left)" in log
    assert "Invalid" not in log and "Not authorized" not in log and "retransmissions" not in "".join(engine.log)


@pytest.mark.parametrize("tunnel_auth,hang_up", [(False, "ours"), (True, "theirs")],
                         ids=["plain-we-hang-up", "tunnel-auth-hidden-xl2tpd-hangs-up"])
def test_xl2tpd_lac_dials_our_lns_mschapv2(engine, tunnel_auth, hang_up):
    if tunnel_auth:
        set_tunnel_secret(engine)
    engine.cli("users", "add", "labuser", "--password-stdin", "--dial-in", "allow", stdin="labpass\n", check=True)
    engine.start()
    mark = messages_mark()
    try:
        start_vm_xl2tpd("lac", tunnel_auth)
        assert vm(f'echo "c lab" > {CONTROL}', 10).returncode == 0
        # the pool address is taken at authentication, the encryption is known once IPCP is up: wait for both
        rows = wait_for(lambda: [r for r in engine.connections() if r["ip"] and r["encryption"]], 60)
        assert rows, "".join(engine.log) + messages_since(mark)[-4000:]
        (row,) = rows
        assert (row["protocol"], row["user"], row["auth"], row["encryption"], row["peer"], row["port"]) == (
            "l2tp", "labuser", "ms-chap-v2", "none", f"{VM_IP}:1701", "L2TP-0"), row
        theirs = row["ip"]
        assert wait_for(lambda: f"inet {theirs} peer" in vm("ip -4 addr show ppp20").stdout, 20), vm(
            "ip -4 addr").stdout
        ours = re.search(r"peer (\d+\.\d+\.\d+\.\d+)", vm("ip -4 addr show ppp20").stdout)[1]
        there = vm(f"ping -c 3 -W 2 -I ppp20 {ours}")
        assert there.returncode == 0 and " 0% packet loss" in there.stdout, there.stdout + there.stderr
        out = engine.ping(theirs, 3)
        assert out.stdout.strip() == "sent 3 received 3", out.stdout + out.stderr
        if hang_up == "ours":
            assert engine.cli("connections", "disconnect", str(row["id"])).returncode == 0
            assert engine.connections() == []
            # as LNS we keep the LAC's tunnel: it is the LAC's to close
            assert engine.json("engine", "status")["drivers"]["l2tp"]["tunnels"] == 1
        else:                                   # "d lab": xl2tpd sends StopCCN, which clears the call too
            assert vm(f'echo "d lab" > {CONTROL}', 10).returncode == 0
            assert wait_for(lambda: engine.connections() == [], 20), "".join(engine.log)
            assert "peer sent StopCCN: result 1 error 0 (Goodbye!)" in "".join(engine.log)
            assert wait_for(lambda: engine.json("engine", "status")["drivers"]["l2tp"]["tunnels"] == 0, 20)
        assert wait_for(lambda: vm("ip link show ppp20").returncode != 0, 30)          # pppd hung up
        log = messages_since(mark)
        print("--- xl2tpd LAC/pppd (VM syslog) for this run ---\n" + log[-6000:])
    finally:
        restore_vm_lns()
    assert f"Connection established to {CLI_IP}, 1701" in log
    assert f"Call established with {CLI_IP}" in log
    assert 'rcvd [CHAP Challenge' in log and "CHAP authentication succeeded" in log
    assert f"local  IP address {theirs}" in log and f"remote IP address {ours}" in log
    if hang_up == "ours":
        assert f"Connection closed to {CLI_IP}, serial 1 (disconnected by the administrator)" in log   # our CDN
        assert "LCP terminated by peer" in log
        # xl2tpd's exit (in restore_vm_lns) sends StopCCN for the tunnel it kept: we close it
        assert wait_for(lambda: engine.json("engine", "status")["drivers"]["l2tp"]["tunnels"] == 0, 20)
    else:
        assert f"Disconnecting from {CLI_IP}" in log and f"closed to {CLI_IP}, port 1701 (Goodbye!)" in log
    assert "Invalid" not in log and "Not authorized" not in log and "retransmissions" not in "".join(engine.log)


@pytest.mark.parametrize("role", ["our-lac", "our-lns"])
def test_wrong_tunnel_secret_is_refused_both_ways(engine, role):
    """The secrets differ: each side's check of the other's Challenge Response is what ends the tunnel."""
    engine.cli("server", "set", "--l2tp-secret-stdin", stdin="not-" + SECRET + "\n", check=True)
    engine.cli("users", "add", "labuser", "--password-stdin", "--dial-in", "allow", stdin="labpass\n", check=True)
    engine.cli("demand-dial", "add", "lab", "--destination", VM_IP, "--user", "labuser", "--password-stdin",
               "--type", "l2tp", "--encryption", "none", "--on-demand", stdin="labpass\n", check=True)
    engine.start()
    mark = messages_mark()
    try:
        start_vm_xl2tpd("lns" if role == "our-lac" else "lac", True)
        if role == "our-lac":            # we check xl2tpd's response in its SCCRP and send StopCCN
            res = engine.cli("demand-dial", "connect", "lab", timeout=120)
            assert res.returncode != 0 and "tunnel authentication failed (error 691)" in res.stderr, res.stderr
            want = f"Connection closed to {CLI_IP}, port 1701 (tunnel authentication failed)"
        else:                            # xl2tpd checks our response in our SCCRP and sends StopCCN
            assert vm(f'echo "c lab" > {CONTROL}', 10).returncode == 0
            assert wait_for(lambda: "(Invalid challenge authentication)" in "".join(engine.log), 30), engine.log
            want = f"closed to {CLI_IP}, port 1701 (Invalid challenge authentication)"
        assert wait_for(lambda: want in messages_since(mark), 20), messages_since(mark)[-3000:]
        assert wait_for(lambda: engine.json("engine", "status")["drivers"]["l2tp"]["tunnels"] == 0, 20)
        assert engine.connections() == []
        assert "Call established" not in messages_since(mark)
    finally:
        restore_vm_lns()
