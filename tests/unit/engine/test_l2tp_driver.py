"""The L2TP driver end to end on two in-memory engines (engine/memnet.py): LAC and LNS with real PppLinks,
admission, accounting and the in-memory TUN; no root, no socket, virtual time (so the minute-long retransmission
schedule runs in milliseconds)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from memengine import (BRANCH_IP, HQ_IP, branch_config, hq_config, ip_packet, mem_engine, run_virtual, stop_all, tick,
                       until)
from rrasctl.config.model import L2tp, PortPool, Server
from rrasctl.engine.drivers import DialFailed
from rrasctl.engine.l2tp import PLAIN_NOTE
from rrasctl.engine.memnet import MemoryNetwork
from rrasctl.protocols.causes import Cause
from rrasctl.router.admission import Protocol, Use, pools_from_config


def lns(secret=None, hide=False, **kw):
    cfg = hq_config(l2tp=True, **kw)
    return dataclasses.replace(cfg, l2tp=L2tp(secret=secret, hide_avps=hide))


def lac(secret=None, hide=False, **kw):
    cfg = branch_config("l2tp", **kw)
    return dataclasses.replace(cfg, l2tp=L2tp(secret=secret, hide_avps=hide))


async def _pair(lns_cfg, lac_cfg, **net_kw):
    net = MemoryNetwork(asyncio.get_running_loop(), **net_kw)
    return net, await mem_engine(net, HQ_IP, lns_cfg), await mem_engine(net, BRANCH_IP, lac_cfg)


def _dial(br, name="hq", iface=None, progress=None):
    iface = iface or br.ctx.config.demand_dial["hq"]
    return br.ctx.runner.dial(br.ctx.drivers["l2tp"], name, iface, progress or (lambda _s: None))


@pytest.mark.parametrize("method", ["pap", "chap", "ms-chap-v2"])
@pytest.mark.parametrize("secret,hide", [(None, False), ("tunnel-s3cret", True)])
def test_lac_dials_lns_data_flows_and_clean_stop(method, secret, hide):
    async def main():
        net, hq, br = await _pair(lns(secret, hide, methods=(method,)), lac(secret, hide, methods=(method,)))
        stages = []
        s = await _dial(br, progress=stages.append)
        assert stages == ["resolving", "connecting", "verifying user name and password", "registering"]
        assert s.state.value == "up" and s.ip == "10.87.0.1" and s.interface == "hq" and s.auth == method
        (row,) = await until(lambda: [r for r in hq.sessions() if r["encryption"]])
        assert (row["protocol"], row["user"], row["port"], row["encryption"], row["auth"]) == (
            "l2tp", "branch", "L2TP-0", "none", method)
        assert br.tun.addresses >= {row["ip"]}
        assert PLAIN_NOTE in hq.ctx.notes
        pkt = ip_packet(row["ip"], "10.87.0.1", b"x" * 20)            # LAC -> LNS
        br.tun.inject(pkt)
        await until(lambda: hq.tun.written)
        assert hq.tun.written == [pkt]
        back = ip_packet("10.87.0.1", row["ip"], b"y" * 100)          # LNS -> LAC
        hq.tun.inject(back)
        await until(lambda: br.tun.written)
        assert br.tun.written == [back]
        (lns_s,) = list(hq.ctx.sessions)
        assert lns_s.bytes_in == len(pkt) and s.bytes_in == len(back)
        d = hq.ctx.drivers["l2tp"]
        assert d.status()["tunnels"] == 1 and d.status()["sessions"] == 1
        await stop_all(br)
        await until(lambda: not d.tunnels)
        assert len(hq.ctx.sessions) == 0 and len(br.ctx.sessions) == 0
        assert hq.ctx.counters.ended.as_dict() and hq.ctx.admission.in_use("l2tp") == 0
        await stop_all(hq)
    run_virtual(main())


def test_encryption_required_refuses_the_plain_tunnel_with_741_on_both_sides():
    async def main():
        net, hq, br = await _pair(dataclasses.replace(lns(), auth=dataclasses.replace(lns().auth,
                                                                                     encryption=("strongest",))),
                                  lac())
        with pytest.raises(DialFailed) as ei:
            await _dial(br)
        assert (ei.value.cause, ei.value.windows_error) == (Cause.ENCRYPTION_MISMATCH, 741)
        rec = hq.ctx.accounting.refusal_rows()[-1]
        assert (rec["wire_code"], rec["reason"], rec["windows_error"]) == (
            "StopCCN result 4 (not authorized)", "encryption_mismatch", 741)
        await stop_all(br, hq)
    run_virtual(main())


def test_port_exhaustion_refuses_with_cdn_4_and_keeps_the_first():
    async def main():
        cfg = lns()
        net, hq, br = await _pair(dataclasses.replace(cfg, ports={"pptp": PortPool(5), "l2tp": PortPool(1)}), lac())
        s1 = await _dial(br)
        with pytest.raises(DialFailed) as ei:
            await _dial(br, "hq-again")
        assert (ei.value.cause, ei.value.windows_error) == (Cause.PEER_BUSY, 676)
        rec = hq.ctx.accounting.refusal_rows()[-1]
        assert (rec["wire_result"], rec["reason"], rec["windows_error"]) == (4, "no_free_port", 676)
        assert s1.state.value == "up" and len(hq.ctx.sessions) == 1
        await stop_all(br, hq)
    run_virtual(main())


def test_web_edition_with_a_pptp_connection_refuses_the_l2tp_tunnel():
    async def main():
        net, hq, br = await _pair(lns(edition="web"), lac())
        assert hq.ctx.admission.edition_cap == 1
        hq.ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND)         # a PPTP client holds the only slot
        with pytest.raises(DialFailed) as ei:
            await _dial(br)
        assert (ei.value.cause, ei.value.windows_error) == (Cause.PEER_BUSY, 676)
        assert hq.ctx.accounting.refusal_rows()[-1]["reason"] == "edition_cap"
        await stop_all(br, hq)
    run_virtual(main())


def test_peer_source_port_change_is_followed_for_control_and_data():
    """RFC 2661 §8.1: the tunnel follows the peer's latest source port (same address)."""
    from rrasctl.protocols.l2tp.avp import MessageType

    async def main():
        net, hq, br = await _pair(lns(), lac())
        await _dial(br)
        (lt,) = br.ctx.drivers["l2tp"].tunnels.values()
        (nt,) = hq.ctx.drivers["l2tp"].tunnels.values()
        assert nt.addr == (BRANCH_IP, 1701)
        other = br.transport.open_udp(BRANCH_IP, 40001)               # another port of the same host
        got: list[bytes] = []
        other.attach(None, lambda view, n, addr: got.append(bytes(view[:n])))
        lt.core._send(0, [], MessageType.HELLO)
        (hello,) = lt.core.take_output()
        other.sendto(hello, (HQ_IP, 1701))
        await until(lambda: nt.addr[1] == 40001)
        await until(lambda: got)
        assert len(got[0]) == 12 and got[0][:2] == b"\xc8\x02"          # the ack (ZLB) goes to the new port
        (s,) = list(hq.ctx.sessions)
        hq.tun.inject(ip_packet("10.87.0.1", s.ip, b"data"))          # and so does data
        await until(lambda: len(got) == 2)
        assert got[1][:2] == b"\x00\x02" and got[1][6:8] == b"\x21\x45"  # ACFC + PFC: 0x21, then IP
        junk = br.transport.open_udp(BRANCH_IP, 40002)                 # garbage from yet another port
        tid = nt.core.local_tunnel_id.to_bytes(2, "big")
        junk.sendto(b"\xc8\x02\x00\x0c" + tid + b"\x00\x00\xff\xff\x00\x00", (HQ_IP, 1701))   # stale ZLB
        junk.sendto(b"\xc8\x02\x00\xc8" + tid + b"\x00\x00\x00\x00\x00\x00", (HQ_IP, 1701))   # bad length
        await until(lambda: nt.core.stats or hq.ctx.counters.malformed)
        assert nt.addr[1] == 40001
        await stop_all(br, hq)
    run_virtual(main())


