"""Helpers shared by the tests: data paths, a deterministic rng, the root check.

Import them as `from support import fixed_rng` (pyproject puts tests/ on pytest's pythonpath). Never import
from `conftest`: several conftest.py files exist, and whichever pytest loaded first owns that module name.
"""

from __future__ import annotations

import os
import pty
import random
import re
import select
import signal
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
VECTORS = Path(__file__).resolve().parent / "vectors"
CAPTURES = DATA / "captures"


def fixed_rng(seed: int = 0x5A):
    """A deterministic rng for cores: reproducible bytes for a given seed."""
    r = random.Random(seed)
    return lambda n: bytes(r.getrandbits(8) for _ in range(n))


def is_root() -> bool:
    return os.geteuid() == 0


# -- CI=true: a skip for a missing tool or lab is a failure (tests/conftest.py, decision 0127) ----------------------
OUTSIDE = "outside the project: "


def ci() -> bool:
    """True under CI (CI=true, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_outside(reason: str):
    """Skip for a reason outside the project (a shared lab that did not build because its package archive did not
    answer, another run holding the lab): allowed under CI=true, unlike a missing tool."""
    import pytest

    pytest.skip(OUTSIDE + reason)


def allowed_under_ci(reason: str) -> bool:
    """The skips CI=true accepts: the long runs (RRASCTL_LONG) and reasons outside the project."""
    return "RRASCTL_LONG" in reason or OUTSIDE.strip() in reason


class FakeEngine:
    """A scripted control socket at PATH (no root): answers each request with handlers[op](id, args) -> the reply
    dicts to send (progress lines, then the final one); `calls` records (op, args)."""

    def __init__(self, path: str, handlers: dict) -> None:
        import socket
        import threading

        self.handlers, self.calls = handlers, []
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from rrasctl.control import messages

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                if not buf:
                    continue
                req_id, op, args = messages.parse_request(messages.decode(buf))
                self.calls.append((op, args))
                handler = self.handlers.get(op, lambda i, a: [messages.error(i, "invalid", f"unknown op {op}")])
                for reply in handler(req_id, args):
                    conn.sendall(messages.encode(reply))

    def close(self) -> None:
        self.sock.close()


# ---- pseudo-terminal helpers (connections watch): run a program on an 80x24 pty, read its screen, wait for exit

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


def read_until(fd: int, pred, timeout: float = 20.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while not pred(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; got {buf[-2000:]!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def spawn_in_pty(argv: list[str], env: dict[str, str], cols: int = 80, rows: int = 24) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:                                            # child: the terminal is 80x24
        os.execvpe(argv[0], argv, env)
    fcntl_winsize(fd, rows, cols)
    return pid, fd


def fcntl_winsize(fd: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def wait_exit(pid: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        select.select([], [], [], 0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("did not exit")


def screen_lines(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;]*[Hf]", "\n", text)            # a cursor jump starts a new screen line
    text = ANSI.sub("", text).replace("\r", "")
    return [line for line in text.split("\n")]


