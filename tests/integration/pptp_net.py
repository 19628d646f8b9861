"""Helpers for the PPTP integration tests: ICMP echo without a ping binary, run in a namespace (test helper).

`python pptp_net.py ping DST [COUNT] [TIMEOUT_S] [SRC]` prints "sent N received M" and exits 0 when every echo came
back. It waits with select() on the socket (never sleeps).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(dst: str, count: int = 3, timeout_s: float = 2.0, src: str | None = None, size: int = 56) -> int:
    """Send `count` echo requests one after another, each waiting up to `timeout_s` for its reply: replies seen."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    if src:
        sock.bind((src, 0))
    ident = os.getpid() & 0xFFFF
    received = 0
    for seq in range(count):
        payload = bytes((seq + i) & 0xFF for i in range(size))
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, _checksum(hdr + payload), ident, seq) + payload
        sock.sendto(pkt, (dst, 0))
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            data, addr = sock.recvfrom(65535)
            ihl = (data[0] & 0x0F) * 4
            typ, _code, _ck, rid, rseq = struct.unpack_from("!BBHHH", data, ihl)
            if typ == 0 and rid == ident and rseq == seq and addr[0] == dst:
                received += 1
                break
    sock.close()
    return received


if __name__ == "__main__":
    if sys.argv[1] == "ping":
        dst = sys.argv[2]
        count = int(sys.argv[3]) if len(sys.argv) > 3 else 3
        timeout_s = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
        src = sys.argv[5] if len(sys.argv) > 5 else None
        got = ping(dst, count, timeout_s, src)
        print(f"sent {count} received {got}")
        sys.exit(0 if got == count else 1)
