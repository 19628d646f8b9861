"""The README's router-to-router tour, followed literally on two fresh configurations (issue #12, acceptance 1).

Four network namespaces: the answering router `hq` (WAN 203.0.113.1, LAN 10.1.0.1/16) and the calling router
`branch` (WAN 203.0.113.2, LAN 10.2.0.1/24), joined by a veth; a LAN host behind each (10.1.0.10, 10.2.0.10). Both
routers run `rrasctl engine run` on configurations that nothing but the tour's own commands touch (no
`server set`): their address pools are the installations' own (decision 0120), so router to router, LAN to LAN and
router to remote LAN pings all pass, and the connection authenticates with MS-CHAP v2 (asked for first, SPEC §4).
Waits poll a condition with a deadline; nothing sleeps. Uses the engine helper of tests/integration/pptp_lab.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pptp_lab import Engine, wait_for

from rrasctl.config.installation import address_defaults

pytestmark = [pytest.mark.root]
if os.geteuid() != 0:
    pytestmark.append(pytest.mark.skip(reason="needs root to create network namespaces and TUN devices"))
elif shutil.which("ip") is None:
    pytestmark.append(pytest.mark.skip(reason="needs iproute2 (ip) to create network namespaces"))

PING = Path(__file__).resolve().parent / "pptp_net.py"
HQ_WAN, BRANCH_WAN = "203.0.113.1", "203.0.113.2"
HQ_HOST, BRANCH_HOST = "10.1.0.10", "10.2.0.10"


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True)


class Tour:
    """Namespaces and links of the tour; `close()` removes everything."""

    def __init__(self, tmp: Path) -> None:
        tag = f"{os.getpid() % 100000}"
        self.ns = {k: f"rt{tag}{k}" for k in ("hq", "br", "hl", "bl")}
        self.made: list[str] = []
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            sh("ip", "netns", "add", name)
            self.made.append(name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        hq, br, hl, bl = (self.ns[k] for k in ("hq", "br", "hl", "bl"))
        self._veth(hq, "wan", HQ_WAN + "/24", br, "wan", BRANCH_WAN + "/24")
        self._veth(hq, "lan", "10.1.0.1/16", hl, "eth0", HQ_HOST + "/16")
        self._veth(br, "lan", "10.2.0.1/24", bl, "eth0", BRANCH_HOST + "/24")
        sh("ip", "-n", hl, "route", "add", "default", "via", "10.1.0.1")
        sh("ip", "-n", bl, "route", "add", "default", "via", "10.2.0.1")
        for router in (hq, br):
            sh("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # two fresh configurations; their homes are named so that the derived pools differ (1 in 4,096 would not)
        homes = [tmp / "hq", tmp / "branch"]
        while address_defaults(homes[0] / "rrasctl.toml")[0] == address_defaults(homes[1] / "rrasctl.toml")[0]:
            homes[1] = homes[1].with_name(homes[1].name + "x")
        self.hq = Engine(hq, homes[0], "hq")
        self.branch = Engine(br, homes[1], "branch")

    @staticmethod
    def _veth(ns_a: str, a: str, addr_a: str, ns_b: str, b: str, addr_b: str) -> None:
        sh("ip", "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b)
        for ns, dev, addr in ((ns_a, a, addr_a), (ns_b, b, addr_b)):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")

    def ping(self, where: str, dst: str, count: int = 3) -> str:
        out = subprocess.run(["ip", "netns", "exec", self.ns[where], sys.executable, str(PING), "ping", dst,
                              str(count), "2"], capture_output=True, text=True, timeout=60)
        return out.stdout.strip() or out.stderr.strip()

    def close(self) -> None:
        for eng in (self.hq, self.branch):
            try:
                eng.stop()
            except Exception:
                pass
        for name in reversed(self.made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def tour(tmp_path):
    t = Tour(tmp_path)
    try:
        yield t
    finally:
        t.close()


def test_the_router_to_router_tour_on_two_fresh_configurations(tour):
    hq, branch = tour.hq, tour.branch
    hq.start()
    branch.start()
    # the README, word for word
    r = hq.cli("users", "add", "branch1", "--password-stdin", "--dial-in", "allow", "--route", "10.2.0.0/24",
               stdin="pw\n")
    assert r.returncode == 0, r.stderr
    r = branch.cli("demand-dial", "add", "hq", "--destination", HQ_WAN, "--type", "pptp", "--user", "branch1",
                   "--password-stdin", "--route", "10.1.0.0/16", stdin="pw\n")
    assert r.returncode == 0, r.stderr
    r = branch.cli("demand-dial", "connect", "hq", timeout=90)
    assert r.returncode == 0, r.stderr + "".join(hq.log + branch.log)
    assert r.stderr.splitlines() == ["hq: resolving", "hq: connecting", "hq: verifying user name and password",
                                     "hq: registering", "hq: connected"]

    hq_server, br_server = hq.json("server", "show"), branch.json("server", "show")
    assert hq_server["address_pool"] != br_server["address_pool"]            # each installation its own pool
    (row,) = hq.connections()
    assert (row["protocol"], row["user"], row["peer"], row["port"], row["auth"]) == (
        "pptp", "branch1", BRANCH_WAN, "PPTP-0", "ms-chap-v2")
    assert row["encryption"] == "mppe-128"
    branch_ip, hq_ip = row["ip"], hq_server["tunnel_address"]
    assert branch.json("demand-dial", "status", "hq")["ip"] == branch_ip

    expect = "sent 3 received 3"
    assert tour.ping("br", hq_ip) == expect                    # router to router, both ways
    assert tour.ping("hq", branch_ip) == expect
    assert tour.ping("hl", BRANCH_HOST) == expect              # LAN to LAN, both ways
    assert tour.ping("bl", HQ_HOST) == expect
    assert tour.ping("br", HQ_HOST) == expect                  # router to the remote LAN, both ways
    assert tour.ping("hq", BRANCH_HOST) == expect

    ports = hq.cli("ports", "show", "pptp")
    assert ports.returncode == 0
    lines = ports.stdout.splitlines()
    head = next(line.split() for line in lines if line.startswith("PORT "))
    port0 = dict(zip(head, next(line.split() for line in lines if line.startswith("PPTP-0"))))
    assert (port0["STATE"], port0["USER"], port0["PEER"]) == ("active", "branch1", BRANCH_WAN), ports.stdout
    assert hq.json("connections", "refusals") == []

    # live connections refuse the removal of what they use (exit 4, naming them); the files are unchanged
    r = hq.cli("users", "remove", "branch1")
    assert (r.returncode, r.stderr.splitlines()[0]) == (
        4, "error: user branch1 has live connection: connection 1 (PPTP-0, branch1 from 203.0.113.2)"), r.stderr
    r = branch.cli("demand-dial", "remove", "hq")
    assert r.returncode == 4 and r.stderr.startswith("error: demand-dial interface hq has live connection: "), r.stderr
    assert len(hq.connections()) == 1 and branch.json("demand-dial", "status", "hq")["state"] == "connected"

    assert branch.cli("demand-dial", "disconnect", "hq").returncode == 0
    assert wait_for(lambda: hq.connections() == [], 10)
    assert tour.ping("hl", BRANCH_HOST, 1) != expect
