"""The control socket end to end without root: engine parts + ControlServer + Ops on a loop in a thread, the
blocking client from the test thread. A fake driver stands in for PPTP to exercise sessions, ports, dial, refusals."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading

import pytest

from rrasctl.control import messages
from rrasctl.control.client import call
from rrasctl.engine.control_server import ControlServer
from rrasctl.engine.drivers import DialFailed
from rrasctl.engine.ops import Ops
from rrasctl.engine.run import build_context, load_config, make_reload
from rrasctl.engine.sessions import Direction, Session
from rrasctl.errors import Conflict, EngineUnavailable, NotFound, RrasctlError, ValidationError
from rrasctl.paths import resolve
from rrasctl.protocols.causes import Cause
from rrasctl.router.admission import Protocol, Refuse, Use

CONFIG = """\
[server]
edition = "web"

[auth]
accounting = "local"

[ports.pptp]
count = 3

[demand_dial.branch]
destination = "203.0.113.2"
user = "hq"
type = "pptp"

[demand_dial.dead]
destination = "203.0.113.9"
user = "hq"
type = "pptp"

[demand_dial.off]
destination = "203.0.113.3"
user = "hq"
type = "pptp"
enabled = false

[demand_dial.l2only]
destination = "203.0.113.4"
user = "hq"
type = "l2tp"
"""


class FakeDriver:
    protocol = "pptp"

    def __init__(self) -> None:
        self.stopped = False
        self.hung_up: list[str] = []

    async def start(self, ctx) -> None:
        self.ctx = ctx

    async def stop(self, ctx) -> None:
        self.stopped = True

    def status(self):
        return {"listening": "fake"}

    def inbound(self, peer: str, user: str, ip: str) -> Session | Refuse:
        """What a real driver does for an inbound call, using the context helpers."""
        ctx = self.ctx
        verdict = ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND)
        if isinstance(verdict, Refuse):
            ctx.refused(verdict.cause, protocol="pptp", peer=peer, user=user, wire=verdict.refusal.wire,
                        detail=verdict.refusal.detail)
            return verdict
        s = ctx.sessions.add(Session("pptp", verdict.port, peer, user=user, auth="ms-chap-v2",
                                     encryption="mppe-128"))

        async def hang_up(cause: Cause) -> None:
            self.hung_up.append(cause)
            ctx.session_down(s, cause)
        s.disconnect = hang_up
        ctx.session_up(s, ip)
        return s

    def inbound_router_out(self) -> Session:
        ctx = self.ctx
        v = ctx.admission.try_admit(Protocol.PPTP, Use.ROUTER_OUT)
        s = ctx.sessions.add(Session("pptp", v.port, "203.0.113.2", direction=Direction.OUTBOUND, interface="x"))
        ctx.session_up(s, "10.1.0.9")
        return s

    async def connect(self, ctx, peer, iface, glue, holder):
        """The dial skeleton's protocol step (engine/calls.py), faked: the call comes up a moment later."""
        if peer == "203.0.113.9":
            raise DialFailed(Cause.NO_ANSWER)
        call = holder["call"] = ctx.runner.attach("pptp", glue.session, glue, _FakeCore(), _FakeCarrier())
        ctx.runner.start(call)

        def up() -> None:
            glue.progress("registering")
            ctx.session_up(glue.session, "10.1.0.1")
            call.up.set_result(glue.session)
        ctx.loop.call_soon(up)
        return call


class _FakeCore:
    link = None

    def open(self, now):
        return []

    def close(self, cause, now, detail=""):
        return []

    def take_output(self):
        return []

    def next_timer(self):
        return None


class _FakeCarrier:
    def send(self, packets):
        pass

    def clear(self, call, cause, now):
        pass

    def release(self, call):
        pass


class Engine:
    """Runs the engine's control side on a private loop in a thread."""

    def __init__(self, paths) -> None:
        self.paths = paths
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "engine thread did not start"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._setup())
        self.ready.set()
        self.loop.run_forever()

    async def _setup(self) -> None:
        cfg = load_config(self.paths.config)
        self.ctx = build_context(asyncio.get_running_loop(), self.paths, cfg)
        os.makedirs(self.paths.state_dir, exist_ok=True)
        self.driver = FakeDriver()
        await self.driver.start(self.ctx)
        self.ctx.drivers["pptp"] = self.driver
        self.ops = Ops(self.ctx, reload=make_reload(self.ctx, self.paths),
                       listeners={"pptp": "fake", "l2tp": "not available yet"}, started=0.0, version="t")
        self.server = ControlServer(self.paths.socket, self.ops.table())
        await self.server.start()

    def run(self, fn, *args):
        """Run a plain function on the engine's loop thread and return its result."""
        async def wrap():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def engine(_isolated_env):
    paths = resolve()
    paths.config.parent.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(CONFIG)
    e = Engine(paths)
    yield e
    e.close()


