"""MD4 (RFC 1320) in pure Python: OpenSSL 3 moved MD4 to the legacy provider, so hashlib may not have it.

Used only for NtPasswordHash (RFC 2433 A.6, RFC 2759 §8.3): short inputs, so speed does not matter.
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF
_BLOCK = struct.Struct("<16I")


def _rotl(x: int, s: int) -> int:
    x &= _MASK
    return ((x << s) | (x >> (32 - s))) & _MASK


def md4(data: bytes | bytearray | memoryview) -> bytes:
    """The 16-octet MD4 digest of `data` (RFC 1320 §3)."""
    msg = bytes(data)
    bit_len = (len(msg) * 8) & 0xFFFFFFFFFFFFFFFF
    msg += b"\x80" + b"\x00" * ((55 - len(msg)) % 64) + struct.pack("<Q", bit_len)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = _BLOCK.unpack_from(msg, off)
        aa, bb, cc, dd = a, b, c, d
        # Round 1: F(x,y,z) = xy v not(x)z
        for i in range(0, 16, 4):
            a = _rotl(a + ((b & c) | (~b & d)) + x[i], 3)
            d = _rotl(d + ((a & b) | (~a & c)) + x[i + 1], 7)
            c = _rotl(c + ((d & a) | (~d & b)) + x[i + 2], 11)
            b = _rotl(b + ((c & d) | (~c & a)) + x[i + 3], 19)
        # Round 2: G(x,y,z) = xy v xz v yz, constant 0x5A827999
        for i in range(4):
            a = _rotl(a + ((b & c) | (b & d) | (c & d)) + x[i] + 0x5A827999, 3)
            d = _rotl(d + ((a & b) | (a & c) | (b & c)) + x[i + 4] + 0x5A827999, 5)
            c = _rotl(c + ((d & a) | (d & b) | (a & b)) + x[i + 8] + 0x5A827999, 9)
            b = _rotl(b + ((c & d) | (c & a) | (d & a)) + x[i + 12] + 0x5A827999, 13)
        # Round 3: H(x,y,z) = x xor y xor z, constant 0x6ED9EBA1
        for i in (0, 2, 1, 3):
            a = _rotl(a + (b ^ c ^ d) + x[i] + 0x6ED9EBA1, 3)
            d = _rotl(d + (a ^ b ^ c) + x[i + 8] + 0x6ED9EBA1, 9)
            c = _rotl(c + (d ^ a ^ b) + x[i + 4] + 0x6ED9EBA1, 11)
            b = _rotl(b + (c ^ d ^ a) + x[i + 12] + 0x6ED9EBA1, 15)
        a, b, c, d = (a + aa) & _MASK, (b + bb) & _MASK, (c + cc) & _MASK, (d + dd) & _MASK
    return struct.pack("<4I", a, b, c, d)
