#!/usr/bin/env python3
"""Clear L2TP forwarding cost, as a ratio to a UDP echo reference measured in the same run (issue 6, acceptance 6).

Two `rrasctl engine run` processes in two network namespaces (root): the LAC dials the LNS over plain L2TP
(MS-CHAP v2, no encryption), then a sender in the LAC namespace offers 1,400-byte IP packets at a fixed rate to the
LNS's tunnel address, one way; a sink in the LNS namespace counts what arrives. Each engine's CPU time (user +
system, /proc/PID/stat) divided by the packets forwarded gives its µs per packet: the LAC's is TUN -> L2TP/UDP, the
LNS's UDP -> L2TP -> TUN. The reference is the same UDP echo server as bench/pptp_forward.py (add_reader + drain,
asyncio default loop; shared code, imported from there): its CPU µs per datagram in this run.

    sudo .venv/bin/python bench/l2tp_forward.py [--packets 100000] [--rate 20000]

Target (issue 6): <= 1.2 x the reference; loss at the offered rate is reported.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from l2tp_netns import Lab  # noqa: E402
from pptp_forward import SENDER, SINK, SIZE, cpu_s, echo_reference  # noqa: E402

TARGET = 1.2


def forward(packets: int, rate: float, tmp: Path) -> dict[str, float]:
    with Lab(tmp, f"bn{os.getpid() % 1000}") as lab:
        lab.configure("ms-chap-v2")
        lab.a.start()
        lab.b.start()
        res = lab.b.cli("demand-dial", "connect", "hq", check=False, timeout=90)
        if res.returncode != 0:
            raise SystemExit(f"connect failed: {res.stderr}")
        sink = subprocess.Popen(["ip", "netns", "exec", lab.a.name, sys.executable, "-c", SINK, "198.51.100.1",
                                 "1.0"], stdout=subprocess.PIPE, text=True)
        assert sink.stdout.readline().strip() == "ready"
        subprocess.run(["ip", "netns", "exec", lab.b.name, sys.executable, "-c", SENDER, "198.51.100.1", "2000",
                        str(rate)], check=True, capture_output=True)
        pids = {"lac": lab.b.proc.pid, "lns": lab.a.proc.pid}
        before = {k: cpu_s(p) for k, p in pids.items()}
        subprocess.run(["ip", "netns", "exec", lab.b.name, sys.executable, "-c", SENDER, "198.51.100.1",
                        str(packets), str(rate)], check=True, capture_output=True, timeout=3600)
        received = int(sink.stdout.readline()) - 2000
        sink.wait(10)
        after = {k: cpu_s(p) for k, p in pids.items()}
        fwd = max(received, 1)
        return {"received": received, "loss": 1 - received / packets,
                "lac_us": (after["lac"] - before["lac"]) / fwd * 1e6,
                "lns_us": (after["lns"] - before["lns"]) / fwd * 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--rate", type=float, default=20_000.0, help="offered datagrams per second")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces, TUN)", file=sys.stderr)
        return 1
    ref = echo_reference(max(args.packets, 100_000))
    print(f"reference: UDP echo (add_reader + drain), {SIZE}-byte datagrams: {ref:.2f} CPU us/datagram")
    with tempfile.TemporaryDirectory(prefix="rrasctl-bench-") as tmp:
        r = forward(args.packets, args.rate, Path(tmp))
    worst = max(r["lac_us"], r["lns_us"]) / ref
    print(f"clear L2TP: offered {args.packets} at {args.rate:.0f}/s, forwarded {r['received']} "
          f"(loss {r['loss'] * 100:.2f} %); LAC (TUN->UDP) {r['lac_us']:.2f} us/pkt = {r['lac_us'] / ref:.2f}x, "
          f"LNS (UDP->TUN) {r['lns_us']:.2f} us/pkt = {r['lns_us'] / ref:.2f}x "
          f"(target <= {TARGET:.1f}x: {'met' if worst <= TARGET else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
