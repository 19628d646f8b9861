"""PppLink's data path (DESIGN.md §5): straight-line code, no events, no per-packet objects beyond the frame.

Kept apart from link.py's negotiation so the per-packet cost is visible in one screen. `DataPath` is a mixin: the
attributes it reads (``network_up``, ``ipv6_up``, ``clear_allowed``, the MPPE contexts and frame heads) are set
by `PppLink`.
"""

from __future__ import annotations

from typing import Any

from rrasctl.protocols.base import Counters

__all__ = ["DataPath"]

_DATA_LOW = frozenset({0x21, 0xFD, 0x57})      # IP, MPPE, IPv6 protocol numbers (high byte 0)
RESET_REPEAT_S = 1.0                            # pppd's RACKTIMEOUT
RESET_REPEAT_DROPS = 64
GARBAGE_BEFORE_CCP_RESTART = 3                  # consecutive undecodable plaintexts (stateful MPPE)


class DataPath:
    stats: Counters
    network_up: bool
    ipv6_up: bool
    clear_allowed: bool
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    _encryptor: Any
    _decryptor: Any
    _ip_head: bytes
    _ipv6_head: bytes
    _mppe_head: bytes
    ccp_layer: Any
    _reset_at: float | None = None                # when our pending Reset-Request went out (seen by receive)
    _reset_drops = 0                              # frames discarded since the last Reset-Request
    _garbage = 0                                  # consecutive MPPE frames that decrypted to garbage
    _ccp_restart = False                          # MPPE hopelessly out of sync: receive() restarts CCP

    # -- data path ----------------------------------------------------------------------------------------------
    def _flush_reset(self) -> None:
        decryptor = self._decryptor
        if decryptor is not None and decryptor.take_reset():
            self.ccp_layer.reset_request()
            self._reset_drops = 0
            self._reset_at = None            # a new episode: receive() starts its clock

    def _repeat_reset(self, now: float) -> None:
        """Stateful MPPE still discarding: the flushed packet answering our Reset-Request was lost too. Ask again
        after RESET_REPEAT_S (pppd's Reset-Ack timeout) or RESET_REPEAT_DROPS discarded frames, whichever is first."""
        decryptor = self._decryptor
        self._flush_reset()
        if decryptor is None or not decryptor.discarding:
            self._reset_at = None
        elif self._reset_at is None:
            self._reset_at = now
        elif now - self._reset_at >= RESET_REPEAT_S:
            self._reset_at = now
            self._reset_drops = 0
            self.stats.count("reset-request repeated")
            self.ccp_layer.reset_request()

    def open_data(self, frame: bytes | memoryview) -> bytes | memoryview | None:
        """The IP packet carried by an IP, IPv6 or MPPE frame; None for anything else (give it to `receive`) or a
        drop. Clear IP is dropped while MPPE is on or when policy forbids clear data; IPv6 unless IPV6CP is up; an
        MPPE frame that does not decrypt is dropped (a stateful resync queues a CCP Reset-Request).
        A clear packet comes back as a view into ``frame``: use it before the caller's buffer is reused. A writable
        ``frame`` (a memoryview of the engine's receive buffer) holding an MPPE frame is decrypted in place: its
        contents are overwritten, and the packet returned is a view into it too."""
        n = len(frame)
        pos = 2 if n >= 2 and frame[0] == 0xFF and frame[1] == 0x03 else 0
        if pos >= n:
            return None
        first = frame[pos]
        if first == 0x21 or first == 0xFD or first == 0x57:
            proto, pos = first, pos + 1
        elif first == 0 and pos + 1 < n and frame[pos + 1] in _DATA_LOW:
            proto, pos = frame[pos + 1], pos + 2
        else:
            return None
        if not self.network_up:
            self.stats.count("data before network up")
            return None
        if proto != 0xFD:
            if self._decryptor is not None or not self.clear_allowed:
                self.stats.count("clear IP refused")
                return None
            if proto == 0x57 and not self.ipv6_up:
                self.stats.count("IPv6 without IPV6CP")
                return None
            self.packets_in += 1
            self.bytes_in += n - pos
            return memoryview(frame)[pos:]
        decryptor = self._decryptor
        if decryptor is None:
            self.stats.count("MPPE without keys")
            return None
        view = frame[pos:] if type(frame) is memoryview else memoryview(frame)[pos:]
        # a writable frame (the engine's receive buffer) is decrypted in place: no copy, no allocation
        plain = decryptor.decrypt(view) if view.readonly else decryptor.decrypt_in_place(view)
        if decryptor.need_reset:
            self._flush_reset()
        if plain is None:
            self.stats.count("MPPE frame dropped")
            if decryptor.discarding:
                self._reset_drops += 1
                if self._reset_drops >= RESET_REPEAT_DROPS:
                    self._reset_drops = 0
                    self.stats.count("reset-request repeated")
                    self.ccp_layer.reset_request()
            return None
        b0 = plain[0]                                # decrypt returns at least one octet
        if b0 == 0x21:
            inner = 1
        elif b0 == 0 and len(plain) > 1 and plain[1] == 0x21:
            inner = 2
        elif self.ipv6_up and (b0 == 0x57 or (b0 == 0 and len(plain) > 1 and plain[1] == 0x57)):
            inner = 1 if b0 == 0x57 else 2
        else:
            inner = 0
        if not inner:
            self.stats.count("non-IP inside MPPE")
            if not decryptor.stateless:
                # Garbage: stateful keys out of step (the flushed packet answering a Reset-Request was lost, and
                # the sender changed key once more than we did). Reset-Requests cannot fix that; `receive`
                # restarts CCP, which gives both sides fresh MPPE contexts from the master keys (decision 0044).
                self._garbage += 1
                if self._garbage >= GARBAGE_BEFORE_CCP_RESTART:
                    self._ccp_restart = True
            return None
        self._garbage = 0
        self.packets_in += 1
        self.bytes_in += len(plain) - inner
        return plain[inner:] if type(plain) is memoryview else memoryview(plain)[inner:]

    def seal_data(self, ip_packet: bytes | memoryview) -> bytes | None:
        """The PPP frame carrying ``ip_packet`` (IPv4, or IPv6 once IPV6CP is up; MPPE when negotiated); None when
        the network phase is not up, clear data is forbidden, or it is IPv6 without IPV6CP."""
        if not self.network_up:
            return None
        ipv6 = len(ip_packet) > 0 and ip_packet[0] >> 4 == 6
        if ipv6 and not self.ipv6_up:
            return None
        encryptor = self._encryptor
        if encryptor is not None:
            frame = self._mppe_head + encryptor.encrypt((b"\x00\x57" if ipv6 else b"\x00\x21") + bytes(ip_packet))
        elif self.clear_allowed:
            frame = (self._ipv6_head if ipv6 else self._ip_head) + bytes(ip_packet)
        else:
            return None
        self.packets_out += 1
        self.bytes_out += len(ip_packet)
        return frame

    def clear_ipv4_head(self, n: int) -> bytes | None:
        """For a sender that builds frames itself (a batched send path): the PPP head to put before an ``n``-byte
        IPv4 packet sent now, counted as sent, or None where it cannot go out clear (MPPE on, clear data
        forbidden, network not up): then use `seal_into`. The head changes when LCP renegotiates ACFC/PFC."""
        if self.network_up and self._encryptor is None and self.clear_allowed:
            self.packets_out += 1
            self.bytes_out += n
            return self._ip_head
        return None

    _seal_cache: tuple = (None, b"", b"")

    def seal_into(self, ip_packet: bytes | bytearray | memoryview, buf: bytearray, view: memoryview,
                  start: int) -> int:
        """`seal_data` without allocation: the PPP frame carrying ``ip_packet`` is written into ``buf`` from
        ``start`` (``view`` is ``memoryview(buf)``, which needs room for ``start + 8 + len(ip_packet)``), MPPE
        encrypted in place. Returns the frame's end, or -1 where `seal_data` returns None. The IP packet is copied
        once, into ``buf``, so ``ip_packet`` may alias a buffer the caller reuses as soon as this returns."""
        if not self.network_up:
            return -1
        n = len(ip_packet)
        ipv6 = n > 0 and ip_packet[0] >> 4 == 6
        if ipv6 and not self.ipv6_up:
            return -1
        encryptor = self._encryptor
        if encryptor is not None:
            head = self._mppe_head
            cache = self._seal_cache
            if cache[0] is not head:     # PPP head, room for the MPPE header, the inner protocol (encrypted)
                cache = self._seal_cache = (head, head + b"\0\0\x00\x21", head + b"\0\0\x00\x57")
            p = start + len(head)
            end = p + 4 + n
            view[start:p + 4] = cache[2] if ipv6 else cache[1]      # memoryview assignment: a plain memcpy
            view[p + 4:end] = ip_packet
            encryptor.encrypt_into(buf, view, p, end)
        elif self.clear_allowed:
            head = self._ipv6_head if ipv6 else self._ip_head
            p = start + len(head)
            end = p + n
            view[start:p] = head
            view[p:end] = ip_packet
        else:
            return -1
        self.packets_out += 1
        self.bytes_out += n
        return end
