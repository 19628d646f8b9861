"""Two real engines (`rrasctl engine run`) in two network namespaces joined by a veth on 203.0.113.0/24.

LNS in namespace A (203.0.113.1, tunnel address 198.51.100.1, pool 198.51.100.16/28), LAC in namespace B
(203.0.113.2) with demand-dial interface `hq` of type l2tp. Waits poll conditions with deadlines (select on the
engine's stderr, or the control socket); nothing sleeps on the wall clock.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PY = sys.executable


def sh(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, **kw)


@dataclass
class Node:
    name: str                 # netns name
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log: bytes = b""

    def cli(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        p = subprocess.run([PY, "-m", "rrasctl", *args], env=self.env, input=stdin, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"rrasctl {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def json(self, *args: str):
        return json.loads(self.cli(*args, "-o", "json").stdout)

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = dict(self.env, **(extra_env or {}))
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.name, PY, "-m", "rrasctl", "engine", "run"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.wait_log("engine ready")

    def wait_log(self, needle: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while needle.encode() not in self.log:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {needle!r} in {self.name}'s log within {timeout} s:\n{self.log.decode()}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"engine {self.name} exited before {needle!r}:\n{self.log.decode()}")
                self.log += chunk
        return self.log.decode()

    def drain_log(self) -> str:
        fd = self.proc.stderr.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.log += chunk
        return self.log.decode()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        else:
            rc = self.proc.returncode
        self.log += self.proc.stderr.read()
        return rc

    def ns(self, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True,
                              check=check, timeout=timeout)


def poll(cond, timeout: float = 30.0, what: str = "condition"):
    """Poll `cond` until truthy, waiting on select() with a deadline between tries (no sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        select.select([], [], [], 0.1)


class Lab:
    def __init__(self, tmp: Path, tag: str) -> None:
        base = f"rr{os.getpid() % 100000}{tag}"
        self.a = Node(base + "a", tmp / "a")
        self.b = Node(base + "b", tmp / "b")
        self.veth = f"v{os.getpid() % 100000}{tag}"

    def __enter__(self) -> "Lab":
        a, b = self.a, self.b
        sh("ip", "netns", "add", a.name)
        sh("ip", "netns", "add", b.name)
        sh("ip", "link", "add", self.veth + "a", "netns", a.name, "type", "veth", "peer", "name", self.veth + "b",
           "netns", b.name)
        for n, ip, dev in ((a, "203.0.113.1/24", self.veth + "a"), (b, "203.0.113.2/24", self.veth + "b")):
            n.ns("ip", "link", "set", "lo", "up")
            n.ns("ip", "addr", "add", ip, "dev", dev)
            n.ns("ip", "link", "set", dev, "up")
        for n in (a, b):
            n.home.mkdir(parents=True)
            n.env = dict(os.environ, RRASCTL_CONFIG=str(n.home / "rrasctl.toml"),
                         RRASCTL_STATE_DIR=str(n.home / "state"), RRASCTL_SOCKET=str(n.home / "state" / "ctl.sock"),
                         NO_COLOR="1")
        return self

    def __exit__(self, *exc) -> None:
        for n in (self.a, self.b):
            try:
                n.stop()
            except Exception:
                pass
        sh("ip", "netns", "del", self.a.name, check=False)
        sh("ip", "netns", "del", self.b.name, check=False)

    def configure(self, method: str = "ms-chap-v2", secret: str | None = None, hide: bool = False,
                  password: str = "wonderland", ports: int = 5, edition: str = "standard") -> None:
        a, b = self.a, self.b
        a.cli("server", "set", "--edition", edition, "--address-pool", "198.51.100.16/28", "--tunnel-address",
              "198.51.100.1", "--listen-address", "203.0.113.1")
        a.cli("ports", "set", "l2tp", "--count", str(ports))
        a.cli("auth", "set", "--methods", method, "--encryption", "none")
        a.cli("users", "add", "alice", "--password-stdin", "--dial-in", "allow", stdin="wonderland\n")
        b.cli("server", "set", "--address-pool", "198.51.100.32/28", "--tunnel-address", "198.51.100.33",
              "--listen-address", "203.0.113.2")
        b.cli("auth", "set", "--methods", method, "--encryption", "none")
        b.cli("demand-dial", "add", "hq", "--destination", "203.0.113.1", "--type", "l2tp", "--user", "alice",
              "--password-stdin", "--encryption", "none", "--on-demand", stdin=password + "\n")
        for n in (a, b):
            if secret is not None:
                n.cli("server", "set", "--l2tp-secret-stdin", *(["--l2tp-hide-avps"] if hide else []),
                      stdin=secret + "\n")
