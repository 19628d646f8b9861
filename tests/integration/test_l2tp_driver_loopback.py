"""The L2TP driver end to end inside one process: two drivers (LNS on 127.0.0.2, LAC on 127.0.0.3) over real UDP,
with real PppLinks, admission and accounting; the TUN is a recorder. No root needed; no sleeps (every wait is a
future or a condition with a deadline)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from rrasctl.config.model import Auth, Config, DemandDial, L2tp, PortPool, Route, Server, User
from rrasctl.engine.accounting import Accounting
from rrasctl.engine.drivers import DialFailed, EngineContext
from rrasctl.engine.l2tp import PLAIN_NOTE, L2tpDriver
from rrasctl.engine.sessions import SessionTable
from rrasctl.engine.timers import TimerQueue
from rrasctl.router.addrpool import AddressPool
from rrasctl.router.admission import Admission, pools_from_config


class FakeTun:
    def __init__(self):
        self.packets: list[bytes] = []
        self.routes: set[str] = set()
        self.addresses: set[str] = set()

    def write(self, p):
        self.packets.append(bytes(p))

    def add_route(self, cidr, metric=None):
        self.routes.add(cidr)

    def del_route(self, cidr):
        self.routes.discard(cidr)

    def add_address(self, a, prefixlen=32):
        self.addresses.add(a)

    def del_address(self, a, prefixlen=32):
        self.addresses.discard(a)


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.2", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_ctx(loop, cfg, tmp_path, name):
    (tmp_path / name).mkdir(exist_ok=True)
    ctx = EngineContext(loop=loop, timers=TimerQueue(loop), sessions=SessionTable(),
                        admission=Admission(pools_from_config(cfg.ports), cfg.server.max_concurrent,
                                            cfg.server.edition),
                        addrpool=AddressPool(cfg.server.address_pool, server_address=cfg.server.tunnel_address),
                        config=cfg, accounting=Accounting(tmp_path / name))
    ctx.open_secret = lambda sealed: sealed          # plain values in these configs
    ctx.tun = FakeTun()
    return ctx


def lns_config(methods=("ms-chap-v2",), encryption=("none",), secret=None, hide=False, edition="standard",
               l2tp_ports=5) -> Config:
    return Config(server=Server(listen_address="127.0.0.2", edition=edition, address_pool="198.51.100.64/26",
                                tunnel_address="198.51.100.1"),
                  ports={"pptp": PortPool(5), "l2tp": PortPool(l2tp_ports)},
                  auth=Auth(methods=methods, encryption=encryption),
                  users={"alice": User("alice", password="wonderland", dial_in="allow"),
                         "bob": User("bob", password="builder", dial_in="deny")},
                  l2tp=L2tp(secret=secret, hide_avps=hide))


def lac_config(methods=("ms-chap-v2",), user="alice", password="wonderland", secret=None, hide=False) -> Config:
    return Config(server=Server(listen_address="127.0.0.3", address_pool="198.51.100.128/26",
                                tunnel_address="198.51.100.129"),
                  auth=Auth(methods=methods, encryption=("none",)),
                  demand_dial={"hq": DemandDial("hq", destination="127.0.0.2", user=user, password=password,
                                                encryption="none", routes=(Route("203.0.113.128/25"),))},
                  l2tp=L2tp(secret=secret, hide_avps=hide))


def ip_packet(src: str, dst: str, payload: bytes = b"x" * 20) -> bytes:
    import struct

    total = 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return hdr + payload


async def wait_for(cond, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.wait([loop.create_future()], timeout=0.005)    # let the loop run the sockets a little


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


@pytest.fixture
def port(monkeypatch):
    p = _free_port()
    monkeypatch.setenv("RRASCTL_L2TP_PORT", str(p))
    return p


async def _pair(tmp_path, lns_cfg, lac_cfg):
    loop = asyncio.get_running_loop()
    lns_ctx, lac_ctx = make_ctx(loop, lns_cfg, tmp_path, "lns"), make_ctx(loop, lac_cfg, tmp_path, "lac")
    lns, lac = L2tpDriver(), L2tpDriver()
    await lns.start(lns_ctx)
    await lac.start(lac_ctx)
    return lns, lns_ctx, lac, lac_ctx


@pytest.mark.parametrize("method", ["pap", "chap", "ms-chap-v2"])
@pytest.mark.parametrize("secret,hide", [(None, False), ("tunnel-s3cret", True)])
def test_lac_dials_lns_data_flows_and_clean_stop(tmp_path, port, method, secret, hide):
    async def main():
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_config((method,), secret=secret, hide=hide),
                                                 lac_config((method,), secret=secret, hide=hide))
        stages = []
        s = await lac.dial(lac_ctx, "hq", lac_ctx.config.demand_dial["hq"], stages.append)
        assert stages == ["resolving", "connecting", "registering"]
        assert s.state.value == "up" and s.ip == "198.51.100.1" and s.interface == "hq" and s.auth == method
        (row,) = lns_ctx.sessions.rows()
        assert (row["protocol"], row["user"], row["port"], row["ip"], row["encryption"], row["auth"]) == (
            "l2tp", "alice", "L2TP-0", "198.51.100.64", "none", method) or row["ip"].startswith("198.51.100.")
        assert row["user"] == "alice" and row["port"] == "L2TP-0" and row["encryption"] == "none"
        assert lac_ctx.tun.addresses == {row["ip"]}
        assert PLAIN_NOTE in lns_ctx.notes
        # LAC -> LNS
        pkt = ip_packet(row["ip"], "198.51.100.1")
        s.tx(memoryview(pkt))
        await wait_for(lambda: lns_ctx.tun.packets)
        assert lns_ctx.tun.packets == [pkt]
        # LNS -> LAC
        (lns_s,) = list(lns_ctx.sessions)
        back = ip_packet("198.51.100.1", row["ip"], b"y" * 100)
        lns_s.tx(memoryview(back))
        await wait_for(lambda: lac_ctx.tun.packets)
        assert lac_ctx.tun.packets == [back]
        assert lns_s.bytes_in == len(pkt) and s.bytes_in == len(back)
        assert lns.status()["tunnels"] == 1 and lns.status()["sessions"] == 1
        await lac.stop(lac_ctx)
        await wait_for(lambda: not lns.tunnels)
        assert len(lns_ctx.sessions) == 0 and len(lac_ctx.sessions) == 0
        assert lns_ctx.counters.ended.as_dict() and lns_ctx.admission.in_use("l2tp") == 0
        await lns.stop(lns_ctx)
    run(main())


def test_wrong_password_fails_the_dial_with_691(tmp_path, port):
    async def main():
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_config(), lac_config(password="wrong"))
        with pytest.raises(DialFailed) as ei:
            await lac.dial(lac_ctx, "hq", lac_ctx.config.demand_dial["hq"], lambda _: None)
        assert ei.value.windows_error == 691
        await wait_for(lambda: not lns_ctx.sessions.rows() and lns_ctx.accounting.refusal_rows())
        assert lns_ctx.accounting.refusal_rows()[-1]["windows_error"] == 691
        await lac.stop(lac_ctx)
        await lns.stop(lns_ctx)
    run(main())


def test_encryption_required_refuses_plain_l2tp_tunnel(tmp_path, port):
    async def main():
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_config(encryption=("strongest",)), lac_config())
        with pytest.raises(DialFailed) as ei:
            await lac.dial(lac_ctx, "hq", lac_ctx.config.demand_dial["hq"], lambda _: None)
        assert "StopCCN" in str(ei.value) and "result 4" in str(ei.value)
        rec = lns_ctx.accounting.refusal_rows()[-1]
        assert rec["wire_code"] == "StopCCN result 4 (not authorized)" and rec["windows_error"] == 741
        await lac.stop(lac_ctx)
        await lns.stop(lns_ctx)
    run(main())


def test_port_exhaustion_refuses_with_cdn_4_and_keeps_the_first(tmp_path, port):
    async def main():
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_config(l2tp_ports=1), lac_config())
        iface = lac_ctx.config.demand_dial["hq"]
        s1 = await lac.dial(lac_ctx, "hq", iface, lambda _: None)
        with pytest.raises(DialFailed) as ei:
            await lac.dial(lac_ctx, "hq", iface, lambda _: None)
        assert "CDN" in str(ei.value) and "result 4" in str(ei.value)
        rec = lns_ctx.accounting.refusal_rows()[-1]
        assert rec["wire_result"] == 4 and rec["reason"] == "no free port"
        assert s1.state.value == "up" and len(lns_ctx.sessions) == 1
        await lac.stop(lac_ctx)
        await lns.stop(lns_ctx)
    run(main())


def test_web_edition_with_a_pptp_connection_refuses_the_l2tp_tunnel(tmp_path, port):
    from rrasctl.router.admission import Protocol, Use

    async def main():
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_config(edition="web"), lac_config())
        assert lns_ctx.admission.edition_cap == 1
        lns_ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND)         # a PPTP client holds the only slot
        with pytest.raises(DialFailed) as ei:
            await lac.dial(lac_ctx, "hq", lac_ctx.config.demand_dial["hq"], lambda _: None)
        assert "StopCCN" in str(ei.value) and "error 4" in str(ei.value)
        assert lns_ctx.accounting.refusal_rows()[-1]["reason"] == "edition limit reached"
        await lac.stop(lac_ctx)
        await lns.stop(lns_ctx)
    run(main())


def test_peer_source_port_change_is_followed_for_control_and_data(tmp_path, port):
    """RFC 2661 §8.1: the tunnel follows the peer's latest source port (same address)."""
    from rrasctl.protocols.l2tp.avp import MessageType

    async def main():
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_config(), lac_config())
        await lac.dial(lac_ctx, "hq", lac_ctx.config.demand_dial["hq"], lambda _: None)
        (lt,) = lac.tunnels.values()
        (nt,) = lns.tunnels.values()
        assert nt.addr == ("127.0.0.3", port)
        lt.core._send(0, [], MessageType.HELLO)           # a HELLO, sent from another port of the same host
        (hello,) = lt.core.take_output()
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.3", 0))
        other.setblocking(False)
        try:
            other.sendto(hello, ("127.0.0.2", port))
            await wait_for(lambda: nt.addr[1] == other.getsockname()[1])
            loop = asyncio.get_running_loop()
            zlb = await asyncio.wait_for(loop.sock_recv(other, 100), 5)   # the ack goes to the new port
            assert len(zlb) == 12 and zlb[:2] == b"\xc8\x02"
            (s,) = list(lns_ctx.sessions)
            s.tx(memoryview(ip_packet("198.51.100.1", s.ip)))            # and so does data
            data = await asyncio.wait_for(loop.sock_recv(other, 2000), 5)
            assert data[:2] == b"\x00\x02" and data[6:8] == b"\x21\x45"          # ACFC + PFC: 0x21, then IP
            moved_to = other.getsockname()[1]
        finally:
            other.close()
        # a garbage datagram from yet another port does not move it
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        junk.bind(("127.0.0.3", 0))
        tid = nt.core.local_tunnel_id.to_bytes(2, "big")
        junk.sendto(b"\xc8\x02\x00\x0c" + tid + b"\x00\x00\xff\xff\x00\x00", ("127.0.0.2", port))   # stale ZLB
        junk.sendto(b"\xc8\x02\x00\xc8" + tid + b"\x00\x00\x00\x00\x00\x00", ("127.0.0.2", port))   # bad length
        await wait_for(lambda: nt.core.stats or lns_ctx.counters.malformed)
        assert nt.addr[1] == moved_to
        junk.close()
        await lac.stop(lac_ctx)
        await lns.stop(lns_ctx)
    run(main())


