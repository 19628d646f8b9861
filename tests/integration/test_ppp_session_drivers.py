"""PPTP and L2TP give a `policy` user the same answer, through the shared PPP-session glue (engine/ppp_session.py):
the default deny-all policy refuses them with Windows error 649 (recorded once, port freed), a granting policy admits
them. L2TP: two in-memory engines on a virtual clock (tests/memengine.py). PPTP: two engines in network namespaces
(root)."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from memengine import BRANCH_IP, HQ_IP, branch_config, hq_config, mem_engine, run_virtual, stop_all, until
from rrasctl.config.model import Policy, User
from rrasctl.engine.drivers import DialFailed
from rrasctl.engine.memnet import MemoryNetwork
from rrasctl.protocols.causes import Cause


def _with_carol(cfg, policies):
    users = dict(cfg.users, carol=User("carol", password="Pw-carol-1", dial_in="policy"))
    return dataclasses.replace(cfg, users=users, policies=tuple(policies))


async def _l2tp_pair(lns_cfg, lac_cfg):
    import asyncio

    net = MemoryNetwork(asyncio.get_running_loop())
    return await mem_engine(net, HQ_IP, lns_cfg), await mem_engine(net, BRANCH_IP, lac_cfg)


def _dial(br):
    return br.ctx.runner.dial(br.ctx.drivers["l2tp"], "hq", br.ctx.config.demand_dial["hq"], lambda _s: None)


def test_l2tp_default_policy_refuses_a_policy_user_with_649_and_a_granting_policy_admits():
    async def main():
        hq, br = await _l2tp_pair(_with_carol(hq_config(l2tp=True), [Policy("default")]),
                                  branch_config("l2tp", user="carol", password="Pw-carol-1"))
        with pytest.raises(DialFailed) as ei:
            await _dial(br)
        assert (ei.value.windows_error, ei.value.unreachable) == (649, "AUTHENTICATION_FAILURE")
        await until(lambda: not hq.sessions() and hq.ctx.accounting.refusal_rows())
        (ref,) = hq.ctx.accounting.refusal_rows()
        assert (ref["protocol"], ref["user"], ref["reason"], ref["windows_error"]) == (
            "l2tp", "carol", "policy_denied", 649)
        assert hq.ctx.admission.in_use("l2tp") == 0
        # `policy add staff --permission grant --users carol` (what a reload hands the driver)
        hq.ctx.config = _with_carol(hq_config(l2tp=True), [Policy("staff", permission="grant", users=("carol",)),
                                                           Policy("default")])
        s = await _dial(br)
        assert s.state.value == "up"
        (row,) = hq.sessions()
        assert (row["user"], row["protocol"]) == ("carol", "l2tp")
        await stop_all(br, hq)
    run_virtual(main())


ROOT_REASON = None
if os.geteuid() != 0:
    ROOT_REASON = "needs root to create network namespaces, TUN devices and a raw GRE socket"
elif shutil.which("ip") is None or not os.path.exists("/dev/net/tun"):
    ROOT_REASON = "needs iproute2 and /dev/net/tun"


@pytest.mark.root
@pytest.mark.skipif(ROOT_REASON is not None, reason=ROOT_REASON or "")
def test_pptp_default_policy_refuses_a_policy_user_with_649_and_a_granting_policy_admits(tmp_path):
    from pptp_lab import Lab, setup_pair, wait_for as wait_until

    lab = Lab(tmp_path / "lab", f"{os.getpid() % 100000}p9")
    lab.server.cli("server", "set", "--address-pool", "10.87.0.0/24", "--tunnel-address", "10.87.0.1", check=True)
    try:
        (c,) = setup_pair(lab)
        s = lab.server
        s.cli("users", "set", "alice", "--dial-in", "policy", check=True)
        s.start()
        c.start()
        res = c.cli("demand-dial", "connect", "hq", timeout=90)
        assert res.returncode != 0
        assert "649" in res.stderr, res.stderr
        status = c.json("demand-dial", "status", "hq")
        assert (status["state"], status["windows_error"]) == ("unreachable", 649)
        refs = wait_until(lambda: s.json("connections", "refusals"), 10)
        assert [(r["protocol"], r["user"], r["reason"], r["windows_error"]) for r in refs] == [
            ("pptp", "alice", "policy_denied", 649)]
        assert s.connections() == []
        s.cli("policy", "add", "staff", "--permission", "grant", "--users", "alice", check=True)
        assert c.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
        (row,) = s.connections()
        assert (row["user"], row["protocol"]) == ("alice", "pptp")
        assert c.ping("10.87.0.1", 2).returncode == 0
    finally:
        lab.close()


def test_l2tp_lockout_with_real_links_then_unlock():
    """MS-CHAP v2 end to end: two wrong passwords lock the user (max 2); the right one is then refused with 647;
    `rrasctl users unlock` (the engine's users.unlock op) lets it in at once."""
    from rrasctl.config.model import Lockout

    async def main():
        base = hq_config(l2tp=True)
        lns_cfg = dataclasses.replace(base, auth=dataclasses.replace(base.auth, lockout=Lockout(2, 30)))
        hq, br = await _l2tp_pair(lns_cfg, branch_config("l2tp", password="wrong"))
        bad = br.ctx.config.demand_dial["hq"]
        for _ in range(2):
            with pytest.raises(DialFailed) as ei:
                await _dial(br)
            assert ei.value.windows_error == 691
        good = dataclasses.replace(bad, password="Pw-branch-1")
        br.ctx.config = dataclasses.replace(br.ctx.config, demand_dial={"hq": good})
        with pytest.raises(DialFailed) as ei:
            await _dial(br)
        assert (ei.value.cause, ei.value.windows_error) == (Cause.ACCOUNT_LOCKED, 647)
        await until(lambda: len(hq.ctx.accounting.refusal_rows()) == 3)
        assert [(r["reason"], r["windows_error"]) for r in hq.ctx.accounting.refusal_rows()] == [
            ("auth_failed", 691), ("auth_failed", 691), ("account_locked", 647)]
        assert (await hq.ops.users_unlock({"name": "branch"}, None))["was_locked"] is True
        s = await _dial(br)
        assert s.state.value == "up"
        await stop_all(br, hq)
    run_virtual(main())
