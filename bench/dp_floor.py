#!/usr/bin/env python3
"""The syscall floor of the PPTP forwarding benchmark's topology: what a minimal Python forwarder costs there.

Two namespaces laid out as bench/pptp_forward.py's lab (by default joined by one veth pair, the issue's topology;
`--topology bridge`: the client's veth on a bridge in the server namespace, as the integration tests' lab), each with a TUN and a forwarder process that does only the per-packet minimum, with add_reader + drain
as the engine: `os.readv` from the TUN into a preallocated buffer, an enhanced GRE + PPP + MPPE header written with
`pack_into`, one `sendto` on a raw GRE socket; on the other side `recv_into`, skip the headers, one `os.write` to
the TUN. With `rc4`, each side also runs one persistent RC4 context in place over the payload (stateful MPPE's
cipher work, no key changes; into a scratch buffer, so the wire carries plaintext and a lost packet cannot desynchronise
the two streams). No sequence checks, no sessions, no acks: a lower bound for any Python engine here,
reported as the same ratio to the UDP echo reference (docs/decisions/0065).

    sudo .venv/bin/python bench/dp_floor.py [--packets 100000] [--rate 20000] [--runs 5] [--topology direct|bridge]
"""

from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pptp_forward import bench_parser, measure_runs, not_root, report, summary  # noqa: E402

FORWARDER = r'''
import asyncio, fcntl, os, socket, struct, sys
role, tun_name, my_ip, peer_tun_ip, peer_ip, crypto = sys.argv[1:7]
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", tun_name.encode(), 0x1001))    # TUNSETIFF, IFF_TUN | IFF_NO_PI
os.set_blocking(fd, False)
for cmd in (f"ip addr add {my_ip}/32 dev {tun_name}", f"ip link set {tun_name} mtu 1400 up",
            f"ip route add {peer_tun_ip}/32 dev {tun_name}"):
    os.system(cmd)
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
raw.setblocking(False)
for opt in (33, 32):                                                                # SO_RCVBUFFORCE, SO_SNDBUFFORCE
    raw.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
update = None
if crypto == "rc4":
    from cryptography.hazmat.primitives.ciphers import Cipher
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
    update = Cipher(ARC4(b"k" * 16), None).encryptor().update_into
buf = bytearray(65536)
view = memoryview(buf)
scratch = memoryview(bytearray(65536))
HDR = struct.Struct("!HHHHI")
addr = (peer_ip, 0)
seq = 0

def on_tun():
    global seq
    readv, pack, send, bufs = os.readv, HDR.pack_into, raw.sendto, [view[20:]]
    for _ in range(64):
        try:
            n = readv(fd, bufs)
        except BlockingIOError:
            return
        seq += 1
        pack(buf, 0, 0x3001, 0x880B, n + 8, 7, seq)                 # GRE K, S, version 1
        buf[12:20] = b"\xff\x03\x00\xfd\x90\x00\x00\x21"            # PPP, MPPE header, inner protocol
        if update is not None:
            update(view[18:20 + n], scratch)
        send(view[:20 + n], addr)

def on_raw():
    recv, write = raw.recv_into, os.write
    for _ in range(64):
        try:
            n = recv(buf)
        except BlockingIOError:
            return
        start = ((buf[0] & 15) << 2) + 16                             # IP header, GRE 12, PPP 4
        if update is not None:
            update(view[start + 2:n], scratch)
        try:
            write(fd, view[start + 4:n])
        except OSError:
            pass

loop = asyncio.new_event_loop()
loop.add_reader(fd if role == "tx" else raw.fileno(), on_tun if role == "tx" else on_raw)
print("ready", flush=True)
loop.run_forever()
'''


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def floor(crypto: str, packets: int, rate: float, runs: int, topology: str = "direct") -> dict[str, float]:
    """Medians over `runs` (summary() of pptp_forward) for the forwarder pair, keys "tx" and "rx"."""
    tag = f"fl{os.getpid() % 10000}"
    a, b = f"rr{tag}a", f"rr{tag}b"
    procs: list[subprocess.Popen] = []
    made: list[str] = []
    try:
        for ns in (a, b):
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", "rrv", "netns", a, "type", "veth", "peer", "name", "rrb0", "netns", b)
        if topology == "bridge":
            _ip("-n", b, "link", "add", "rrbr", "type", "bridge")
            _ip("-n", b, "addr", "add", "203.0.113.1/24", "dev", "rrbr")
            _ip("-n", b, "link", "set", "rrbr", "up")
            _ip("-n", b, "link", "set", "rrb0", "master", "rrbr")
        else:
            _ip("-n", b, "addr", "add", "203.0.113.1/24", "dev", "rrb0")
        _ip("-n", b, "link", "set", "rrb0", "up")
        _ip("-n", a, "addr", "add", "203.0.113.10/24", "dev", "rrv")
        _ip("-n", a, "link", "set", "rrv", "up")
        for ns, role, mine, theirs, peer in ((a, "tx", "198.51.100.2", "198.51.100.1", "203.0.113.1"),
                                             (b, "rx", "198.51.100.1", "198.51.100.2", "203.0.113.10")):
            p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", FORWARDER, role, "rrft0", mine,
                                  theirs, peer, crypto], stdout=subprocess.PIPE, text=True)
            procs.append(p)
            assert p.stdout.readline().strip() == "ready"
        rows = measure_runs({"tx": procs[0].pid, "rx": procs[1].pid}, a, b, "198.51.100.1", packets, rate, runs)
        return summary(rows, ("tx", "rx"))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> int:
    args = bench_parser(__doc__, topology=True).parse_args()
    if not_root("TUN, raw GRE"):
        return 1
    report_floors(args.packets, args.rate, args.runs, args.topology)
    return 0


def report_floors(packets: int, rate: float, runs: int, topology: str) -> None:
    """Measure and print both floors (no cipher, RC4 in place); also `pptp_forward.py --floor`."""
    for crypto in ("none", "rc4"):
        r = floor(crypto, packets, rate, runs, topology)
        report(f"floor ({'RC4 in place' if crypto == 'rc4' else 'no cipher'}, no engine, {topology})", r, packets,
               runs, rate, {"tx": "TUN->GRE forwarder", "rx": "GRE->TUN forwarder"}, None)


if __name__ == "__main__":
    sys.exit(main())