def test_full_loss_declares_the_tunnel_down_after_the_retry_limit(tmp_path, port, monkeypatch, caplog):
    """100 % loss (the LAC's shim drops everything): 5 retransmissions at 1, 3, 7, 15, 23 s, down at 31 s, with the
    reason logged and given to the dialler. Real time (about 31 s): the schedule itself is tested on a virtual clock
    in tests/protocols/l2tp."""
    import logging

    caplog.set_level(logging.INFO, logger="rrasctl")

    async def main():
        loop = asyncio.get_running_loop()
        lns_ctx = make_ctx(loop, lns_config(), tmp_path, "lns")
        lac_ctx = make_ctx(loop, lac_config(), tmp_path, "lac")
        lns, lac = L2tpDriver(), L2tpDriver()
        await lns.start(lns_ctx)
        monkeypatch.setenv("RRASCTL_L2TP_TEST_LOSS", "1.0")
        await lac.start(lac_ctx)
        monkeypatch.delenv("RRASCTL_L2TP_TEST_LOSS")
        t0 = loop.time()
        with pytest.raises(DialFailed) as ei:
            await lac.dial(lac_ctx, "hq", lac_ctx.config.demand_dial["hq"], lambda _: None)
        elapsed = loop.time() - t0
        assert 30.5 <= elapsed <= 40, elapsed
        assert ei.value.reason == "peer did not acknowledge after 5 retransmissions"
        assert ei.value.windows_error == 809
        assert lac.status()["test_loss_dropped"] == 6 and not lac.tunnels and not lns.tunnels
        assert len(lac_ctx.sessions) == 0 and lac_ctx.admission.in_use("l2tp") == 0
        await lac.stop(lac_ctx)
        await lns.stop(lns_ctx)

    asyncio.run(asyncio.wait_for(main(), 60))
    assert "closed: peer did not acknowledge after 5 retransmissions" in caplog.text


