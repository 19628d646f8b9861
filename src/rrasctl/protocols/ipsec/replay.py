"""The ESP anti-replay window (RFC 4303 §3.4.3, the bitmap algorithm of its Appendix A), 32-bit sequence numbers.

    window = ReplayWindow(128)
    verdict = window.check(seq)       # before the ICV: ReplayVerdict.OK, or why the packet must be dropped
    ...verify the ICV...
    window.accept(seq)                # only after the ICV verified: slide the window, mark seq as seen

`top` is the highest sequence number that passed its ICV; bit i of `bitmap` says that `top - i` was received.
A packet above `top` is new; one at or below it is new only if it lies inside the window and its bit is clear.
Sequence number 0 is never valid (the first packet of an SA carries 1, RFC 4303 §3.3.3). Without Extended Sequence
Numbers the sender never wraps, so `top` reaches at most 2^32 - 1 and the window simply stops sliding there.

A window of size 0 disables the check (RFC 4303 §3.4.3 lets a receiver do so; `trace decode` uses it, so a
capture's duplicates still decode).
"""

from __future__ import annotations

import enum

SEQ_MAX = 0xFFFFFFFF
MIN_WINDOW = 32            # RFC 4303 §3.4.3: "a minimum window size of 32 packets MUST be supported"


class ReplayVerdict(enum.Enum):
    """The check's answer; the value of a refusal is its counter key in `EspSa.stats`."""

    OK = "ok"
    ZERO = "zero sequence"
    REPLAYED = "replayed"
    TOO_OLD = "too old"


class ReplayWindow:
    __slots__ = ("size", "top", "bitmap", "mask")

    def __init__(self, size: int = 128) -> None:
        if size != 0 and size < MIN_WINDOW:
            raise ValueError(f"replay window {size} is below RFC 4303's minimum of {MIN_WINDOW} (or 0 = off)")
        self.size = size
        self.top = 0
        self.bitmap = 0
        self.mask = (1 << size) - 1

    def check(self, seq: int) -> ReplayVerdict:
        """May a packet with this (not yet authenticated) sequence number be processed? Changes nothing."""
        if seq == 0:
            return ReplayVerdict.ZERO
        if not self.size or seq > self.top:
            return ReplayVerdict.OK
        behind = self.top - seq
        if behind >= self.size:
            return ReplayVerdict.TOO_OLD
        if (self.bitmap >> behind) & 1:
            return ReplayVerdict.REPLAYED
        return ReplayVerdict.OK

    def accept(self, seq: int) -> None:
        """Record an authenticated packet (call only after `check` said OK and the ICV verified)."""
        if not self.size:
            return
        top = self.top
        if seq > top:
            shift = seq - top
            self.bitmap = ((self.bitmap << shift) | 1) & self.mask if shift < self.size else 1
            self.top = seq
        else:
            self.bitmap |= 1 << (top - seq)

    def seen(self, seq: int) -> bool:
        """Whether `seq` is marked as received (for tests and `engine status`)."""
        return 0 <= self.top - seq < self.size and bool((self.bitmap >> (self.top - seq)) & 1)


__all__ = ["MIN_WINDOW", "ReplayVerdict", "ReplayWindow", "SEQ_MAX"]
