"""The IKE core's bookkeeping: retransmission of an exchange, a child SA's life, Dead Peer Detection.

Retransmission (RFC 2408 §5, RFC 2409 §5): the side that sent a message and expects the next one resends it
after `retransmit_s`, doubling, `retransmits` times, then gives up; a side that receives an exact copy of the
peer's previous message resends its answer instead of processing it again. A finished exchange lingers for the
whole retransmission window so late copies are still answered.

DPD (RFC 3706 §5): after `dpd_interval_s` without hearing from the peer (an IKE message, or traffic the owner
reports), send R-U-THERE with the next sequence number; an R-U-THERE-ACK carrying any sequence number of this
round ends it; `dpd_retries` unanswered probes, `retransmit_s` apart, declare the peer dead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from rrasctl.protocols.base import Rng
from rrasctl.protocols.ipsec.ike.events import ChildSa
from rrasctl.protocols.ipsec.ike.phase1 import MainMode
from rrasctl.protocols.ipsec.ike.phase2 import QuickMode


@dataclass(eq=False)
class Exchange:
    """One Main Mode or Quick Mode exchange and what retransmission needs to know about it."""
    proto: Union[MainMode, QuickMode]
    cookies: bytes = b""                 # the ISAKMP SA a quick mode runs under
    last_sent: bytes | None = None       # the ISAKMP message, unframed
    sent_on_4500: bool = False
    last_received: bytes | None = None
    deadline: float | None = None        # next retransmission (None: we expect nothing)
    tries: int = 0
    ended_at: float | None = None        # done or failed: dropped after the linger time
    replaces: int | None = None          # quick mode: the inbound SPI of the child it rekeys
    passive: bool = False                # answers duplicates but never retransmits (a main mode responder)

    def sent(self, message: bytes, on_4500: bool, now: float, expects_reply: bool, first_wait_s: float) -> None:
        self.last_sent, self.sent_on_4500, self.tries = message, on_4500, 0
        self.deadline = now + first_wait_s if expects_reply else None

    def end(self, now: float) -> None:
        self.deadline, self.ended_at = None, now


@dataclass(eq=False)
class ChildRecord:
    child: ChildSa
    established_at: float
    rekey_at: float | None
    expires_at: float
    replaces: int | None = None          # the old child's inbound SPI, retired once this one carries traffic
    replaced_by: int | None = None
    rekeying: bool = False               # a quick mode for its successor is under way
    used: bool = False
    bytes: int = 0


@dataclass
class Dpd:
    interval_s: float
    retries: int
    retry_s: float
    seq: int
    outstanding: set[int] = field(default_factory=set)
    next_probe_at: float | None = None

    @classmethod
    def create(cls, interval_s: float, retries: int, retry_s: float, rng: Rng) -> "Dpd":
        return cls(interval_s, retries, retry_s, int.from_bytes(rng(4), "big") & 0x7FFFFFFF)

    def deadline(self, last_heard: float) -> float:
        return self.next_probe_at if self.outstanding else last_heard + self.interval_s

    def probe(self, now: float) -> int | None:
        """The sequence number of the next R-U-THERE, or None when the retries are spent (the peer is dead)."""
        if len(self.outstanding) >= self.retries:
            return None
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        self.outstanding.add(self.seq)
        self.next_probe_at = now + self.retry_s
        return self.seq

    def acked(self, seq: int) -> bool:
        if seq in self.outstanding:
            self.outstanding.clear()
            self.next_probe_at = None
            return True
        return False
