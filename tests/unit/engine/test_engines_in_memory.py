"""Two whole engines in one process over the in-memory transport (engine/memnet.py) on a virtual clock: no root, no
namespace, no socket (issue #10, acceptance 3)."""

from __future__ import annotations

import asyncio
import time

import pytest

from memengine import (BRANCH_IP, HQ_IP, branch_config, hq_config, ip_packet, mem_engine, run_virtual, stop_all, tick,
                       until)
from rrasctl.engine.memnet import MemoryNetwork

PROTOCOLS = ["pptp", "l2tp"]


async def _pair(protocol: str, **net_kw):
    net = MemoryNetwork(asyncio.get_running_loop(), **net_kw)
    hq = await mem_engine(net, HQ_IP, hq_config(l2tp=protocol == "l2tp"))
    br = await mem_engine(net, BRANCH_IP, branch_config(protocol))
    return net, hq, br


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_two_engines_connect_and_move_1000_packets_each_way_under_loss_and_reordering(protocol):
    """PPTP with MS-CHAP v2 + MPPE-128 and plain L2TP: the dial converges through 10 % loss and reordering of
    every datagram (control and data), then 1,000 distinct IP packets cross each way byte-exact (the sender
    repeats those the lossy wire ate, as an application over IP would), in well under 5 s of wall time."""
    wall = time.monotonic()

    async def main():
        net, hq, br = await _pair(protocol, seed=11, loss=0.10, reorder=0.10, duplicate=0.02)
        row = await br.connect("hq")
        assert row["state"] == "connected" and row["protocol"] == protocol
        (srv,) = await until(lambda: [r for r in hq.sessions() if r["encryption"]])
        assert srv["user"] == "branch" and srv["protocol"] == protocol
        if protocol == "pptp":
            assert (srv["auth"], srv["encryption"]) == ("ms-chap-v2", "mppe-128")
        client = br.ctx.sessions.by_interface("hq")
        here, there = client.local_ip, client.ip
        # branch -> hq and hq -> branch, 1,000 distinct packets each way
        for src_eng, dst_eng, src, dst in ((br, hq, here, there), (hq, br, there, here)):
            sent = {i: ip_packet(src, dst, i.to_bytes(4, "big") + bytes([i % 251]) * (40 + i % 900))
                    for i in range(1000)}
            got: dict[int, bytes] = {}

            def collect(pkt: bytes, got=got) -> None:
                got.setdefault(int.from_bytes(pkt[20:24], "big"), pkt)
            dst_eng.tun.on_write = collect
            for _round in range(30):
                for i, pkt in sent.items():
                    if i not in got:
                        src_eng.tun.inject(pkt)
                await tick(0.05)
                if len(got) == len(sent):
                    break
            assert got == sent                                         # every one, byte-exact
            dst_eng.tun.on_write = None
        assert net.dropped > 0                                          # the wire really lost datagrams
        await stop_all(br, hq)
        assert hq.sessions() == [] and br.sessions() == []

    run_virtual(main())
    assert time.monotonic() - wall < 5.0
