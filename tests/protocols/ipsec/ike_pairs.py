"""Two IKE cores on a virtual wire and a virtual clock (DESIGN §10 "Pairs"), as tests/protocols/pairs.py does for
PPP, kept separate so the IKE tests do not depend on that module's shape.

The wire loses, duplicates and reorders datagrams (seeded: a failure replays); the clock jumps to the earliest
delivery or deadline when nothing else is due, so an exchange that takes minutes of protocol time (retransmissions,
lifetimes of hours) runs in milliseconds and nothing sleeps.

    pair = IkePair(initiator, responder, seed=3, loss=0.2, duplicate=0.1, reorder=0.05)
    initiator.connect(pair.now)
    assert pair.run(until=lambda: pair.saw(ChildSaEstablished, "a") and pair.saw(ChildSaEstablished, "b"))

`peers(...)` builds the two cores with addresses as each sees them: with `nat=True` the initiator sits behind a
NAT (its own address differs from the one the responder sees), so NAT-D detects it and the exchange floats to 4500.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from support import fixed_rng

from rrasctl.protocols.ipsec.ike.constants import AuthAlgorithm, EncryptionAlgorithm, EspTransform, HashAlgorithm
from rrasctl.protocols.ipsec.ike.events import ChildSaEstablished
from rrasctl.protocols.ipsec.ike.groups import DhGroup
from rrasctl.protocols.ipsec.ike.peer import IkePeer
from rrasctl.protocols.ipsec.ike.policy import EspProposal, IkeConfig, Phase1Suite

INITIATOR_PRIVATE = ("10.0.0.2", 500)
INITIATOR_PUBLIC = ("198.51.100.7", 40001)      # what the responder sees behind the NAT
RESPONDER = ("203.0.113.1", 500)

E, H = EncryptionAlgorithm, HashAlgorithm
# (phase-1 suite without its group, ESP suite): the five suites of acceptance item 3
SUITES = {
    "aes128gcm16": ((E.AES_CBC, 128, H.SHA2_256), EspProposal(EspTransform.AES_GCM_16, 128)),
    "aes128-sha1": ((E.AES_CBC, 128, H.SHA1), EspProposal(EspTransform.AES_CBC, 128, AuthAlgorithm.HMAC_SHA1)),
    "aes256-sha256": ((E.AES_CBC, 256, H.SHA2_256), EspProposal(EspTransform.AES_CBC, 256,
                                                                AuthAlgorithm.HMAC_SHA2_256)),
    "3des-sha1": ((E.TRIPLE_DES_CBC, None, H.SHA1), EspProposal(EspTransform.TRIPLE_DES, None,
                                                                AuthAlgorithm.HMAC_SHA1)),
    "des-sha1": ((E.DES_CBC, None, H.SHA1), EspProposal(EspTransform.DES, None, AuthAlgorithm.HMAC_SHA1)),
}


def config(name: str = "aes128-sha1", group: DhGroup = DhGroup.MODP2048, **kw) -> IkeConfig:
    p1, esp = SUITES[name]
    return IkeConfig(psk=b"pre-shared", phase1=(Phase1Suite(*p1, group),), esp=(esp,), **kw)


def assert_mirrored(a, b) -> None:
    assert (a.inbound_spi, a.outbound_spi) == (b.outbound_spi, b.inbound_spi)
    assert a.keymat_in == b.keymat_out and a.keymat_out == b.keymat_in and a.keymat_in != a.keymat_out
    assert (a.transform, a.key_bits, a.auth, a.encapsulation) == (b.transform, b.key_bits, b.auth, b.encapsulation)


# The vendor IDs a Windows 8 or later L2TP/IPsec peer sends, as ike-scan lists them against a Windows server
# ("1e2b5169…00000009 (Windows-8)", "4048b7d5… (IKE Fragmentation)", "fb1de3cd… (MS-Negotiation Discovery
# Capable)", "e3a5966a… (IKE CGA version 1)"), plus Vid-Initial-Contact, which SoftEther's IPsec_IKE.h also lists.
WINDOWS_VIDS = ["1e2b516905991c7d7c96fcbfb587e46100000009", "4a131c81070358455c5728f20e95452f",
                "90cb80913ebb696e086381b5ec427b1f", "4048b7d56ebce88525e7de7f00d6c2d3",
                "fb1de3cdf341b7ea16b7e5be0855f120", "26244d38eddb61b3172a36e3d0cfb819",
                "e3a5966a76379fe707228231e5ce8652"]


def peers(cfg_a: IkeConfig, cfg_b: IkeConfig | None = None, *, nat: bool = False, seed: int = 1
          ) -> tuple[IkePeer, IkePeer]:
    a_local = INITIATOR_PRIVATE if nat else INITIATOR_PUBLIC
    a = IkePeer(cfg_a, a_local, RESPONDER, rng=fixed_rng(seed))
    b = IkePeer(cfg_b or cfg_a, RESPONDER, INITIATOR_PUBLIC, rng=fixed_rng(seed + 1000))
    return a, b


@dataclass(order=True)
class _Flight:
    at: float
    seq: int
    dst: str = field(compare=False)
    data: bytes = field(compare=False)


class IkePair:
    def __init__(self, a: Any, b: Any, *, seed: int = 0, loss: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0, latency: float = 0.005, start: float = 0.0,
                 on_event: Callable[[str, Any, "IkePair"], None] | None = None,
                 filter: Callable[[str, bytes], bool] | None = None) -> None:
        self.cores = {"a": a, "b": b}
        self.a, self.b = a, b
        self.now = start
        self.rng = random.Random(seed)
        self.loss, self.duplicate, self.reorder, self.latency = loss, duplicate, reorder, latency
        self.filter, self.on_event = filter, on_event
        self.events: dict[str, list[Any]] = {"a": [], "b": []}
        self.log: list[tuple[float, str, bytes]] = []
        self._flights: list[_Flight] = []
        self._seq = 0

    def _post(self, src: str, data: bytes) -> None:
        dst = "b" if src == "a" else "a"
        self.log.append((self.now, f"{src}->{dst}", data))
        if self.filter is not None and not self.filter(src, data):
            return
        rng = self.rng
        if self.loss and rng.random() < self.loss:
            return
        for _ in range(2 if self.duplicate and rng.random() < self.duplicate else 1):
            self._seq += 1
            delay = self.latency + (rng.random() * self.reorder if self.reorder else 0.0)
            heapq.heappush(self._flights, _Flight(self.now + delay, self._seq, dst, data))

    def pump(self) -> None:
        for side, core in self.cores.items():
            for data in core.take_output():
                self._post(side, data)

    def note(self, side: str, events: list[Any]) -> None:
        for event in events:
            self.events[side].append(event)
            if self.on_event is not None:
                self.on_event(side, event, self)

    def saw(self, kind: type, side: str | None = None) -> bool:
        return any(isinstance(e, kind) for s in ((side,) if side else ("a", "b")) for e in self.events[s])

    def all(self, kind: type, side: str) -> list[Any]:
        return [e for e in self.events[side] if isinstance(e, kind)]

    def step(self) -> bool:
        self.pump()
        times = [f.at for f in self._flights[:1]]
        times += [t for t in (c.next_timer() for c in self.cores.values()) if t is not None]
        if not times:
            return False
        self.now = max(self.now, min(times))
        while self._flights and self._flights[0].at <= self.now:
            flight = heapq.heappop(self._flights)
            self.note(flight.dst, self.cores[flight.dst].receive(flight.data, self.now))
            self.pump()
        for side, core in self.cores.items():
            deadline = core.next_timer()
            if deadline is not None and deadline <= self.now:
                self.note(side, core.handle_timer(self.now))
        self.pump()
        return True

    def run(self, until: Callable[[], bool] | None = None, *, max_time: float = 86400.0 * 3,
            max_steps: int = 200_000) -> bool:
        for _ in range(max_steps):
            if until is not None and until():
                return True
            if self.now > max_time or not self.step():
                return until() if until is not None else True
        return until() if until is not None else False

    def up(self) -> bool:
        """Run until both sides have a child SA."""
        return self.run(until=lambda: self.saw(ChildSaEstablished, "a") and self.saw(ChildSaEstablished, "b"))
