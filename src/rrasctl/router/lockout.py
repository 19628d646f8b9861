"""Remote access account lockout (SPEC §4, RRAS's MaxDenials / ResetTime), pure: `now` is wall-clock seconds
passed in by the caller.

After ``max_failures`` failed authentications the account is locked until ``reset_minutes`` have passed since the
last failure; the same time without failures resets the count; a success resets it; ``max_failures`` 0 turns
lockout off. The table serialises to a plain dict (the engine keeps it in ``<state dir>/lockout.json``; the CLI
reads it for ``users show`` and removes an entry on ``users unlock``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Entry:
    failures: int = 0
    last_failure: float = 0.0


@dataclass
class LockoutTable:
    max_failures: int = 0
    reset_minutes: int = 2880
    entries: dict[str, Entry] = field(default_factory=dict)

    @property
    def reset_s(self) -> float:
        return self.reset_minutes * 60.0

    def _expire(self, user: str, now: float) -> Entry | None:
        e = self.entries.get(user)
        if e is not None and now - e.last_failure >= self.reset_s:
            del self.entries[user]
            return None
        return e

    def is_locked(self, user: str, now: float) -> bool:
        if self.max_failures <= 0:
            return False
        e = self._expire(user, now)
        return e is not None and e.failures >= self.max_failures

    def locked_until(self, user: str, now: float) -> float | None:
        return self.entries[user].last_failure + self.reset_s if self.is_locked(user, now) else None

    def record_failure(self, user: str, now: float) -> bool:
        """Count a failure; True if the account is now locked."""
        if self.max_failures <= 0:
            return False
        e = self._expire(user, now) or self.entries.setdefault(user, Entry())
        e.failures += 1
        e.last_failure = now
        return e.failures >= self.max_failures

    def record_success(self, user: str) -> None:
        self.entries.pop(user, None)

    def unlock(self, user: str) -> bool:
        return self.entries.pop(user, None) is not None

    def to_dict(self) -> dict:
        return {u: {"failures": e.failures, "last_failure": e.last_failure} for u, e in sorted(self.entries.items())}

    @classmethod
    def from_dict(cls, data: dict, *, max_failures: int, reset_minutes: int) -> LockoutTable:
        entries = {}
        for user, v in (data or {}).items():
            try:
                entries[str(user)] = Entry(int(v["failures"]), float(v["last_failure"]))
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry counts as no failures
        return cls(max_failures=max_failures, reset_minutes=reset_minutes, entries=entries)
