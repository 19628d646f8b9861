"""Rendering data: one JSON document with ``-o json``; a table otherwise, rich on a TTY and plain aligned text in a
pipe (rich is imported only on a TTY). The same snake_case dicts feed both.

Tables fit the terminal (decision 0124): the width is ``COLUMNS`` when set, else the terminal's, else 80 (a pipe
has no terminal to ask). A table too wide first loses the columns its command named as low-value (``drop``, in
that order), then its widest columns wrap onto continuation lines; key-value objects wrap their values. Nothing
is cut to an ellipsis, and ``-o json`` always has every field.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from typing import Any, Callable, Sequence

import click

FORMATS = ("table", "json")
DEFAULT_WIDTH = 80
MIN_WRAP = 8          # a wrapped column keeps at least this many characters (or its header's width)
GAP = 2               # spaces between plain columns


def output_option(f: Callable) -> Callable:
    """``-o/--output table|json`` (env RRASCTL_OUTPUT), stored on the App before the command runs."""

    def set_output(ctx: click.Context, _param: click.Parameter, value: str) -> str:
        if ctx.obj is not None and value:
            ctx.obj.output = value
        return value

    return click.option("-o", "--output", type=click.Choice(FORMATS), default="table", envvar="RRASCTL_OUTPUT",
                        show_default=True, expose_value=False, callback=set_output, is_eager=True,
                        help="Output format (env RRASCTL_OUTPUT).")(f)


def cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(cell(x) for x in v) if v else "-"
    if isinstance(v, dict):
        return ", ".join(f"{k}={cell(x)}" for k, x in v.items())
    return str(v)


def terminal_width() -> int:
    """COLUMNS when set, else the terminal's width when stdout is one, else 80."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    if _is_tty():
        import shutil

        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=True) or [""]


ATOMIC = 21           # a column of short words (times, addresses, ports) is wrapped only as a last resort
PROSE_FLOOR = 20      # free text (cells with spaces) wraps first, down to this width


def _level(cols: list[str], widths: dict[str, int], natural: dict[str, int], floors: dict[str, int],
           limit: int, fixed: int) -> bool:
    """Cap the columns COLS at one level L (never below their floor) so that FIXED plus their widths fits LIMIT:
    the largest such L (water-filling). False when even their floors do not fit (they are then at their floors)."""
    lo, hi = 0, max(natural[c] for c in cols)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fixed + sum(max(floors[c], min(natural[c], mid)) for c in cols) <= limit:
            lo = mid
        else:
            hi = mid - 1
    for c in cols:
        widths[c] = max(floors[c], min(natural[c], lo))
    return fixed + sum(widths[c] for c in cols) <= limit


def fit(columns: Sequence[str], body: list[list[str]], limit: int, drop: Sequence[str] = (),
        overhead: Callable[[int], int] = lambda n: GAP * (n - 1)) -> tuple[list[str], dict[str, int]]:
    """The columns to show and their widths so that a table fits LIMIT: DROP's columns go first (in order) while
    the table is too wide; then columns wrap, free text first (down to PROSE_FLOOR), then long words such as
    names and host names, then, as a last resort, everything (never below MIN_WRAP or the header). BODY: rows of
    cells in COLUMNS' order. OVERHEAD(n): the separators' width for n columns."""
    index = {c: i for i, c in enumerate(columns)}
    natural = {c: max([len(c)] + [len(row[index[c]]) for row in body]) for c in columns}
    widths = dict(natural)
    cols = list(columns)

    def total() -> int:
        return sum(widths[c] for c in cols) + overhead(len(cols))

    for c in drop:
        if total() <= limit:
            break
        if c in cols and len(cols) > 1:
            cols.remove(c)
    prose = [c for c in cols if any(" " in row[index[c]] for row in body)]
    long_ = [c for c in cols if c not in prose and natural[c] > ATOMIC]
    for group, floor in ((prose, PROSE_FLOOR), (prose + long_, MIN_WRAP), (cols, MIN_WRAP)):
        if total() <= limit or not group:
            continue
        floors = {c: min(natural[c], max(floor, len(c))) for c in group}
        fixed = sum(widths[c] for c in cols if c not in group) + overhead(len(cols))
        if _level(group, widths, natural, floors, limit, fixed):
            break
    return cols, widths


TAIL_MIN = 30         # a tail column squeezed below this goes under its row instead


