"""Rendering data: one JSON document with ``-o json``; a table otherwise, rich on a TTY and plain aligned text in a
pipe (rich is imported only on a TTY). The same snake_case dicts feed both."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click

FORMATS = ("table", "json")


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


def plain_table(rows: list[dict], columns: list[str]) -> str:
    head = [c.upper() for c in columns]
    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head, *body]]
    return "\n".join(lines) + "\n"


def plain_object(obj: dict) -> str:
    if not obj:
        return ""
    w = max(len(k) for k in obj)
    return "".join(f"{k.ljust(w)}  {cell(v)}\n" for k, v in obj.items())


def _is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def emit(data: Any, fmt: str, *, columns: list[str] | None = None, title: str | None = None) -> None:
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
        return
    if isinstance(data, list) and columns is None:
        columns = list(data[0].keys()) if data else []
    if _is_tty():
        _rich(data, columns, title)
        return
    if isinstance(data, list):
        click.echo(plain_table(data, columns or []), nl=False)
    elif isinstance(data, dict):
        click.echo(plain_object(data), nl=False)
    else:
        click.echo(cell(data))


def _rich(data: Any, columns: list[str] | None, title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(no_color=bool(os.environ.get("NO_COLOR")) or None)
    if isinstance(data, list):
        table = Table(title=title, header_style="bold")
        for c in columns or []:
            table.add_column(c.upper())
        for r in data:
            table.add_row(*(cell(r.get(c)) for c in columns or []))
        console.print(table)
    elif isinstance(data, dict):
        table = Table(show_header=False, title=title, box=None)
        table.add_column(style="bold")
        table.add_column()
        for k, v in data.items():
            table.add_row(k, cell(v))
        console.print(table)
    else:
        console.print(cell(data))
