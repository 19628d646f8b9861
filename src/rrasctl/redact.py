"""Keeping secrets out of output and logs (SPEC §2, DESIGN §9).

- ``Secret``: a string holder whose ``str``/``repr`` is ``********``; the value only via ``.reveal()``.
- ``redact(obj)``: a copy of a dict/list tree with every secret-named key masked and every sealed (``enc:v1:``,
  ``enc:v2:``) value masked.
- ``RedactingFilter``: a logging filter, the backstop; it masks sealed values and registered plain secrets.
"""

from __future__ import annotations

import logging
from typing import Any

MASK = "********"
SECRET_KEYS = frozenset({"password", "psk", "secret", "radius_secret", "shared_secret", "l2tp_secret", "key"})
_SEALED_PREFIXES = ("enc:v1:", "enc:v2:")


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def is_secret_key(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return k in SECRET_KEYS or k.endswith(("_password", "_secret", "_psk"))


def redact(obj: Any) -> Any:
    """Mask secrets in a JSON-like tree (dicts, lists, tuples, strings); returns a new tree."""
    if isinstance(obj, Secret):
        return MASK
    if isinstance(obj, dict):
        return {k: (MASK if (is_secret_key(str(k)) and v is not None) else redact(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact(v) for v in obj)
    if isinstance(obj, str) and obj.startswith(_SEALED_PREFIXES):
        return MASK
    return obj


_registered: set[str] = set()


def register(plain: str) -> None:
    """Tell the logging filter about a plain secret that is in memory (e.g. an opened password)."""
    if plain and len(plain) >= 3:
        _registered.add(plain)


def mask_text(text: str) -> str:
    """TEXT with every registered plain secret and every sealed value replaced by the mask."""
    masked = text
    for plain in _registered:
        if plain in masked:
            masked = masked.replace(plain, MASK)
    if "enc:v" in masked:
        import re

        masked = re.sub(r"enc:v[12]:[A-Za-z0-9+/=_:-]+", MASK, masked)
    return masked


class RedactingFilter(logging.Filter):
    """Masks registered secrets and sealed values in every record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string is not ours to fix here
            return True
        masked = mask_text(msg)
        if masked != msg:
            record.msg, record.args = masked, None
        return True
