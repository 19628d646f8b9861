"""`rrasctl engine run` as a real process (root, in a private network namespace): privileges, control socket,
status, SIGHUP with a broken config, a second engine on the same socket, SIGTERM. Waits are on the engine's own log
lines (select on its stderr pipe, with a deadline), never sleeps."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rrasctl.control.client import call

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
MAIN = "import sys; from rrasctl.paths import resolve; from rrasctl.engine.run import main; sys.exit(main(resolve()))"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespace, TUN device)")
needs_ip = pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip command")


def engine_argv() -> list[str]:
    """`rrasctl engine run` once the CLI has it, else the engine's main() directly."""
    if (ROOT / "src" / "rrasctl" / "cli" / "engine.py").exists():
        return [PY, "-m", "rrasctl", "engine", "run"]
    return [PY, "-c", MAIN]


class Engine:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log = b""

    def wait_log(self, needle: str, timeout: float = 20.0) -> str:
        """Read stderr until `needle` appears (or the process ends, or the deadline passes)."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()
        while needle.encode() not in self.log:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {needle!r} in the engine log within {timeout} s:\n{self.log.decode()}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"engine exited ({self.proc.wait()}) before {needle!r}:\n"
                                         f"{self.log.decode()}")
                self.log += chunk
        return self.log.decode()

    def finish(self, timeout: float = 20.0) -> int:
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.log += self.proc.stderr.read()
        return rc


@pytest.fixture
def netns():
    name = f"rr{os.getpid()}s{time.monotonic_ns() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@needs_root
@needs_ip
def test_engine_run_status_hup_second_engine_and_sigterm(netns, _isolated_env):
    env = dict(os.environ)
    config = Path(env["RRASCTL_CONFIG"])
    sock = env["RRASCTL_SOCKET"]
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[server]\nedition = "web"\naddress_pool = "10.87.0.0/24"\n\n[ports.pptp]\ncount = 3\n')
    eng = Engine(["ip", "netns", "exec", netns, *engine_argv()], env)
    try:
        log = eng.wait_log("engine ready")
        assert "web edition (at most 1 inbound); pptp 3 ports, l2tp 5 ports" in log
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600 and stat.S_ISSOCK(os.stat(sock).st_mode)

        if (ROOT / "src" / "rrasctl" / "cli" / "engine.py").exists():
            out = subprocess.run([PY, "-m", "rrasctl", "engine", "status", "-o", "json"], env=env,
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            status = json.loads(out.stdout)
        else:
            status = call(sock, "status")
        assert status["edition"] == "web" and status["max_concurrent"] == 1
        assert status["tun"]["name"] == "rras0" and status["tun"]["address"] == "10.87.0.1"
        assert status["pid"] == int(subprocess.run(["ip", "netns", "pids", netns], capture_output=True,
                                                   text=True).stdout.split()[0])
        for proto in ("pptp", "l2tp"):   # each listener is either up or named as not available
            assert status["listeners"][proto]
            if status["listeners"][proto].startswith("not available"):
                assert f"{proto.upper()} listener not available" in log

        addr = subprocess.run(["ip", "netns", "exec", netns, "ip", "-o", "-4", "addr", "show", "rras0"],
                              capture_output=True, text=True).stdout
        assert "10.87.0.1/32" in addr

        # SIGHUP with a broken file: reported, old config kept.
        config.write_text('[server]\nedition = "mainframe"\n')
        eng.proc.send_signal(signal.SIGHUP)
        log = eng.wait_log("reload failed, keeping the running configuration")
        assert "server.edition" in log.split("reload failed")[1]
        assert call(sock, "status")["edition"] == "web"
        # A good file: applied.
        config.write_text('[server]\nedition = "enterprise"\n')
        eng.proc.send_signal(signal.SIGHUP)
        eng.wait_log("configuration reloaded")
        s2 = call(sock, "status")
        assert s2["edition"] == "enterprise" and s2["max_concurrent"] is None

        # A second engine on the same socket: exit 4 before it touches anything.
        other = subprocess.run([PY, "-c", MAIN], env=env, capture_output=True, text=True, timeout=60)
        assert other.returncode == 4, other.stderr
        assert "another engine is already running with the state dir" in other.stderr, other.stderr
        assert f"(pid {status['pid']}; it answers on {sock})" in other.stderr, other.stderr
        assert call(sock, "status")["pid"] == status["pid"]

        eng.proc.send_signal(signal.SIGTERM)
        assert eng.finish() == 0
        assert "SIGTERM received: stopping" in eng.log.decode() and "engine stopped" in eng.log.decode()
        assert not os.path.exists(sock)
        gone = subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "show", "rras0"], capture_output=True)
        assert gone.returncode != 0          # the TUN device went away with the engine
    finally:
        if eng.proc.poll() is None:
            eng.proc.kill()
            eng.proc.wait()


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _as_nobody_argv(home: Path) -> list[str]:
    """An interpreter and a copy of rrasctl that uid 65534 can read, whatever the permissions of the checkout (under
    /root, say) or of pytest's own temp dirs: the engine's start-up path needs the standard library only."""
    lib = home / "lib"
    shutil.copytree(ROOT / "src" / "rrasctl", lib / "rrasctl", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [home, *home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    code = f"import sys; sys.path.insert(0, {str(lib)!r}); import rrasctl.engine.run"
    for interp in dict.fromkeys([sys.executable, getattr(sys, "_base_executable", None), "/usr/bin/python3"]):
        if interp and subprocess.run([*NOBODY, interp, "-S", "-c", code], capture_output=True,
                                     timeout=60).returncode == 0:
            return [interp, "-S", "-c", f"import sys; sys.path.insert(0, {str(lib)!r}); {MAIN}"]
    pytest.fail("no Python interpreter that uid 65534 can run (Debian's /usr/bin/python3 is one)")


@needs_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv to drop privileges")
def test_without_capabilities_it_names_them_and_binds_nothing():
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="rrasctl-nobody-"))      # under /tmp: every uid may traverse it
    try:
        home.chmod(0o777)
        env = {**os.environ, "RRASCTL_CONFIG": str(home / "c.toml"), "RRASCTL_STATE_DIR": str(home / "state"),
               "RRASCTL_SOCKET": str(home / "state" / "control.sock"), "HOME": str(home)}
        out = subprocess.run([*NOBODY, *_as_nobody_argv(home)], env=env, capture_output=True, text=True, timeout=60)
        _check_no_capabilities(out, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _check_no_capabilities(out: subprocess.CompletedProcess, tmp_path: Path) -> None:
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "error: missing capability CAP_NET_ADMIN (needed to create the TUN device and set its addresses and routes)",
        "error: missing capability CAP_NET_RAW (needed to open the raw GRE socket (IP protocol 47) for PPTP)",
        "error: missing capability CAP_NET_BIND_SERVICE (needed to listen on TCP 1723 and UDP 500/1701/4500)",
        "hint: run the engine as root (sudo rrasctl engine run), or grant the capabilities, e.g. as a systemd "
        "service with AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
    ]
    assert not (tmp_path / "state").exists()


@needs_root
@needs_ip
def test_invalid_config_at_start_exits_2_naming_the_key(netns, _isolated_env):
    env = dict(os.environ)
    config = Path(env["RRASCTL_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[ports.pptp]\ncount = -1\n")
    out = subprocess.run(["ip", "netns", "exec", netns, PY, "-c", MAIN], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "ports.pptp.count" in out.stderr
    assert not os.path.exists(env["RRASCTL_SOCKET"])


@needs_root
@needs_ip
def test_foreground_dial_that_fails_exits_1_with_the_reason(netns, _isolated_env):
    env = dict(os.environ)
    config = Path(env["RRASCTL_CONFIG"])
    config.parent.mkdir(parents=True, exist_ok=True)
    # 203.0.113.9 is unroutable inside the empty namespace: the dial fails at once.
    config.write_text('[demand_dial.branch]\ndestination = "203.0.113.9"\nuser = "hq"\ntype = "pptp"\n')
    code = ("import sys; from rrasctl.paths import resolve; from rrasctl.engine.run import run_foreground_dial; "
            "sys.exit(run_foreground_dial(resolve(), sys.argv[1]))")
    if not (ROOT / "src" / "rrasctl" / "engine" / "pptp.py").exists():
        pytest.skip("no PPTP driver in this tree yet")
    out = subprocess.run(["ip", "netns", "exec", netns, PY, "-c", code, "branch"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "branch: resolving" in out.stderr and "branch: branch is unreachable: " in out.stderr
    assert not os.path.exists(env["RRASCTL_SOCKET"])
    ghost = subprocess.run(["ip", "netns", "exec", netns, PY, "-c", code, "ghost"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert ghost.returncode == 3 and "no demand-dial interface named 'ghost'" in ghost.stderr
