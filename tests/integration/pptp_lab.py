"""Two (or more) rrasctl engines in network namespaces for the PPTP integration tests (test helper).

Topology: a server namespace with a bridge (203.0.113.1/24) and one namespace per client, each joined to the bridge
by a veth (203.0.113.(10+n)/24). `Lab(..., direct=True)` instead joins one client namespace to the server namespace by
a plain veth pair (203.0.113.1 on the server's end, no bridge, so no br_netfilter): the benchmarks' topology. Every engine runs `python -m rrasctl engine run` with its own scratch config, state
dir and control socket (RRASCTL_CONFIG / RRASCTL_STATE_DIR / RRASCTL_SOCKET). Waits poll a condition with a
deadline, blocking in select() or on a threading.Event between tries; nothing sleeps.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
NET_HELPER = Path(__file__).resolve().parent / "pptp_net.py"
SERVER_IP = "203.0.113.1"


def run(*args: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    """Poll `cond` until truthy or the deadline; returns the last value. Waits in select(), never sleeps."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= deadline:
            return value
        select.select([], [], [], step)


class Engine:
    """One `rrasctl engine run` in a namespace, with its own config."""

    def __init__(self, ns: str, home: Path, name: str) -> None:
        self.ns, self.home, self.name = ns, home, name
        home.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, RRASCTL_CONFIG=str(home / "rrasctl.toml"), RRASCTL_STATE_DIR=str(home / "state"),
                        RRASCTL_SOCKET=str(home / "state" / "ctl.sock"), NO_COLOR="1", PYTHONUNBUFFERED="1")
        self.env.pop("RRASCTL_OUTPUT", None)
        self.proc: subprocess.Popen | None = None
        self.log: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def cli(self, *args: str, stdin: str | None = None, check: bool = False, timeout: float = 60.0
            ) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns, sys.executable, "-m", "rrasctl", *args],
                              input=stdin, capture_output=True, text=True, env=self.env, check=check,
                              timeout=timeout)

    def json(self, *args: str) -> Any:
        res = self.cli(*args, "-o", "json")
        assert res.returncode == 0, (args, res.stdout, res.stderr)
        return json.loads(res.stdout)

    def start(self, timeout: float = 20.0, *, extra_env: dict[str, str] | None = None) -> None:
        env = dict(self.env, **(extra_env or {}))
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-m", "rrasctl", "engine", "run", "--log-level", os.environ.get("H6_LOG", "info")],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"engine {self.name} did not start:\n" + "".join(self.log))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if "engine ready" in line:
                self._ready.set()
        self._ready.set()

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ping(self, dst: str, count: int = 3, timeout_s: float = 2.0, src: str | None = None
             ) -> subprocess.CompletedProcess:
        args = ["ip", "netns", "exec", self.ns, sys.executable, str(NET_HELPER), "ping", dst, str(count),
                str(timeout_s)]
        if src:
            args.append(src)
        return subprocess.run(args, capture_output=True, text=True, timeout=count * timeout_s + 30)

    def connections(self) -> list[dict[str, Any]]:
        return self.json("connections", "list")


class Lab:
    """Namespaces, veths and engines; everything is removed by `close()` (call it in `finally`)."""

    def __init__(self, tmp: Path, tag: str, *, direct: bool = False) -> None:
        self.tmp, self.tag, self.direct = tmp, tag, direct
        self.namespaces: list[str] = []
        self.engines: list[Engine] = []
        self.server_ns = f"rr{tag}s"
        self._add_ns(self.server_ns)
        run("ip", "-n", self.server_ns, "link", "set", "lo", "up")
        if not direct:
            run("ip", "-n", self.server_ns, "link", "add", "rrbr", "type", "bridge")
            run("ip", "-n", self.server_ns, "addr", "add", f"{SERVER_IP}/24", "dev", "rrbr")
            run("ip", "-n", self.server_ns, "link", "set", "rrbr", "up")
        self.server = Engine(self.server_ns, tmp / "server", "server")
        self.engines.append(self.server)
        self.clients: list[Engine] = []

    def _add_ns(self, name: str) -> None:
        run("ip", "netns", "del", name, check=False)
        run("ip", "netns", "add", name)
        self.namespaces.append(name)

    def add_client(self) -> Engine:
        n = len(self.clients)
        if self.direct and n:
            raise ValueError("a direct lab (one veth pair, no bridge) has room for one client")
        ns = f"rr{self.tag}c{n}"
        self._add_ns(ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        # created straight inside the namespaces: nothing appears in the host's own namespace
        run("ip", "link", "add", "rrv", "netns", ns, "type", "veth", "peer", "name", f"rrb{n}", "netns",
            self.server_ns)
        if self.direct:
            run("ip", "-n", self.server_ns, "addr", "add", f"{SERVER_IP}/24", "dev", f"rrb{n}")
        else:
            run("ip", "-n", self.server_ns, "link", "set", f"rrb{n}", "master", "rrbr")
        run("ip", "-n", self.server_ns, "link", "set", f"rrb{n}", "up")
        run("ip", "-n", ns, "addr", "add", f"203.0.113.{10 + n}/24", "dev", "rrv")
        run("ip", "-n", ns, "link", "set", "rrv", "up")
        eng = Engine(ns, self.tmp / f"client{n}", f"client{n}")
        eng.address = f"203.0.113.{10 + n}"
        self.clients.append(eng)
        self.engines.append(eng)
        # each client engine keeps its own TUN address out of the server's pool
        eng.cli("server", "set", "--address-pool", f"10.{90 + n}.0.0/24", "--tunnel-address", f"10.{90 + n}.0.1",
                check=True)
        return eng

    def close(self) -> None:
        for eng in self.engines:
            try:
                eng.stop()
            except Exception:
                pass
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def setup_pair(lab: Lab, *, methods: str = "ms-chap-v2", encryption: str = "strongest",
               client_encryption: str | None = None, password: str = "Pw-alice-1", n_clients: int = 1,
               server_password: str = "Pw-alice-1") -> list[Engine]:
    """Server with user alice (dial-in allow); clients with a pptp demand-dial interface `hq` to the server."""
    s = lab.server
    s.cli("server", "set", "--address-pool", "10.87.0.0/24", "--tunnel-address", "10.87.0.1", check=True)
    s.cli("users", "add", "alice", "--password-stdin", "--dial-in", "allow", stdin=server_password + "\n",
          check=True)
    s.cli("auth", "set", "--methods", methods, "--encryption", encryption, check=True)
    clients = []
    for _ in range(n_clients):
        c = lab.add_client()
        c.cli("auth", "set", "--methods", methods, "--encryption", encryption, check=True)
        weakest = client_encryption or encryption.split(",")[0]
        c.cli("demand-dial", "add", "hq", "--destination", SERVER_IP, "--user", "alice", "--password-stdin",
              "--type", "pptp", "--route", "198.51.100.0/24", "--encryption", weakest, stdin=password + "\n",
              check=True)
        clients.append(c)
    return clients
