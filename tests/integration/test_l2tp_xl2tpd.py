"""Interop with xl2tpd (if installed) in both directions, with tunnel authentication (challenge) and hidden AVPs.

Our LAC in namespace B dials xl2tpd as LNS in namespace A; then xl2tpd as LAC (autodial) calls our LNS. On this kind
of host the kernel has no PPP (/dev/ppp), so xl2tpd's pppd exits at once and xl2tpd clears the call with a CDN: the
test checks the L2TP part (tunnel authenticated both ways, SCCRQ..SCCCN, ICRQ/ICRP/ICCN with hidden session AVPs,
the CDN and StopCCN handled, no retransmission storm). Where pppd can run, the LAC direction must connect and ping.
Skips with the reason when not root or when xl2tpd is missing.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

import pytest
from l2tp_netns import Lab, poll

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, TUN devices)"),
    pytest.mark.skipif(shutil.which("xl2tpd") is None, reason="xl2tpd is not installed (apt-get install xl2tpd)"),
]

SECRET = "x-s3cret"


class Xl2tpd:
    def __init__(self, ns: str, home, conf: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "xl2tpd.conf").write_text(conf.replace("@HOME@", str(home)))
        (home / "l2tp-secrets").write_text(f"* * {SECRET}\n")
        (home / "options").write_text("noauth\n")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "xl2tpd", "-D", "-c", str(home / "xl2tpd.conf"),
                                      "-p", str(home / "pid"), "-C", str(home / "control")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.log = b""

    def wait(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while needle.encode() not in self.log:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {needle!r} from xl2tpd within {timeout} s:\n{self.log.decode()[-3000:]}")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError("xl2tpd exited:\n" + self.log.decode()[-3000:])
                self.log += chunk
        return self.log.decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


LNS_CONF = """[global]
listen-addr = 203.0.113.1
port = 1701
auth file = @HOME@/l2tp-secrets
[lns default]
ip range = 198.51.100.20-198.51.100.30
local ip = 198.51.100.1
require authentication = no
challenge = yes
hidden bit = yes
pppoptfile = @HOME@/options
"""

LAC_CONF = """[global]
listen-addr = 203.0.113.2
port = 1701
auth file = @HOME@/l2tp-secrets
[lac rr]
lns = 203.0.113.1
challenge = yes
hidden bit = yes
autodial = yes
redial = no
pppoptfile = @HOME@/options
"""


def test_our_lac_to_xl2tpd_lns(tmp_path):
    with Lab(tmp_path, "xa") as lab:
        lab.configure("ms-chap-v2", secret=SECRET, hide=True)
        x = Xl2tpd(lab.a.name, tmp_path / "x", LNS_CONF)
        try:
            x.wait("Listening on IP address 203.0.113.1")
            lab.b.start()
            p = lab.b.cli("demand-dial", "connect", "hq", check=False, timeout=90)
            log = x.wait("Call established with 203.0.113.2")
            assert "Connection established to 203.0.113.2, 1701" in log
            assert "Invalid Hidden AVP" not in log and "Not authorized" not in log
            if p.returncode != 0:            # no kernel PPP here: pppd exits and xl2tpd clears the call
                assert "pppd exited" in x.wait("pppd exited")
                assert "peer sent CDN" in p.stderr
                x.wait("Connection closed to 203.0.113.2")       # our StopCCN (no sessions left) was understood
                poll(lambda: lab.b.json("engine", "status")["drivers"]["l2tp"]["tunnels"] == 0, 20, "tunnel gone")
        finally:
            x.stop()
        assert "L2TP tunnel" in lab.b.drain_log() and "retransmissions" not in lab.b.log.decode()


def test_xl2tpd_lac_to_our_lns(tmp_path):
    with Lab(tmp_path, "xb") as lab:
        lab.configure("ms-chap-v2", secret=SECRET, hide=True)
        lab.a.start()
        x = Xl2tpd(lab.b.name, tmp_path / "x", LAC_CONF)
        try:
            log = x.wait("Call established with 203.0.113.1")
            assert "Connection established to 203.0.113.1, 1701" in log
            ours = lab.a.wait_log(" up, peer tunnel id")
            assert "L2TP tunnel" in ours and "accepted" in ours
            x.wait("pppd exited")                 # no kernel PPP: xl2tpd clears the call with a CDN
            lab.a.wait_log("peer sent CDN")
            poll(lambda: lab.a.json("connections", "list") == [], 20, "session gone")
        finally:
            x.stop()
        assert "retransmissions" not in lab.a.drain_log()
