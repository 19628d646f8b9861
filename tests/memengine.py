"""Whole engines in one process over engine/memnet.py: the in-memory network, TUN and virtual clock (test helper).

    def test_x():
        async def main():
            net = MemoryNetwork(asyncio.get_running_loop(), loss=0.1, seed=3)
            hq = await mem_engine(net, "203.0.113.1", hq_config())
            br = await mem_engine(net, "203.0.113.2", branch_config("pptp"))
            row = await br.connect("hq")                     # `demand-dial connect hq`, through the engine's ops
            ...
            await stop_all(hq, br)
        run_virtual(main())

Configurations hold plain passwords (`open_secret` is the identity here). Nothing needs root, a namespace or a real
socket; time is virtual, so timeouts of minutes take milliseconds.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, Callable

from rrasctl.config.model import Auth, Config, DemandDial, PortPool, Route, Server, User
from rrasctl.engine.memnet import MemoryNetwork, MemoryTransport, MemoryTun, VirtualClockLoop
from rrasctl.engine.run import Engine, start_engine, stop_engine

HQ_IP, BRANCH_IP = "203.0.113.1", "203.0.113.2"
PASSWORD = "Pw-branch-1"


def hq_config(*, methods=("ms-chap-v2",), encryption=("strongest",), l2tp=False, **server_kw) -> Config:
    """The answering router: user `branch` (a router caller: it has a demand-dial interface of that name) with the
    branch's LAN behind it, and a remote access user `alice`."""
    enc = ("none",) if l2tp else encryption
    return Config(server=Server(address_pool="10.87.0.0/24", tunnel_address="10.87.0.1", **server_kw),
                  ports={"pptp": PortPool(5), "l2tp": PortPool(5)},
                  auth=Auth(methods=methods, encryption=enc),
                  users={"branch": User("branch", password=PASSWORD, dial_in="allow", routes=("10.2.0.0/24",)),
                         "alice": User("alice", password="Pw-alice-1", dial_in="allow"),
                         "bob": User("bob", password="Pw-bob-1", dial_in="deny")})


def branch_config(protocol: str, *, methods=("ms-chap-v2",), encryption: str = "strongest", user: str = "branch",
                  password: str = PASSWORD, destination: str = HQ_IP) -> Config:
    """The dialling router: a demand-dial interface `hq` of PROTOCOL to the answering router, route 10.1.0.0/16."""
    enc = "none" if protocol == "l2tp" else encryption
    return Config(server=Server(address_pool="10.88.0.0/24", tunnel_address="10.88.0.1"),
                  auth=Auth(methods=methods, encryption=("none",) if protocol == "l2tp" else ("basic", "strong",
                                                                                                "strongest")),
                  demand_dial={"hq": DemandDial("hq", destination=destination, type=protocol, user=user,
                                                password=password, encryption=enc,
                                                routes=(Route("10.1.0.0/16"),))})


@dataclass
class MemEngine:
    engine: Engine
    transport: MemoryTransport
    tun: MemoryTun

    @property
    def ctx(self) -> Any:
        return self.engine.ctx

    @property
    def ops(self) -> Any:
        return self.engine.ops

    async def connect(self, name: str = "hq", progress: Callable[[str], None] | None = None) -> dict:
        return await self.ops.dd_connect({"name": name, "wait": True}, progress or (lambda _s: None))

    def sessions(self) -> list[dict]:
        return self.ctx.sessions.rows()


async def mem_engine(net: MemoryNetwork, ip: str, cfg: Config, *, names: tuple[str, ...] = (),
                     drivers: list | None = None, state_dir: Any = None) -> MemEngine:
    transport = net.host(ip, names)
    tun = MemoryTun(f"mem-{ip}")
    paths = SimpleNamespace(state_dir=state_dir, key=None, config=None, socket=None)
    engine = await start_engine(paths, cfg, transport=transport, tun=tun, drivers=drivers)
    engine.ctx.open_secret = lambda sealed: sealed            # plain values in these configurations
    return MemEngine(engine, transport, tun)


async def stop_all(*engines: MemEngine) -> None:
    for e in engines:
        await stop_engine(e.engine)


def run_virtual(coro: Any, timeout: float = 600.0) -> Any:
    """Run COROUTINE on a virtual clock (TIMEOUT is virtual seconds)."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(asyncio.wait_for(coro, timeout))


async def until(cond: Callable[[], Any], timeout: float = 60.0, step: float = 0.01) -> Any:
    """Wait (virtual time) until COND is truthy; fails after TIMEOUT virtual seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await tick(step)


async def tick(seconds: float) -> None:
    """Let SECONDS of virtual time pass (a timer on the loop's clock, not a sleep on the wall clock)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.call_later(seconds, fut.set_result, None)
    await fut


def ip_packet(src: str, dst: str, payload: bytes, proto: int = 17) -> bytes:
    total = 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, proto, 0, socket.inet_aton(src),
                      socket.inet_aton(dst))
    return hdr + payload


def with_users(cfg: Config, **users: User) -> Config:
    return replace(cfg, users=dict(cfg.users, **users))
