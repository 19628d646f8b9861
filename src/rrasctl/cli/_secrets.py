"""Reading secrets: from a hidden prompt or from stdin (``--password-stdin``, ``--psk-stdin``, ``--secret-stdin``),
never from a plain command-line argument, which ``ps`` would show (SPEC §2)."""

from __future__ import annotations

import sys

import click

from rrasctl.errors import ValidationError


def from_stdin(what: str) -> str:
    """One secret from stdin: everything up to EOF, minus one trailing newline."""
    data = sys.stdin.read()
    if data.endswith("\r\n"):
        data = data[:-2]
    elif data.endswith("\n"):
        data = data[:-1]
    if not data:
        raise ValidationError(f"{what}: nothing was read from stdin")
    if "\n" in data:
        raise ValidationError(f"{what}: stdin held more than one line")
    return data


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def prompt(what: str) -> str:
    """A hidden prompt, asked twice; refused when there is no terminal."""
    if not stdin_is_tty():
        raise ValidationError(f"{what}: no terminal to prompt on", hint="pipe it in with the matching --*-stdin option")
    value = click.prompt(what.capitalize(), hide_input=True, confirmation_prompt=True, err=True)
    if not value:
        raise ValidationError(f"{what}: empty")
    return value


def read(what: str, *, stdin: bool, ask: bool) -> str | None:
    """The secret from stdin when STDIN, from a hidden prompt when ASK, else None."""
    if stdin:
        return from_stdin(what)
    if ask:
        return prompt(what)
    return None
