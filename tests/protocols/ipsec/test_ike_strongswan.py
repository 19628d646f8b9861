"""Interop: our IKEv1 initiator against strongSwan's charon (Debian's strongswan-charon, 5.9.8) over real UDP.

Two network namespaces joined by a veth; charon answers as responder with a PSK and a transport-mode L2TP child
(udp/1701); ike_udp_client.py runs an IkePeer in the other namespace. Main Mode and Quick Mode must complete (charon
verifies HASH_I, HASH(1) and HASH(3)), and every key charon logs at level 4 must equal ours. Charon then fails to
install the ESP SAs when the kernel has no ESP: irrelevant here. A wrong PSK makes charon answer MM5 with a
notification encrypted under its own keys: our core reports AUTHENTICATION_FAILED.

Skips with the reason when not root, when charon or swanctl are not installed (apt install strongswan-charon
strongswan-swanctl), or when charon does not start. The recorded copy of these keys, for runs without strongSwan, is
ike_strongswan_vectors.json (test_ike_keys.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.root]

CHARON = Path("/usr/lib/ipsec/charon")
HERE = Path(__file__).resolve().parent
SERVER, CLIENT, PSK = "192.0.2.1", "192.0.2.2", "interop-psk"

STRONGSWAN_CONF = """charon {{
  port = 500
  port_nat_t = 4500
  install_routes = no
  retransmit_tries = 2
  filelog {{
    lab {{
      path = {dir}/charon.log
      default = 1
      ike = 4
      chd = 4
      flush_line = yes
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{dir}/charon.vici
    }}
  }}
}}
swanctl {{
  socket = unix://{dir}/charon.vici
}}
"""
SWANCTL_CONF = """connections {{
  l2tp {{
    version = 1
    local_addrs = {server}
    remote_addrs = {client}
    proposals = aes256-sha1-modp2048,3des-sha1-modp1024,aes128-sha256-modp2048
    local {{
      auth = psk
      id = {server}
    }}
    remote {{
      auth = psk
      id = %any
    }}
    children {{
      l2tp {{
        mode = transport
        local_ts = dynamic[udp/1701]
        remote_ts = dynamic[udp/1701]
        esp_proposals = aes128-sha1,aes256gcm16,3des-sha1,aes256gcm16-modp2048,3des-sha1-modp1024
      }}
    }}
  }}
}}
secrets {{
  ike-1 {{
    secret = "{psk}"
  }}
}}
"""


def poll(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    waiter = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        waiter.wait(0.05)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def charon(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, UDP port 500)")
    if not CHARON.exists() or shutil.which("swanctl") is None or shutil.which("unshare") is None:
        pytest.skip("strongSwan is not installed (apt install strongswan-charon strongswan-swanctl)")
    d = tmp_path_factory.mktemp("charon")
    tag = f"{os.getpid() % 100000}"
    ns_s, ns_c = f"ikess{tag}", f"ikecl{tag}"
    (d / "strongswan.conf").write_text(STRONGSWAN_CONF.format(dir=d))
    (d / "swanctl.conf").write_text(SWANCTL_CONF.format(server=SERVER, client=CLIENT, psk=PSK))
    env = dict(os.environ, STRONGSWAN_CONF=str(d / "strongswan.conf"))
    proc = None
    try:
        ip("netns", "add", ns_s)
        ip("netns", "add", ns_c)
        ip("link", "add", f"iks{tag}", "netns", ns_s, "type", "veth", "peer", "name", f"ikc{tag}", "netns", ns_c)
        for ns, dev, addr in ((ns_s, f"iks{tag}", SERVER), (ns_c, f"ikc{tag}", CLIENT)):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        # its own /run (a tmpfs in a private mount namespace): charon's pid file and sockets neither clash with
        # another charon on the host nor stay behind
        proc = subprocess.Popen(["ip", "netns", "exec", ns_s, "unshare", "--mount", "--propagation", "private",
                                 "sh", "-c", f"mount -t tmpfs rrasctl-charon /run && exec {CHARON}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            poll(lambda: (d / "charon.vici").exists() or proc.poll() is not None, 20, "charon's vici socket")
        except AssertionError:
            pytest.skip("charon did not open its control socket")
        if proc.poll() is not None:
            pytest.skip(f"charon exited with {proc.returncode}")
        load = subprocess.run(["ip", "netns", "exec", ns_s, "swanctl", "--load-all", "--file",
                               str(d / "swanctl.conf")], env=env, capture_output=True, text=True, timeout=30)
        if load.returncode != 0:
            pytest.skip(f"swanctl --load-all failed: {load.stderr.strip()[-200:]}")
        yield ns_c, d / "charon.log", (ns_s, env)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for ns in (ns_s, ns_c):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def run_client(ns: str, phase1: str, esp: str, pfs: str, psk: str = PSK) -> dict:
    p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(HERE / "ike_udp_client.py"), CLIENT, SERVER,
                        phase1, esp, pfs], input=psk + "\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def dumps(text: str, label: str) -> list[str]:
    """The hex of every `label => N bytes @ ...` dump in a charon log (strongSwan's %B format)."""
    lines, out = text.splitlines(), []
    for i, line in enumerate(lines):
        m = re.search(re.escape(label) + r" => (\d+) bytes", line)
        if m is None:
            continue
        want, hexs, j = 2 * int(m.group(1)), "", i + 1
        while len(hexs) < want and j < len(lines):
            hexs += "".join(re.findall(r"\b[0-9A-F]{2}\b", lines[j].split(":", 1)[1][:49]))
            j += 1
        out.append(hexs[:want].lower())
    return out


@pytest.mark.parametrize("phase1,esp,pfs", [("aes256-sha1-modp2048", "aes128-sha1", "-"),
                                            ("3des-sha1-modp1024", "3des-sha1", "-"),
                                            ("aes128-sha256-modp2048", "aes256gcm16", "14")])
def test_main_and_quick_mode_with_strongswan_and_the_same_keys(charon, phase1, esp, pfs):
    ns, log, _ = charon
    start = log.stat().st_size if log.exists() else 0
    result = run_client(ns, phase1, esp, pfs)
    assert [e[0] for e in result["events"]] == ["Phase1Established", "ChildSaEstablished"], result
    poll(lambda: "integrity responder key" in log.read_text(errors="replace")[start:]
         or "encryption responder key" in log.read_text(errors="replace")[start:] and esp == "aes256gcm16",
         20, "charon to log the child SA's keys")             # charon handles QM3 on its own threads
    text = log.read_text(errors="replace")[start:]
    assert re.search(r"IKE_SA l2tp\[\d+\] established", text)
    ours = result["phase1"]
    for label, key in (("SKEYID", "skeyid"), ("SKEYID_d", "skeyid_d"), ("SKEYID_a", "skeyid_a"),
                       ("SKEYID_e", "skeyid_e"), ("encryption key Ka", "encryption_key_ka")):
        assert dumps(text, label)[-1] == ours[key], label
    child = result["child"]
    enc_i, enc_r = dumps(text, "encryption initiator key")[-1], dumps(text, "encryption responder key")[-1]
    integ_i = (dumps(text, "integrity initiator key") or [""])[-1] if esp != "aes256gcm16" else ""
    integ_r = (dumps(text, "integrity responder key") or [""])[-1] if esp != "aes256gcm16" else ""
    assert child["keymat_out"] == enc_i + integ_i and child["keymat_in"] == enc_r + integ_r
    assert result["stats"] == {}


def test_a_wrong_psk_is_authentication_failed(charon):
    ns, _log, _ = charon
    result = run_client(ns, "aes256-sha1-modp2048", "aes128-sha1", "-", psk="not-the-psk")
    assert result["events"] == [["Phase1Failed", "authentication-failed"]]
    assert "cannot decrypt" in result["failed"]


def test_strongswan_initiates_and_our_responder_answers_with_the_default_proposals(charon):
    ns, log, (ns_s, env) = charon
    start = log.stat().st_size if log.exists() else 0
    responder = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(HERE / "ike_udp_client.py"),
                                  "--respond", CLIENT, SERVER, "default", "default", "-", "--timeout", "8"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        responder.stdin.write(PSK + "\n")
        responder.stdin.close()
        responder.stdin = None
        assert responder.stderr.readline().strip() == "listening"
        subprocess.run(["ip", "netns", "exec", ns_s, "swanctl", "--terminate", "--ike", "l2tp", "--force"], env=env,
                       capture_output=True, timeout=30)         # no IKE_SA left over to run the quick mode on
        init = subprocess.run(["ip", "netns", "exec", ns_s, "swanctl", "--initiate", "--child", "l2tp", "--timeout",
                               "15"], env=env, capture_output=True, text=True, timeout=60)
        out, err = responder.communicate(timeout=60)
    finally:
        if responder.poll() is None:
            responder.kill()
    result = json.loads(out)
    poll(lambda: "encryption responder key" in log.read_text(errors="replace")[start:], 20, "charon's child keys")
    text = log.read_text(errors="replace")[start:]
    events = [e[0] for e in result["events"]]
    if "unable to install inbound and outbound IPsec SA" in text:
        # charon verified our QM2 (HASH(2)) and derived its keys, then could not install ESP in this kernel and so
        # never sent QM3: our side holds the child it would have reported
        assert events == ["Phase1Established"] and result["pending"], (result, err)
    else:
        assert events == ["Phase1Established", "ChildSaEstablished"], (result, err, init.stdout[-2000:])
    ours = result["phase1"]
    for label, key in (("SKEYID", "skeyid"), ("SKEYID_d", "skeyid_d"), ("SKEYID_a", "skeyid_a"),
                       ("SKEYID_e", "skeyid_e"), ("encryption key Ka", "encryption_key_ka")):
        assert dumps(text, label)[-1] == ours[key], label
    # charon initiated: its "initiator" keys protect what it sends, i.e. what we receive
    child = result["child"]
    assert child["keymat_in"].startswith(dumps(text, "encryption initiator key")[-1])
    assert child["keymat_out"].startswith(dumps(text, "encryption responder key")[-1])
    assert re.search(r"selected proposal: IKE:AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048", text)
    assert "using AES_GCM_16 for encryption" in text     # our DEFAULT_ESP's first choice among charon's offers
