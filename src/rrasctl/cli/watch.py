"""`rrasctl connections watch`: who is connected and how much flows, refreshed every second (like `top`).

Rates come from successive `connections.list` snapshots (bytes_in/bytes_out per connection id, over the time
between the two answers); the header adds totals and the refusals of the last minute (`connections.refusals`).
On a terminal: a rich live table in the alternate screen, `q` or Ctrl-C quits and the terminal is restored. In a
pipe: plain snapshots separated by a blank line, `--count N` of them (default: until interrupted).

Imported by the command only (rich, termios and the control client are loaded here, never at CLI start-up).
"""

from __future__ import annotations

import calendar
import os
import select
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

WIDTH = 80
REFUSAL_WINDOW_S = 60.0
# (title, key, width, align): 3+10+4+15+10+8+8+7+7 plus 8 single spaces = 80 columns
COLUMNS = (("ID", "id", 3, ">"), ("USER", "user", 10, "<"), ("PROT", "protocol", 4, "<"), ("PEER", "peer", 15, "<"),
           ("AUTH", "auth", 10, "<"), ("ENC", "encryption", 8, "<"), ("UP", "duration", 8, ">"),
           ("IN/s", "rate_in", 7, ">"), ("OUT/s", "rate_out", 7, ">"))


def iso_to_epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except (TypeError, ValueError):
        return None


def si(value: float, unit: str = "") -> str:
    """1234567 -> "1.23M" (at most 6 characters for values below 1000 T)."""
    v = float(value)
    for prefix in ("", "k", "M", "G", "T"):
        if abs(v) < 1000 or prefix == "T":
            if prefix == "":
                return f"{v:.0f}{unit}"
            return (f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}") + prefix + unit
        v /= 1000
    return f"{v:.0f}T{unit}"  # pragma: no cover - the loop returns


def hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h}:{m:02d}:{s:02d}" if h < 1000 else f"{h // 24}d"


def fit(text: Any, width: int) -> str:
    t = "-" if text is None or text == "" else str(text)
    return t if len(t) <= width else t[: width - 1] + "…"


@dataclass
class Snapshot:
    at: float                                   # monotonic time of the answer
    wall: float                                 # wall clock (durations, the refusal window)
    rows: list[dict[str, Any]]
    refusals: list[dict[str, Any]]


class Rates:
    """Per-connection rates between successive snapshots (bits per second)."""

    def __init__(self) -> None:
        self._last: dict[Any, tuple[float, int, int]] = {}

    def view(self, snap: Snapshot) -> list[dict[str, Any]]:
        out = []
        seen: dict[Any, tuple[float, int, int]] = {}
        for r in snap.rows:
            bi, bo = int(r.get("bytes_in") or 0), int(r.get("bytes_out") or 0)
            prev = self._last.get(r.get("id"))
            rate_in = rate_out = None
            if prev is not None and snap.at > prev[0] and bi >= prev[1] and bo >= prev[2]:
                dt = snap.at - prev[0]
                rate_in, rate_out = (bi - prev[1]) * 8 / dt, (bo - prev[2]) * 8 / dt
            seen[r.get("id")] = (snap.at, bi, bo)
            started = iso_to_epoch(r.get("started"))
            peer = str(r.get("peer") or "")
            out.append({**r, "user": r.get("user") or r.get("interface"), "peer": peer.rsplit(":", 1)[0]
                        if peer.count(":") == 1 else peer, "duration": None if started is None else snap.wall - started,
                        "rate_in": rate_in, "rate_out": rate_out})
        self._last = seen
        out.sort(key=lambda r: (-((r["rate_in"] or 0) + (r["rate_out"] or 0)), r.get("id") or 0))
        return out


def header(view: list[dict[str, Any]], snap: Snapshot, interval: float) -> list[str]:
    per: dict[str, int] = {}
    for r in view:
        per[str(r.get("protocol"))] = per.get(str(r.get("protocol")), 0) + 1
    n = len(view)
    conns = f"{n} connection{'s' if n != 1 else ''}" + (f" ({', '.join(f'{p} {c}' for p, c in sorted(per.items()))})"
                                                        if per else "")
    rin = sum(r["rate_in"] or 0 for r in view)
    rout = sum(r["rate_out"] or 0 for r in view)
    bin_ = sum(int(r.get("bytes_in") or 0) for r in view)
    bout = sum(int(r.get("bytes_out") or 0) for r in view)
    recent = sum(1 for x in snap.refusals
                 if (t := iso_to_epoch(x.get("time"))) is not None and t >= snap.wall - REFUSAL_WINDOW_S)
    stamp = time.strftime("%H:%M:%S", time.localtime(snap.wall))
    return [fit(f"rrasctl connections watch   {stamp}   every {interval:g} s   (rates in bits/s)", WIDTH),
            fit(f"{conns}   in {si(rin, 'b/s')}   out {si(rout, 'b/s')}", WIDTH),
            fit(f"transferred in {si(bin_, 'B')} out {si(bout, 'B')}   refused in the last minute: {recent}", WIDTH)]


def cells(r: dict[str, Any]) -> list[str]:
    out = []
    for _, key, width, _ in COLUMNS:
        v = r.get(key)
        if key == "duration":
            v = hms(v)
        elif key in ("rate_in", "rate_out"):
            v = "-" if v is None else si(v)
        out.append(fit(v, width))
    return out


def plain_frame(view: list[dict[str, Any]], snap: Snapshot, interval: float) -> str:
    lines = header(view, snap, interval)
    fmt = " ".join(f"{{:{a}{w}}}" for _, _, w, a in COLUMNS)
    lines.append(fmt.format(*(t for t, _, _, _ in COLUMNS)).rstrip())
    for r in view:
        lines.append(fmt.format(*cells(r)).rstrip())
    if not view:
        lines.append("(no connections)")
    return "\n".join(lines) + "\n"


def rich_frame(view: list[dict[str, Any]], snap: Snapshot, interval: float) -> Any:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, header_style="bold", expand=False,
                  show_edge=False, collapse_padding=True)
    for title, _, width, align in COLUMNS:
        table.add_column(title, justify="right" if align == ">" else "left", width=width, no_wrap=True,
                         overflow="ellipsis")
    for r in view:
        table.add_row(*cells(r))
    head = header(view, snap, interval)
    body: list[Any] = [Text(head[0], style="bold"), Text(head[1]), Text(head[2]), table]
    if not view:
        body.append(Text("(no connections)"))
    body.append(Text("q quits", style="dim"))
    return Group(*body)


