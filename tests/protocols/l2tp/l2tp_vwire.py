"""A virtual wire and clock joining two L2TP tunnel cores (DESIGN.md §10 "pairs"), with seeded loss.

Each side is a `Side`: a core, the events it produced, and an owner policy (accept tunnels and calls, or refuse).
`run(until)` delivers datagrams one by one (each dropped with probability `loss`, seeded), and when the wire
is quiet jumps the clock to the earliest `next_timer()`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rrasctl.protocols.l2tp.control import CallRequested, L2tpTunnel, TunnelConfig, TunnelRequested


@dataclass
class Side:
    core: L2tpTunnel
    events: list = field(default_factory=list)
    accept: bool = True
    sent: list = field(default_factory=list)

    def on_events(self, events, now):
        queue = list(events)
        while queue:                      # commands return the events they cause: they join the queue
            e = queue.pop(0)
            self.events.append(e)
            if isinstance(e, TunnelRequested):
                if self.accept:
                    queue += self.core.accept_tunnel(now)
                else:
                    queue += self.core.refuse_tunnel(2, 4, "no tunnel can be admitted", now)
            elif isinstance(e, CallRequested):
                if self.accept:
                    queue += self.core.accept_call(e.local_session_id, now)
                else:
                    queue += self.core.refuse_call(e.local_session_id, now)

    def kinds(self):
        return [type(e).__name__ for e in self.events]


class Wire:
    def __init__(self, a: Side, b: Side, *, loss: float = 0.0, seed: int = 1, loss_a_to_b: float | None = None):
        self.a, self.b = a, b
        self.now = 0.0
        self.rand = random.Random(seed)
        self.loss = loss
        self.loss_ab = loss if loss_a_to_b is None else loss_a_to_b
        self.queue: list[tuple[Side, bytes]] = []
        self.delivered = self.dropped = 0

    def _collect(self, side: Side):
        other = self.b if side is self.a else self.a
        for d in side.core.take_output():
            side.sent.append(d)
            self.queue.append((other, d))

    def step(self) -> bool:
        self._collect(self.a)
        self._collect(self.b)
        if self.queue:
            dst, d = self.queue.pop(0)
            loss = self.loss_ab if dst is self.b else self.loss
            if self.rand.random() < loss:
                self.dropped += 1
            else:
                self.delivered += 1
                dst.on_events(dst.core.receive(d, self.now), self.now)
            return True
        timers = [(t, s) for s in (self.a, self.b) if (t := s.core.next_timer()) is not None]
        if not timers:
            return False
        t, side = min(timers, key=lambda x: x[0])
        self.now = max(self.now, t)
        side.on_events(side.core.handle_timer(self.now), self.now)
        return True

    def run(self, until=lambda: False, max_time: float = 1000.0, max_steps: int = 100000) -> bool:
        for _ in range(max_steps):
            if until():
                self._collect(self.a)
                self._collect(self.b)
                return True
            if self.now > max_time or not self.step():
                return until()
        return until()


def pair(cfg_a: TunnelConfig | None = None, cfg_b: TunnelConfig | None = None, **wire_kw):
    from support import fixed_rng

    a = Side(L2tpTunnel(cfg_a or TunnelConfig(host_name="lac"), 11, rng=fixed_rng(1)))
    b = Side(L2tpTunnel(cfg_b or TunnelConfig(host_name="lns"), 22, rng=fixed_rng(2)))
    return a, b, Wire(a, b, **wire_kw)
