#!/usr/bin/env python3
"""PPTP forwarding cost, as a ratio to a UDP echo reference measured in the same run (issue 5, acceptance 6).

Two `rrasctl engine run` processes in two network namespaces (root) joined by one veth pair (the issue's topology;
`--topology bridge` puts the client's veth on a bridge in the server namespace, as the integration tests do): the client dials the server over PPTP
(MS-CHAP v2, MPPE-128), then a sender in the client namespace offers 1,400-byte UDP datagrams at a fixed rate to the
server's tunnel address, one way; a sink in the server namespace counts what arrives. Each engine's CPU time (user +
system, from /proc/PID/stat) divided by the packets forwarded gives its µs per packet. The reference is a UDP echo
server written the way the engine reads packets (add_reader + drain into a preallocated buffer, asyncio default loop)
answering a client that keeps 32 datagrams in flight on loopback: its CPU µs per datagram. Both run on this machine in
the same invocation, so the ratio is what to compare (research/performance.md: absolute figures are noisy). Each
process's packets per wake-up (forwarded packets / voluntary context switches of its main thread) is printed too.

    sudo .venv/bin/python bench/pptp_forward.py [--packets 100000] [--rate 20000] [--runs 5]
                                                [--modes stateful,stateless] [--floor]
                                                [--topology direct|bridge]

Targets (issue 5): <= 1.3 for MPPE-128 stateful, <= 2.8 for stateless; loss at the offered rate is reported.
The MPPE mode is chosen with the engine's RRASCTL_PPTP_MPPE=stateful|stateless (docs/decisions/0062).
Each mode dials once, then measures `--runs` times; every run is followed by its own echo reference run, and the
figures printed are medians over the runs (of µs, of ratios: each run's engine µs / the reference just after it).
Each side is pinned to its own CPU (sending engine + traffic sender on one, receiving engine + sink on the other;
the echo reference's client and server the same way); RRASCTL_BENCH_PIN=0 leaves placement to the scheduler.
`--floor` adds the syscall floor of this topology: a minimal forwarder pair (bench/dp_floor.py: TUN readv ->
enhanced GRE sendto -> recv_into -> TUN write, no engine, optionally RC4 in place), measured the same way
(docs/decisions/0065).
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

from pptp_lab import Lab, setup_pair  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
SIZE = 1400

ECHO_SERVER = r'''
import asyncio, os, socket, sys
n_expected = int(sys.argv[1])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0)); sock.setblocking(False)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
print(sock.getsockname()[1], flush=True)
buf = bytearray(65535); view = memoryview(buf)
count = 0
def on_readable():
    global count
    recv, send = sock.recvfrom_into, sock.sendto
    for _ in range(64):
        try:
            n, addr = recv(buf)
        except BlockingIOError:
            return
        send(view[:n], addr)
        count += 1
        if count >= n_expected:
            loop.stop()
loop = asyncio.new_event_loop()
loop.add_reader(sock.fileno(), on_readable)
t0 = os.times()
loop.run_forever()
t1 = os.times()
print(count, (t1.user - t0.user) + (t1.system - t0.system), flush=True)
'''

ECHO_CLIENT = r'''
import socket, sys, select
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.1", port))
payload = bytes(1400)
sent = got = 0
inflight = 0
while got < n:
    while inflight < 32 and sent < n:
        s.send(payload); sent += 1; inflight += 1
    r, _, _ = select.select([s], [], [], 1.0)
    if not r:            # a lost datagram: top the window up again
        inflight = 0
        continue
    while True:
        try:
            s.recv(65535, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        got += 1; inflight -= 1
'''

SENDER = r'''
import socket, sys, time
dst, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((dst, 5001))
payload = bytes(1400 - 28)    # a 1,400-byte IP packet: the TUN MTU, so nothing is fragmented
burst = 32
t = time.monotonic()
for i in range(0, n, burst):
    for _ in range(min(burst, n - i)):
        try:
            s.send(payload)
        except OSError:
            pass
    t += burst / rate
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)
print(n)
'''

SINK = r'''
import socket, sys, select
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((sys.argv[1], 5001))
print("ready", flush=True)
got = 0
idle = float(sys.argv[2])
while True:
    r, _, _ = select.select([s], [], [], idle if got else 60.0)
    if not r:
        break
    while True:
        try:
            s.recv(65535, socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
        got += 1
print(got, flush=True)
'''


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wakeups(pid: int) -> int:
    """Voluntary context switches of the process's main thread: each is one sleep in the event loop's epoll_wait,
    so the difference over a run counts its wake-ups."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split(":")[1])
    return 0