def layout(columns: Sequence[str], body: list[list[str]], limit: int, drop: Sequence[str] = (),
           tail: str | None = None, overhead: Callable[[int], int] = lambda n: GAP * (n - 1)
           ) -> tuple[list[str], dict[str, int], str | None]:
    """`fit`, and when TAIL (a long free-text column, e.g. a trace row's fields) would be squeezed below TAIL_MIN,
    the other columns fitted without it: (columns, widths, TAIL to print under each row, or None)."""
    cols, widths = fit(columns, body, limit, drop, overhead)
    if tail is None or tail not in columns:
        return cols, widths, None
    natural = max([len(tail)] + [len(row[list(columns).index(tail)]) for row in body])
    if tail in cols and (widths[tail] >= natural or widths[tail] >= TAIL_MIN):
        return cols, widths, None
    i = list(columns).index(tail)
    rest = [c for c in columns if c != tail]
    cols, widths = fit(rest, [row[:i] + row[i + 1:] for row in body], limit, drop, overhead)
    return cols, widths, tail


def plain_table(rows: list[dict], columns: list[str], *, width: int | None = None,
                drop: Sequence[str] = (), tail: str | None = None) -> str:
    limit = width or terminal_width()
    body = [[cell(r.get(c)) for c in columns] for r in rows]
    cols, widths, under = layout(columns, body, limit, drop, tail)
    index = {c: i for i, c in enumerate(columns)}
    indent = min(widths[cols[0]] + GAP, 8) if under else 0
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip()]
    for row in body:
        parts = [_wrap(row[index[c]], widths[c]) for c in cols]
        for i in range(max(len(p) for p in parts)):
            lines.append("  ".join((p[i] if i < len(p) else "").ljust(widths[c])
                                   for p, c in zip(parts, cols)).rstrip())
        if under and row[index[under]] not in ("", "-"):
            lines += [" " * indent + piece for piece in _wrap(row[index[under]], limit - indent)]
    return "\n".join(lines) + "\n"


def plain_object(obj: dict, *, width: int | None = None) -> str:
    if not obj:
        return ""
    limit = width or terminal_width()
    w = max(len(k) for k in obj)
    room = max(limit - w - GAP, MIN_WRAP * 2)
    out = []
    for k, v in obj.items():
        pieces = _wrap(cell(v), room)
        out.append(f"{k.ljust(w)}  {pieces[0]}".rstrip())
        out += [f"{' ' * (w + GAP)}{p}".rstrip() for p in pieces[1:]]
    return "\n".join(out) + "\n"


def _is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def emit(data: Any, fmt: str, *, columns: list[str] | None = None, title: str | None = None,
         drop: Sequence[str] = (), tail: str | None = None) -> None:
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    if isinstance(data, list) and columns is None:
        columns = list(data[0].keys()) if data else []
    if _is_tty() and not (isinstance(data, list) and _needs_tail(data, columns or [], drop, tail)):
        _rich(data, columns, title, drop)
        return
    if isinstance(data, list):
        click.echo(plain_table(data, columns or [], drop=drop, tail=tail), nl=False)
    elif isinstance(data, dict):
        click.echo(plain_object(data), nl=False)
    else:
        click.echo(cell(data))


def _needs_tail(rows: list[dict], columns: list[str], drop: Sequence[str], tail: str | None) -> bool:
    """A boxed table cannot put a column under its row: on a TTY such a table is printed as in a pipe."""
    if tail is None:
        return False
    body = [[cell(r.get(c)) for c in columns] for r in rows]
    return layout(columns, body, terminal_width(), drop, tail, overhead=lambda n: 3 * n + 1)[2] is not None


def _rich(data: Any, columns: list[str] | None, title: str | None, drop: Sequence[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(no_color=bool(os.environ.get("NO_COLOR")) or None, width=terminal_width())
    if isinstance(data, list):
        columns = list(columns or [])
        body = [[cell(r.get(c)) for c in columns] for r in data]
        # the same choice of columns as in a pipe, with the box's borders and padding counted (3 per column + 1)
        cols, widths = fit(columns, body, console.width, drop, overhead=lambda n: 3 * n + 1)
        table = Table(title=title, header_style="bold")
        for c in cols:
            table.add_column(c.upper(), width=widths[c], overflow="fold")
        index = {c: i for i, c in enumerate(columns)}
        for row in body:     # wrapped as in a pipe (at spaces and hyphens), not where rich would cut
            table.add_row(*("\n".join(_wrap(row[index[c]], widths[c])) for c in cols))
        console.print(table)
    elif isinstance(data, dict):
        table = Table(show_header=False, title=title, box=None)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for k, v in data.items():
            table.add_row(k, cell(v))
        console.print(table)
    else:
        console.print(cell(data))
