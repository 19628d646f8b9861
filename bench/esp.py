"""ESP seal + open per 1,400-byte packet, as ratios to references measured in the same run (issue 14 item 6).

- AES-128-GCM: EspSa seal + open vs the bare `cryptography` AESGCM encrypt + decrypt of the same padded payloads
  with the same nonce/AAD lengths (target <= 1.3x);
- AES-128-CBC + HMAC-SHA1-96: vs the bare calls the SA cannot avoid: one persistent CBC encryptor update over
  block + payload, the HMAC-SHA1 of header + IV + ciphertext (prepared context copied, the fastest bare way), the
  HMAC again on receipt, one persistent decryptor update (target <= 1.3x);
- 3DES-CBC + HMAC-SHA1-96: vs `openssl speed -evp des-ede3-cbc` + `openssl speed -hmac sha1` per 1,400 bytes,
  counted twice (seal and open each run the cipher and the HMAC once) (target <= 1.4x);
- NULL without integrity: the framing alone (sequence, replay window, padding, header), for reference.

    .venv/bin/python bench/esp.py [--packets N]

CPU time (time.process_time), best of several rounds, like bench/mppe.py: `openssl speed` reports CPU time too.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rrasctl.protocols.ipsec.esp import EspSa, EspSuite

SIZE = 1400
TARGETS = {"aes128gcm16": 1.3, "aes128-sha1": 1.3, "3des-sha1": 1.4}
clock = time.process_time


def best_us(fn, rounds: int = 7) -> float:
    """fn() runs one batch and returns how many packets it handled; the best µs per packet over the rounds."""
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        n = fn()
        best = min(best, (clock() - start) / n * 1e6)
    return best


def openssl_us(*args: str) -> float:
    """`openssl speed -mr` µs per 1,400-byte buffer for one algorithm (from its bytes/second figure)."""
    out = subprocess.run(["openssl", "speed", "-mr", "-seconds", "1", "-bytes", str(SIZE), *args],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"^\+F:\d+:[^:]+:([0-9.]+)", out, re.M)
    if match is None:
        raise SystemExit(f"cannot read openssl speed output:\n{out}")
    return SIZE / float(match.group(1)) * 1e6


def esp_us(suite: EspSuite, payloads: list[bytes], rounds: int) -> tuple[float, float]:
    """(seal, open) µs per packet; open gets a fresh SA each round (the window would refuse replays)."""
    km = os.urandom(suite.keymat_len)
    out = EspSa(0x1000, suite, km)
    seal = out.seal
    wires: list[bytes] = []

    def run_seal() -> int:
        nonlocal wires, out, seal
        out = EspSa(0x1000, suite, km)
        seal = out.seal
        wires = [seal(p, 17) for p in payloads]
        return len(payloads)

    seal_us = best_us(run_seal, rounds)

    def run_open() -> int:
        open_ = EspSa(0x1000, suite, km).open
        for w in wires:
            open_(w)
        return len(wires)

    open_us = best_us(run_open, rounds)
    check = EspSa(0x1000, suite, km)
    assert all(check.open(w) is not None for w in wires[:16])
    return seal_us, open_us


def gcm_reference(payloads: list[bytes], rounds: int) -> float:
    aead = AESGCM(os.urandom(16))
    nonce, aad = os.urandom(12), os.urandom(8)
    padded = [p + b"\x01\x02\x02\x11" for p in payloads]            # 1,404 octets: what the SA encrypts
    cts = [aead.encrypt(nonce, p, aad) for p in padded]
    enc, dec = aead.encrypt, aead.decrypt

    def run() -> int:
        kept = [enc(nonce, p, aad) for p in padded]     # kept, as the SA's sealed packets are kept for opening
        for c in cts:
            dec(nonce, c, aad)
        return len(kept)

    return best_us(run, rounds)


def cbc_sha1_reference(payloads: list[bytes], rounds: int) -> float:
    key, mac_key = os.urandom(16), os.urandom(20)
    enc = Cipher(algorithms.AES(key), modes.CBC(os.urandom(16))).encryptor().update
    dec = Cipher(algorithms.AES(key), modes.CBC(os.urandom(16))).decryptor().update
    mac = hmac.HMAC(mac_key, hashes.SHA1())
    streams = [os.urandom(16) + p + bytes(range(1, 11)) + b"\x0a\x11" for p in payloads]   # block ‖ 1,412
    bodies = [os.urandom(8) + enc(s) for s in streams]

    def run() -> int:
        kept = []
        for s in streams:                 # seal: cipher + HMAC (outputs kept, as the SA's sealed packets are)
            c = enc(s)
            m = mac.copy()
            m.update(c)
            kept.append(m.finalize())
            kept.append(c)
        for b in bodies:                  # open: HMAC + cipher
            m = mac.copy()
            m.update(b)
            m.finalize()
            dec(b[8:])
        return len(streams)

    return best_us(run, rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20_000)
    args = parser.parse_args()
    distinct = [os.urandom(SIZE) for _ in range(64)]
    payloads = [distinct[i % 64] for i in range(args.packets)]
    few = payloads[:max(args.packets // 20, 200)]                  # 3DES: 45 µs a packet
    worst: dict[str, float] = {}

    def report(name: str, seal_us: float, open_us: float, ref_us: float, ref_name: str) -> None:
        ratio = (seal_us + open_us) / ref_us
        worst[name] = ratio
        target = f"(target <= {TARGETS[name]} x)" if name in TARGETS else ""
        print(f"{name:12} seal {seal_us:7.3f} + open {open_us:7.3f} = {seal_us + open_us:7.3f} µs/packet; "
              f"{ref_name} {ref_us:7.3f} µs  -> {ratio:5.2f} x {target}")

    ref = gcm_reference(payloads, 7)
    report("aes128gcm16", *esp_us(EspSuite.AES_GCM_16_128, payloads, 7), ref, "bare AESGCM enc+dec")
    ref = cbc_sha1_reference(payloads, 7)
    report("aes128-sha1", *esp_us(EspSuite.AES_CBC_128_SHA1, payloads, 7), ref, "bare CBC+HMAC x2")
    des3 = min(openssl_us("-evp", "des-ede3-cbc") for _ in range(3))
    sha1 = min(openssl_us("-hmac", "sha1") for _ in range(3))
    print(f"openssl speed: 3DES-CBC {des3:.3f} µs, HMAC-SHA1 {sha1:.3f} µs per 1,400 bytes")
    report("3des-sha1", *esp_us(EspSuite.DES3_SHA1, few, 3), 2 * (des3 + sha1), "openssl 2x(3DES+HMAC)")
    seal_us, open_us = esp_us(EspSuite.NULL_NONE, payloads, 7)
    print(f"{'null-none':12} seal {seal_us:7.3f} + open {open_us:7.3f} = {seal_us + open_us:7.3f} µs/packet "
          f"(framing alone: sequence, window, padding, header, one copy each way)")
    ok = all(worst[k] <= TARGETS[k] for k in TARGETS)
    print("within targets" if ok else "OVER TARGET: " + ", ".join(k for k in TARGETS if worst[k] > TARGETS[k]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
