"""Settings the CLI accepts that this engine cannot honour yet (SPEC §6: honoured, or refused with a clear message;
never stored and silently ignored). Decision 0121.

`unsupported(config)` lists them; `engine run` refuses to start and `engine reload` refuses the new configuration
while the list is not empty (engine/run.py `load_config`), and `auth set` warns when it stores one. Pure: reads the
Config only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rrasctl.errors import ValidationError


@dataclass(frozen=True)
class Unsupported:
    key: str          # the configuration key, as validation names keys
    value: str
    why: str          # what the engine would do instead of honouring it
    fix: str          # the command that makes the configuration one the engine honours


def unsupported(config: Any) -> list[Unsupported]:
    """The settings of CONFIG this engine cannot honour, in a stable order (empty: it honours them all)."""
    auth = config.auth
    out = []
    if auth.provider == "radius":
        out.append(Unsupported("auth.provider", "radius",
                               "RADIUS authentication is not available in this engine yet: it would check every "
                               "caller against the local users instead", "rrasctl auth set --provider local"))
    if auth.accounting == "radius":
        out.append(Unsupported("auth.accounting", "radius",
                               "RADIUS accounting is not available in this engine yet: nothing would reach the "
                               "RADIUS server", "rrasctl auth set --accounting local"))
    if auth.methods and all(m == "eap-tls" for m in auth.methods):
        out.append(Unsupported("auth.methods", "eap-tls",
                               "EAP-TLS is not available in this engine yet, and no other method is allowed: no "
                               "caller could authenticate", "rrasctl auth set --methods ms-chap-v2"))
    return out


def describe(item: Unsupported) -> str:
    return f"{item.key} is {item.value}, but {item.why}"


def check(config: Any, *, doing: str = "start") -> None:
    """Raise ValidationError (exit 2) naming every unsupported setting and what to do, or return."""
    items = unsupported(config)
    if not items:
        return
    raise ValidationError(f"the engine cannot {doing} with this configuration: "
                          + "; ".join(describe(i) for i in items),
                          hint="; ".join(i.fix for i in items))
