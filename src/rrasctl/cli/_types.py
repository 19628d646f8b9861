"""Click parameter types that reuse the model's validators, so a bad value exits 2 naming it before anything is
read or written."""

from __future__ import annotations

from typing import Any, Callable

import click

from rrasctl.config import model
from rrasctl.errors import ValidationError


class _ModelType(click.ParamType):
    def __init__(self, name: str, conv: Callable[[str, Any], Any], *, empty_ok: bool = False) -> None:
        self.name = name
        self._conv = conv
        self._empty_ok = empty_ok

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if value == "" and self._empty_ok:
            return ""
        try:
            return self._conv("value", value)
        except ValidationError as e:
            self.fail(e.message.removeprefix("value: "), param, ctx)


class CommaList(click.ParamType):
    """A comma-separated list of choices: ``--methods ms-chap,ms-chap-v2``. An empty string is an empty list."""

    def __init__(self, choices: tuple[str, ...] | None = None, item: Callable[[str, Any], Any] | None = None,
                 name: str = "LIST") -> None:
        self.choices, self.item, self.name = choices, item, name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        items = [x.strip() for x in str(value).split(",") if x.strip()]
        out = []
        for x in items:
            if self.choices is not None and x not in self.choices:
                self.fail(f"{x!r} is not one of {', '.join(self.choices)}", param, ctx)
            if self.item is not None:
                try:
                    x = self.item("value", x)
                except ValidationError as e:
                    self.fail(e.message.removeprefix("value: "), param, ctx)
            if x in out:
                self.fail(f"{x!r} is given twice", param, ctx)
            out.append(x)
        return tuple(out)


def _route(key: str, v: str) -> model.Route:
    return model.route(key, v)


CIDR = _ModelType("CIDR", model.cidr)
CIDR_OR_EMPTY = _ModelType("CIDR", model.cidr, empty_ok=True)
IP = _ModelType("IP", model.ip_address)
IP_OR_EMPTY = _ModelType("IP", model.ip_address, empty_ok=True)
NAME = _ModelType("NAME", model.name)
HOST = _ModelType("HOST", model.host)
HOURS = _ModelType("SPEC", model.hours, empty_ok=True)
ROUTE = _ModelType("CIDR[/METRIC]", _route)
RADIUS = _ModelType("HOST[:PORT]", model.radius_server)
TUN = _ModelType("NAME", model.tun_name)
METHODS = CommaList(model.METHODS, name="METHODS")
LEVELS = CommaList(model.ENCRYPTION_LEVELS, name="LEVELS")
TUNNELS = CommaList(model.TUNNEL_TYPES, name="TUNNELS")
IPS = CommaList(item=model.ip_address, name="IPS")
CIDRS = CommaList(item=model.cidr, name="CIDRS")
NAMES = CommaList(item=model.name, name="NAMES")
PROTOCOL = click.Choice(model.PROTOCOLS)


def if_exists_option(what: str):
    """`--if-exists fail|update` for an add command (decision 0126): update gives an existing WHAT exactly the
    settings of the command, keeping its secret unless a new one is given; `dump` writes it."""
    return click.option("--if-exists", type=click.Choice(["fail", "update"]), default="fail", show_default=True,
                        help=f"If the {what} exists: fail (exit 4), or update it to exactly these settings (its "
                             "password kept unless one is given).")


class _ListenOrOff(click.ParamType):
    """HOST:PORT (a bare PORT = 127.0.0.1:PORT), or "off"."""

    name = "HOST:PORT|off"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if value.strip().lower() in ("off", "none", ""):
            return "off"
        try:
            return model.listen_address("value", value)
        except ValidationError as e:
            self.fail(e.message.removeprefix("value: "), param, ctx)


class _OnOff(click.ParamType):
    name = "on|off"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, bool):
            return value
        v = str(value).strip().lower()
        if v in ("on", "yes", "true", "1"):
            return True
        if v in ("off", "no", "false", "0"):
            return False
        self.fail(f"{value!r} is not on or off", param, ctx)


LISTEN_OR_OFF = _ListenOrOff()
ON_OFF = _OnOff()
