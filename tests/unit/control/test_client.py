"""control/client.py against a scripted Unix-socket server in a thread (no engine, no asyncio)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from rrasctl.control import messages
from rrasctl.control.client import call
from rrasctl.errors import Conflict, EngineUnavailable, NotFound, RrasctlError


class ScriptedServer:
    """Accepts one connection, records the request line, answers with the given lines."""

    def __init__(self, path: str, replies: list[bytes]) -> None:
        self.path, self.replies, self.request = path, replies, None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            f = conn.makefile("rb")
            self.request = json.loads(f.readline())
            for line in self.replies:
                conn.sendall(line)

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "c.sock")


def test_missing_socket_is_engine_unavailable_naming_the_path(sock_path):
    with pytest.raises(EngineUnavailable) as exc:
        call(sock_path, "status")
    assert exc.value.exit_code == 5
    assert sock_path in exc.value.message
    assert exc.value.hint == "start it with: rrasctl engine run"


def test_socket_file_without_listener_is_engine_unavailable(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock_path)  # bound, never listening: connect is refused
    try:
        with pytest.raises(EngineUnavailable):
            call(sock_path, "status")
    finally:
        s.close()


def test_ok_reply_returns_result_and_sends_the_documented_request(sock_path):
    srv = ScriptedServer(sock_path, [b'{"v":1,"id":1,"ok":true,"result":{"a":[1,2]}}\n'])
    assert call(sock_path, "connections.show", {"id": 3}) == {"a": [1, 2]}
    srv.close()
    assert srv.request["v"] == 1 and srv.request["op"] == "connections.show"
    assert srv.request["args"] == {"id": 3} and isinstance(srv.request["id"], int)


def test_progress_lines_reach_the_callback_in_order(sock_path):
    srv = ScriptedServer(sock_path, [
        messages.encode(messages.progress(1, "resolving")),
        messages.encode(messages.progress(1, "connecting")),
        messages.encode(messages.ok(1, {"state": "connected"})),
    ])
    seen: list[str] = []
    assert call(sock_path, "demand_dial.connect", {"name": "b"}, on_progress=seen.append) == {"state": "connected"}
    srv.close()
    assert seen == ["resolving", "connecting"]


@pytest.mark.parametrize("kind,cls,code", [("not_found", NotFound, 3), ("conflict", Conflict, 4),
                                           ("failed", RrasctlError, 1), ("weird", RrasctlError, 1)])
def test_error_reply_raises_the_class_of_its_kind(sock_path, kind, cls, code):
    srv = ScriptedServer(sock_path, [messages.encode(messages.error(1, kind, "no connection 17", "try list"))])
    with pytest.raises(cls) as exc:
        call(sock_path, "connections.show", {"id": 17})
    srv.close()
    assert type(exc.value) is cls and exc.value.exit_code == code
    assert exc.value.message == "no connection 17" and exc.value.hint == "try list"


def test_close_without_answer_is_engine_unavailable(sock_path):
    srv = ScriptedServer(sock_path, [])
    with pytest.raises(EngineUnavailable, match="without answering"):
        call(sock_path, "status")
    srv.close()


def test_garbage_reply_is_a_runtime_error_not_a_traceback(sock_path):
    srv = ScriptedServer(sock_path, [b"hello\n"])
    with pytest.raises(RrasctlError, match="unexpected reply") as exc:
        call(sock_path, "status")
    srv.close()
    assert exc.value.exit_code == 1


def test_silent_engine_times_out_as_unavailable(sock_path):
    ready = threading.Event()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock_path)
    s.listen(1)
    try:
        with pytest.raises(EngineUnavailable, match="did not answer within 0.2 s"):
            call(sock_path, "status", timeout=0.2)
    finally:
        ready.set()
        s.close()


def test_client_imports_no_asyncio():
    code = "import sys, rrasctl.control.client; print('asyncio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ})
    assert out.stdout.strip() == "False"
