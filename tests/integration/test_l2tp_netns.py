"""Two engines in two namespaces (root): LAC dials LNS over plain L2TP, pings both ways, counters and
`connections list -o json`, for PAP, CHAP and MS-CHAP v2, with tunnel authentication + hidden AVPs on and off;
20 % loss each way (nftables); admission refusals; 10,000 fuzzed datagrams on the wire beside a healthy tunnel."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from l2tp_netns import Lab, poll

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, TUN devices)"),
    pytest.mark.skipif(shutil.which("ip") is None or shutil.which("ping") is None, reason="needs ip and ping"),
]


def ping(node, dst: str, count: int = 3, interval: str = "0.2", wait: str = "2", src: str | None = None):
    argv = ["ping", "-n", "-q", "-c", str(count), "-i", interval, "-W", wait]
    if src:
        argv += ["-I", src]
    p = node.ns(*argv, dst, check=False, timeout=count * 2 + 60)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", p.stdout)
    assert m, p.stdout + p.stderr
    return int(m.group(1)), int(m.group(2))


def connect(lab: Lab):
    p = lab.b.cli("demand-dial", "connect", "hq", check=False, timeout=120)
    assert p.returncode == 0, p.stderr + lab.b.drain_log() + lab.a.drain_log()
    return p


@pytest.mark.parametrize("method", ["pap", "chap", "ms-chap-v2"])
@pytest.mark.parametrize("auth", [False, True], ids=["plain", "tunnel-auth-hidden"])
def test_lac_dials_lns_and_pings_both_ways(tmp_path, method, auth):
    with Lab(tmp_path, f"{method[:2]}{int(auth)}") as lab:
        lab.configure(method, secret="t-s3cret" if auth else None, hide=auth)
        lab.a.cli("auth", "set", "--accounting", "local", check=True)     # the default, none, writes no file
        lab.a.start()
        lab.b.start()
        p = connect(lab)
        assert "connected" in p.stderr
        (row,) = lab.a.json("connections", "list")
        assert (row["protocol"], row["user"], row["port"], row["encryption"], row["auth"]) == (
            "l2tp", "alice", "L2TP-0", "none", method)
        assert row["peer"].startswith("203.0.113.2:") and row["interface"] is None
        client_ip = row["ip"]
        assert client_ip.startswith("198.51.100.")
        (brow,) = lab.b.json("connections", "list")
        assert (brow["interface"], brow["ip"], brow["port"]) == ("hq", "198.51.100.1", "L2TP-0")
        assert ping(lab.b, "198.51.100.1") == (3, 3)                 # LAC -> LNS
        assert ping(lab.a, client_ip) == (3, 3)                      # LNS -> LAC
        (row,) = lab.a.json("connections", "list")
        assert row["bytes_in"] >= 6 * 84 and row["bytes_out"] >= 6 * 84
        ports = lab.a.json("ports", "show", "l2tp")["ports"]
        assert [(r["port"], r["state"], r["user"]) for r in ports] == [
            ("L2TP-0", "active", "alice")] + [(f"L2TP-{i}", "listening", None) for i in range(1, 5)]
        status = lab.a.json("engine", "status")
        assert any("plain L2TP only" in n for n in status["notes"])
        assert status["drivers"]["l2tp"]["tunnels"] == 1
        log = lab.a.drain_log()
        assert "plain L2TP only" in log and "t-s3cret" not in log
        lab.b.cli("demand-dial", "disconnect", "hq")
        poll(lambda: lab.a.json("connections", "list") == [], 20, "LNS session gone")
        assert lab.a.stop() == 0 and lab.b.stop() == 0
        assert "down: the remote computer hung up" in lab.a.log.decode()
        acct = [json.loads(x) for x in (lab.a.home / "state" / "accounting.jsonl").read_text().splitlines()]
        assert [r["event"] for r in acct] == ["start", "stop"]
        assert (acct[-1]["protocol"], acct[-1]["user"], acct[-1]["port"]) == ("l2tp", "alice", "L2TP-0")
        assert acct[-1]["bytes_in"] >= 6 * 84 and acct[-1]["cause"] == "peer_disconnected"


LOSS_RULES = """
table inet rrasctl_loss {
  chain in { type filter hook input priority 0; udp dport 1701 numgen random mod 100 < 20 drop; }
  chain out { type filter hook output priority 0; udp sport 1701 numgen random mod 100 < 20 drop; }
}
"""


def test_twenty_percent_loss_bring_up_and_a_thousand_pings(tmp_path):
    """The kernel drops 20 % of the LNS's L2TP datagrams each way (nftables in its namespace: this host has no
    netem; the engine carries no loss shim)."""
    import subprocess

    with Lab(tmp_path, "loss") as lab:
        lab.configure("ms-chap-v2")
        subprocess.run(["ip", "netns", "exec", lab.a.name, "nft", "-f", "-"], input=LOSS_RULES, text=True,
                       check=True, capture_output=True)
        lab.a.start()
        lab.b.start()
        connect(lab)
        # the LAC is up; the LNS's own IPCP may still be retransmitting under loss: wait for it (bounded)
        poll(lambda: lab.a.json("connections", "list")[0]["encryption"] == "none", 120, "LNS network up")
        sent, got = ping(lab.b, "198.51.100.1", count=1000, interval="0.005", wait="1")
        assert sent == 1000 and 500 <= got <= 780, got               # 0.8 x 0.8 = 64 % expected
        st = lab.a.json("engine", "status")["drivers"]["l2tp"]
        assert st["sessions"] == 1
        (row,) = lab.a.json("connections", "list")
        assert row["user"] == "alice"


def test_admission_refusals_cdn_and_stopccn(tmp_path):
    with Lab(tmp_path, "adm") as lab:
        lab.configure("ms-chap-v2", ports=0)
        lab.a.start()
        lab.b.start()
        p = lab.b.cli("demand-dial", "connect", "hq", check=False, timeout=120)
        assert p.returncode != 0 and "unreachable" in p.stderr
        (ref,) = lab.a.json("connections", "refusals")
        assert ref["protocol"] == "l2tp" and ref["reason"] == "protocol_disabled"
        assert "StopCCN result 2 error 4" in ref["wire_code"]
        assert "refused l2tp call from 203.0.113.2" in lab.a.drain_log()
        # one port, taken by the first call: the second call on the same tunnel gets CDN 4
        lab.a.cli("ports", "set", "l2tp", "--count", "1")
        lab.a.cli("engine", "reload")
        connect(lab)
        lab.b.cli("demand-dial", "add", "hq2", "--destination", "203.0.113.1", "--type", "l2tp", "--user",
                  "alice", "--password-stdin", "--encryption", "none", stdin="wonderland\n")
        lab.b.cli("engine", "reload")
        p = lab.b.cli("demand-dial", "connect", "hq2", check=False, timeout=120)
        assert p.returncode != 0 and "CDN" in p.stderr and "result 4" in p.stderr
        refs = lab.a.json("connections", "refusals")
        assert refs[-1]["reason"] == "no_free_port" and refs[-1]["wire_result"] == 4
        assert len(lab.a.json("connections", "list")) == 1
        assert ping(lab.b, "198.51.100.1") == (3, 3)                 # the first connection is untouched
        # SIGTERM on the LAC with the session up: CDN + StopCCN on the wire, exit 0
        assert lab.b.stop() == 0
        poll(lambda: lab.a.json("connections", "list") == [], 20, "LNS session gone")
        log = lab.a.wait_log("peer sent StopCCN: result 6")
        assert "down: the remote computer hung up" in log


FUZZ = r'''
import random, socket, sys
sys.path.insert(0, sys.argv[1])
from l2tp_capture import udp_payloads
from pathlib import Path
seeds = []
for n in ("l2tp-huawei-lac-lns-chap.pcap", "l2tp-data-isp-pppoe-ipv6.pcap"):
    seeds += [bytes(p) for _, _, _, p in udp_payloads(Path(sys.argv[2]) / n)]
r = random.Random(99)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(10000):
    b = bytearray(r.choice(seeds))
    for _ in range(r.randint(1, 4)):
        op = r.randrange(3)
        if op == 0 and b: b[r.randrange(len(b))] = r.randrange(256)
        elif op == 1: b = b[:r.randrange(len(b) + 1)]
        else: b[r.randrange(len(b) + 1):0] = bytes(r.randrange(256) for _ in range(r.randint(1, 6)))
    if r.random() < 0.5 and len(b) >= 6: b[4:6] = bytes(r.randrange(256) for _ in range(2))
    s.sendto(bytes(b), ("203.0.113.1", 1701))
print("sent 10000")
'''


def test_ten_thousand_fuzzed_datagrams_beside_a_healthy_tunnel(tmp_path):
    from support import CAPTURES

    here = os.path.join(os.path.dirname(__file__), "..", "protocols", "l2tp")
    with Lab(tmp_path, "fz") as lab:
        lab.configure("ms-chap-v2")
        lab.a.start()
        lab.b.start()
        connect(lab)
        p = lab.b.ns("python3", "-c", FUZZ, os.path.abspath(here), str(CAPTURES), timeout=120)
        assert "sent 10000" in p.stdout, p.stderr
        assert ping(lab.b, "198.51.100.1", count=5) == (5, 5)
        (row,) = lab.a.json("connections", "list")
        assert row["user"] == "alice"
        status = lab.a.json("engine", "status")
        st = status["drivers"]["l2tp"]
        dropped = (st["malformed"] + st["unknown_tunnel"] + st["unknown_session"] + sum(st["control_drops"].values()))
        assert dropped > 5000 and st["tunnels"] >= 1
        assert lab.a.proc.poll() is None
        # the administrator disconnects the inbound connection: CDN to the LAC, whose session ends too
        lab.a.cli("connections", "disconnect", str(row["id"]))
        poll(lambda: lab.b.json("connections", "list") == [], 20, "LAC session gone")
        assert lab.a.json("connections", "list") == []
        assert "down: the remote computer hung up" in lab.b.drain_log()


BURST_SINK = r'''
import hashlib, select, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("198.51.100.1", 5001))
print("ready", flush=True)
got = []
while len(got) < int(sys.argv[1]):
    r, _, _ = select.select([s], [], [], 10.0)
    if not r:
        break
    got.append(s.recv(65535))
print(len(got), hashlib.sha256(b"".join(sorted(got))).hexdigest(), flush=True)
'''

BURST_SEND = r'''
import hashlib, os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sizes = [1200] * 250 + [20 + 97 * i % 1300 for i in range(50)]      # a bulk flow, then mixed sizes
sent = [i.to_bytes(2, "big") + os.urandom(n - 2) for i, n in enumerate(sizes)]
for p in sent:
    s.sendto(p, ("198.51.100.1", 5001))
print(len(sent), hashlib.sha256(b"".join(sorted(sent))).hexdigest(), flush=True)
'''


def test_a_burst_goes_out_gso_batched_arrives_gro_glued_and_byte_exact(tmp_path):
    """The LAC engine is stopped (SIGSTOP) while 300 datagrams queue in its TUN, so its next drain reads them in
    batches: they leave as UDP GSO sends, reach the LNS's GRO socket glued, and every one arrives intact."""
    import signal
    import subprocess
    import sys

    with Lab(tmp_path, "gso") as lab:
        lab.configure("pap")
        lab.a.start()
        lab.b.start()
        connect(lab)
        sink = subprocess.Popen(["ip", "netns", "exec", lab.a.name, sys.executable, "-c", BURST_SINK, "300"],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert sink.stdout.readline().strip() == "ready"
            os.kill(lab.b.proc.pid, signal.SIGSTOP)
            try:
                sent = lab.b.ns(sys.executable, "-c", BURST_SEND).stdout.split()
            finally:
                os.kill(lab.b.proc.pid, signal.SIGCONT)
            got = sink.communicate(timeout=60)[0].split()
        finally:
            sink.kill()
        assert got == sent and sent[0] == "300"
        lac = lab.b.json("engine", "status")["drivers"]["l2tp"]["offload"]
        lns = lab.a.json("engine", "status")["drivers"]["l2tp"]["offload"]
        assert lac["mode"] == lns["mode"] == "gso,gro"
        assert lac["gso_packets"] >= 300 and lac["gso_sends"] < lac["gso_packets"] // 4, lac
        assert lac["gso_dropped"] == lac["gso_fallbacks"] == 0
        assert lns["gro_glued_reads"] >= 1, lns
