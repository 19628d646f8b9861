"""PPTP and L2TP give a `policy` user the same answer, through the shared PPP-session glue (engine/ppp_session.py):
the default deny-all policy refuses them with Windows error 649 (recorded once, port freed), a granting policy admits
them. L2TP: two drivers in one process over loopback UDP (no root). PPTP: two engines in network namespaces (root)."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from rrasctl.config.model import Policy, User
from rrasctl.engine.drivers import DialFailed
from test_l2tp_driver_loopback import _pair, lac_config, lns_config, port, run, wait_for  # noqa: F401  (fixture)


def _with_carol(cfg, policies):
    users = dict(cfg.users, carol=User("carol", password="Pw-carol-1", dial_in="policy"))
    return dataclasses.replace(cfg, users=users, policies=tuple(policies))


def test_l2tp_default_policy_refuses_a_policy_user_with_649_and_a_granting_policy_admits(tmp_path, port):
    async def main():
        lns_cfg = _with_carol(lns_config(), [Policy("default")])
        lac_cfg = lac_config(user="carol", password="Pw-carol-1")
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_cfg, lac_cfg)
        iface = lac_ctx.config.demand_dial["hq"]
        with pytest.raises(DialFailed) as ei:
            await lac.dial(lac_ctx, "hq", iface, lambda _: None)
        assert (ei.value.windows_error, ei.value.unreachable) == (649, "AUTHENTICATION_FAILURE")
        await wait_for(lambda: not lns_ctx.sessions.rows() and lns_ctx.accounting.refusal_rows())
        (ref,) = lns_ctx.accounting.refusal_rows()
        assert (ref["protocol"], ref["user"], ref["reason"], ref["windows_error"]) == (
            "l2tp", "carol", "access denied by policy", 649)
        assert lns_ctx.admission.in_use("l2tp") == 0
        # `policy add staff --permission grant --users carol` (what a reload hands the driver)
        lns_ctx.config = _with_carol(lns_config(), [Policy("staff", permission="grant", users=("carol",)),
                                                    Policy("default")])
        s = await lac.dial(lac_ctx, "hq", iface, lambda _: None)
        assert s.state.value == "up"
        (row,) = lns_ctx.sessions.rows()
        assert (row["user"], row["protocol"]) == ("carol", "l2tp")
        await lac.stop(lac_ctx)
        await wait_for(lambda: not lns.tunnels)
        await lns.stop(lns_ctx)
    run(main())


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
            ("pptp", "alice", "access denied by policy", 649)]
        assert s.connections() == []
        s.cli("policy", "add", "staff", "--permission", "grant", "--users", "alice", check=True)
        assert c.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
        (row,) = s.connections()
        assert (row["user"], row["protocol"]) == ("alice", "pptp")
        assert c.ping("10.87.0.1", 2).returncode == 0
    finally:
        lab.close()


def test_l2tp_lockout_with_real_links_then_unlock_through_the_state_file(tmp_path, port):
    """MS-CHAP v2 end to end: two wrong passwords lock alice (max 2); the right one is then refused with 647;
    removing her entry from lockout.json (what `rrasctl users unlock` does) lets her in at once."""
    import json

    from rrasctl.config.model import Lockout
    from rrasctl.engine.ppp_session import LockoutStore

    async def main():
        base = lns_config()
        lns_cfg = dataclasses.replace(base, auth=dataclasses.replace(base.auth, lockout=Lockout(2, 30)))
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_cfg, lac_config(password="wrong"))
        lns_ctx.lockout = LockoutStore(tmp_path / "state")
        bad = lac_ctx.config.demand_dial["hq"]
        for _ in range(2):
            with pytest.raises(DialFailed) as ei:
                await lac.dial(lac_ctx, "hq", bad, lambda _: None)
            assert ei.value.windows_error == 691
        lockfile = tmp_path / "state" / "lockout.json"
        assert json.loads(lockfile.read_text())["alice"]["failures"] == 2
        good = dataclasses.replace(bad, password="wonderland")
        with pytest.raises(DialFailed) as ei:
            await lac.dial(lac_ctx, "hq", good, lambda _: None)
        assert ei.value.windows_error == 647
        await wait_for(lambda: len(lns_ctx.accounting.refusal_rows()) == 3)
        assert [(r["reason"], r["windows_error"]) for r in lns_ctx.accounting.refusal_rows()] == [
            ("authentication failed", 691), ("authentication failed", 691), ("account locked out", 647)]
        lockfile.write_text("{}\n")
        s = await lac.dial(lac_ctx, "hq", good, lambda _: None)
        assert s.state.value == "up"
        await lac.stop(lac_ctx)
        await wait_for(lambda: not lns.tunnels)
        await lns.stop(lns_ctx)
    run(main())


@pytest.mark.root
@pytest.mark.skipif(ROOT_REASON is not None, reason=ROOT_REASON or "")
def test_pptp_lockout_shows_in_users_show_refuses_with_647_and_users_unlock_lets_in(tmp_path):
    """The engine's lockout.json is what the CLI reads and edits: `users show` says locked, `users unlock` works on
    a running engine at once."""
    from pptp_lab import Lab, setup_pair

    lab = Lab(tmp_path / "lab", f"{os.getpid() % 100000}q9")
    try:
        (c,) = setup_pair(lab, password="not-the-password")
        s = lab.server
        s.cli("auth", "set", "--lockout-max", "1", check=True)
        s.start()
        c.start()
        res = c.cli("demand-dial", "connect", "hq", timeout=90)
        assert res.returncode != 0 and "691" in res.stderr, res.stderr
        assert s.json("users", "show", "alice")["locked"] is True
        c.cli("demand-dial", "set", "hq", "--password-stdin", stdin="Pw-alice-1\n", check=True)
        res = c.cli("demand-dial", "connect", "hq", timeout=90)
        assert res.returncode != 0 and "647" in res.stderr, res.stderr
        assert [(r["reason"], r["windows_error"]) for r in s.json("connections", "refusals")] == [
            ("authentication failed", 691), ("account locked out", 647)]
        assert s.cli("users", "unlock", "alice").returncode == 0
        assert s.json("users", "show", "alice")["locked"] is False
        assert c.cli("demand-dial", "connect", "hq", timeout=90).returncode == 0
        assert [r["user"] for r in s.connections()] == ["alice"]
    finally:
        lab.close()
