"""The metrics endpoint in process: a real EngineContext (admission, sessions, accounting), the recorder attached as
run.py attaches it, the HTTP server on an ephemeral loopback port, scraped over TCP and parsed with
prometheus_client's own parser. A refusal, a session's life and a reload each move the series they should."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rrasctl.protocols.causes import Cause
from rrasctl.config.model import validate
from rrasctl.engine import exporter
from rrasctl.engine.accounting import Accounting
from rrasctl.engine.drivers import EngineContext
from rrasctl.engine.service import Service
from rrasctl.engine.sessions import Direction, Session
from rrasctl.router.addrpool import AddressPool
from rrasctl.router.admission import Admission, Protocol, Refuse, Use, pools_from_config


def make_ctx(tmp_path, raw: dict | None = None) -> tuple[EngineContext, Service]:
    cfg = validate(raw or {"server": {"edition": "web"}, "ports": {"pptp": {"count": 2}},
                           "demand_dial": {"hq": {"destination": "203.0.113.1", "user": "b1"},
                                           "lab": {"destination": "203.0.113.9", "user": "b1", "enabled": False}}})
    from rrasctl.engine.sessions import SessionTable

    ctx = EngineContext(loop=None, timers=None, sessions=SessionTable(),
                        admission=Admission(pools_from_config(cfg.ports), cfg.server.max_concurrent,
                                            cfg.server.edition),
                        addrpool=AddressPool(cfg.server.address_pool, server_address=cfg.server.tunnel_address),
                        config=cfg, accounting=Accounting(tmp_path))
    svc = Service.from_env()
    svc.attach(ctx)
    return ctx, svc


class Rows:
    """Stands in for Ops.dial_row: the demand-dial states the engine would report."""

    def __init__(self, ctx):
        self.ctx, self.states = ctx, {}

    def __call__(self):
        return [{"name": n, "state": self.states.get(n, "disabled" if not d.enabled else "disconnected")}
                for n, d in sorted(self.ctx.config.demand_dial.items())]


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(smp, name, **labels) -> float:
    return smp[(name, tuple(sorted((k, str(v)) for k, v in labels.items())))]


async def http(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


def scrape(port: int) -> dict:
    status, headers, body = asyncio.get_event_loop().run_until_complete(
        http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == "HTTP/1.1 200 OK" and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert int(headers["Content-Length"]) == len(body)
    return samples(body.decode())


@pytest.fixture
def served(tmp_path):
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ctx, svc = make_ctx(tmp_path)
    rows = Rows(ctx)
    server = exporter.build(ctx, version="9.9", started=1_700_000_000.0, dial_rows=rows)
    loop.run_until_complete(server.reconfigure("127.0.0.1:0"))
    port = server._server.sockets[0].getsockname()[1]
    yield ctx, server, port, rows
    loop.run_until_complete(server.close())
    loop.close()
    asyncio.set_event_loop(None)


def test_an_idle_engine(served):
    ctx, server, port, _ = served
    smp = scrape(port)
    assert value(smp, "rrasctl_info", version="9.9", edition="web") == 1
    assert value(smp, "rrasctl_start_time_seconds") == 1_700_000_000.0
    for p in ("pptp", "l2tp"):
        for st in ("starting", "authenticating", "up", "closing"):
            assert value(smp, "rrasctl_sessions", protocol=p, state=st) == 0
    assert value(smp, "rrasctl_ports", protocol="pptp", status="free") == 2
    assert value(smp, "rrasctl_ports", protocol="l2tp", status="free") == 5
    assert value(smp, "rrasctl_ports_configured", protocol="pptp") == 2
    assert value(smp, "rrasctl_inbound_limit") == 1
    assert value(smp, "rrasctl_demand_dial_state", interface="hq", state="disconnected") == 1
    assert value(smp, "rrasctl_demand_dial_state", interface="hq", state="connected") == 0
    assert value(smp, "rrasctl_demand_dial_state", interface="lab", state="disabled") == 1   # down ones included
    assert not [k for k in smp if k[0].startswith("rrasctl_session_")]    # per-session series are off
    assert server.describe() == {"listen": "127.0.0.1:0", "state": "listening", "scrapes": 1}


def test_refusals_sessions_traffic_and_setup_time(served):
    ctx, server, port, rows = served
    # an admitted inbound call that comes up, passes traffic, then ends
    adm = ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND)
    s = ctx.sessions.add(Session("pptp", adm.port, peer="198.51.100.7", user="alice"))
    s.started_mono = time.monotonic() - 0.3           # admitted 0.3 s ago
    ctx.session_up(s, str(ctx.addrpool.allocate()))
    s.bytes_in, s.bytes_out, s.packets_in, s.packets_out = 840, 420, 10, 5
    # the web edition's second caller is refused with its cause and Windows error
    verdict = ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND)
    assert isinstance(verdict, Refuse)
    ctx.refused(verdict.cause, protocol="pptp", peer="198.51.100.8", wire=verdict.refusal.wire)
    ctx.refused(Cause.AUTH_FAILED, protocol="pptp", peer="198.51.100.9", detail="bad password",
                wire="PPP ms-chap-v2 failure E=691", user="bob")
    ctx.metrics.authentication("pptp", "ms-chap-v2", "success")
    rows.states["hq"] = "connected"
    smp = scrape(port)
    assert value(smp, "rrasctl_sessions", protocol="pptp", state="up") == 1
    assert value(smp, "rrasctl_ports", protocol="pptp", status="in_use") == 1
    assert value(smp, "rrasctl_inbound_connections") == 1
    assert value(smp, "rrasctl_connections_accepted_total", protocol="pptp") == 1
    assert value(smp, "rrasctl_refusals_total", protocol="pptp", cause="edition_cap",
                 windows_error=verdict.refusal.windows_error) == 1
    assert value(smp, "rrasctl_refusals_total", protocol="pptp", cause="auth_failed", windows_error=691) == 1
    assert value(smp, "rrasctl_authentications_total", protocol="pptp", method="ms-chap-v2", result="success",
                 direction="in") == 1
    assert value(smp, "rrasctl_traffic_bytes_total", protocol="pptp", direction="in") == 840
    assert value(smp, "rrasctl_traffic_packets_total", protocol="pptp", direction="out") == 5
    assert value(smp, "rrasctl_setup_seconds_count", protocol="pptp", direction="in") == 1
    assert value(smp, "rrasctl_setup_seconds_bucket", protocol="pptp", direction="in", le="0.25") == 0
    assert value(smp, "rrasctl_setup_seconds_bucket", protocol="pptp", direction="in", le="0.5") == 1
    assert 0.3 <= value(smp, "rrasctl_setup_seconds_sum", protocol="pptp", direction="in") < 0.5
    assert value(smp, "rrasctl_demand_dial_state", interface="hq", state="connected") == 1
    assert value(smp, "rrasctl_address_pool_addresses", status="in_use") == 1
    # the session ends: the traffic totals stay (counters never go down)
    ctx.session_down(s, Cause.PEER_DISCONNECTED)
    smp = scrape(port)
    assert value(smp, "rrasctl_sessions", protocol="pptp", state="up") == 0
    assert value(smp, "rrasctl_traffic_bytes_total", protocol="pptp", direction="in") == 840
    assert value(smp, "rrasctl_sessions_ended_total", cause="peer_disconnected") == 1


def test_malformed_and_dropped_are_split_by_protocol(served):
    ctx, _, port, _ = served
    ctx.counters.malformed.count("pptp: unknown GRE call id", 7)
    ctx.counters.malformed.count("l2tp: short header")
    ctx.counters.dropped.count("l2tp: socket buffer full", 2)
    smp = scrape(port)
    assert value(smp, "rrasctl_malformed_packets_total", protocol="pptp", reason="unknown GRE call id") == 7
    assert value(smp, "rrasctl_malformed_packets_total", protocol="l2tp", reason="short header") == 1
    assert value(smp, "rrasctl_dropped_packets_total", protocol="l2tp", reason="socket buffer full") == 2


def test_per_session_series_behind_the_flag(served, tmp_path):
    ctx, _, port, _ = served
    s = ctx.sessions.add(Session("l2tp", 0, peer="198.51.100.7:1701", user="carol", direction=Direction.INBOUND))
    s.bytes_in = 99
    ctx.config = validate({"server": {"edition": "web", "metrics_per_session": True}})
    smp = scrape(port)
    lv = dict(id=s.id, port="L2TP-0", protocol="l2tp", user="carol", interface="", peer="198.51.100.7:1701",
              direction="in")
    assert value(smp, "rrasctl_session_bytes_total", flow="in", **lv) == 99
    assert value(smp, "rrasctl_session_start_time_seconds", **lv) == s.started


def test_event_loop_lag_and_engine_status_keys(served):
    ctx, _, port, _ = served
    ctx.metrics.lag.add(10.0, 0.25)
    ctx.metrics.lag.add(11.0, 0.01)
    smp = scrape(port)
    assert value(smp, "rrasctl_event_loop_lag_seconds") == 0.01
    assert value(smp, "rrasctl_event_loop_lag_max_seconds") == 0.25
    d = ctx.metrics.describe()
    assert d["event_loop"] == {"lag_s": 0.01, "lag_max_s": 0.25, "probes": 2}
    assert d["metrics"]["state"] == "listening"


@pytest.mark.parametrize("request_,status", [
    (b"GET /nothing HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
    (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"),
    (b"GARBAGE\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    (b"GET / HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK"),
])
def test_http_answers(served, request_, status):
    _, server, port, _ = served
    got, headers, _ = asyncio.get_event_loop().run_until_complete(http(port, request_))
    assert got == status and headers["Connection"] == "close"
    assert server.scrapes == 0


def test_head_has_no_body_and_a_long_head_is_refused(served):
    _, _, port, _ = served
    loop = asyncio.get_event_loop()
    status, headers, body = loop.run_until_complete(http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n"))
    assert status == "HTTP/1.1 200 OK" and body == b"" and int(headers["Content-Length"]) > 1000
    status, _, _ = loop.run_until_complete(http(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"))
    assert status == "HTTP/1.1 400 Bad Request"


def test_reconfigure_moves_and_stops_the_endpoint(served):
    _, server, port, _ = served
    loop = asyncio.get_event_loop()
    loop.run_until_complete(server.reconfigure(None))
    assert server.describe()["state"] == "off"
    with pytest.raises(OSError):
        loop.run_until_complete(asyncio.open_connection("127.0.0.1", port))
    loop.run_until_complete(server.reconfigure("127.0.0.1:0"))
    assert server.describe()["state"] == "listening"
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        taken = blocker.getsockname()[1]
        loop.run_until_complete(server.reconfigure(f"127.0.0.1:{taken}"))
        assert server.describe() == {"listen": f"127.0.0.1:{taken}", "state": "not available: Address already in use",
                                     "scrapes": 0}
    finally:
        blocker.close()


def test_loopback_check():
    assert exporter.is_loopback("127.0.0.1") and exporter.is_loopback("::1") and exporter.is_loopback("localhost")
    assert not exporter.is_loopback("0.0.0.0") and not exporter.is_loopback("203.0.113.1")
    assert exporter.parse_listen("[::1]:9477") == ("::1", 9477)