def test_full_loss_declares_the_tunnel_down_after_the_retry_limit(caplog):
    """100 % loss: 5 retransmissions at 1, 3, 7, 15, 23 s, down at 31 s (virtual), the cause given to the dialler
    and logged. (This test once waited 31 s of real time.)"""
    caplog.set_level(logging.INFO, logger="rrasctl")

    async def main():
        net, hq, br = await _pair(lns(), lac())
        net.filter = lambda *_: False
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(DialFailed) as ei:
            await _dial(br)
        assert loop.time() - t0 == pytest.approx(31.0, abs=0.01)
        assert (ei.value.cause, ei.value.windows_error) == (Cause.NO_ANSWER, 800)
        assert ei.value.detail == "peer did not acknowledge after 5 retransmissions"
        assert net.sent == 6 and not br.ctx.drivers["l2tp"].tunnels and not hq.ctx.drivers["l2tp"].tunnels
        assert len(br.ctx.sessions) == 0 and br.ctx.admission.in_use("l2tp") == 0
        await stop_all(br, hq)

    run_virtual(main())
    assert "closed: peer did not acknowledge after 5 retransmissions" in caplog.text


def test_a_killed_server_ends_the_client_tunnel_at_the_next_packets_not_after_a_minute():
    """Issue #13: the server process dies (its port closes; the host answers ICMP port unreachable): the client's
    tunnel and session end after three such answers, with the cause, instead of showing "connected" for 92 s."""
    async def main():
        net, hq, br = await _pair(lns(), lac())
        await br.connect("hq")
        hq.transport.udp[1701].close()                                 # kill -9: the socket is gone
        client = br.ctx.sessions.by_interface("hq")
        for _ in range(3):
            br.tun.inject(ip_packet(client.local_ip, client.ip, b"x"))
        await tick(0.1)
        assert br.ctx.sessions.by_interface("hq") is None
        st = await br.ops.dd_status({"name": "hq"}, None)
        assert (st["state"], st["windows_error"]) == ("disconnected", 807)
        assert "port is closed" in st["last_error"]
        await stop_all(br, hq)
    run_virtual(main())


