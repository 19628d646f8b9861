"""Helpers shared by the tests: data paths, a deterministic rng, the root check.

Import them as `from support import fixed_rng` (pyproject puts tests/ on pytest's pythonpath). Never import
from `conftest`: several conftest.py files exist, and whichever pytest loaded first owns that module name.
"""

from __future__ import annotations

import os
import random
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