def cpu_layout(pin: bool) -> tuple[int, int] | None:
    """Two CPUs for the two sides of every measurement, or None (no pinning: the scheduler places everything).
    Pinned, each side is one "machine": the sending engine and the traffic sender share CPU A, the receiving engine
    and the sink CPU B; the echo reference the same way: its client on A, the echo server on B
    (docs/decisions/0067). Unpinned, the scheduler's placement changes from one invocation to the next, and with
    it the wake-ups and the figures (1.0x to 1.6x for the same engine)."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if pin and len(cpus) >= 2 else None


def _on(cpu: int | None):
    """preexec_fn pinning a child to `cpu` (None: leave it to the scheduler)."""
    return None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))


def echo_reference(n: int, layout: tuple[int, int] | None = None) -> float:
    """CPU µs per datagram of the add_reader + drain UDP echo server (client on CPU A, server on B if pinned)."""
    a, b = layout or (None, None)
    srv = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(n)], stdout=subprocess.PIPE, text=True,
                           preexec_fn=_on(b))
    port = srv.stdout.readline().strip()
    subprocess.run([sys.executable, "-c", ECHO_CLIENT, port, str(n)], check=True, timeout=600, preexec_fn=_on(a))
    count, cpu = srv.stdout.readline().split()
    srv.wait(30)
    return float(cpu) / int(count) * 1e6


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def measure_runs(pids: dict[str, int], send_ns: str, sink_ns: str, dst: str, packets: int, rate: float,
                 runs: int, pin: bool | None = None) -> list[dict[str, float]]:
    """`runs` measurements of the processes in `pids` forwarding `packets` datagrams offered at `rate` from
    `send_ns` to the sink on `dst` in `sink_ns`; each followed by an echo reference run ("ref"). The first process
    in `pids` is the sending side, the second the receiving side (`cpu_layout`)."""
    layout = cpu_layout(os.environ.get("RRASCTL_BENCH_PIN", "1") != "0" if pin is None else pin)
    a, b = layout or (None, None)
    if layout is not None:
        for pid, cpu in zip(pids.values(), layout):
            os.sched_setaffinity(pid, {cpu})
    out = []
    for i in range(runs + 1):                     # run 0 warms up (ARP, caches) and is not counted
        n = 2000 if i == 0 else packets
        sink = subprocess.Popen(["ip", "netns", "exec", sink_ns, sys.executable, "-c", SINK, dst, "1.0"],
                                stdout=subprocess.PIPE, text=True, preexec_fn=_on(b))
        assert sink.stdout.readline().strip() == "ready"
        before = {k: cpu_s(p) for k, p in pids.items()}
        woke = {k: wakeups(p) for k, p in pids.items()}
        subprocess.run(["ip", "netns", "exec", send_ns, sys.executable, "-c", SENDER, dst, str(n), str(rate)],
                       check=True, capture_output=True, timeout=3600, preexec_fn=_on(a))
        received = int(sink.stdout.readline())
        sink.wait(10)
        after = {k: cpu_s(p) for k, p in pids.items()}
        woke = {k: wakeups(p) - woke[k] for k, p in pids.items()}
        if i == 0:
            continue
        fwd = max(received, 1)
        row = {k: (after[k] - before[k]) / fwd * 1e6 for k in pids}
        row.update({k + "_wake": fwd / max(woke[k], 1) for k in pids})
        row.update(received=received, loss=1 - received / n, ref=echo_reference(max(packets, 100_000), layout))
        out.append(row)
    return out


def summary(rows: list[dict[str, float]], keys: tuple[str, ...]) -> dict[str, float]:
    """Medians over the runs: µs per key, ratio per key (each run against its own reference), loss, reference."""
    res = {"ref": median([r["ref"] for r in rows]), "loss": median([r["loss"] for r in rows]),
           "received": sum(r["received"] for r in rows)}
    for k in keys:
        res[k] = median([r[k] for r in rows])
        res[k + "_x"] = median([r[k] / r["ref"] for r in rows])
        res[k + "_spread"] = max(r[k] / r["ref"] for r in rows) - min(r[k] / r["ref"] for r in rows)
        res[k + "_wake"] = median([r[k + "_wake"] for r in rows])
    return res


def forward(mode: str, packets: int, rate: float, runs: int, tmp: Path, topology: str = "direct"
            ) -> dict[str, float]:
    lab = Lab(tmp / mode, f"b{os.getpid() % 100000}{mode[:3]}", direct=topology == "direct")
    try:
        (c,) = setup_pair(lab)
        env = {"RRASCTL_PPTP_MPPE": mode}
        lab.server.start(extra_env=env)
        c.start(extra_env=env)
        res = c.cli("demand-dial", "connect", "hq", timeout=90)
        if res.returncode != 0:
            raise SystemExit(f"connect failed: {res.stderr}")
        row = lab.server.connections()[0]
        details = lab.server.json("connections", "show", str(row["id"])).get("details", {})
        enc = f"{row['encryption']} {details.get('mppe', '?')}"
        rows = measure_runs({"client": c.proc.pid, "server": lab.server.proc.pid}, c.ns, lab.server_ns,
                            "10.87.0.1", packets, rate, runs)
        return dict(summary(rows, ("client", "server")), encryption=enc)
    finally:
        lab.close()


def report(label: str, r: dict[str, float], packets: int, runs: int, rate: float, names: dict[str, str],
           target: float | None) -> None:
    worst = max(r[k + "_x"] for k in names)
    verdict = "" if target is None else f" (target <= {target:.1f}x: {'met' if worst <= target else 'NOT met'})"
    parts = [f"{name} {r[k]:.2f} us/pkt = {r[k + '_x']:.2f}x (spread {r[k + '_spread']:.2f}, "
             f"{r[k + '_wake']:.1f} pkts/wake-up)" for k, name in names.items()]
    print(f"{label}: {runs} x {packets} offered at {rate:.0f}/s, forwarded {r['received']} (median loss "
          f"{r['loss'] * 100:.2f} %); reference {r['ref']:.2f} us; " + "; ".join(parts) + verdict, flush=True)


def bench_parser(doc: str, *, topology: bool = False) -> argparse.ArgumentParser:
    """The options every forwarding bench takes (bench/pptp_forward.py, l2tp_forward.py, dp_floor.py)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=100_000, help="datagrams offered per run")
    ap.add_argument("--rate", type=float, default=20_000.0, help="offered datagrams per second")
    ap.add_argument("--runs", type=int, default=5, help="measured runs (medians are reported)")
    if topology:
        ap.add_argument("--topology", choices=("direct", "bridge"), default="direct",
                        help="one veth pair between the namespaces (default), or the client's veth on a bridge")
    return ap


def not_root(what: str) -> bool:
    """True (after saying so) when not root: the benches need namespaces and `what`."""
    if os.geteuid() == 0:
        return False
    print(f"needs root (network namespaces, {what})", file=sys.stderr)
    return True


def main() -> int:
    ap = bench_parser(__doc__, topology=True)
    ap.add_argument("--modes", default="stateful,stateless")
    ap.add_argument("--floor", action="store_true", help="also measure the minimal forwarder floor")
    args = ap.parse_args()
    if not_root("TUN, raw GRE"):
        return 1
    targets = {"stateful": 1.3, "stateless": 2.8}
    names = {"client": "sender engine (TUN->GRE)", "server": "receiver engine (GRE->TUN)"}
    with tempfile.TemporaryDirectory(prefix="rrasctl-bench-") as tmp:
        for mode in args.modes.split(","):
            r = forward(mode, args.packets, args.rate, args.runs, Path(tmp), args.topology)
            report(f"{mode:9s} {r['encryption']} ({args.topology})", r, args.packets, args.runs, args.rate, names, targets.get(mode))
    if args.floor:
        from dp_floor import report_floors
        report_floors(args.packets, args.rate, args.runs, args.topology)
    return 0


if __name__ == "__main__":
    sys.exit(main())
