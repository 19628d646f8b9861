"""Run an IkePeer initiator over a real UDP socket (port 500) until a child SA is up or it fails; print JSON.

    python ike_udp_client.py LOCAL_IP REMOTE_IP PHASE1 ESP PFS_GROUP|- [--timeout S]     (the PSK on stdin)
    python ike_udp_client.py --respond LOCAL_IP REMOTE_IP default default - [--timeout S]

With --respond it waits for the peer's main mode and answers with the default proposals (policy.DEFAULT_PHASE1,
DEFAULT_ESP), printing "listening" on stderr once the socket is bound.

Used by test_ike_strongswan.py inside a network namespace. Besides the events it prints the keys the core derived
and the inputs of the derivation (nonces, g^xy, g(qm)^xy), taken by wrapping the key functions, so the test can
compare them with what strongSwan logged.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time

from rrasctl.protocols.ipsec.ike import keys as K
from rrasctl.protocols.ipsec.ike.constants import AuthAlgorithm, EncryptionAlgorithm, EspTransform, HashAlgorithm
from rrasctl.protocols.ipsec.ike.events import ChildSaEstablished, ChildSaFailed, Phase1Failed
from rrasctl.protocols.ipsec.ike.groups import DhGroup
from rrasctl.protocols.ipsec.ike.peer import IkePeer
from rrasctl.protocols.ipsec.ike.policy import EspProposal, IkeConfig, Phase1Suite

PHASE1 = {"aes256-sha1-modp2048": Phase1Suite(EncryptionAlgorithm.AES_CBC, 256, HashAlgorithm.SHA1, DhGroup.MODP2048),
          "3des-sha1-modp1024": Phase1Suite(EncryptionAlgorithm.TRIPLE_DES_CBC, None, HashAlgorithm.SHA1,
                                            DhGroup.MODP1024),
          "aes128-sha256-modp2048": Phase1Suite(EncryptionAlgorithm.AES_CBC, 128, HashAlgorithm.SHA2_256,
                                                DhGroup.MODP2048)}
ESP = {"aes128-sha1": EspProposal(EspTransform.AES_CBC, 128, AuthAlgorithm.HMAC_SHA1),
       "aes256gcm16": EspProposal(EspTransform.AES_GCM_16, 256),
       "3des-sha1": EspProposal(EspTransform.TRIPLE_DES, None, AuthAlgorithm.HMAC_SHA1)}


def record_inputs() -> dict:
    seen: dict = {}
    skeyid, derive, keymat = K.skeyid_psk, K.derive_phase1, K.keymat

    def skeyid_psk(alg, psk, ni, nr):
        seen.update(ni_b=ni.hex(), nr_b=nr.hex())
        return skeyid(alg, psk, ni, nr)

    def derive_phase1(alg, s, gxy, ci, cr, n):
        seen["gxy"] = gxy.hex()
        return derive(alg, s, gxy, ci, cr, n)

    def keymat_(alg, d, proto, spi, ni, nr, n, gqm=b""):
        seen.update(qm_ni_b=ni.hex(), qm_nr_b=nr.hex(), gqm=gqm.hex())
        return keymat(alg, d, proto, spi, ni, nr, n, gqm)

    K.skeyid_psk, K.derive_phase1, K.keymat = skeyid_psk, derive_phase1, keymat_
    return seen


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("local")
    ap.add_argument("remote")
    ap.add_argument("phase1", choices=sorted(PHASE1) + ["default"])
    ap.add_argument("esp", choices=sorted(ESP) + ["default"])
    ap.add_argument("pfs")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--respond", action="store_true")
    args = ap.parse_args()
    psk = sys.stdin.readline().rstrip("\n").encode()
    inputs = record_inputs()
    chosen = {}
    if args.phase1 != "default":
        chosen["phase1"] = (PHASE1[args.phase1],)
    if args.esp != "default":
        chosen["esp"] = (ESP[args.esp],)
    cfg = IkeConfig(psk=psk, dpd_interval_s=None, pfs=None if args.pfs == "-" else DhGroup(int(args.pfs)), **chosen)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.local, 500))
    peer = IkePeer(cfg, (args.local, 500), (args.remote, 500))
    t0 = time.monotonic()
    now = lambda: time.monotonic() - t0        # noqa: E731
    if args.respond:
        print("listening", file=sys.stderr, flush=True)
    else:
        peer.connect(now())
    result: dict = {"events": []}
    child = None
    while now() < args.timeout and child is None and not result.get("failed"):
        for datagram in peer.take_output():
            sock.sendto(datagram, (args.remote, 500))
        deadline = peer.next_timer()
        wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - now()))
        readable, _, _ = select.select([sock], [], [], wait)
        if readable:
            events = peer.receive(sock.recv(65535), now())
        elif deadline is not None and deadline <= now():
            events = peer.handle_timer(now())
        else:
            events = []
        for e in events:
            result["events"].append([type(e).__name__, getattr(getattr(e, "cause", None), "value", None)])
            if isinstance(e, ChildSaEstablished):
                child = e.child
            elif isinstance(e, (Phase1Failed, ChildSaFailed)):
                result["failed"] = e.detail
    sa = peer.current
    if sa is not None:
        k = sa.keys
        result["phase1"] = {"cky_i": sa.ispi.hex(), "cky_r": sa.rspi.hex(), "skeyid": k.skeyid.hex(),
                            "skeyid_d": k.skeyid_d.hex(), "skeyid_a": k.skeyid_a.hex(), "skeyid_e": k.skeyid_e.hex(),
                            "encryption_key_ka": k.enc_key.hex()}
    if child is None and args.respond:
        # a quick mode we answered whose QM3 never came (charon sends it only after installing its ESP SAs in the
        # kernel, which fails on a host without ESP): the keys it would have had
        pending = [ex.proto._child for ex in peer._qm.values() if getattr(ex.proto, "_child", None) is not None]
        child = pending[-1] if pending else None
        result["pending"] = child is not None
    if child is not None:
        result["child"] = {"inbound_spi": f"{child.inbound_spi:08x}", "outbound_spi": f"{child.outbound_spi:08x}",
                           "keymat_in": child.keymat_in.hex(), "keymat_out": child.keymat_out.hex()}
    result["inputs"] = inputs
    result["stats"] = dict(peer.stats)
    for datagram in peer.take_output():             # QM3 (no Delete after it: charon may take them out of order)
        sock.sendto(datagram, (args.remote, 500))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