def test_two_hundred_sessions_share_one_tunnel(tmp_path, port):
    """Many demand-dial sessions to one peer share one tunnel (one per peer); each gets its own PPP link, port,
    address and data path. 200 because the test addresses stay inside 198.51.100.0/24."""
    n = 200

    async def main():
        import dataclasses

        lns_cfg = dataclasses.replace(lns_config(l2tp_ports=n),
                                      server=dataclasses.replace(lns_config().server, address_pool="198.51.100.0/24"))
        lns, lns_ctx, lac, lac_ctx = await _pair(tmp_path, lns_cfg, lac_config())
        lac_ctx.admission.reconfigure(pools_from_config({"l2tp": PortPool(n)}), None)
        iface = lac_ctx.config.demand_dial["hq"]
        sessions = await asyncio.gather(*(lac.dial(lac_ctx, f"hq{i}", iface, lambda _: None) for i in range(n)))
        assert len(lac.tunnels) == 1 and len(lns.tunnels) == 1
        assert len(lns_ctx.sessions) == n and lns.status()["sessions"] == n
        ips = {s.ip for s in lns_ctx.sessions}
        assert len(ips) == n
        assert {r["port"] for r in lns_ctx.sessions.rows()} == {f"L2TP-{i}" for i in range(n)}
        for s in list(lns_ctx.sessions):                   # LNS -> each LAC session
            s.tx(memoryview(ip_packet("198.51.100.1", s.ip)))
        await wait_for(lambda: len(lac_ctx.tun.packets) == n)
        assert sum(s.packets_in for s in sessions) == n
        await lac.stop(lac_ctx)
        await wait_for(lambda: not lns.tunnels)
        assert len(lns_ctx.sessions) == 0 and lns_ctx.admission.in_use("l2tp") == 0
        await lns.stop(lns_ctx)
    run(main())
