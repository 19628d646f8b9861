"""MPPE-128 per-packet cost (1,400-byte payloads), stateful and stateless, as a ratio to OpenSSL's RC4 on the
same machine in the same run (`openssl speed -provider legacy -provider default -mr -seconds 1 -bytes 1400
-evp rc4`). Targets (issue 4): stateful <= 1.5x, stateless <= 7x.

    .venv/bin/python bench/mppe.py [--packets N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from rrasctl.protocols.ppp.mppe import MppeDecryptor, MppeEncryptor

SIZE = 1400
TARGETS = {"stateful": 1.5, "stateless": 7.0}


def openssl_rc4_us() -> float:
    """OpenSSL's RC4 µs per 1,400-byte packet (from its bytes/second figure)."""
    out = subprocess.run(["openssl", "speed", "-provider", "legacy", "-provider", "default", "-mr", "-seconds", "1",
                          "-bytes", str(SIZE), "-evp", "rc4"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^\+F:\d+:RC4:([0-9.]+)", out, re.M)
    if match is None:
        raise SystemExit(f"cannot read openssl speed output:\n{out}")
    return SIZE / float(match.group(1)) * 1e6


# CPU time, best of several rounds: `openssl speed` reports CPU (user) time too, so a busy machine skews
# both sides alike.
clock = time.process_time


def per_packet_us(fn, items, rounds: int = 7) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        for item in items:
            fn(item)
        best = min(best, (clock() - start) / len(items) * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20_000)
    args = parser.parse_args()
    key = os.urandom(16)
    payload = b"\x00\x21" + os.urandom(SIZE - 2)
    ref = min(openssl_rc4_us() for _ in range(3))
    print(f"openssl rc4 (1,400 B):          {ref:7.3f} µs/packet")
    worst = {}
    for mode in ("stateful", "stateless"):
        stateless = mode == "stateless"
        payloads = [payload] * args.packets
        enc_us = per_packet_us(MppeEncryptor(key, bits=128, stateless=stateless).encrypt, payloads)
        enc = MppeEncryptor(key, bits=128, stateless=stateless)
        wires = [enc.encrypt(payload) for _ in range(args.packets)]
        dec_us = float("inf")
        for _ in range(7):       # a fresh decryptor per round: the counts must follow on from the start
            dec_us = min(dec_us, per_packet_us(MppeDecryptor(key, bits=128, stateless=stateless).decrypt, wires,
                                               rounds=1))
        for what, us in (("encrypt", enc_us), ("decrypt", dec_us)):
            ratio = us / ref
            worst[mode] = max(worst.get(mode, 0.0), ratio)
            print(f"mppe-128 {mode:9} {what}:  {us:7.3f} µs/packet  = {ratio:5.2f} x openssl "
                  f"(target <= {TARGETS[mode]} x)")
    ok = all(worst[m] <= TARGETS[m] for m in TARGETS)
    print("within targets" if ok else "OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
