"""Weak choices named where an operator looks (issue 13, hole 12; docs/decisions/0147-weak-choices-named.md).

Pure functions over the configuration: `auth show` marks the weak methods and encryption levels, and the engine's
start-up log and `engine status` (`ctx.notes`) carry `pptp_notes(config)` while PPTP is enabled (its pool has
ports).
"""

from __future__ import annotations

from typing import Any, Iterable

# method or level -> why it is weak (one clause, shown by `auth show`)
WEAK_METHODS: dict[str, str] = {
    "pap": "PAP sends the password in clear",
    "chap": "CHAP (MD5) lets an eavesdropper try passwords offline, and the server must keep them reversible",
    "ms-chap": "MS-CHAP v1 responses give up the NT hash to an offline search (and the LM hash, when sent)",
}
WEAK_LEVELS: dict[str, str] = {
    "none": "no encryption at all",
    "basic": "40-bit MPPE (PPTP) or DES (L2TP/IPsec): searched exhaustively in hours",
    "strong": "56-bit MPPE (PPTP) or DES (L2TP/IPsec): a single DES key search",
}

PPTP_NOTE = ("PPTP is enabled: MS-CHAP v2 over PPTP can be cracked offline (a captured exchange reduces to a single "
             "DES key search, whatever the password) and its MPPE keys follow from it; use L2TP/IPsec or EAP-TLS for "
             "connections that matter, or `rrasctl ports set pptp --count 0` to turn PPTP off")


def weak_choices(methods: Iterable[str], levels: Iterable[str]) -> list[str]:
    """The weak methods and levels among those allowed, in the order given (methods first)."""
    return [m for m in methods if m in WEAK_METHODS] + [lv for lv in levels if lv in WEAK_LEVELS]


def why_weak(choice: str) -> str | None:
    return WEAK_METHODS.get(choice) or WEAK_LEVELS.get(choice)


def pptp_enabled(config: Any) -> bool:
    ports = getattr(config, "ports", {}) or {}
    pool = ports.get("pptp") if hasattr(ports, "get") else None
    return bool(pool is not None and getattr(pool, "count", 0) > 0)


def pptp_notes(config: Any) -> list[str]:
    """The notes the engine shows while PPTP is enabled (pptp port count > 0); none when it is off."""
    return [PPTP_NOTE] if pptp_enabled(config) else []
