"""Prometheus metrics: custom collectors that read the engine's state at scrape time, served from the event loop.

Off by default; `rrasctl server set --metrics-listen 127.0.0.1:9477` switches it on (config `server.metrics_listen`),
`--metrics-per-session on` adds one series per live connection. The HTTP side is a minimal HTTP/1.1 server on
`asyncio.start_server` (GET /metrics; one request per connection), so `generate_latest()` runs on the loop thread and
no thread ever reads engine structures while the loop changes them (docs/decisions/0162).

Families (all prefixed `rrasctl_`):

    info{version,edition} 1                  start_time_seconds
    sessions{protocol,state}                 inbound_connections, inbound_limit (when the edition caps it)
    ports{protocol,status=in_use|free}       ports_configured{protocol}
    tunnels{protocol}                        address_pool_addresses{status=in_use|free}
    connections_accepted_total{protocol}     sessions_ended_total{cause}
    refusals_total{protocol,cause,windows_error}
    authentications_total{protocol,method,result,direction}
    traffic_bytes_total{protocol,direction}  traffic_packets_total{protocol,direction}
    malformed_packets_total{protocol,reason} dropped_packets_total{protocol,reason}
    tun_packets_total{result}
    demand_dial_state{interface,state} 1|0   (every configured interface, every state, down ones included)
    setup_seconds{protocol,direction}        (histogram: call admitted -> network layer up)
    event_loop_lag_seconds, event_loop_lag_max_seconds (largest in the last minute)
    session_bytes_total / session_packets_total / session_start_time_seconds {id,port,protocol,user,interface,
        peer,direction}                      (only with server.metrics_per_session)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

log = logging.getLogger(__name__)

PROTOCOLS = ("pptp", "l2tp")
SESSION_STATES = ("starting", "authenticating", "up", "closing")
DIAL_STATES = ("connected", "connecting", "disconnected", "unreachable", "disabled")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_HEAD = 8192
READ_TIMEOUT_S = 5.0


def _split(key: str) -> tuple[str, str]:
    """"pptp: short header" -> ("pptp", "short header"); a key without a prefix -> ("engine", key)."""
    proto, sep, reason = key.partition(": ")
    return (proto, reason) if sep and proto.isalnum() else ("engine", key)


class EngineCollector:
    """Reads the EngineContext (and the demand-dial rows) at each scrape."""

    def __init__(self, ctx: Any, *, version: str, started: float, dial_rows: Callable[[], list[dict[str, Any]]],
                 per_session: Callable[[], bool] = lambda: False) -> None:
        self.ctx, self.version, self.started = ctx, version, started
        self.dial_rows, self.per_session = dial_rows, per_session

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx
        rec = ctx.metrics
        cfg = ctx.config
        info = GaugeMetricFamily("rrasctl_info", "The engine's version and edition.", labels=["version", "edition"])
        info.add_metric([self.version, cfg.server.edition], 1)
        yield info
        yield GaugeMetricFamily("rrasctl_start_time_seconds", "When the engine started (Unix time).",
                                value=self.started)

        sessions = list(ctx.sessions)
        by_state = {(p, st): 0 for p in PROTOCOLS for st in SESSION_STATES}
        for s in sessions:
            key = (s.protocol, s.state.value)
            by_state[key] = by_state.get(key, 0) + 1
        g = GaugeMetricFamily("rrasctl_sessions", "Connections by protocol and state.", labels=["protocol", "state"])
        for (p, st), n in sorted(by_state.items()):
            g.add_metric([p, st], n)
        yield g
        adm = ctx.admission
        yield GaugeMetricFamily("rrasctl_inbound_connections", "Inbound connections counted against the edition cap.",
                                value=adm.inbound_count())
        if adm.edition_cap is not None:
            yield GaugeMetricFamily("rrasctl_inbound_limit", "The edition's cap on inbound connections.",
                                    value=adm.edition_cap)

        ports = GaugeMetricFamily("rrasctl_ports", "Ports per pool, in use and free.", labels=["protocol", "status"])
        conf = GaugeMetricFamily("rrasctl_ports_configured", "Ports configured per pool.", labels=["protocol"])
        for p in PROTOCOLS:
            count, used = adm.pool(p).count, adm.in_use(p)
            ports.add_metric([p, "in_use"], used)
            ports.add_metric([p, "free"], max(0, count - used))
            conf.add_metric([p], count)
        yield ports
        yield conf

        tunnels = GaugeMetricFamily("rrasctl_tunnels", "Control connections (PPTP) or tunnels (L2TP).",
                                    labels=["protocol"])
        for p, d in sorted(ctx.drivers.items()):
            try:
                st = d.status()
            except Exception:  # a driver's status bug must not break the scrape
                continue
            if isinstance(st.get("tunnels"), int):
                tunnels.add_metric([p], st["tunnels"])
        yield tunnels
        pool = ctx.addrpool
        ap = GaugeMetricFamily("rrasctl_address_pool_addresses", "Client address pool.", labels=["status"])
        ap.add_metric(["in_use"], pool.in_use)
        ap.add_metric(["free"], max(0, pool.size - pool.in_use))
        yield ap

        c = ctx.counters
        acc = CounterMetricFamily("rrasctl_connections_accepted", "Connections that came up.", labels=["protocol"])
        for p in PROTOCOLS:
            acc.add_metric([p], c.accepted.get(p, 0))
        yield acc
        ended = CounterMetricFamily("rrasctl_sessions_ended", "Connections that ended, by cause.", labels=["cause"])
        for cause, n in sorted(c.ended.items()):
            ended.add_metric([cause], n)
        yield ended
        ref = CounterMetricFamily("rrasctl_refusals", "Refused connection attempts by cause and the Windows error "
                                  "the client shows.", labels=["protocol", "cause", "windows_error"])
        for (p, reason, err), n in sorted(rec.refusals.items()):
            ref.add_metric([p, reason, err], n)
        yield ref
        auth = CounterMetricFamily("rrasctl_authentications", "PPP authentications by method and result.",
                                   labels=["protocol", "method", "result", "direction"])
        for key, n in sorted(rec.authentications.items()):
            auth.add_metric(list(key), n)
        yield auth

        traffic = rec.traffic(sessions)
        b = CounterMetricFamily("rrasctl_traffic_bytes", "IP bytes through the tunnels (in = from peers).",
                                labels=["protocol", "direction"])
        pk = CounterMetricFamily("rrasctl_traffic_packets", "IP packets through the tunnels (in = from peers).",
                                 labels=["protocol", "direction"])
        for p in PROTOCOLS:
            t = traffic.get(p, [0, 0, 0, 0])
            b.add_metric([p, "in"], t[0])
            b.add_metric([p, "out"], t[1])
            pk.add_metric([p, "in"], t[2])
            pk.add_metric([p, "out"], t[3])
        yield b
        yield pk
        for name, counter, what in (("rrasctl_malformed_packets", c.malformed, "Malformed packets dropped."),
                                    ("rrasctl_dropped_packets", c.dropped, "Packets dropped for other reasons.")):
            fam = CounterMetricFamily(name, what, labels=["protocol", "reason"])
            for key, n in sorted(counter.items()):
                fam.add_metric(list(_split(key)), n)
            yield fam
        reader = getattr(ctx, "tun_reader", None)
        if reader is not None:
            tun = CounterMetricFamily("rrasctl_tun_packets", "Packets read from the TUN device, by outcome.",
                                      labels=["result"])
            for k, v in sorted(reader.stats().items()):
                tun.add_metric([k], v)
            yield tun

        dd = GaugeMetricFamily("rrasctl_demand_dial_state", "Demand-dial interface state (1 = current).",
                               labels=["interface", "state"])
        for row in self.dial_rows():
            for st in DIAL_STATES:
                dd.add_metric([row["name"], st], 1 if row["state"] == st else 0)
        yield dd

        h = HistogramMetricFamily("rrasctl_setup_seconds", "Connection setup time: call admitted to network up.",
                                  labels=["protocol", "direction"])
        for (p, direction), hist in sorted(rec.setup.items()):
            h.add_metric([p, direction], hist.cumulative(), hist.sum)
        yield h
        yield GaugeMetricFamily("rrasctl_event_loop_lag_seconds", "Event loop lag at the last probe.",
                                value=rec.lag.last_s)
        yield GaugeMetricFamily("rrasctl_event_loop_lag_max_seconds", "Largest event loop lag in the last minute.",
                                value=rec.lag.max_s())
        if self.per_session():
            yield from self._per_session(sessions)

    @staticmethod
    def _per_session(sessions: list[Any]) -> Iterator[Metric]:
        labels = ["id", "port", "protocol", "user", "interface", "peer", "direction"]
        sb = CounterMetricFamily("rrasctl_session_bytes", "IP bytes of one connection.", labels=[*labels, "flow"])
        sp = CounterMetricFamily("rrasctl_session_packets", "IP packets of one connection.", labels=[*labels, "flow"])
        st = GaugeMetricFamily("rrasctl_session_start_time_seconds", "When the connection started (Unix time).",
                               labels=labels)
        for s in sorted(sessions, key=lambda s: s.id):
            lv = [str(s.id), s.port_name, s.protocol, s.user or "", s.interface or "", s.peer, s.direction.value]
            sb.add_metric([*lv, "in"], s.bytes_in)
            sb.add_metric([*lv, "out"], s.bytes_out)
            sp.add_metric([*lv, "in"], s.packets_in)
            sp.add_metric([*lv, "out"], s.packets_out)
            st.add_metric(lv, s.started)
        yield sb
        yield sp
        yield st


def parse_listen(value: str) -> tuple[str, int]:
    """"127.0.0.1:9477" / "[::1]:9477" -> (host, port). The config model validated it already."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsServer:
    """GET /metrics over HTTP/1.1 from the event loop; `reconfigure()` moves it (reload)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.listen: str | None = None
        self.error: str | None = None
        self.scrapes = 0
        self._server: asyncio.AbstractServer | None = None

    def describe(self) -> dict[str, Any]:
        state = "off" if self.listen is None else (f"not available: {self.error}" if self.error else "listening")
        return {"listen": self.listen, "state": state, "scrapes": self.scrapes}

    async def reconfigure(self, listen: str | None) -> None:
        """Serve on `listen` ("host:port") or stop serving (None). A failure to bind is logged, not raised."""
        if listen == self.listen and (self._server is not None or listen is None):
            return
        await self.close()
        self.listen, self.error = listen, None
        if listen is None:
            return
        host, port = parse_listen(listen)
        try:
            self._server = await asyncio.start_server(self._client, host, port, limit=MAX_HEAD, reuse_address=True)
        except OSError as exc:
            self.error = os.strerror(exc.errno) if exc.errno else str(exc)
            log.error("metrics endpoint %s not available: %s", listen, self.error)
            return
        where = "" if is_loopback(host) else " (not loopback: anyone who can reach it can read the metrics)"
        log.info("metrics: http://%s/metrics%s", listen, where)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                pass
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            status, body, extra = self.respond(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError):
            status, body, extra = "400 Bad Request", b"bad request\n", {}
        except (ConnectionError, OSError):
            writer.close()
            return
        method = head.split(b" ", 1)[0]
        headers = {"Content-Type": extra.pop("Content-Type", "text/plain; charset=utf-8"),
                   "Content-Length": str(len(body)), "Connection": "close", **extra}
        out = [f"HTTP/1.1 {status}\r\n".encode()]
        out += [f"{k}: {v}\r\n".encode() for k, v in headers.items()]
        out.append(b"\r\n")
        if method != b"HEAD":
            out.append(body)
        try:
            writer.write(b"".join(out))
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def respond(self, head: bytes) -> tuple[str, bytes, dict[str, str]]:
        """The answer to one request head: (status line, body, extra headers)."""
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return "400 Bad Request", b"bad request\n", {}
        method, target, _ = parts
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", b"only GET\n", {"Allow": "GET, HEAD"}
        path = target.split("?", 1)[0]
        if path == "/metrics":
            self.scrapes += 1
            return "200 OK", generate_latest(self.registry), {"Content-Type": CONTENT_TYPE}
        if path == "/":
            return "200 OK", b"rrasctl engine: metrics at /metrics\n", {}
        return "404 Not Found", b"not found: try /metrics\n", {}


def build(ctx: Any, *, version: str, started: float, dial_rows: Callable[[], list[dict[str, Any]]]) -> MetricsServer:
    """A registry with the engine collector and the server that serves it (not listening until reconfigure)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(ctx, version=version, started=started, dial_rows=dial_rows,
                                      per_session=lambda: bool(getattr(ctx.config.server, "metrics_per_session",
                                                                       False))))
    server = MetricsServer(registry)
    ctx.metrics.exporter = server      # `engine status` describes it
    return server