def fetch(call: Callable[[str], Any]) -> Snapshot:
    rows = call("connections.list") or []
    refusals = call("connections.refusals") or []
    return Snapshot(at=time.monotonic(), wall=time.time(), rows=list(rows), refusals=list(refusals))


def run_plain(call: Callable[[str], Any], interval: float, count: int | None, out: Any = None) -> None:
    out = out or sys.stdout
    rates = Rates()
    n = 0
    while True:
        snap = fetch(call)
        frame = plain_frame(rates.view(snap), snap, interval)
        out.write(("\n" if n else "") + frame)
        out.flush()
        n += 1
        if count is not None and n >= count:
            return
        select.select([], [], [], interval)     # wait out the interval (the CLI's own pacing, not a test's)


def run_tty(call: Callable[[str], Any], interval: float, count: int | None) -> None:
    """The live view. Keys are read in cbreak mode from stdin when it is a terminal; the mode is restored on exit."""
    import termios
    import tty

    from rich.console import Console
    from rich.live import Live

    console = Console(no_color=bool(os.environ.get("NO_COLOR")) or None)
    fd = sys.stdin.fileno() if sys.stdin.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None
    rates = Rates()
    try:
        if fd is not None:
            tty.setcbreak(fd)
        with Live(console=console, screen=True, auto_refresh=False, transient=False) as live:
            n = 0
            while True:
                snap = fetch(call)
                live.update(rich_frame(rates.view(snap), snap, interval), refresh=True)
                n += 1
                if count is not None and n >= count:
                    return
                if wait_for_quit(fd, interval):
                    return
    except KeyboardInterrupt:
        return
    finally:
        if fd is not None and saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def wait_for_quit(fd: int | None, interval: float) -> bool:
    """Wait up to `interval` seconds; True when q (or Q) was pressed."""
    deadline = time.monotonic() + interval
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd] if fd is not None else [], [], [], left)
        if ready:
            data = os.read(fd, 64)
            if not data or b"q" in data.lower():
                return True
