"""Lockout in the running engine (issue #10, acceptance 6; decision 0084): 200 authentications in a row with lockout
on cost the event loop no fsync (a spy on os.fsync records the thread of every call), the file still follows, and
`rrasctl users unlock` from the CLI reaches the running engine at once. In-memory engines on a virtual clock; the
CLI runs in a worker thread against the control socket, whose requests are handed to the engine's own op."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from memengine import BRANCH_IP, HQ_IP, branch_config, hq_config, mem_engine, run_virtual, stop_all, until
from rrasctl.cli import cli
from rrasctl.config.model import Lockout
from rrasctl.control import messages
from rrasctl.engine.drivers import DialFailed
from rrasctl.engine.memnet import MemoryNetwork
from support import FakeEngine

WRONG_IP = "203.0.113.9"


def _cli(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def fsync_threads(monkeypatch):
    """The thread id of every os.fsync call made while the test runs."""
    seen: list[int] = []
    real = os.fsync

    def spy(fd):
        seen.append(threading.get_ident())
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return seen


def test_two_hundred_authentications_never_fsync_on_the_loop_and_cli_unlock_is_immediate(fsync_threads):
    state = Path(os.environ["RRASCTL_STATE_DIR"])
    state.mkdir(parents=True, exist_ok=True)
    assert _cli("users", "add", "branch", "--dial-in", "allow", "--password-stdin", input="x\n").exit_code == 0
    assert _cli("auth", "set", "--lockout-max", "3").exit_code == 0
    fsync_threads.clear()                                     # the CLI's own config writes above are not the engine's
    hq_cfg = hq_config()
    hq_cfg = dataclasses.replace(hq_cfg, auth=dataclasses.replace(hq_cfg.auth, lockout=Lockout(max_failures=3)))

    async def main():
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        net = MemoryNetwork(loop)
        hq = await mem_engine(net, HQ_IP, hq_cfg, state_dir=state)
        good = await mem_engine(net, BRANCH_IP, branch_config("pptp"))
        bad = await mem_engine(net, WRONG_IP, branch_config("pptp", password="not-the-password"))

        async def dial(engine):
            iface = engine.ctx.config.demand_dial["hq"]
            try:
                await engine.ctx.runner.dial(engine.ctx.drivers["pptp"], "hq", iface, lambda _s: None)
            except DialFailed as exc:
                return exc.windows_error
            await engine.ops.dd_disconnect({"name": "hq"}, None)
            await until(lambda: len(hq.ctx.sessions) == 0)
            return 0

        # 200 authentications in a row: two wrong passwords, then the right one (which clears the count), ...
        outcomes = []
        for i in range(200):
            outcomes.append(await dial(good if i % 3 == 2 else bad))
        assert outcomes.count(691) == 134 and outcomes.count(0) == 66
        await until(lambda: hq.ctx.lockout.writes > 0 and not hq.ctx.lockout.status()["pending"], 10)
        assert fsync_threads, "the lockout file was never written"
        assert loop_thread not in fsync_threads, "an fsync ran on the event loop"
        # the file follows memory: the last two attempts failed
        assert json.loads((state / "lockout.json").read_text())["branch"]["failures"] == 2

        # the third wrong password in a row locks the account: even the right password is refused (647)
        assert await dial(bad) == 691
        assert await dial(good) == 647
        await until(lambda: "branch" in json.loads((state / "lockout.json").read_text()), 10)

        # `rrasctl users unlock branch` from the CLI: the file is edited and the running engine told at once
        def unlock_op(req_id, args):
            done = asyncio.run_coroutine_threadsafe(hq.ops.users_unlock(args, None), loop).result(30)
            return [messages.ok(req_id, done)]

        server = FakeEngine(os.environ["RRASCTL_SOCKET"], {"users.unlock": unlock_op})
        try:
            r = await loop.run_in_executor(None, _cli, "users", "unlock", "branch")
        finally:
            server.close()
        assert (r.exit_code, r.stderr) == (0, "user branch unlocked\n")
        assert server.calls == [("users.unlock", {"name": "branch"})]
        assert await dial(good) == 0                                # no wait, no restart
        assert loop_thread not in fsync_threads
        await stop_all(good, bad, hq)

    run_virtual(main())
