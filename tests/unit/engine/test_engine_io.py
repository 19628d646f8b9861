"""engine/io.py drains and engine/accounting.py files, on real local sockets and files (no root, no sleeps)."""

from __future__ import annotations

import json
import os
import socket

from rrasctl.engine.accounting import Accounting
from rrasctl.engine.io import BATCH, FdDrain, GroSocketDrain, SocketDrain, UdpSendBatch, enable_gro
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


# ---- UDP GSO / GRO (decision 0067) ------------------------------------------------------------------------------

def _pair(gro: bool):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    if gro:
        assert enable_gro(rx)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return rx, tx, rx.getsockname()


def _recv_all(rx) -> list[bytes]:
    rx.setblocking(False)
    out = []
    while True:
        try:
            out.append(rx.recv(65535))
        except BlockingIOError:
            return out


def _packets(count: int, size: int, tag: int = 0) -> list[bytes]:
    return [bytes([tag, i]) + os.urandom(size - 2) for i in range(count)]


def test_send_batch_one_sendmsg_for_same_size_packets_received_one_by_one():
    rx, tx, addr = _pair(gro=False)
    batch = UdpSendBatch(tx)
    sent = _packets(10, 1300)
    for p in sent:
        batch.add(memoryview(p), addr)
    assert _recv_all(rx) == []                   # queued, not sent, until the flush
    batch.flush()
    assert _recv_all(rx) == sent                 # the kernel split it: ten datagrams, as queued, in order
    assert (batch.sends, batch.packets, batch.dropped, batch.fallbacks) == (1, 10, 0, 0)
    batch.flush()                                # nothing queued: nothing sent
    assert batch.sends == 1


def test_send_batch_rules_shorter_ends_longer_or_other_address_flushes_first():
    rx, tx, addr = _pair(gro=False)
    rx2, _, addr2 = _pair(gro=False)
    batch = UdpSendBatch(tx)
    a, b = _packets(3, 1000, 1), _packets(2, 1000, 2)
    short, long_ = b"\x03" * 500, b"\x04" * 1200
    for p in a:
        batch.add(p, addr)
    batch.add(short, addr)                       # the kernel's rule: only the last segment may be short
    assert batch.sends == 1 and _recv_all(rx) == a + [short]
    batch.add(b[0], addr)
    batch.add(long_, addr)                       # longer than the segment size: the queue goes first
    batch.add(b[1], addr2)                       # another address: the same
    batch.flush()
    assert _recv_all(rx) == [b[0], long_] and _recv_all(rx2) == [b[1]]
    assert batch.sends == 4 and batch.packets == 7


def test_send_batch_caps_segments_and_bytes():
    rx, tx, addr = _pair(gro=False)
    batch = UdpSendBatch(tx)
    sent = _packets(130, 200)
    for p in sent:
        batch.add(p, addr)
    batch.flush()
    assert _recv_all(rx) == sent and batch.sends == 3          # 64 + 64 + 2
    big = _packets(60, 1400, 9)
    for p in big:
        batch.add(p, addr)
    batch.flush()
    assert _recv_all(rx) == big and batch.sends == 5           # 46 packets of 1,400 bytes fit under 64 KiB, then 14


class _RefusingSock:
    """sendmsg fails as the kernel does without checksum offload (EIO) or with a segment over the path MTU (EINVAL)."""

    def __init__(self, err: int):
        self.err, self.sent = err, []

    def sendmsg(self, bufs, cmsg, flags, addr):
        raise OSError(self.err, os.strerror(self.err))

    def sendto(self, data, addr):
        self.sent.append(bytes(data))


def test_send_batch_falls_back_to_one_datagram_per_packet():
    import errno

    for err, stays_on in ((errno.EIO, False), (errno.EINVAL, True)):
        sock = _RefusingSock(err)
        batch = UdpSendBatch(sock)
        sent = _packets(4, 900)
        for p in sent:
            batch.add(p, ("192.0.2.1", 1701))
        batch.flush()
        assert sock.sent == sent and batch.fallbacks == 1 and batch.enabled is stays_on and batch.dropped == 0


def test_gro_drain_splits_glued_datagrams_exactly_as_sent():
    rx, tx, addr = _pair(gro=True)
    got = []

    def handle(view, n, src):
        got.append(bytes(view[:n]))

    drain = GroSocketDrain(rx, handle)
    batch = UdpSendBatch(tx)
    sent = _packets(7, 1200) + [b"tail"]
    for p in sent:
        batch.add(p, addr)
    batch.flush()                                   # one GSO datagram on loopback, delivered glued to a GRO socket
    tx.sendto(b"alone", addr)                       # and one plain datagram
    drain.on_readable()
    assert got == sent + [b"alone"]
    assert drain.glued == 1 and drain.packets == 9


def test_fd_drain_after_runs_once_per_batch_that_read_something():
    r, w = os.pipe()
    calls = []
    drain = FdDrain(r, lambda view, n, _a: calls.append(("pkt", n)), after=lambda: calls.append("after"))
    os.write(w, b"x" * 10)
    drain.on_readable()
    assert calls == [("pkt", 10), "after"]
    os.close(w)
    os.close(r)


def test_send_batch_add_parts_is_add_of_the_concatenation():
    rx, tx, addr = _pair(gro=False)
    batch = UdpSendBatch(tx)
    heads = [b"\x00\x02\x12\x34\x56\x78\xff\x03\x00\x21"] * 5
    bodies = _packets(5, 1000)
    for h, body in zip(heads, bodies):
        batch.add_parts(h, memoryview(body), addr)
    batch.add_parts(heads[0], b"short", addr)            # shorter: ends the batch, as in add()
    assert _recv_all(rx) == [h + body for h, body in zip(heads, bodies)] + [heads[0] + b"short"]
    assert (batch.sends, batch.packets) == (1, 6)
