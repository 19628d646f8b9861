"""PPTP end to end: two `rrasctl engine run` processes in network namespaces joined through a bridge (root only).

The server has a local user; each client engine has a `pptp` demand-dial interface to it. `demand-dial connect`
returns 0, ICMP crosses the tunnel both ways, `connections list -o json` shows the session, `disconnect` ends both
sides. Edition and port-pool refusals, a wrong password (691) and 10,000 malformed packets on the wire are checked
with a healthy session still passing traffic. The full method x level matrix runs with RRASCTL_LONG=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from pptp_lab import SERVER_IP, Lab, setup_pair, wait_for

pytestmark = [pytest.mark.root]

LONG = os.environ.get("RRASCTL_LONG") == "1"
ROOT_REASON = None
if os.geteuid() != 0:
    ROOT_REASON = "needs root to create network namespaces, TUN devices and a raw GRE socket"
elif shutil.which("ip") is None:
    ROOT_REASON = "needs iproute2 (ip) to create network namespaces"
elif not os.path.exists("/dev/net/tun"):
    ROOT_REASON = "needs /dev/net/tun"
if ROOT_REASON:
    pytestmark.append(pytest.mark.skip(reason=ROOT_REASON))

_counter = iter(range(1000))


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path / "lab", f"{os.getpid() % 100000}{next(_counter)}")
    # these tests name the server's addresses: pin the pool a fresh installation would derive (decision 0120)
    lab.server.cli("server", "set", "--address-pool", "10.87.0.0/24", "--tunnel-address", "10.87.0.1", check=True)
    try:
        yield lab
    finally:
        lab.close()


def _connect(c, name: str = "hq"):
    return c.cli("demand-dial", "connect", name, timeout=90)


# (methods, server levels, client weakest level, expected auth, expected encryption)
MATRIX = [
    ("ms-chap-v2", "strongest", "strongest", "ms-chap-v2", "mppe-128"),
    ("ms-chap-v2", "strong", "strong", "ms-chap-v2", "mppe-56"),
    ("ms-chap-v2", "basic", "basic", "ms-chap-v2", "mppe-40"),
    ("ms-chap-v2", "none", "none", "ms-chap-v2", "none"),
    ("ms-chap", "strongest", "strongest", "ms-chap", "mppe-128"),
    ("ms-chap", "basic", "basic", "ms-chap", "mppe-40"),
    ("ms-chap", "strong", "strong", "ms-chap", "mppe-56"),
    ("ms-chap", "none", "none", "ms-chap", "none"),
    ("chap", "none", "none", "chap", "none"),
    ("pap", "none", "none", "pap", "none"),
]
DEFAULT = {0, 5, 8, 9}          # MS-CHAP v2/128, MS-CHAP v1/40, CHAP/none, PAP/none


@pytest.mark.parametrize("case", [
    pytest.param(c, id=f"{c[0]}-{c[1]}", marks=() if i in DEFAULT or LONG else pytest.mark.skip(
        reason="full method x level matrix only with RRASCTL_LONG=1"))
    for i, c in enumerate(MATRIX)])
def test_connect_ping_both_ways_list_and_disconnect(lab, case):
    methods, levels, weakest, auth, encryption = case
    (c,) = setup_pair(lab, methods=methods, encryption=levels, client_encryption=weakest)
    lab.server.cli("auth", "set", "--accounting", "local", check=True)    # the default, none, writes no file
    lab.server.start()
    c.start()
    res = _connect(c)
    assert res.returncode == 0, res.stderr + "".join(lab.server.log + c.log)
    assert res.stderr.splitlines()[:5] == ["hq: resolving", "hq: connecting",
                                           "hq: verifying user name and password", "hq: registering",
                                           "hq: connected"]
    out = c.ping("10.87.0.1", 3)
    assert out.returncode == 0 and out.stdout.strip() == "sent 3 received 3", out.stdout + out.stderr
    out = lab.server.ping("10.87.0.2", 3)
    assert out.returncode == 0 and out.stdout.strip() == "sent 3 received 3", out.stdout + out.stderr
    (row,) = lab.server.connections()
    assert {k: row[k] for k in ("protocol", "user", "interface", "peer", "port", "ip", "encryption", "auth")} == {
        "protocol": "pptp", "user": "alice", "interface": None, "peer": c.address, "port": "PPTP-0",
        "ip": "10.87.0.2", "encryption": encryption, "auth": auth}
    assert row["bytes_in"] >= 3 * 84 and row["bytes_out"] >= 3 * 84
    before = row["bytes_in"]
    assert c.ping("10.87.0.1", 2).returncode == 0
    assert lab.server.connections()[0]["bytes_in"] >= before + 2 * 84
    (crow,) = c.connections()
    assert (crow["interface"], crow["peer"], crow["ip"], crow["encryption"]) == ("hq", SERVER_IP, "10.87.0.1",
                                                                                 encryption)
    status = c.json("demand-dial", "status", "hq")
    assert status["state"] == "connected"
    routes = subprocess.run(["ip", "-n", c.ns, "route", "show", "dev", "rras0"], capture_output=True, text=True)
    assert "198.51.100.0/24 proto static src 10.87.0.2" in routes.stdout, routes.stdout
    assert "10.87.0.1 proto static src 10.87.0.2" in routes.stdout, routes.stdout
    assert c.cli("demand-dial", "disconnect", "hq").returncode == 0
    assert wait_for(lambda: lab.server.connections() == [], 10)
    assert c.connections() == []
    assert c.json("demand-dial", "status", "hq")["state"] == "disconnected"
    assert c.ping("10.87.0.1", 1, 0.5).returncode != 0
    routes = subprocess.run(["ip", "-n", c.ns, "route", "show", "dev", "rras0"], capture_output=True, text=True)
    assert "198.51.100.0/24" not in routes.stdout and "10.87.0.1 " not in routes.stdout, routes.stdout
    # engines stop cleanly
    assert c.stop() == 0 and lab.server.stop() == 0
    # SPEC §6 accounting: one start and one stop record on the server, with the bytes
    records = [json.loads(line) for line in
               (lab.server.home / "state" / "accounting.jsonl").read_text().splitlines()]
    assert [(r["event"], r["user"], r["protocol"], r["port"], r["peer"]) for r in records] == [
        ("start", "alice", "pptp", "PPTP-0", c.address), ("stop", "alice", "pptp", "PPTP-0", c.address)]
    assert records[1]["bytes_in"] >= 5 * 84 and records[1]["cause"] == "peer_disconnected"


def test_connections_disconnect_on_the_server_ends_both_sides_and_sigterm_clears_calls(lab):
    (c,) = setup_pair(lab)
    lab.server.start()
    c.start()
    assert _connect(c).returncode == 0
    (row,) = lab.server.connections()
    assert lab.server.cli("connections", "disconnect", str(row["id"])).returncode == 0
    assert wait_for(lambda: c.connections() == [], 10)
    assert lab.server.connections() == []
    assert _connect(c).returncode == 0
    assert lab.server.stop() == 0           # SIGTERM: CDN + Stop-Control-Connection-Request to the client
    assert wait_for(lambda: c.connections() == [], 10)
    assert any("down: the remote computer hung up" in line for line in c.log), "".join(c.log)


def test_web_edition_refuses_a_second_client_while_the_first_keeps_pinging(lab):
    c1, c2 = setup_pair(lab, n_clients=2)
    lab.server.cli("server", "set", "--edition", "web", check=True)
    for e in (lab.server, c1, c2):
        e.start()
    assert _connect(c1).returncode == 0
    pinger = subprocess.Popen(["ip", "netns", "exec", c1.ns, sys.executable,
                               os.path.join(os.path.dirname(__file__), "pptp_net.py"), "ping", "10.87.0.1", "20",
                               "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    refused = _connect(c2)
    assert refused.returncode != 0
    assert "busy" in refused.stderr and "676" in refused.stderr, refused.stderr
    out, _ = pinger.communicate(timeout=120)
    assert out.strip() == "sent 20 received 20"
    status = lab.server.json("engine", "status")
    assert status["counters"]["refused"] == {"edition_cap": 1}
    (ref,) = lab.server.json("connections", "refusals")
    assert (ref["protocol"], ref["peer"], ref["windows_error"]) == ("pptp", c2.address, 676)
    assert c1.cli("demand-dial", "disconnect", "hq").returncode == 0
    assert wait_for(lambda: lab.server.connections() == [], 10)
    assert _connect(c2).returncode == 0
    assert [r["peer"] for r in lab.server.connections()] == [c2.address]


def test_pool_of_three_refuses_the_fourth(lab):
    clients = setup_pair(lab, n_clients=4)
    lab.server.cli("ports", "set", "pptp", "--count", "3", check=True)
    for e in (lab.server, *clients):
        e.start()
    for c in clients[:3]:
        assert _connect(c).returncode == 0
    refused = _connect(clients[3])
    assert refused.returncode != 0 and "busy" in refused.stderr
    assert sorted(r["port"] for r in lab.server.connections()) == ["PPTP-0", "PPTP-1", "PPTP-2"]
    for c in clients[:3]:
        assert c.ping("10.87.0.1", 1).returncode == 0
    assert lab.server.json("engine", "status")["counters"]["refused"] == {"no_free_port": 1}
    assert clients[1].cli("demand-dial", "disconnect", "hq").returncode == 0
    assert wait_for(lambda: len(lab.server.connections()) == 2, 10)
    assert _connect(clients[3]).returncode == 0
    assert sorted(r["port"] for r in lab.server.connections()) == ["PPTP-0", "PPTP-1", "PPTP-2"]


def test_wrong_password_is_refused_with_691(lab):
    (c,) = setup_pair(lab, password="not-the-password")
    lab.server.start()
    c.start()
    res = _connect(c)
    assert res.returncode != 0
    assert "691" in res.stderr and "user name or password" in res.stderr, res.stderr
    status = c.json("demand-dial", "status", "hq")
    assert (status["state"], status["windows_error"]) == ("unreachable", 691)
    refused = wait_for(lambda: lab.server.json("engine", "status")["counters"]["refused"], 10)
    assert refused == {"auth_failed": 1}, (refused, "".join(lab.server.log))
    (ref,) = lab.server.json("connections", "refusals")
    assert (ref["user"], ref["windows_error"]) == ("alice", 691)
    assert lab.server.connections() == [] and c.connections() == []
    assert "not-the-password" not in "".join(lab.server.log + c.log) + res.stderr + res.stdout


# ---- malformed traffic on the wire ------------------------------------------------------------------------------

FUZZER = r'''
import random, socket, struct, sys
from rrasctl.protocols.pptp import messages as m, gre
seed, n, server, call_id = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
r = random.Random(seed)
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
good = gre.GreHeader(call_id, 4, seq=1, ack=1).encode(b"\xff\x03\xc0\x21")
sent = 0
for i in range(n):
    kind = r.randrange(5)
    if kind == 0:        # random call ids, random bytes
        pkt = gre.GreHeader(r.randrange(65536), 4, seq=r.randrange(2**32)).encode(r.randbytes(4))
    elif kind == 1:      # truncated at every length
        pkt = good[:r.randrange(len(good))]
    elif kind == 2:      # the live call id, but a broken header (wrong version / flags / protocol / length)
        b = bytearray(good); b[r.choice([0, 1, 2, 3, 4])] ^= 1 << r.randrange(8); pkt = bytes(b)
    elif kind == 3:      # noise
        pkt = r.randbytes(r.randrange(1, 80))
    else:                # lying payload length
        pkt = struct.pack("!HHHH", 0x3001, 0x880B, r.randrange(65536), call_id) + r.randbytes(r.randrange(8))
    try:
        raw.sendto(pkt, (server, 0)); sent += 1
    except OSError:
        pass
# control connections carrying garbage: bad cookie, wrong lengths, unknown types, truncated messages
for i in range(n // 100):
    s = socket.create_connection((server, 1723), timeout=5)
    good_msg = m.StartControlConnectionRequest().encode()
    kind = i % 4
    if kind == 0:
        payload = good_msg[:4] + b"\xde\xad\xbe\xef" + good_msg[8:]
    elif kind == 1:
        payload = b"\x00\x14" + m.EchoRequest().encode()[2:] + b"\0\0\0\0" + good_msg
    elif kind == 2:
        payload = good_msg[:r.randrange(1, len(good_msg))]
    else:
        payload = r.randbytes(r.randrange(1, 300))
    try:
        s.sendall(payload); sent += 1
    except OSError:
        pass
    s.close()
print(sent)
'''


def test_malformed_gre_and_control_messages_are_counted_and_dropped_while_a_session_keeps_pinging(lab):
    c1, c2 = setup_pair(lab, n_clients=2)
    for e in (lab.server, c1):
        e.start()
    assert _connect(c1).returncode == 0
    (row,) = lab.server.connections()
    call_id = lab.server.json("connections", "show", str(row["id"]))["details"]["local_call_id"]
    pinger = subprocess.Popen(["ip", "netns", "exec", c1.ns, sys.executable,
                               os.path.join(os.path.dirname(__file__), "pptp_net.py"), "ping", "10.87.0.1", "10",
                               "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fuzz = subprocess.run(["ip", "netns", "exec", c2.ns, sys.executable, "-c", FUZZER, "7", "10000", SERVER_IP,
                           str(call_id)], capture_output=True, text=True, timeout=300, env=c2.env)
    assert fuzz.returncode == 0, fuzz.stderr
    assert int(fuzz.stdout) >= 10_000
    out, _ = pinger.communicate(timeout=120)
    assert out.strip() == "sent 10 received 10"
    assert lab.server.alive()
    status = lab.server.json("engine", "status")
    malformed = status["counters"]["malformed"]
    assert malformed.get("pptp: unknown GRE call id", 0) > 1000
    assert malformed.get("pptp: GRE from the wrong address", 0) > 1000
    assert malformed.get("pptp: bad magic cookie", 0) >= 20
    assert sum(malformed.values()) > 5000
    assert c1.ping("10.87.0.1", 3).returncode == 0
    assert [r["peer"] for r in lab.server.connections()] == [c1.address]


def test_reload_keeps_allowed_sessions_and_drops_a_denied_user(lab):
    c1, c2 = setup_pair(lab, n_clients=2)
    lab.server.cli("users", "add", "bob", "--password-stdin", "--dial-in", "allow", stdin="Pw-bob-2\n", check=True)
    c2.cli("demand-dial", "set", "hq", "--user", "bob", "--password-stdin", stdin="Pw-bob-2\n", check=True)
    for e in (lab.server, c1, c2):
        e.start()
    assert _connect(c1).returncode == 0 and _connect(c2).returncode == 0
    lab.server.cli("users", "set", "bob", "--dial-in", "deny", check=True)
    assert lab.server.cli("engine", "reload").returncode == 0
    assert wait_for(lambda: [r["user"] for r in lab.server.connections()] == ["alice"], 10)
    assert wait_for(lambda: c2.connections() == [], 10)
    assert c1.ping("10.87.0.1", 2).returncode == 0


def test_no_server_reports_error_800_and_frees_the_port(lab):
    (c,) = setup_pair(lab)
    c.start()                                   # the server engine is not running: TCP 1723 is refused
    res = _connect(c)
    assert res.returncode != 0
    # refused, not silent: told apart from "did not respond" (issue #12), the same Windows error
    assert "refused the connection" in res.stderr and "800" in res.stderr, res.stderr
    status = c.json("demand-dial", "status", "hq")
    assert (status["state"], status["windows_error"]) == ("unreachable", 800)
    assert c.connections() == []
    assert [p["in_use"] for p in c.json("ports", "list") if p["protocol"] == "pptp"] == [0]


def test_no_clear_connection_unless_policy_allows_none(lab):
    """PAP yields no MPPE keys: with encryption required (no "none" in the server's levels) the call must fail."""
    (c,) = setup_pair(lab, methods="pap", encryption="strongest", client_encryption="none")
    lab.server.start()
    c.start()
    res = _connect(c)
    assert res.returncode != 0, res.stderr
    assert lab.server.connections() == [] and c.connections() == []
    assert c.ping("10.87.0.1", 1, 0.5).returncode != 0
    (ref,) = lab.server.json("connections", "refusals")
    assert (ref["user"], ref["windows_error"]) == ("alice", 741)
    assert lab.server.json("engine", "status")["counters"]["refused"] == {"encryption_mismatch": 1}


def test_static_ip_and_router_caller_routes(lab):
    """A user's static address is handed out; a caller named like a demand-dial interface is a router (SPEC §4)."""
    (c,) = setup_pair(lab)
    s = lab.server
    s.cli("users", "set", "alice", "--static-ip", "10.87.0.50", check=True)
    # the router rule: user "branch" = our demand-dial interface "branch", whose routes go through the caller
    s.cli("users", "add", "branch", "--password-stdin", "--dial-in", "allow", stdin="Pw-branch-3\n", check=True)
    s.cli("demand-dial", "add", "branch", "--destination", c.address, "--user", "hq", "--password-stdin",
          "--type", "pptp", "--route", "192.0.2.0/24", stdin="x\n", check=True)
    c.cli("demand-dial", "add", "hq2", "--destination", SERVER_IP, "--user", "branch", "--password-stdin",
          "--type", "pptp", "--encryption", "strongest", stdin="Pw-branch-3\n", check=True)
    s.start()
    c.start()
    assert _connect(c).returncode == 0
    (row,) = s.connections()
    assert (row["user"], row["ip"], row["interface"]) == ("alice", "10.87.0.50", None)
    assert c.ping("10.87.0.1", 2).returncode == 0
    assert c.cli("demand-dial", "disconnect", "hq").returncode == 0
    assert wait_for(lambda: s.connections() == [], 10)
    assert _connect(c, "hq2").returncode == 0
    (row,) = s.connections()
    assert (row["user"], row["interface"]) == ("branch", "branch")
    routes = subprocess.run(["ip", "-n", s.ns, "route", "show", "dev", "rras0"], capture_output=True, text=True)
    assert "192.0.2.0/24" in routes.stdout, routes.stdout
    assert s.json("demand-dial", "status", "branch")["state"] == "connected"


def test_canary_password_appears_nowhere_in_plain_text(lab, monkeypatch):
    """DESIGN §9 canary: a unique password carried through a whole connection, with both engines logging at debug
    level, is found in no file under either engine's config and state dirs, no log line, no control reply and no
    command output; only its sealed form is on disk."""
    canary = "Canary-7f3e9a-pw"
    monkeypatch.setenv("H6_LOG", "debug")
    (c,) = setup_pair(lab, password=canary, server_password=canary)
    lab.server.start()
    c.start()
    outputs = [_connect(c)]
    assert outputs[0].returncode == 0, outputs[0].stderr
    assert c.ping("10.87.0.1", 2).returncode == 0
    for engine, args in ((lab.server, ("connections", "list")), (lab.server, ("engine", "status")),
                         (lab.server, ("connections", "refusals")), (lab.server, ("users", "show", "alice")),
                         (c, ("demand-dial", "status", "hq")), (c, ("demand-dial", "show", "hq")),
                         (c, ("connections", "list")), (c, ("engine", "status"))):
        outputs += [engine.cli(*args), engine.cli(*args, "-o", "json")]
    outputs += [e.cli(*args) for e in (lab.server, c) for args in (("dump",), ("config", "export"))]
    assert c.cli("demand-dial", "disconnect", "hq").returncode == 0
    assert wait_for(lambda: lab.server.connections() == [], 10)
    text = "".join(lab.server.log + c.log) + "".join(o.stdout + o.stderr for o in outputs)
    assert canary not in text, [line for line in text.splitlines() if canary in line][:3]
    files = [p for e in (lab.server, c) for p in e.home.rglob("*") if p.is_file()]
    assert [str(p) for p in files if canary.encode() in p.read_bytes()] == []
    sealed = [p for p in files if p.name == "rrasctl.toml" and b"enc:v2:" in p.read_bytes()]
    assert len(sealed) == 2  # the search above looked at the files that do hold the secret, sealed
