"""IKEv1 Main Mode + Quick Mode pairs per second with MODP2048 on one core (issue 14, acceptance 6, IKE figure).

One "pair" is a whole in-memory exchange between two IkePeer cores (MM1-MM6 and QM1-QM3: two DH key pairs and two
shared secrets, the PRFs, nine messages encrypted and decoded), AES-256/SHA-1 in phase 1 and AES-256-GCM in phase 2,
with no PFS. The reference, measured in the same run, is the Diffie-Hellman work alone: two key pairs and two
shared secrets on group 14 through `cryptography`, the floor any implementation that keys with OpenSSL pays. The
ratio says what the protocol machinery costs above it. CPU time of this process (one core), best of several rounds.

    .venv/bin/python bench/ike.py [--pairs N] [--group 14|2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from rrasctl.protocols.ipsec.ike.constants import EncryptionAlgorithm, EspTransform, HashAlgorithm
from rrasctl.protocols.ipsec.ike.events import ChildSaEstablished
from rrasctl.protocols.ipsec.ike.groups import DhGroup, DhKey
from rrasctl.protocols.ipsec.ike.peer import IkePeer
from rrasctl.protocols.ipsec.ike.policy import EspProposal, IkeConfig, Phase1Suite

clock = time.process_time


def one_pair(cfg: IkeConfig) -> None:
    a = IkePeer(cfg, ("192.0.2.2", 500), ("192.0.2.1", 500))
    b = IkePeer(cfg, ("192.0.2.1", 500), ("192.0.2.2", 500))
    a.connect(0.0)
    done = 0
    for _ in range(12):
        for src, dst in ((a, b), (b, a)):
            for datagram in src.take_output():
                done += sum(isinstance(e, ChildSaEstablished) for e in dst.receive(datagram, 0.0))
        if done == 2:
            return
    raise SystemExit("the exchange did not complete")


def dh_floor(group: int) -> None:
    x, y = DhKey(group, os.urandom), DhKey(group, os.urandom)
    x.shared(y.public)
    y.shared(x.public)


def best_per_second(fn, n: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        for _ in range(n):
            fn()
        best = min(best, (clock() - start) / n)
    return 1.0 / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--group", type=int, default=14, choices=[1, 2, 5, 14])
    args = parser.parse_args()
    group = DhGroup(args.group)
    cfg = IkeConfig(psk=b"bench", phase1=(Phase1Suite(EncryptionAlgorithm.AES_CBC, 256, HashAlgorithm.SHA1, group),),
                    esp=(EspProposal(EspTransform.AES_GCM_16, 256),), dpd_interval_s=None)
    one_pair(cfg)                                           # warm up imports and OpenSSL
    pairs = best_per_second(lambda: one_pair(cfg), args.pairs)
    floor = best_per_second(lambda: dh_floor(group), args.pairs * 2)
    print(f"DH floor (2 key pairs + 2 shared secrets, MODP{group.name[4:]}): {floor:8.1f} /s  "
          f"= {1000 / floor:6.3f} ms")
    print(f"IKE MM + QM pairs (both cores, MODP{group.name[4:]}):            {pairs:8.1f} /s  "
          f"= {1000 / pairs:6.3f} ms  = {floor / pairs:4.2f} x the DH floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
