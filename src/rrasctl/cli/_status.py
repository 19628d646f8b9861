"""`engine status` as text: everything the JSON has, grouped under headings, at most 80 columns (no rich needed).

The summary comes first (who, what edition, how many connections), then one section per group of the JSON object:
listeners, ports, tun, address pool, metrics, event loop, counters, drivers (with their offload figures), timers,
notes, pending restart. Any key this renderer does not know yet still appears, under "other", so nothing the engine reports is lost.
"""

from __future__ import annotations

import textwrap
from typing import Any

WIDTH = 80
SUMMARY = ("running", "pid", "version", "started", "uptime_s", "edition", "max_concurrent", "inbound", "sessions",
           "config", "socket", "state_dir")
SECTIONS = (("listeners", "listeners"), ("ports", "ports"), ("tun", "TUN device"), ("address_pool", "address pool"),
            ("metrics", "metrics"), ("event_loop", "event loop"), ("counters", "counters"), ("drivers", "drivers"),
            ("timers", "timers"), ("notes", "notes"), ("pending_restart", "pending restart"))


def duration(seconds: Any) -> str:
    try:
        s = int(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + (f"{h}h{m:02d}m" if d or h else f"{m}m{s:02d}s")


def scalar(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _line(label: str, value: str, indent: int, label_w: int) -> list[str]:
    head = " " * indent + label.ljust(label_w) + "  "
    body = textwrap.wrap(value, width=max(20, WIDTH - len(head)), break_long_words=True,
                         break_on_hyphens=False) or [""]
    return [head + body[0]] + [" " * len(head) + b for b in body[1:]]


def _tree(obj: dict[str, Any], indent: int) -> list[str]:
    """key/value lines; a nested dict of scalars goes on one wrapped line, deeper ones get their own block."""
    out: list[str] = []
    if not obj:
        return [" " * indent + "(none)"]
    w = min(22, max(len(str(k)) for k in obj))
    for k, v in obj.items():
        if isinstance(v, dict) and v and any(isinstance(x, (dict, list)) for x in v.values()):
            out.append(" " * indent + str(k))
            out += _tree(v, indent + 2)
        elif isinstance(v, dict):
            text = ", ".join(f"{a} {scalar(b)}" for a, b in v.items()) if v else "-"
            out += _line(str(k), text, indent, w)
        elif isinstance(v, list):
            text = ", ".join(scalar(x) if not isinstance(x, dict) else ", ".join(
                f"{a} {scalar(b)}" for a, b in x.items()) for x in v) or "-"
            out += _line(str(k), text, indent, w)
        else:
            out += _line(str(k), scalar(v), indent, w)
    return out


def _ports(rows: list[dict[str, Any]]) -> list[str]:
    cols = ["protocol", "count", "in_use", "remote_access", "demand_dial", "available"]
    extra = [c for r in rows for c in r if c not in cols]
    cols += list(dict.fromkeys(extra))
    table = [[c.upper() for c in cols]] + [[scalar(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(*table)]
    return ["  " + "  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in table]


def _pending(rows: list[Any]) -> list[str]:
    """Saved settings the engine applies when it next starts (decision 0122): the key, both values, and why."""
    if not rows:
        return ["  (none)"]
    out: list[str] = []
    for p in rows:
        if not isinstance(p, dict):
            out += _line(scalar(p), "", 2, 0)
            continue
        out += _line(str(p.get("key")), f"running {scalar(p.get('running'))}, saved {scalar(p.get('saved'))}", 2,
                     len(str(p.get("key"))))
        if p.get("why"):
            body = textwrap.wrap(f"why: {p['why']}", width=WIDTH - 4) or [""]
            out += ["    " + b for b in body]
    return out


def render(st: dict[str, Any]) -> str:
    lines: list[str] = []
    cap = st.get("max_concurrent")
    for head in (f"engine running, pid {scalar(st.get('pid'))}, version {scalar(st.get('version'))}, "
                 f"up {duration(st.get('uptime_s'))} (since {scalar(st.get('started'))})",
                 f"{scalar(st.get('edition'))} edition: {scalar(st.get('inbound'))} inbound of "
                 f"{'no edition cap' if cap is None else cap}; {scalar(st.get('sessions'))} connections in all"):
        lines += textwrap.wrap(head, width=WIDTH, subsequent_indent="  ")
    for k in ("config", "socket", "state_dir"):
        lines += _line(k.replace("_", " "), scalar(st.get(k)), 2, 9)
    for key, title in SECTIONS:
        if key not in st:
            continue
        v = st[key]
        lines += ["", title.upper()]
        if key == "ports" and isinstance(v, list):
            lines += _ports(v)
        elif key == "notes":
            for n in v or ["(none)"]:
                body = textwrap.wrap(str(n), width=WIDTH - 4) or [""]
                lines += ["  - " + body[0]] + ["    " + b for b in body[1:]]
        elif key == "pending_restart" and isinstance(v, list):
            lines += _pending(v)
        elif isinstance(v, dict):
            lines += _tree(v, 2)
        else:
            lines += _line(key, scalar(v), 2, len(key))
    other = {k: v for k, v in st.items() if k not in SUMMARY and k not in dict(SECTIONS)}
    if other:
        lines += ["", "OTHER"] + _tree(other, 2)
    return "\n".join(lines) + "\n"
