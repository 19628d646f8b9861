"""One engine per network namespace and state dir (issue 13, hole 5; decision 0143), without root: the abstract
socket name is made unique per test so that parallel runs do not meet; integration tests use the real name in
namespaces of their own."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid

import pytest

from rrasctl.engine import instance
from rrasctl.engine.instance import InstanceLock
from rrasctl.errors import Conflict


@pytest.fixture
def name():
    return f"rrasctl-test-{uuid.uuid4().hex}"


def test_a_second_engine_in_the_namespace_is_refused_and_holds_nothing(tmp_path, name):
    first = InstanceLock(tmp_path / "a", socket_path=tmp_path / "a.sock", name=name)
    first.acquire()
    second = InstanceLock(tmp_path / "b", socket_path=tmp_path / "b.sock", name=name)
    with pytest.raises(Conflict) as e:
        second.acquire()
    assert e.value.exit_code == 4
    assert e.value.message == f"another engine is already running in this network namespace (pid {os.getpid()})"
    assert "L2TP" in e.value.hint
    assert not second.held and not (tmp_path / "b" / "engine.lock").exists()
    first.release()
    second.acquire()           # free again once the first is gone
    assert second.held
    second.release()


def test_a_second_engine_on_the_state_dir_is_refused(tmp_path, name):
    first = InstanceLock(tmp_path / "state", socket_path="/run/x/ctl.sock", name=name)
    first.acquire()
    other_netns = InstanceLock(tmp_path / "state", socket_path="/run/y/ctl.sock", name=name + "-other")
    with pytest.raises(Conflict) as e:
        other_netns.acquire()
    assert e.value.message == (f"another engine is already running with the state dir {tmp_path / 'state'} "
                               f"(pid {os.getpid()}; it answers on /run/x/ctl.sock)")
    assert not other_netns.held
    InstanceLock(tmp_path / "elsewhere", name=name + "-other").acquire()   # its netns lock was given back
    first.release()


def test_a_killed_engine_leaves_no_stale_lock(tmp_path, name):
    code = ("import sys; from rrasctl.engine.instance import InstanceLock; "
            "l = InstanceLock(sys.argv[1], name=sys.argv[2]); l.acquire(); print('held', flush=True); "
            "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), name], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(Conflict, match=f"pid {holder.pid}"):
            InstanceLock(tmp_path, name=name).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        lock = InstanceLock(tmp_path, name=name)
        lock.acquire()
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_serve_exits_4_before_binding_anything(tmp_path, name, caplog):
    """`serve` takes the lock first: with another engine on the state dir it binds no control socket, no TUN."""
    from rrasctl.config.model import validate
    from rrasctl.engine.run import serve
    from rrasctl.paths import Paths

    paths = Paths(config=tmp_path / "c.toml", key=tmp_path / "k", state_dir=tmp_path / "state",
                  socket=tmp_path / "state" / "ctl.sock")
    other = InstanceLock(paths.state_dir, socket_path="/elsewhere.sock", name=name)
    other.acquire()
    try:
        with caplog.at_level(logging.ERROR, logger="rrasctl.engine"):
            code = asyncio.run(serve(paths, validate({}), with_tun=False))
    finally:
        other.release()
    assert code == 4
    assert any("another engine is already running" in r.getMessage() for r in caplog.records)
    assert not paths.socket.exists()


def test_claim_uses_the_paths(tmp_path, name):
    class P:
        state_dir = tmp_path
        socket = tmp_path / "s.sock"
    lock = instance.claim(P, name=name)
    assert (tmp_path / "engine.lock").read_text() == f'{{"pid": {os.getpid()}, "socket": "{tmp_path / "s.sock"}"}}\n'
    lock.release()
    assert (tmp_path / "engine.lock").read_text() == ""
