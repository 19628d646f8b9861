"""Decision 0122: a reload keeps the running values of the restart-only settings (listen address, tunnel address,
TUN name), answers which ones wait for a restart, and `engine status` lists them; everything else applies at once."""

from __future__ import annotations

import asyncio
import logging
from ipaddress import IPv4Address

from rrasctl.config.model import Config, Server
from rrasctl.engine import run
from rrasctl.engine.ops import Ops
from rrasctl.engine.pending import hold_restart_only, pending
from rrasctl.paths import resolve

FIRST = '[server]\naddress_pool = "10.87.0.0/24"\ntunnel_address = "10.87.0.1"\nlog_level = "info"\n'
SECOND = ('[server]\naddress_pool = "10.88.0.0/24"\ntunnel_address = "10.88.0.1"\nlisten_address = "192.0.2.1"\n'
          'log_level = "debug"\nedition = "enterprise"\n')


def test_hold_and_pending():
    running = Config(server=Server(tunnel_address="10.87.0.1"))
    saved = Config(server=Server(tunnel_address="10.88.0.1", listen_address="192.0.2.1", edition="web"))
    held = hold_restart_only(running, saved)
    assert (held.server.tunnel_address, held.server.listen_address, held.server.edition) == (
        "10.87.0.1", "0.0.0.0", "web")
    assert pending(held, saved) == [
        {"key": "server.listen_address", "running": "0.0.0.0", "saved": "192.0.2.1",
         "why": "the PPTP and L2TP listeners are bound to it"},
        {"key": "server.tunnel_address", "running": "10.87.0.1", "saved": "10.88.0.1",
         "why": "the TUN device holds it and every new call claims it in IPCP"}]
    assert pending(running, running) == []


def test_a_reload_applies_the_rest_and_names_what_waits_for_a_restart():
    paths = resolve()
    paths.config.parent.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(FIRST)
    logger = logging.getLogger("rrasctl")
    level = logger.level

    async def main():
        ctx = run.build_context(asyncio.get_running_loop(), paths, run.load_config(paths.config))
        ops = Ops(ctx, reload=run.make_reload(ctx, paths), listeners={}, started=0.0)
        before = (await ops.status({}, None))["pending_restart"]
        paths.config.write_text(SECOND)
        answer = await ops.reload({}, None)
        status = await ops.status({}, None)
        ctx.timers.close()
        return ctx, before, answer, status

    try:
        ctx, before, answer, status = asyncio.run(main())
        assert logger.level == logging.DEBUG                             # the log level applies at once
    finally:
        logger.setLevel(level)
    assert before == []
    assert [(w["key"], w["running"], w["saved"]) for w in answer["restart_needed"]] == [
        ("server.listen_address", "0.0.0.0", "192.0.2.1"), ("server.tunnel_address", "10.87.0.1", "10.88.0.1")]
    assert status["pending_restart"] == answer["restart_needed"]
    assert (ctx.config.server.tunnel_address, ctx.config.server.listen_address) == ("10.87.0.1", "0.0.0.0")
    assert ctx.config.server.edition == "enterprise" and status["max_concurrent"] is None   # applied
    assert str(ctx.addrpool.network) == "10.88.0.0/24"                                       # applied
    assert ctx.addrpool.allocate() == IPv4Address("10.88.0.1")  # 10.87.0.1 stays the server's; the pool moved
