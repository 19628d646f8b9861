"""Bounds-checked reading of wire formats, and precompiled struct helpers.

Every decoder in `protocols/` reads through a `Reader`, so a short or lying packet raises `Malformed`
and never `struct.error` or `IndexError`.
"""

from __future__ import annotations

import struct

from rrasctl.protocols.base import Malformed

U8 = struct.Struct("!B")
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
U16_U16 = struct.Struct("!HH")


class Reader:
    """A cursor over a bytes-like object; every read checks the bounds first."""

    __slots__ = ("_buf", "_pos", "_end", "what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str = "packet",
                 start: int = 0, end: int | None = None) -> None:
        self._buf = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self._pos = start
        self._end = len(data) if end is None else end
        if self._end > len(data) or start > self._end:
            raise Malformed(f"{what}: bounds outside the buffer")
        self.what = what

    @property
    def pos(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def _need(self, n: int) -> int:
        if n < 0 or self._pos + n > self._end:
            raise Malformed(f"short {self.what}")
        pos = self._pos
        self._pos = pos + n
        return pos

    def u8(self) -> int:
        return self._buf[self._need(1)]

    def u16(self) -> int:
        return U16.unpack_from(self._buf, self._need(2))[0]

    def u32(self) -> int:
        return U32.unpack_from(self._buf, self._need(4))[0]

    def take(self, n: int) -> bytes:
        pos = self._need(n)
        return bytes(self._buf[pos:pos + n])

    def rest(self) -> bytes:
        return self.take(self.remaining)

    def skip(self, n: int) -> None:
        self._need(n)

    def sub(self, n: int, what: str | None = None) -> "Reader":
        """A Reader over the next `n` bytes (consumed here)."""
        pos = self._need(n)
        return Reader(self._buf, what or self.what, pos, pos + n)

    def expect_end(self) -> None:
        if self._pos != self._end:
            raise Malformed(f"{self.remaining} trailing bytes in {self.what}")
