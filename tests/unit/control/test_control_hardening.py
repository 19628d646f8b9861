"""Issue 13, hole 7: the control socket under hostile or careless clients (decision 0142).

Deep nesting gets an error reply (not a RecursionError), an over-long line gets one, a client that never sends is
closed, one client over the limit is told `busy`, a full listen queue makes the CLI say "busy" (exit 1) rather than
"not running" (exit 5), and 20,000 fuzzed requests each get a well-formed reply and raise nothing but the project's
own errors. Waits poll a condition with a deadline (select), never sleep."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import random
import select
import socket
import time

import pytest

from rrasctl.control import messages
from rrasctl.control.client import call
from rrasctl.errors import BY_KIND, EngineBusy, EngineUnavailable
from test_control_server import engine  # noqa: F401  (the fixture: engine parts + server on a loop thread)


def _connect(path: str) -> socket.socket:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    return c


def _read_line(c: socket.socket, deadline_s: float = 10.0) -> bytes:
    buf = b""
    end = time.monotonic() + deadline_s
    while b"\n" not in buf:
        left = end - time.monotonic()
        assert left > 0, f"no reply line within {deadline_s} s: {buf[:200]!r}"
        r, _, _ = select.select([c], [], [], left)
        if r:
            chunk = c.recv(65536)
            if not chunk:
                return buf
            buf += chunk
    return buf


def _closed_within(c: socket.socket, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while (left := end - time.monotonic()) > 0:
        r, _, _ = select.select([c], [], [], left)
        if r and c.recv(65536) == b"":
            return True
    return False


def test_a_line_of_100000_brackets_gets_an_error_reply_and_the_connection_goes_on(engine):
    c = _connect(str(engine.paths.socket))
    c.sendall(b"[" * 100_000 + b"\n")
    reply = messages.decode(_read_line(c))
    assert reply == messages.error(None, "invalid", "bad request: nested deeper than 32 levels")
    deep_object = b'{"v":1,"id":3,"op":"status","args":' + b'{"a":' * 40 + b"1" + b"}" * 41 + b"\n"
    c.sendall(deep_object)
    assert messages.decode(_read_line(c))["error"]["message"] == "bad request: nested deeper than 32 levels"
    # brackets inside strings do not count; 32 levels are accepted
    ok = {"v": 1, "id": 4, "op": "ports.list", "args": {"x": "[" * 5000, "n": json.loads("[" * 30 + "]" * 30)}}
    c.sendall(messages.encode(ok))
    assert messages.decode(_read_line(c))["ok"] is True
    c.close()


def test_nesting_is_measured_without_recursion():
    assert messages.nesting(b"[" * 100_000) == 100_000
    assert messages.nesting('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [[1]]}') == 3
    assert messages.nesting(b'["\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]') == 1


def test_a_line_over_the_limit_gets_an_error_reply(engine):
    c = _connect(str(engine.paths.socket))
    c.sendall(b'{"v":1,"op":"status","args":{"x":"' + b"a" * (messages.MAX_REQUEST + 10) + b'"}}\n')
    reply = messages.decode(_read_line(c))
    assert reply["error"] == {"kind": "invalid", "message": f"request too long (the limit is {messages.MAX_REQUEST}"
                                                            " bytes)", "hint": None}
    c.close()


def test_a_client_that_never_sends_is_closed(engine):
    engine.server.read_timeout_s = 0.3
    c = _connect(str(engine.paths.socket))
    assert _closed_within(c, 10.0)
    assert engine.server.idle_closed == 1
    c.close()
    assert call(str(engine.paths.socket), "ports.list")[0]["protocol"] == "pptp"   # others are served


def test_one_client_over_the_limit_is_told_busy(engine):
    engine.server.max_clients = 2
    path = str(engine.paths.socket)
    idle = [_connect(path), _connect(path)]
    end = time.monotonic() + 10
    while len(engine.server._clients) < 2 and time.monotonic() < end:
        select.select([], [], [], 0.01)
    with pytest.raises(EngineBusy) as e:
        call(path, "status")
    assert e.value.exit_code == 1 and e.value.message == \
        "the engine is busy: it already serves 2 control connections"
    for c in idle:
        c.close()
    end = time.monotonic() + 10
    while engine.server._clients and time.monotonic() < end:
        select.select([], [], [], 0.01)
    assert call(path, "status")["running"] is True
    assert engine.server.busy_refused == 1


def test_a_full_listen_queue_is_busy_not_down(tmp_path):
    """The kernel refuses connects with EAGAIN while the queue is full: the engine runs, so exit 1, not 5."""
    path = str(tmp_path / "ctl.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(0)                             # never accepted: the queue fills at once
    queued = []
    while True:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(path)
        except BlockingIOError as exc:
            assert exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
            c.close()
            break
        queued.append(c)
        assert len(queued) < 100
    try:
        with pytest.raises(EngineBusy) as e:
            call(path, "status", timeout=0.3)
        assert e.value.exit_code == 1
        assert e.value.message == f"the engine is busy: its control socket {path} queues no more connections"
        assert e.value.hint == "it is running; try again in a moment"
    finally:
        for c in queued:
            c.close()
        server.close()
    with pytest.raises(EngineUnavailable) as gone:          # really not running: still exit 5
        call(path, "status", timeout=0.3)
    assert gone.value.exit_code == 5 and "not running" in gone.value.message


# ---- fuzz: 20,000 requests ----------------------------------------------------------------------------------------

_OPS = list(messages.OPS) + ["", "nope", "status ", "STATUS", "connections.show.x", "__class__", "reload\n"]
_NAMES = ["branch", "dead", "off", "l2only", "ghost", "", "../etc", "a" * 300]


def _value(r: random.Random, depth: int = 0):
    k = r.randrange(12 if depth < 45 else 8)
    if k == 0:
        return None
    if k == 1:
        return r.choice([True, False])
    if k == 2:
        return r.choice([0, -1, 1, 2, 3, 2 ** 31, -(2 ** 63), 10 ** 30, 10 ** 300])
    if k == 3:
        return r.choice([0.5, -0.0, 1e308, -1e308, 1e-320])
    if k == 4:
        return r.choice(["", "1", "pptp", "l2tp", "PPTP", "x" * 1000, "\u0000", "\ud7ff", "名", "1e9"])
    if k == 5:
        return r.choice(_NAMES)
    if k == 6:
        return r.randrange(-5, 50)
    if k == 7:
        return str(r.randrange(-5, 50))
    if k in (8, 9):
        return [_value(r, depth + 1) for _ in range(r.randrange(4))]
    return {r.choice(["id", "name", "count", "force", "wait", "protocol", "x"]): _value(r, depth + 1)
            for _ in range(r.randrange(4))}


def _line(r: random.Random) -> bytes:
    kind = r.randrange(10)
    if kind == 0:                                    # any JSON value at all
        return json.dumps(_value(r)).encode()
    if kind == 1:                                    # deep nesting, open or closed, arrays or objects
        n = r.choice([33, 40, 1000, 100_000 // 8])
        return (b"[" * n + b"]" * n * r.randrange(2)) if r.random() < 0.5 else b'{"a":' * n + b"1" + b"}" * n
    if kind == 2:                                    # garbage and truncated JSON
        good = messages.encode(messages.request(1, r.choice(_OPS), {"name": "branch"}))[:-1]
        return r.choice([r.randbytes(r.randrange(1, 200)).replace(b"\n", b" "), good[:r.randrange(len(good))],
                         b"\xff\xfe" + good, good.replace(b'"v":1', b'"v":2'), good.replace(b'"v":1', b'"v":1.0')])
    if kind == 3:                                    # numbers JSON allows and Python must survive
        return r.choice([b'{"v":1,"id":1,"op":"connections.show","args":{"id":1e999}}',
                         b'{"v":1,"id":1,"op":"connections.show","args":{"id":NaN}}',
                         b'{"v":1,"id":1,"op":"ports.remove_check","args":{"protocol":"pptp","count":-Infinity}}',
                         b'{"v":1,"id":1,"op":"connections.show","args":{"id":' + b"9" * 5000 + b"}}",
                         b'{"v":1,"id":' + b"1" * 400 + b',"op":"status"}'])
    req = {"v": 1, "id": _value(r) if r.random() < 0.2 else r.randrange(1000), "op": r.choice(_OPS)}
    if r.random() < 0.9:
        fields = messages.OPS.get(req["op"], ("x",))
        req["args"] = (_value(r) if r.random() < 0.15 else
                       {f: _value(r) for f in fields if r.random() < 0.8})
    if r.random() < 0.05:
        req.pop("v")
    return json.dumps(req).encode()


def test_control_protocol_fuzz_20000_requests(engine, caplog):
    r = random.Random(1342)
    lines = [_line(r) for _ in range(20_000)]

    async def run_all():
        replies = []
        for line in lines:
            replies.append(await engine.server.dispatch(line))
        return replies

    with caplog.at_level(logging.ERROR, logger="rrasctl"):
        replies = asyncio.run_coroutine_threadsafe(run_all(), engine.loop).result(600)
    assert len(replies) == 20_000
    kinds: dict[str, int] = {}
    for line, reply in zip(lines, replies):
        again = messages.decode(messages.encode(reply))           # well-formed: encodes and decodes
        assert again["v"] == 1 and isinstance(again["ok"], bool), line[:200]
        if not again["ok"]:
            err = again["error"]
            assert set(err) == {"kind", "message", "hint"} and isinstance(err["message"], str), line[:200]
            assert err["kind"] in BY_KIND, (line[:200], err)
            assert not err["message"].startswith("internal error"), (line[:200], err)   # project errors only
            kinds[err["kind"]] = kinds.get(err["kind"], 0) + 1
        else:
            kinds["ok"] = kinds.get("ok", 0) + 1
    assert [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR] == []
    print("control fuzz replies by kind:", dict(sorted(kinds.items())))
    assert kinds["ok"] > 1000 and kinds["invalid"] > 5000 and kinds["not_found"] > 100, kinds
    # and a sample through the socket itself, one connection, each line answered in turn
    c = _connect(str(engine.paths.socket))
    for line in lines[:300]:
        if len(line) > messages.MAX_REQUEST:
            continue
        c.sendall(line + b"\n")
        reply = messages.decode(_read_line(c))
        while "progress" in reply:
            reply = messages.decode(_read_line(c))
        assert isinstance(reply["ok"], bool)
    c.close()
