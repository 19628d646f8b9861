"""The PPTP driver's own work on two in-memory engines (engine/memnet.py): GRE demultiplexing and its drop counters,
the delayed-ack policy per read batch (decision 0066), admission refusals, a withdrawn call request. No root, no
socket, virtual time."""

from __future__ import annotations

import asyncio
import socket

from memengine import BRANCH_IP, HQ_IP, branch_config, hq_config, ip_packet, mem_engine, run_virtual, stop_all, tick
from rrasctl.engine.memnet import MemoryNetwork, _ipv4_header
from rrasctl.protocols.pptp import messages as m
from rrasctl.protocols.pptp.control import CallRequested, ControlConfig, PptpControl, Role
from rrasctl.protocols.pptp.gre import GreHeader, decode as decode_gre


async def _connected(**net_kw):
    net = MemoryNetwork(asyncio.get_running_loop(), **net_kw)
    hq = await mem_engine(net, HQ_IP, hq_config())
    br = await mem_engine(net, BRANCH_IP, branch_config("pptp"))
    await br.connect("hq")
    await tick(0.1)
    return net, hq, br


def _gre_from(net, src: str, dst: str):
    """The GRE headers src sent to dst from now on (recorded on the wire, delivered as usual)."""
    seen: list[GreHeader] = []

    def record(kind, a, b, data):
        if kind == "gre" and a[0] == src and b[0] == dst:
            seen.append(decode_gre(data)[0])
        return True
    net.filter = record
    return seen


def test_gre_demux_counts_short_unknown_and_spoofed_packets():
    async def main():
        net, hq, br = await _connected()
        d = hq.ctx.drivers["pptp"]
        (carrier,) = d._calls.values()
        local = carrier.local_call_id
        gre = hq.transport.gre
        payload = b"\xff\x03\xc0\x21"
        good = GreHeader(local, len(payload), seq=1000).encode(payload)
        for raw in (_ipv4_header(BRANCH_IP, HQ_IP, 2)[:20] + b"\x30\x81",               # short
                    _ipv4_header(BRANCH_IP, HQ_IP, len(good)) + GreHeader(local ^ 1, 4, seq=1).encode(payload),
                    _ipv4_header("203.0.113.66", HQ_IP, len(good)) + good):                # spoofed sender
            gre.deliver(raw, None)
        assert {k: v for k, v in hq.ctx.counters.malformed.as_dict().items()} == {
            "pptp: GRE from the wrong address": 1, "pptp: short GRE packet": 1, "pptp: unknown GRE call id": 1}
        await stop_all(br, hq)
    run_virtual(main())


def test_a_full_batch_gets_one_ack_only_packet_and_a_short_one_waits_for_the_deadline():
    """Decision 0066: after a read batch the receiving side sends one ack-only packet once half the smaller window
    waits (both engines announce 1024: threshold 512), else it arms the 20 ms delayed-ack deadline."""
    async def main():
        net, hq, br = await _connected()
        client = br.ctx.sessions.by_interface("hq")
        window = hq.ctx.drivers["pptp"]._calls[next(iter(hq.ctx.drivers["pptp"]._calls))].core.window
        acks = _gre_from(net, HQ_IP, BRANCH_IP)
        threshold = window.ack_threshold
        for i in range(threshold + 10):
            br.tun.inject(ip_packet(client.local_ip, client.ip, i.to_bytes(4, "big") * 10))
        await tick(0.0015)                                # delivered as one read batch; less than the ack delay
        only = [h for h in acks if h.seq is None]
        assert [h.ack for h in only] == [window.rx_seq] and window.unacked == 0    # one ack for the whole batch
        assert hq.ctx.timers.deadline(("pptp-ack", id(next(iter(hq.ctx.drivers["pptp"]._calls.values()))))) \
            is None                                                               # and no timer
        for i in range(5):                                # a short batch: under the threshold
            br.tun.inject(ip_packet(client.local_ip, client.ip, i.to_bytes(4, "big") * 10))
        await tick(0.0015)
        assert len([h for h in acks if h.seq is None]) == 1 and window.unacked == 5
        await tick(0.03)                                  # the 20 ms delayed-ack deadline
        only = [h for h in acks if h.seq is None]
        assert len(only) == 2 and only[-1].ack == window.rx_seq and window.unacked == 0
        await stop_all(br, hq)
    run_virtual(main())


