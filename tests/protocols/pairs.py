"""Two sans-I/O cores joined by a virtual wire and a virtual clock (DESIGN.md §10 "Pairs").

Any two objects with the core contract (``receive(data, now) -> events``, ``handle_timer(now) -> events``,
``take_output() -> list[bytes]``, ``next_timer() -> float | None``) can be paired: PppLinks, PPTP control
connections, L2TP tunnels. The wire can lose, duplicate and reorder datagrams (seeded, so a failure replays); the
clock jumps to the earliest delivery or deadline whenever nothing else is due, so a negotiation that takes minutes
of protocol time runs in milliseconds and nothing ever sleeps.

    pair = Pair(server, client, seed=7, loss=0.2, on_event=answer)   # answer(side, event, pair) may call commands
    server.open(0.0); client.open(0.0)
    assert pair.run(until=lambda: pair.saw(NetworkUp, side="a") and pair.saw(NetworkUp, side="b"))
    pair.events["a"]   # every event side a produced, in order; pair.log: (time, "a->b", bytes) of sent datagrams

For stream transports (PPTP's TCP) pass ``stream=True``: loss, duplication and reordering are then off and
each write is delivered in ``chunk``-byte pieces (1 = one byte at a time).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(order=True)
class _Flight:
    at: float
    seq: int
    dst: str = field(compare=False)
    data: bytes = field(compare=False)


class Pair:
    """Cores ``a`` and ``b`` on a virtual wire; ``now`` is the virtual clock."""

    def __init__(self, a: Any, b: Any, *, seed: int = 0, loss: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0, latency: float = 0.005, start: float = 0.0,
                 on_event: Callable[[str, Any, "Pair"], None] | None = None,
                 stream: bool = False, chunk: int = 1 << 30, filter: Callable[[str, bytes], bool] | None = None
                 ) -> None:
        self.cores = {"a": a, "b": b}
        self.a, self.b = a, b
        self.now = start
        self.rng = random.Random(seed)
        self.loss, self.duplicate, self.reorder, self.latency = loss, duplicate, reorder, latency
        self.stream, self.chunk = stream, chunk
        self.filter = filter            # filter(src, data) -> False drops the datagram (targeted loss)
        self.on_event = on_event
        self.events: dict[str, list[Any]] = {"a": [], "b": []}
        self.log: list[tuple[float, str, bytes]] = []
        self.delivered = 0
        self._flights: list[_Flight] = []
        self._seq = 0

    # -- wire -------------------------------------------------------------------------------------------------
    def _other(self, side: str) -> str:
        return "b" if side == "a" else "a"

    def _post(self, src: str, data: bytes) -> None:
        dst = self._other(src)
        self.log.append((self.now, f"{src}->{dst}", data))
        if self.filter is not None and not self.filter(src, data):
            return
        if self.stream:
            for i in range(0, len(data), self.chunk):
                self._seq += 1
                heapq.heappush(self._flights, _Flight(self.now + self.latency, self._seq, dst,
                                                      data[i:i + self.chunk]))
            return
        rng = self.rng
        if self.loss and rng.random() < self.loss:
            return
        copies = 2 if self.duplicate and rng.random() < self.duplicate else 1
        for _ in range(copies):
            delay = self.latency + (rng.random() * self.reorder if self.reorder else 0.0)
            self._seq += 1
            heapq.heappush(self._flights, _Flight(self.now + delay, self._seq, dst, data))

    def pump(self) -> None:
        """Move every queued output onto the wire."""
        for side, core in self.cores.items():
            for data in core.take_output():
                self._post(side, data)

    def note(self, side: str, events: list[Any]) -> None:
        """Record events of ``side`` (also those a command returned) and run the ``on_event`` hook."""
        for event in events:
            self.events[side].append(event)
            if self.on_event is not None:
                self.on_event(side, event, self)

    def saw(self, kind: type, side: str | None = None) -> bool:
        sides = (side,) if side else ("a", "b")
        return any(isinstance(e, kind) for s in sides for e in self.events[s])

    def first(self, kind: type, side: str) -> Any:
        return next((e for e in self.events[side] if isinstance(e, kind)), None)

    # -- clock ------------------------------------------------------------------------------------------------
    def step(self) -> bool:
        """Advance to the next delivery or deadline and run it; False when nothing at all is pending."""
        self.pump()
        times = [f.at for f in self._flights[:1]]
        for core in self.cores.values():
            deadline = core.next_timer()
            if deadline is not None:
                times.append(deadline)
        if not times:
            return False
        self.now = max(self.now, min(times))
        while self._flights and self._flights[0].at <= self.now:
            flight = heapq.heappop(self._flights)
            self.delivered += 1
            self.note(flight.dst, self.cores[flight.dst].receive(flight.data, self.now))
            self.pump()
        for side, core in self.cores.items():
            deadline = core.next_timer()
            if deadline is not None and deadline <= self.now:
                self.note(side, core.handle_timer(self.now))
        self.pump()
        return True

    def run(self, until: Callable[[], bool] | None = None, *, max_time: float = 3600.0,
            max_steps: int = 200_000) -> bool:
        """Step until ``until()`` holds (True), or the wire and timers are quiet, or a limit is hit (False)."""
        for _ in range(max_steps):
            if until is not None and until():
                return True
            if self.now > max_time or not self.step():
                return until() if until is not None else True
        return until() if until is not None else False
