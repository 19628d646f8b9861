#!/usr/bin/env python3
"""Clear L2TP forwarding cost, as a ratio to a UDP echo reference measured in the same run (issue 6, acceptance 6).

Two `rrasctl engine run` processes in two network namespaces (root): the LAC dials the LNS over plain L2TP
(MS-CHAP v2, no encryption), then a sender in the LAC namespace offers 1,400-byte IP packets at a fixed rate to the
LNS's tunnel address, one way; a sink in the LNS namespace counts what arrives. Each engine's CPU time (user +
system, /proc/PID/stat) divided by the packets forwarded gives its µs per packet: the LAC's is TUN -> L2TP/UDP, the
LNS's UDP -> L2TP -> TUN. The reference is the same UDP echo server as bench/pptp_forward.py (add_reader + drain,
asyncio default loop; shared code, imported from there): its CPU µs per datagram in this run.

    sudo .venv/bin/python bench/l2tp_forward.py [--packets 100000] [--rate 20000] [--runs 5]

Target (issue 6): <= 1.2 x the reference; loss at the offered rate is reported. The LAC dials once, then `--runs`
measurements, each followed by its own echo reference run; the figures are medians over the runs (of µs, and of
each run's ratio to the reference measured just after it), as bench/pptp_forward.py. bench/dp_floor.py gives the
floor of this kind of hop (TUN readv + one send per packet) on the same machine. As there, each side runs on its
own CPU (LAC + traffic sender on one, LNS + sink on the other, the echo reference's client and server likewise);
RRASCTL_BENCH_PIN=0 leaves placement to the scheduler (docs/decisions/0067). RRASCTL_L2TP_OFFLOAD=none in the
environment turns the engines' UDP GSO/GRO off, for the before/after figure.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from l2tp_netns import Lab  # noqa: E402
from pptp_forward import bench_parser, measure_runs, not_root, report, summary  # noqa: E402

TARGET = 1.2


def forward(packets: int, rate: float, runs: int, tmp: Path) -> dict[str, float]:
    with Lab(tmp, f"bn{os.getpid() % 1000}") as lab:
        lab.configure("ms-chap-v2")
        lab.a.start()
        lab.b.start()
        res = lab.b.cli("demand-dial", "connect", "hq", check=False, timeout=90)
        if res.returncode != 0:
            raise SystemExit(f"connect failed: {res.stderr}")
        rows = measure_runs({"lac": lab.b.proc.pid, "lns": lab.a.proc.pid}, lab.b.name, lab.a.name,
                            "198.51.100.1", packets, rate, runs)
        return summary(rows, ("lac", "lns"))


def main() -> int:
    args = bench_parser(__doc__).parse_args()
    if not_root("TUN"):
        return 1
    with tempfile.TemporaryDirectory(prefix="rrasctl-bench-") as tmp:
        r = forward(args.packets, args.rate, args.runs, Path(tmp))
    report("clear L2TP", r, args.packets, args.runs, args.rate,
           {"lac": "LAC (TUN->UDP)", "lns": "LNS (UDP->TUN)"}, TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