def test_the_delayed_ack_is_not_sent_when_an_answer_carried_it():
    async def main():
        net, hq, br = await _connected()
        client = br.ctx.sessions.by_interface("hq")
        acks = _gre_from(net, HQ_IP, BRANCH_IP)
        br.tun.inject(ip_packet(client.local_ip, client.ip, b"ping"))
        await tick(0.0015)
        hq.tun.inject(ip_packet(client.ip, client.local_ip, b"pong"))   # hq answers before the 20 ms are up
        await tick(0.05)
        assert [h for h in acks if h.seq is None] == []                  # the ack rode on the answer
        assert [h.ack is not None for h in acks if h.seq is not None] == [True]
        await stop_all(br, hq)
    run_virtual(main())


def test_withdrawn_call_request_is_not_admitted():
    async def main():
        net = MemoryNetwork(asyncio.get_running_loop())
        hq = await mem_engine(net, HQ_IP, hq_config())
        d = hq.ctx.drivers["pptp"]
        from rrasctl.engine.pptp import _Tunnel

        core = PptpControl(ControlConfig(Role.PAC))
        core.start(0.0)
        core.receive(m.StartControlConnectionRequest().encode(), 0.0)
        events = core.receive(m.OutgoingCallRequest(call_id=5).encode() + m.CallClearRequest(call_id=5).encode(),
                              0.0)
        assert isinstance(events[0], CallRequested)
        d._call_requested(_Tunnel(core, "198.51.100.9"), events[0], 0.0)
        assert hq.ctx.admission.in_use("pptp") == 0 and hq.ctx.accounting.refusal_rows() == []
        await stop_all(hq)
    run_virtual(main())


def test_sender_address_is_read_from_the_ip_header():
    assert socket.inet_aton(BRANCH_IP) == _ipv4_header(BRANCH_IP, HQ_IP, 0)[12:16]


def test_a_call_fed_only_rejected_gre_is_reported_once_and_recovers():
    """Decision 0140: spoofed far-ahead GRE with the live call id and the peer's address moves nothing; after
    STALL_S of nothing but rejected packets the call says so once (log, `connections show` details)."""
    from rrasctl.protocols.pptp.gre import STALL_S

    async def main():
        net, hq, br = await _connected()
        d = hq.ctx.drivers["pptp"]
        (carrier,) = d._calls.values()
        window = carrier.core.window
        client = br.ctx.sessions.by_interface("hq")
        payload = b"\xff\x03\x00\x21" + bytes(20)
        for i in range(20):           # far ahead of anything the branch will send, and no consistent run
            spoof = GreHeader(carrier.local_call_id, len(payload), seq=(window.rx_seq or 0) + 100_000 + 70_000 * i)
            hq.transport.gre.deliver(_ipv4_header(BRANCH_IP, HQ_IP, 0) + spoof.encode(payload), None)
            await tick(0.5)
        assert window.rejected["far ahead"] == 20
        details = hq.ctx.sessions.get(carrier.session.id).detail()["details"]
        assert "gre_stalled_since" in details and details["gre_rejected"]["far ahead"] == 20
        br.tun.inject(ip_packet(client.local_ip, client.ip, b"real"))      # the real peer: accepted at once
        await tick(STALL_S)
        assert hq.tun.written[-1].endswith(b"real")
        assert "gre_stalled_since" not in hq.ctx.sessions.get(carrier.session.id).detail()["details"]
        await stop_all(br, hq)
    run_virtual(main())
