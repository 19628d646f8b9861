"""Completion of names (decision 0165): demand-dial interfaces, users and policies from the config, connection ids
from the running engine; through the generated bash script (which calls back into rrasctl only at those
positions) and through click's zsh and fish protocols that the zsh and fish scripts read."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rrasctl.control import messages
from support import ROOT

BIN = str(Path(sys.executable).parent)


@pytest.fixture
def configured(rr):
    for name in ("branch1", "branch2", "lab"):
        assert rr("demand-dial", "add", name, "--destination", "203.0.113.2", "--user", "hq").exit_code == 0
    for name in ("alice", "albert", "bob"):
        assert rr("users", "add", name).exit_code == 0
    assert rr("policy", "add", "vpn-users", "--permission", "grant").exit_code == 0


def bash(words: list[str]) -> list[str]:
    script = (f"source {ROOT / 'completions' / 'rrasctl.bash'}\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "_rrasctl; printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 0, p.stderr
    return [x for x in p.stdout.splitlines() if x]


@pytest.mark.parametrize("words,expect", [
    (["rrasctl", "demand-dial", "connect", "br"], ["branch1", "branch2"]),
    (["rrasctl", "demand-dial", "status", ""], ["branch1", "branch2", "lab"]),
    (["rrasctl", "demand-dial", "route", "add", "l"], ["lab"]),
    (["rrasctl", "users", "show", "al"], ["albert", "alice"]),
    (["rrasctl", "policy", "remove", ""], ["default", "vpn-users"]),
    (["rrasctl", "policy", "test", "--tunnel", "pptp", "--user", "b"], ["bob"]),
    (["rrasctl", "users", "add", "al"], []),                      # a new name: nothing to suggest
    (["rrasctl", "demand-dial", "connect", "--"], ["--no-wait", "--foreground", "--timeout", "--output", "--help"]),
])
def test_bash_completes_names_from_the_config(configured, words, expect):
    assert bash(words) == expect


class Engine:
    def __init__(self, path: str, rows: list[dict]) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.rows = rows
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buf = conn.recv(65536)
                req_id, _, _ = messages.parse_request(messages.decode(buf))
                conn.sendall(messages.encode(messages.ok(req_id, self.rows)))


def test_connection_ids_come_from_the_engine(configured):
    e = Engine(os.environ["RRASCTL_SOCKET"], [
        {"id": 3, "port": "PPTP-0", "user": "alice", "interface": None, "peer": "198.51.100.7"},
        {"id": 12, "port": "L2TP-1", "user": None, "interface": "branch1", "peer": "203.0.113.9:1701"}])
    try:
        assert bash(["rrasctl", "connections", "show", ""]) == ["3", "12"]
        assert bash(["rrasctl", "connections", "disconnect", "1"]) == ["12"]
        out = protocol("zsh_complete", "rrasctl connections show ", 3)
        assert out == "plain\n3\nPPTP-0 alice 198.51.100.7\nplain\n12\nL2TP-1 branch1 203.0.113.9:1701\n"
    finally:
        e.sock.close()


def test_no_engine_means_no_ids_and_no_noise(configured):
    assert bash(["rrasctl", "connections", "show", ""]) == []


def protocol(kind: str, line: str, cword: int | str) -> str:
    env = dict(os.environ, _RRASCTL_COMPLETE=kind, COMP_WORDS=line, COMP_CWORD=str(cword))
    p = subprocess.run([sys.executable, "-m", "rrasctl"], capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return p.stdout


def test_zsh_and_fish_protocols(configured):
    assert protocol("zsh_complete", "rrasctl users unlock a", 3) == "plain\nalbert\n_\nplain\nalice\n_\n"
    assert protocol("fish_complete", "rrasctl demand-dial show b", "b") == "plain,branch1\nplain,branch2\n"


def test_the_scripts_call_back_only_where_names_are_asked():
    bash_text = (ROOT / "completions" / "rrasctl.bash").read_text()
    assert "_rrasctl_dyn['rrasctl users show']=1" in bash_text
    assert "_rrasctl_dyn['rrasctl policy test --user']=1" in bash_text
    assert "_rrasctl_dyn['rrasctl ports add']" not in bash_text and "_rrasctl_dyn['rrasctl users add']" not in bash_text
    fish = (ROOT / "completions" / "rrasctl.fish").read_text()
    assert "complete -c rrasctl -n \"test (__rrasctl_path) = 'connections show'\" -a '(__rrasctl_ask)'" in fish
    assert "-l user -x -a '(__rrasctl_ask)'" in fish
    zsh = (ROOT / "completions" / "_rrasctl").read_text()
    assert "_rrasctl_dyn['rrasctl demand-dial connect']=1" in zsh and "_RRASCTL_COMPLETE=zsh_complete" in zsh


def test_an_invalid_config_gives_no_candidates(cfg):
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("[server\n")
    assert bash(["rrasctl", "users", "show", ""]) == []
