"""The sans-I/O contract shared by every protocol core (DESIGN.md §3).

A core takes the peer's bytes, the passage of time (`now`, monotonic seconds passed in) and the owner's
commands; it returns events and queues bytes (`take_output()`), and names one deadline (`next_timer()`).
It never reads a clock, never sleeps, never touches a socket and never calls `os.urandom` itself: the
random source is the `rng` argument, so that tests replay exact bytes.

`receive()` never raises because of the peer: decoders raise `Malformed`, the core catches it at
`receive`, counts it by reason in `stats` and drops the packet. Only caller bugs raise (`CoreMisuse`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Callable

Rng = Callable[[int], bytes]
default_rng: Rng = os.urandom


class ProtocolError(Exception):
    """Base of the project's own protocol errors (the only exceptions a fuzzed parser may raise)."""


class Malformed(ProtocolError):
    """The peer sent bytes that do not decode. The reason is short and stable: it becomes a counter key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CoreMisuse(Exception):
    """The owner called a core wrongly (a bug in our code, never the peer's fault)."""


@dataclass(frozen=True, slots=True)
class Event:
    """A fact a core reports upward; subclasses are named for what happened."""


class Counters(Counter):
    """Drops and malformed packets counted by reason: `stats.count("short header")`.

    A `collections.Counter`, so it merges with `+` and serialises as a plain dict for `engine status`.
    """

    def count(self, reason: str, n: int = 1) -> None:
        self[reason] += n

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.items()))