def sock(engine) -> str:
    return str(engine.paths.socket)


def test_socket_mode_0600_and_status(engine):
    st = os.stat(sock(engine))
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    s = call(sock(engine), "status")
    assert s["running"] is True and s["edition"] == "web" and s["max_concurrent"] == 1
    assert s["listeners"] == {"pptp": "fake", "l2tp": "not available yet"}
    assert s["ports"][0] == {"protocol": "pptp", "count": 3, "remote_access": True, "demand_dial": True,
                             "in_use": 0, "available": True}
    assert s["drivers"] == {"pptp": {"listening": "fake"}}


def test_every_documented_op_has_a_handler(engine):
    assert set(engine.ops.table()) == set(messages.OPS)


def test_unknown_op_and_bad_json_are_invalid(engine):
    with pytest.raises(ValidationError, match="unknown operation 'nope'"):
        call(sock(engine), "nope")
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock(engine))
    c.sendall(b"{not json\n" + messages.encode(messages.request(9, "ports.list")))
    f = c.makefile("rb")
    first, second = messages.decode(f.readline()), messages.decode(f.readline())
    c.close()
    assert first["ok"] is False and first["error"]["kind"] == "invalid"
    assert second["ok"] is True and second["id"] == 9 and len(second["result"]) == 2   # same connection goes on


def test_sessions_rows_show_disconnect_and_accounting(engine):
    s = engine.run(engine.driver.inbound, "198.51.100.7", "alice", "10.87.0.2")
    rows = call(sock(engine), "connections.list")
    assert [r["user"] for r in rows] == ["alice"] and rows[0]["port"] == "PPTP-0" and rows[0]["ip"] == "10.87.0.2"
    shown = call(sock(engine), "connections.show", {"id": s.id})
    assert shown["state"] == "up" and shown["session_id"] == f"{engine.ctx.accounting.instance}-1"
    ports = call(sock(engine), "ports.show", {"protocol": "pptp"})["ports"]
    assert [(p["port"], p["state"], p["user"]) for p in ports] == [
        ("PPTP-0", "active", "alice"), ("PPTP-1", "listening", None), ("PPTP-2", "listening", None)]
    with pytest.raises(NotFound, match="no connection 99"):
        call(sock(engine), "connections.show", {"id": 99})
    assert call(sock(engine), "connections.disconnect", {"id": s.id}) == {"id": s.id, "disconnected": True}
    assert engine.driver.hung_up == [Cause.ADMIN_DISCONNECT]
    assert call(sock(engine), "connections.list") == []
    lines = (engine.paths.state_dir / "accounting.jsonl").read_text().splitlines()
    import json
    recs = [json.loads(x) for x in lines]
    assert [r["event"] for r in recs] == ["start", "stop"]
    assert recs[1]["cause"] == "admin_disconnect" and recs[1]["port"] == "PPTP-0"
    assert recs[0]["session_id"] == recs[1]["session_id"] == shown["session_id"]


def test_web_edition_refusal_is_recorded_and_listed(engine):
    engine.run(engine.driver.inbound, "198.51.100.7", "alice", "10.87.0.2")
    v = engine.run(engine.driver.inbound, "198.51.100.8", "bob", "10.87.0.3")
    assert isinstance(v, Refuse)
    refusals = call(sock(engine), "connections.refusals")
    assert len(refusals) == 1
    r = refusals[0]
    assert (r["peer"], r["user"], r["protocol"], r["reason"], r["wire_code"], r["windows_error"]) == (
        "198.51.100.8", "bob", "pptp", "edition_cap", "OCRP result 4 (busy)", 676)
    status = call(sock(engine), "status")
    assert status["counters"]["refused"] == {"edition_cap": 1}
    assert status["counters"]["accepted"] == {"pptp": 1}
    assert len(call(sock(engine), "connections.list")) == 1     # the first one untouched


def test_ports_remove_check(engine):
    engine.run(engine.driver.inbound, "198.51.100.7", "alice", "10.87.0.2")
    engine.run(engine.driver.inbound_router_out)
    # count = the pool size after the change; PPTP-0 (alice) and PPTP-1 (outbound) are live
    assert call(sock(engine), "ports.remove_check", {"protocol": "pptp", "count": 2, "force": False}) == {
        "protocol": "pptp", "count": 2, "remove": 1, "affected": [], "disconnected": []}
    with pytest.raises(Conflict, match="PPTP-1, PPTP-0 carry live connections") as exc:
        call(sock(engine), "ports.remove_check", {"protocol": "pptp", "count": 0, "force": False})
    assert exc.value.hint == "add --force to disconnect them (highest-numbered first)"
    with pytest.raises(Conflict, match="^PPTP-1 carries live connections"):
        call(sock(engine), "ports.remove_check", {"protocol": "pptp", "count": 1, "force": False})
    assert len(call(sock(engine), "connections.list")) == 2      # a refused check touches nobody
    r = call(sock(engine), "ports.remove_check", {"protocol": "pptp", "count": 0, "force": True})
    assert r["affected"] == ["PPTP-1", "PPTP-0"] and r["disconnected"] == [2, 1]   # highest-numbered first
    assert call(sock(engine), "connections.list") == []
    with pytest.raises(ValidationError):
        call(sock(engine), "ports.show", {"protocol": "sstp"})


