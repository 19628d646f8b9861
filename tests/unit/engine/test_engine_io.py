"""engine/io.py drains and engine/accounting.py files, on real local sockets and files (no root, no sleeps)."""

from __future__ import annotations

import json
import os
import socket

from rrasctl.engine.accounting import Accounting
from rrasctl.engine.io import BATCH, FdDrain, SocketDrain
from rrasctl.engine.sessions import Session


class Loop:
    def __init__(self):
        self.readers = {}

    def add_reader(self, fd, cb):
        self.readers[fd] = cb

    def remove_reader(self, fd):
        del self.readers[fd]


def test_socket_drain_reads_into_one_buffer_in_bounded_batches():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got: list[tuple[bytes, int]] = []
    buffers = set()

    def handle(view, n, addr):
        buffers.add(id(view.obj))
        got.append((bytes(view[:n]), addr[1]))
        if view[0] == 0xFF:
            raise ValueError("a handler bug")

    drain = SocketDrain(rx, handle)
    loop = Loop()
    drain.attach(loop)
    assert loop.readers == {rx.fileno(): drain.on_readable}
    for i in range(BATCH + 6):
        tx.sendto(bytes([i]) * 3, rx.getsockname())
    tx.sendto(b"\xff", rx.getsockname())
    drain.on_readable()
    assert len(got) == BATCH                       # bounded: the rest waits for the next wake-up
    drain.on_readable()
    assert [g[0][0] for g in got] == list(range(BATCH + 6)) + [0xFF]
    assert got[0] == (b"\x00\x00\x00", tx.getsockname()[1])
    assert len(buffers) == 1 and drain.packets == BATCH + 7 and drain.errors == 1
    drain.on_readable()                            # EAGAIN: returns quietly
    drain.detach(loop)
    assert loop.readers == {}
    rx.close()
    tx.close()


def test_connected_socket_drain_without_addresses():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    got = []
    drain = SocketDrain(a, lambda v, n, addr: got.append((bytes(v[:n]), addr)), with_addr=False)
    b.send(b"one")
    b.send(b"two")
    drain.on_readable()
    assert got == [(b"one", None), (b"two", None)]
    a.close()
    b.close()


def test_fd_drain_readv():
    r, w = os.pipe()
    got = []
    drain = FdDrain(r, lambda v, n, addr: got.append(bytes(v[:n])), bufsize=16)
    os.write(w, b"packet")
    drain.on_readable()
    assert got == [b"packet"] and drain.packets == 1
    os.close(w)
    drain.on_readable()                            # EOF: stops without a handler call
    assert got == [b"packet"]
    os.close(r)


def test_accounting_files_and_refusal_memory(tmp_path):
    acc = Accounting(tmp_path, keep=2)
    s = Session("l2tp", 4, "198.51.100.9:1701", user="bob", ip="10.87.0.5")
    s.id, s.bytes_in, s.bytes_out = 7, 100, 200
    acc.start(s)
    acc.stop(s, "peer hung up")
    for i in range(3):
        acc.refusal(peer=f"198.51.100.{i}", protocol="l2tp", cause="all 5 l2tp ports in use",
                    reason="no free port", wire="CDN result 4 (lack of facilities, temporary)", wire_result=4,
                    windows_error=676)
    lines = [json.loads(x) for x in (tmp_path / "accounting.jsonl").read_text().splitlines()]
    assert [x["event"] for x in lines] == ["start", "stop"]
    assert {k: lines[1][k] for k in ("id", "user", "port", "protocol", "peer", "bytes_in", "bytes_out", "cause")} == {
        "id": 7, "user": "bob", "port": "L2TP-4", "protocol": "l2tp", "peer": "198.51.100.9:1701",
        "bytes_in": 100, "bytes_out": 200, "cause": "peer hung up"}
    assert os.stat(tmp_path / "accounting.jsonl").st_mode & 0o777 == 0o600
    assert len((tmp_path / "refusals.jsonl").read_text().splitlines()) == 3
    assert [r["peer"] for r in acc.refusal_rows()] == ["198.51.100.1", "198.51.100.2"]   # the last `keep`


def test_accounting_write_failure_is_counted_not_raised(tmp_path):
    acc = Accounting(tmp_path / "missing" / "dir")
    acc.refusal(peer="p", protocol="pptp", cause="c", wire="w", windows_error=None)
    assert acc.write_errors == 1 and len(acc.refusal_rows()) == 1