def test_two_hundred_sessions_share_one_tunnel():
    """Many demand-dial sessions to one peer share one tunnel (one per peer); each gets its own PPP link, port,
    address and data path."""
    n = 200

    async def main():
        cfg = lns()
        cfg = dataclasses.replace(cfg, ports={"pptp": PortPool(5), "l2tp": PortPool(n)},
                                  server=dataclasses.replace(cfg.server, address_pool="10.87.0.0/23"))
        net, hq, br = await _pair(cfg, lac())
        br.ctx.admission.reconfigure(pools_from_config({"l2tp": PortPool(n)}), None)
        hq.ctx.admission.setup_per_source = 0        # one LAC dials all 200 at once (decision 0086: configurable)
        sessions = await asyncio.gather(*(_dial(br, f"hq{i}") for i in range(n)))
        assert len(br.ctx.drivers["l2tp"].tunnels) == 1 and len(hq.ctx.drivers["l2tp"].tunnels) == 1
        await until(lambda: len([s for s in hq.ctx.sessions if s.state.value == "up"]) == n)
        assert len({s.ip for s in hq.ctx.sessions}) == n
        assert {r["port"] for r in hq.sessions()} == {f"L2TP-{i}" for i in range(n)}
        for s in list(hq.ctx.sessions):                               # LNS -> each LAC session
            hq.tun.inject(ip_packet("10.87.0.1", s.ip, b"z"))
        await until(lambda: len(br.tun.written) == n)
        assert sum(s.packets_in for s in sessions) == n
        await stop_all(br)
        await until(lambda: not hq.ctx.drivers["l2tp"].tunnels)
        assert len(hq.ctx.sessions) == 0 and hq.ctx.admission.in_use("l2tp") == 0
        await stop_all(hq)
    run_virtual(main())