def test_demand_dial_connect_progress_status_disconnect(engine):
    seen: list[str] = []
    row = call(sock(engine), "demand_dial.connect", {"name": "branch", "wait": True}, on_progress=seen.append)
    assert seen == ["resolving", "connecting", "verifying user name and password", "registering", "connected"]
    assert row["state"] == "connected" and row["protocol"] == "pptp"
    assert call(sock(engine), "demand_dial.status", {"name": "branch"})["state"] == "connected"
    states = {r["name"]: r["state"] for r in call(sock(engine), "demand_dial.status", {"name": None})}
    assert states == {"branch": "connected", "dead": "disconnected", "off": "disabled", "l2only": "disconnected"}
    assert call(sock(engine), "demand_dial.disconnect", {"name": "branch"})["state"] == "disconnected"
    assert call(sock(engine), "connections.list") == []


def test_demand_dial_failures(engine):
    with pytest.raises(RrasctlError, match=r"dead is unreachable: the remote computer did not respond \(error 800\)"):
        call(sock(engine), "demand_dial.connect", {"name": "dead", "wait": True})
    st = call(sock(engine), "demand_dial.status", {"name": "dead"})
    assert (st["state"], st["windows_error"], st["unreachable_reason"]) == ("unreachable", 800, "CONNECTION_FAILURE")
    with pytest.raises(NotFound):
        call(sock(engine), "demand_dial.connect", {"name": "ghost"})
    with pytest.raises(Conflict, match="off is disabled"):
        call(sock(engine), "demand_dial.connect", {"name": "off"})
    with pytest.raises(RrasctlError, match="the l2tp driver is not available yet") as exc:
        call(sock(engine), "demand_dial.connect", {"name": "l2only"})
    assert exc.value.exit_code == 1


def test_reload_bad_config_keeps_the_old_one(engine):
    engine.paths.config.write_text(CONFIG.replace('edition = "web"', 'edition = "enterprise"'))
    assert call(sock(engine), "reload")["reloaded"] is True
    assert call(sock(engine), "status")["max_concurrent"] is None
    engine.paths.config.write_text("[server\nedition = 1\n")
    with pytest.raises(ValidationError, match="the configuration was not reloaded") as exc:
        call(sock(engine), "reload")
    assert exc.value.exit_code == 2
    s = call(sock(engine), "status")
    assert s["edition"] == "enterprise" and s["ports"][0]["count"] == 3


def test_a_second_server_on_the_same_path_is_a_conflict(engine):
    with pytest.raises(Conflict, match="another engine is already running"):
        ControlServer(engine.paths.socket, {}).claim()


def test_stale_socket_file_is_replaced(tmp_path):
    path = tmp_path / "s.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()                                   # a dead engine's leftover
    srv = ControlServer(path, {})
    fresh = srv.claim()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    fresh.close()
    srv.unlink()
    assert not path.exists()
    with pytest.raises(EngineUnavailable):
        call(str(path), "status")


def test_garbage_requests_never_break_the_server(engine):
    import random

    rnd = random.Random(7)
    shapes = [b"[]", b"null", b'{"v":1}', b'{"v":1,"op":5}', b'{"v":1,"op":"status","args":[]}',
              b'{"v":2,"op":"status"}', b'{"v":1,"op":"connections.show","args":{"id":"x"}}',
              b'{"v":1,"op":"ports.remove_check","args":{"protocol":"pptp","count":"many"}}',
              b'{"v":1,"op":"demand_dial.connect","args":{"name":5}}']
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock(engine))
    f = c.makefile("rb")
    kinds = set()
    for i in range(500):
        line = rnd.choice(shapes) if i % 2 else bytes(rnd.randrange(1, 256) for _ in range(rnd.randrange(1, 40)))
        line = line.replace(b"\n", b" ")
        if not line.strip():
            continue
        c.sendall(line + b"\n")
        try:
            reply = messages.decode(f.readline())
        except messages.BadMessage:
            raise AssertionError(f"the server answered {line!r} with a non-message")
        assert reply["ok"] is False
        kinds.add(reply["error"]["kind"])
    c.close()
    assert kinds == {"invalid", "not_found"}
    assert call(sock(engine), "status")["running"] is True
