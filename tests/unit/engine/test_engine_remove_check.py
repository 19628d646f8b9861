"""`users remove` / `demand-dial remove` of something with live connections: the engine refuses (Conflict, exit 4,
naming the connections) unless force ends them, and says which it ended (as `ports.remove_check`, decision 0017)."""

from __future__ import annotations

import asyncio

import pytest

from rrasctl.config.model import Config, DemandDial, User
from rrasctl.engine import run
from rrasctl.engine.ops import DialState, Ops
from rrasctl.engine.sessions import Direction, Session, SessionState
from rrasctl.errors import Conflict
from rrasctl.paths import resolve
from rrasctl.protocols.causes import Cause

CFG = Config(users={"alice": User("alice"), "branch1": User("branch1"), "bob": User("bob")},
             demand_dial={"branch1": DemandDial("branch1", "203.0.113.2", "hq"),
                          "hq": DemandDial("hq", "203.0.113.1", "branch1")})


def _ops():
    ctx = run.build_context(asyncio.get_running_loop(), resolve(), CFG)
    ops = Ops(ctx, reload=None, listeners={}, started=0.0)
    ended: list[tuple[int, str]] = []

    def add(port, peer, user, interface=None, direction=Direction.INBOUND):
        s = ctx.sessions.add(Session("pptp", port, peer, direction=direction, user=user, interface=interface,
                                     state=SessionState.UP))
        s.disconnect = lambda cause, s=s: ended.append((s.id, cause))
        return s

    return ctx, ops, add, ended


def test_a_user_with_live_connections_is_refused_then_forced():
    async def main():
        ctx, ops, add, ended = _ops()
        a1 = add(0, "198.51.100.7", "alice")
        add(1, "198.51.100.8", "bob")
        a2 = add(2, "198.51.100.9", "alice")
        add(3, "203.0.113.1", "alice", "hq", Direction.OUTBOUND)      # we dialled out as "alice": not hers
        with pytest.raises(Conflict) as ei:
            await ops.users_remove_check({"name": "alice", "force": False}, None)
        assert ended == [] and len(ctx.sessions) == 4
        forced = await ops.users_remove_check({"name": "alice", "force": True}, None)
        none = await ops.users_remove_check({"name": "carol", "force": False}, None)
        ctx.timers.close()
        return ei.value, forced, none, ended, [s.id for s in ctx.sessions], (a1.id, a2.id)

    exc, forced, none, ended, left, (a1, a2) = asyncio.run(main())
    assert exc.message == ("user alice has live connections: connection 1 (PPTP-0, alice from 198.51.100.7), "
                           "connection 3 (PPTP-2, alice from 198.51.100.9)")
    assert exc.hint == "add --force to end them" and exc.exit_code == 4
    assert [c["text"] for c in forced["disconnected"]] == [
        "connection 1 (PPTP-0, alice from 198.51.100.7)", "connection 3 (PPTP-2, alice from 198.51.100.9)"]
    assert ended == [(a1, Cause.ADMIN_DISCONNECT), (a2, Cause.ADMIN_DISCONNECT)]
    assert left == [2, 4]
    assert none == {"affected": [], "disconnected": []}


def test_a_demand_dial_interface_connected_or_dialling_is_refused_then_forced():
    async def main():
        ctx, ops, add, ended = _ops()
        out = add(0, "203.0.113.2", "hq", "branch1", Direction.OUTBOUND)
        router_in = add(1, "203.0.113.2", "branch1", "branch1")        # the branch calling in as a router
        add(2, "198.51.100.7", "alice")
        with pytest.raises(Conflict) as ei:
            await ops.dd_remove_check({"name": "branch1", "force": False}, None)
        forced = await ops.dd_remove_check({"name": "branch1", "force": True}, None)
        never_done = asyncio.get_running_loop().create_future()
        ops.dials["hq"] = DialState(task=asyncio.ensure_future(never_done))
        with pytest.raises(Conflict) as dialling:
            await ops.dd_remove_check({"name": "hq", "force": False}, None)
        stopped = await ops.dd_remove_check({"name": "hq", "force": True}, None)
        task_cancelled = ops.dials["hq"].task.cancelled()
        ctx.timers.close()
        return ei.value, forced, dialling.value, stopped, task_cancelled, ended, (out.id, router_in.id)

    exc, forced, dialling, stopped, cancelled, ended, (out, router_in) = asyncio.run(main())
    assert exc.message == ("demand-dial interface branch1 has live connections: connection 1 (PPTP-0, hq from "
                           "203.0.113.2), connection 2 (PPTP-1, branch1 from 203.0.113.2)")
    assert [c["id"] for c in forced["disconnected"]] == [out, router_in]
    assert ended == [(out, Cause.ADMIN_DISCONNECT),
                     (router_in, Cause.ADMIN_DISCONNECT)]
    assert dialling.message == "demand-dial interface hq is dialling"
    assert stopped == {"affected": [], "disconnected": []} and cancelled
