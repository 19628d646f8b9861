"""The same failures through the one call runner for PPTP and L2TP (issue #10, acceptance 1; issue #12): each ends
with the same typed cause and the same Windows error whatever the tunnel type, and where the answering side refuses,
the error it records for the client is the one the dialling side reports. In-memory engines on a virtual clock."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from memengine import BRANCH_IP, HQ_IP, branch_config, hq_config, mem_engine, run_virtual, stop_all, until
from rrasctl.config.model import PortPool, Server, User
from rrasctl.engine.drivers import DialFailed
from rrasctl.engine.memnet import MemoryNetwork
from rrasctl.protocols.causes import Cause

BRANCH2_IP = "203.0.113.3"
SCENARIOS = ["name resolution", "no free port", "no local port", "edition cap", "peer timeout", "wrong password",
             "dial-in denied", "encryption mismatch", "peer hang-up", "address clash", "no common auth"]
# scenario -> (the dialling side's cause, Windows error; the answering side's refusal cause or None)
EXPECTED = {
    "name resolution": (Cause.NAME_RESOLUTION, 868, None),
    "no free port": (Cause.PEER_BUSY, 676, Cause.NO_FREE_PORT),
    "no local port": (Cause.NO_LOCAL_PORT, 633, None),
    "edition cap": (Cause.PEER_BUSY, 676, Cause.EDITION_CAP),
    "peer timeout": (Cause.NO_ANSWER, 800, None),
    "wrong password": (Cause.AUTH_FAILED, 691, Cause.AUTH_FAILED),
    "dial-in denied": (Cause.DIAL_IN_DENIED, 649, Cause.DIAL_IN_DENIED),
    "encryption mismatch": (Cause.ENCRYPTION_MISMATCH, 741, Cause.ENCRYPTION_MISMATCH),
    "peer hang-up": (Cause.PEER_DISCONNECTED, 629, None),
    "address clash": (Cause.ADDRESS_CLASH, 733, Cause.ADDRESS_CLASH),
    "no common auth": (Cause.NO_COMMON_AUTH, 919, Cause.NO_COMMON_AUTH),     # issue #13: in `connections refusals`
}


def _configs(protocol: str, scenario: str):
    l2tp = protocol == "l2tp"
    hq = hq_config(l2tp=l2tp)
    br = branch_config(protocol)
    if scenario == "name resolution":
        br = branch_config(protocol, destination="nowhere.invalid")
    elif scenario == "no free port":
        hq = dataclasses.replace(hq, ports={**hq.ports, protocol: PortPool(1)})
    elif scenario == "no local port":
        br = dataclasses.replace(br, ports={**br.ports, protocol: PortPool(0)})
    elif scenario == "edition cap":
        hq = dataclasses.replace(hq, server=dataclasses.replace(hq.server, edition="web"))
    elif scenario == "peer timeout":
        br = branch_config(protocol, destination="203.0.113.77")          # nobody there
    elif scenario == "wrong password":
        br = branch_config(protocol, password="not-the-password")
    elif scenario == "dial-in denied":
        hq = dataclasses.replace(hq, users={**hq.users, "branch": User("branch", password="Pw-branch-1",
                                                                       dial_in="deny")})
    elif scenario == "encryption mismatch":
        enc = ("strongest",) if l2tp else ("none",)     # L2TP: plain refused; PPTP: MPPE required by the caller
        hq = dataclasses.replace(hq, auth=dataclasses.replace(hq.auth, encryption=enc))
    elif scenario == "no common auth":          # the answering side allows PAP only, the caller MS-CHAP v2 only
        hq = dataclasses.replace(hq, auth=dataclasses.replace(hq.auth, methods=("pap",)))
    elif scenario == "address clash":          # two routers on one pool: the branch holds HQ's tunnel address
        br = dataclasses.replace(br, server=dataclasses.replace(br.server, address_pool=hq.server.address_pool,
                                                                tunnel_address=hq.server.tunnel_address))
    return hq, br


async def _attempt(protocol: str, scenario: str):
    net = MemoryNetwork(asyncio.get_running_loop())
    hq_cfg, br_cfg = _configs(protocol, scenario)
    hq = await mem_engine(net, HQ_IP, hq_cfg)
    br = await mem_engine(net, BRANCH_IP, br_cfg)
    others = []
    if scenario in ("no free port", "edition cap"):               # another router holds the only port / slot
        other = await mem_engine(net, BRANCH2_IP, branch_config(protocol))
        others.append(other)
        await other.connect("hq")
    client: tuple[Cause, int]
    if scenario == "peer hang-up":
        await br.connect("hq")
        (srv,) = await until(lambda: [s for s in hq.ctx.sessions if s.state.value == "up"])
        await hq.ops.connections_disconnect({"id": srv.id}, None)
        await until(lambda: br.ctx.sessions.by_interface("hq") is None)
        st = await br.ops.dd_status({"name": "hq"}, None)
        client = (Cause(st["last_cause"]), st["windows_error"])
    else:
        iface = br.ctx.config.demand_dial["hq"]
        with pytest.raises(DialFailed) as ei:
            await br.ctx.runner.dial(br.ctx.drivers[protocol], "hq", iface, lambda _s: None)
        client = (ei.value.cause, ei.value.windows_error)
        assert ei.value.__class__.__name__ not in str(ei.value)
        assert br.ctx.admission.in_use(protocol) == 0 and len(br.ctx.sessions) == 0
    server = EXPECTED[scenario][2]
    if server is not None:           # the answering side may learn a moment later (the caller's hang-up)
        await until(lambda: any(r["reason"] == server.value for r in hq.ctx.accounting.refusal_rows()), 30)
    refusals = [(r["reason"], r["windows_error"]) for r in hq.ctx.accounting.refusal_rows()]
    await stop_all(br, hq, *others)
    return client, refusals


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_same_failure_ends_the_same_way_on_pptp_and_l2tp(scenario):
    outcomes = {p: run_virtual(_attempt(p, scenario)) for p in ("pptp", "l2tp")}
    cause, error, server = EXPECTED[scenario]
    for protocol, (client, refusals) in outcomes.items():
        assert client == (cause, error), (protocol, client)
        if server is not None:          # the answering side recorded the very error its client shows
            assert (server.value, error) in refusals, (protocol, refusals)
    assert outcomes["pptp"][0] == outcomes["l2tp"][0]
