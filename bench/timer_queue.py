"""TimerQueue (one heap + one call_at) against one loop.call_later per session, same run, same machine.

2,000 sessions each re-arm a periodic deadline (period 0.2 s, spread evenly) for 2 s of loop time; the figure is the
process CPU time per fired timer, and the ratio TimerQueue / call_later (below 1 = the queue is cheaper).
A second figure measures what drivers do after every pump: move a session's deadline (cancel + call_later against
`TimerQueue.arm`), 200,000 times over 2,000 sessions.

    .venv/bin/python bench/timer_queue.py [sessions] [period_s] [seconds]
"""

from __future__ import annotations

import asyncio
import sys
import time

from rrasctl.engine.timers import TimerQueue


async def with_call_later(n: int, period: float, seconds: float) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    fired = 0
    end = loop.time() + seconds

    def tick(i: int) -> None:
        nonlocal fired
        fired += 1
        if loop.time() < end:
            loop.call_later(period, tick, i)

    t0 = time.process_time()
    for i in range(n):
        loop.call_later(period * i / n, tick, i)
    await asyncio.sleep(seconds + period)
    return time.process_time() - t0, fired


async def with_timer_queue(n: int, period: float, seconds: float) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    q = TimerQueue(loop)
    fired = 0
    end = loop.time() + seconds
    cbs = {}

    def make(i: int):
        def tick() -> None:
            nonlocal fired
            fired += 1
            now = loop.time()
            if now < end:
                q.arm(i, now + period, cbs[i])
        return tick

    t0 = time.process_time()
    start = loop.time()
    for i in range(n):
        cbs[i] = make(i)
        q.arm(i, start + period * i / n, cbs[i])
    await asyncio.sleep(seconds + period)
    return time.process_time() - t0, fired


async def rearm_cost(n: int, moves: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    base = loop.time() + 3600.0
    handles = [loop.call_at(base, _noop) for _ in range(n)]
    t0 = time.process_time()
    for k in range(moves):
        i = k % n
        handles[i].cancel()
        handles[i] = loop.call_at(base + k * 1e-6, _noop)
    ref = time.process_time() - t0
    for h in handles:
        h.cancel()
    q = TimerQueue(loop)
    for i in range(n):
        q.arm(i, base, _noop)
    t0 = time.process_time()
    for k in range(moves):
        q.arm(k % n, base + k * 1e-6, _noop)
    mine = time.process_time() - t0
    q.close()
    return ref / moves * 1e6, mine / moves * 1e6


def _noop() -> None:
    pass


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    period = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    ref_cpu, ref_fired = asyncio.run(with_call_later(n, period, seconds))
    q_cpu, q_fired = asyncio.run(with_timer_queue(n, period, seconds))
    ref_us = ref_cpu / ref_fired * 1e6
    q_us = q_cpu / q_fired * 1e6
    print(f"sessions {n}, period {period} s, {seconds} s of loop time")
    print(f"call_later per session: {ref_fired} timers, {ref_us:.2f} us CPU each")
    print(f"TimerQueue:             {q_fired} timers, {q_us:.2f} us CPU each")
    print(f"ratio TimerQueue / call_later (firing): {q_us / ref_us:.2f}")
    ref_move, q_move = asyncio.run(rearm_cost(n, 200_000))
    print(f"moving a deadline: cancel + call_at {ref_move:.2f} us, TimerQueue.arm {q_move:.2f} us, "
          f"ratio {q_move / ref_move:.2f}")


if __name__ == "__main__":
    main()
