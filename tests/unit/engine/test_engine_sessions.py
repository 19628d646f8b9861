"""engine/sessions.py: rows with SPEC §7 keys, demux by address and longest prefix."""

from __future__ import annotations

import ipaddress

from rrasctl.engine.sessions import Direction, Session, SessionTable


def ip(s: str) -> int:
    return int(ipaddress.IPv4Address(s))


def test_row_has_exactly_the_spec_keys():
    t = SessionTable()
    s = t.add(Session("pptp", 3, "198.51.100.7", user="alice", ip="10.87.0.2", encryption="mppe-128",
                      auth="ms-chap-v2", started=0.0))
    assert s.row() == {"id": 1, "protocol": "pptp", "user": "alice", "interface": None, "peer": "198.51.100.7",
                       "port": "PPTP-3", "ip": "10.87.0.2", "encryption": "mppe-128", "auth": "ms-chap-v2",
                       "started": "1970-01-01T00:00:00Z", "bytes_in": 0, "bytes_out": 0}
    d = s.detail()
    assert d["state"] == "starting" and d["direction"] == "in" and d["routes"] == []


def test_ids_lookup_and_remove_callbacks():
    t = SessionTable()
    a = t.add(Session("pptp", 0, "p1"))
    b = t.add(Session("l2tp", 0, "p2", direction=Direction.OUTBOUND, interface="branch"))
    removed = []
    t.on_remove(removed.append)
    assert (a.id, b.id) == (1, 2) and t.get(2) is b and t.by_interface("branch") is b
    assert t.by_port("l2tp", 0) is b and t.by_port("pptp", 1) is None and t.of_protocol("pptp") == [a]
    t.remove(a)
    t.remove(a)
    assert removed == [a] and len(t) == 1 and t.get(1) is None


def test_demux_exact_address_then_longest_prefix():
    t = SessionTable()
    client = t.add(Session("pptp", 0, "p"))
    router = t.add(Session("l2tp", 0, "q"))
    other = t.add(Session("l2tp", 1, "r"))
    t.bind_ip(client, "10.87.0.2")
    t.bind_routes(router, ["10.20.0.0/16"])
    t.bind_routes(other, ["10.20.5.0/24"])
    assert t.route(ip("10.87.0.2")) is client
    assert t.route(ip("10.20.5.9")) is other
    assert t.route(ip("10.20.6.9")) is router
    assert t.route(ip("10.21.0.1")) is None
    t.bind_ip(client, "10.87.0.9")           # rebinding moves the address
    assert t.route(ip("10.87.0.2")) is None and t.route(ip("10.87.0.9")) is client
    t.remove(other)
    assert t.route(ip("10.20.5.9")) is router
    assert router.routes == ("10.20.0.0/16",)


def test_missing_capabilities_from_capeff():
    from rrasctl.engine.run import effective_caps, missing_capabilities

    full = effective_caps("Name:\tx\nCapEff:\t000001ffffffffff\n")
    assert missing_capabilities(full) == []
    only_admin = effective_caps("CapEff:\t0000000000001000\n")
    assert [n for n, _ in missing_capabilities(only_admin)] == ["CAP_NET_RAW", "CAP_NET_BIND_SERVICE"]
    assert [n for n, _ in missing_capabilities(0)] == ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"]


def test_tun_reader_demuxes_by_destination_and_counts():
    import struct

    from rrasctl.engine.tun import TunReader

    t = SessionTable()
    s = t.add(Session("pptp", 0, "p"))
    sent: list[bytes] = []
    s.tx = lambda view: sent.append(bytes(view))
    t.bind_ip(s, "10.87.0.2")

    class FakeTun:
        write_drops = netlink_errors = 0
    r = TunReader(FakeTun(), t)
    buf = bytearray(100)
    pkt = bytes([0x45]) + bytes(11) + ipaddress.IPv4Address("10.87.0.1").packed + \
        ipaddress.IPv4Address("10.87.0.2").packed + b"data"
    buf[:len(pkt)] = pkt
    r.on_packet(memoryview(buf), len(pkt), None)
    struct.pack_into("!I", buf, 16, ip("10.87.0.3"))
    r.on_packet(memoryview(buf), len(pkt), None)
    buf[0] = 0x60
    r.on_packet(memoryview(buf), len(pkt), None)
    assert sent == [pkt] and (s.bytes_out, s.packets_out) == (len(pkt), 1)
    assert r.stats() == {"forwarded": 1, "no_session": 1, "not_ipv4": 1, "write_drops": 0, "netlink_errors": 0}


def test_session_log_prefix(caplog):
    import logging

    from rrasctl.engine.sessions import SessionLog

    s = Session("pptp", 3, "198.51.100.7", user="alice")
    with caplog.at_level(logging.INFO, logger="rrasctl.test"):
        SessionLog(logging.getLogger("rrasctl.test"), s).info("authenticated with %s", "ms-chap-v2")
    assert caplog.messages == ["[PPTP-3 alice 198.51.100.7] authenticated with ms-chap-v2"]
