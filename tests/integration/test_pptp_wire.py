"""What a PPTP peer sees on the wire from a real engine (root): a scripted PNS in a client namespace, written with
the project's codecs, talks to `rrasctl engine run` in the server namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pptp_lab import SERVER_IP, Lab
from test_pptp_e2e import ROOT_REASON

pytestmark = [pytest.mark.root]
if ROOT_REASON:
    pytestmark.append(pytest.mark.skip(reason=ROOT_REASON))

PNS = r'''
import json, socket, sys
from rrasctl.protocols.pptp import messages as m
server, calls, wait_stop = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
s = socket.create_connection((server, 1723), timeout=20)
buf = b""
def read_msg():
    global buf
    while True:
        if len(buf) >= 2:
            n = int.from_bytes(buf[:2], "big")
            if len(buf) >= n:
                raw, buf = buf[:n], buf[n:]
                return m.decode(raw)
        chunk = s.recv(4096)
        if not chunk:
            return None
        buf += chunk
def show(msg):
    d = {"type": type(msg).__name__}
    for k in ("result", "error", "call_id", "peer_call_id", "reason", "vendor"):
        if hasattr(msg, k):
            d[k] = getattr(msg, k)
    print(json.dumps(d), flush=True)
s.sendall(m.StartControlConnectionRequest(host_name="scripted", vendor="test").encode())
show(read_msg())
for i in range(calls):
    s.sendall(m.OutgoingCallRequest(call_id=100 + i, call_serial=i, recv_window=16).encode())
    show(read_msg())
print("calls placed", flush=True)
if wait_stop:
    while True:
        msg = read_msg()
        if msg is None:
            break
        show(msg)
        if isinstance(msg, m.StopControlConnectionRequest):
            s.sendall(m.StopControlConnectionReply().encode())
'''


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path / "lab", f"{os.getpid() % 100000}w")
    try:
        yield lab
    finally:
        lab.close()


def _pns(lab, ns: str, calls: int, wait_stop: bool) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", PNS, SERVER_IP, str(calls),
                             "1" if wait_stop else "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_busy_answer_on_the_wire_and_cdn_then_stopccrq_on_sigterm(lab):
    s = lab.server
    s.cli("server", "set", "--edition", "web", check=True)
    client = lab.add_client()
    s.start()
    pns = _pns(lab, client.ns, 2, True)
    lines = []
    for line in pns.stdout:
        if line.strip() == "calls placed":
            break
        lines.append(json.loads(line))
    assert lines[0] == {"type": "StartControlConnectionReply", "result": 1, "error": 0, "vendor": "rrasctl"}
    assert lines[1]["type"] == "OutgoingCallReply" and (lines[1]["result"], lines[1]["peer_call_id"]) == (1, 100)
    # the web edition admits one inbound connection: the second call is answered "busy" (RFC 2637 §2.8 result 4)
    assert lines[2] == {"type": "OutgoingCallReply", "result": 4, "error": 0, "call_id": 0, "peer_call_id": 101}
    assert s.stop() == 0                          # SIGTERM
    out, err = pns.communicate(timeout=30)
    after = [json.loads(x) for x in out.splitlines()]
    assert after == [
        {"type": "CallDisconnectNotify", "result": 3, "error": 0, "call_id": lines[1]["call_id"]},
        {"type": "StopControlConnectionRequest", "reason": 3},
    ], err
