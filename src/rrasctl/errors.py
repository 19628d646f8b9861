"""The RrasctlError family: one class per exit code of SPEC §7. Imports nothing heavy."""

from __future__ import annotations


class RrasctlError(Exception):
    """An expected failure: printed as `error: <message>` (+ hint), never as a traceback."""

    exit_code = 1
    kind = "failed"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint  # one line: what the user can do about it


class ValidationError(RrasctlError):
    exit_code, kind = 2, "invalid"


class NotFound(RrasctlError):
    exit_code, kind = 3, "not_found"


class Conflict(RrasctlError):
    """Caps, limits, a name that exists, a resource in use."""

    exit_code, kind = 4, "conflict"


class EngineUnavailable(RrasctlError):
    exit_code, kind = 5, "engine_unavailable"


class SecretUnavailable(RrasctlError):
    """A sealed secret cannot be opened: the key file is missing, damaged or not the one it was sealed with, or the
    value is damaged. The message names the key file and the reason, never the value (config/secrets.py)."""

    exit_code, kind = 1, "secret_unavailable"


class EngineBusy(RrasctlError):
    """The engine runs but cannot take this request now (its control socket's queue or client limit is full).
    Exit 1, not 5: a script must not start a second engine because the first is busy (decision 0142)."""

    exit_code, kind = 1, "busy"


BY_KIND: dict[str, type[RrasctlError]] = {
    cls.kind: cls for cls in (RrasctlError, ValidationError, NotFound, Conflict, EngineUnavailable,
                              SecretUnavailable, EngineBusy)
}


def from_kind(kind: str, message: str, hint: str | None = None) -> RrasctlError:
    """Rebuild the error class named by a control-socket reply's `kind`."""
    return BY_KIND.get(kind, RrasctlError)(message, hint=hint)
