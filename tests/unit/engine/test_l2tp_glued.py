"""L2tpDriver._on_glued (UDP GRO reads, decision 0067) treats every datagram of a glued read exactly as
_on_datagram treats it alone: same packets to the TUN, same counters, same drops, in the same order."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "protocols" / "ppp"))
from test_link import client, connect, server  # noqa: E402

from rrasctl.engine.l2tp import L2tpDriver  # noqa: E402

PEER = ("203.0.113.2", 1701)


class Count:
    def __init__(self):
        self.seen = []

    def count(self, reason, n=1):
        self.seen.append((reason, n))


def driver():
    link = connect(server(encryption=("none",)), client(encryption=("none",))).a
    written = []
    d = L2tpDriver()
    d.loss = None
    d.ctx = SimpleNamespace(counters=SimpleNamespace(malformed=Count(), dropped=Count()))
    d._fast[5 << 16 | 7] = (PEER[0], link.open_data, written.append, SimpleNamespace(bytes_in=0, packets_in=0))
    return d, written


def data(sid: int, body: bytes) -> bytes:
    return struct.pack("!HHH", 2, 5, sid) + b"\xff\x03\x00\x21" + body


def test_glued_read_is_each_datagram_on_its_own():
    seg = 400
    ips = [bytes([0x45, i]) + bytes(seg - 12) for i in range(5)]
    parts = [data(7, ips[0]), data(7, ips[1]), data(9, ips[2]),               # 9: no such session
             struct.pack("!HHH", 0x0003, 5, 7) + bytes(seg - 6),             # version 3: malformed
             data(7, ips[3]), data(7, ips[4][:100])]                         # the last one shorter
    glued = memoryview(bytearray(b"".join(parts)))
    d1, w1 = driver()
    d1._on_glued(glued, len(glued), seg, PEER)
    d2, w2 = driver()
    for p in parts:
        d2._on_datagram(memoryview(bytearray(p)), len(p), PEER)
    assert [bytes(x) for x in w1] == [bytes(x) for x in w2] == [ips[0], ips[1], ips[3], ips[4][:100]]
    assert (d1.unknown_session, d1.malformed) == (d2.unknown_session, d2.malformed) == (1, 1)
    assert d1.ctx.counters.malformed.seen == d2.ctx.counters.malformed.seen == [("l2tp: not version 2", 1)]
    s1, s2 = d1._fast[5 << 16 | 7][3], d2._fast[5 << 16 | 7][3]
    assert (s1.bytes_in, s1.packets_in) == (s2.bytes_in, s2.packets_in) == (3 * (seg - 10) + 100, 4)


def test_glued_read_from_another_address_takes_no_fast_path():
    d, written = driver()
    glued = memoryview(bytearray(data(7, b"\x45" + bytes(99)) * 3))
    d._on_glued(glued, len(glued), 110, ("198.51.100.9", 1701))
    assert written == [] and d.unknown_session == 3
