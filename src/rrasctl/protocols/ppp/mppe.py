"""MPPE (RFC 3078): RC4 encryption of PPP payloads, stateful or stateless, 40/56/128-bit keys.

    enc = MppeEncryptor(keys.send, bits=128, stateless=False)
    dec = MppeDecryptor(keys.recv, bits=128, stateless=False)
    wire = enc.encrypt(ppp_payload)     # 2-octet MPPE header + ciphertext; the link adds protocol 0x00FD
    plain = dec.decrypt(wire)           # the PPP payload, or None (dropped; the reason is in dec.stats)
    if dec.take_reset(): the link sends a CCP Reset-Request (stateful mode, a packet was lost)
    on a CCP Reset-Request received: enc.reset()  (the next packet changes key and carries the flushed bit)

`ppp_payload` is what RFC 3078 §3 encrypts: the PPP protocol field (2 octets, or 1 with PFC) and the
information field. Header: A (flushed, 0x80), B/C (MPPC, never set here), D (encrypted, 0x10), then the
12-bit coherency count, which wraps at 4096.

Key schedule, as the Linux kernel's ppp_mppe and pppd do (and Windows interoperates with):
- The first session key is GetNewKeyFromSHA(master, master) reduced to 40/56/128 bits (RFC 3079 §3.5).
- A key change is RFC 3078 §7.3 ChangeKey: interim = GetNewKeyFromSHA(master, current), key = RC4(interim,
  interim), reduced. After it the RC4 context restarts from the new key.
- Stateful (§8.2): the sender changes key for each "flag" packet (count & 0xFF == 0xFF) and after a CCP
  Reset-Request, and sets the flushed bit on those packets; the receiver changes key on every flushed
  packet. A gap in the count puts the receiver in the discard state (need_reset) until a flushed packet
  arrives, and it changes key once per flag packet it missed.
- Stateless (§8.1, the H bit): the sender changes key before every packet (the flushed bit is always set);
  the receiver changes key once per count step, and drops packets more than half the count space late.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher

try:  # cryptography >= 43 keeps RC4 under `decrepit`
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
except ImportError:  # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.algorithms import ARC4  # type: ignore

from rrasctl.protocols.base import Counters
from rrasctl.protocols.ppp.auth.mschap import SHA_PAD1, SHA_PAD2, initial_session_key, key_octets, reduce_key

MPPE_PROTOCOL = 0x00FD
BIT_FLUSHED = 0x80     # A
BIT_B = 0x40
BIT_C = 0x20           # compressed (MPPC)
BIT_ENCRYPTED = 0x10   # D
CCOUNT_SPACE = 4096
CCOUNT_MASK = 0x0FFF
OVERHEAD = 2


def _rc4(key: bytes):
    return Cipher(ARC4(key), None).encryptor()


class _KeySchedule:
    """One direction's session key and its RC4 context (one persistent context per key)."""

    __slots__ = ("bits", "_n", "_prefix", "key", "cipher")

    def __init__(self, master_key: bytes, bits: int) -> None:
        if bits not in (40, 56, 128):
            raise ValueError(f"MPPE key length {bits} is not 40, 56 or 128")
        n = key_octets(bits)
        if len(master_key) < n:
            raise ValueError(f"MPPE master key shorter than {n} octets")
        self.bits, self._n = bits, n
        # SHA1(master ‖ pad1 ‖ current ‖ pad2): hash the constant prefix once, copy it per key change.
        self._prefix = hashlib.sha1(master_key[:n] + SHA_PAD1)
        self.key = initial_session_key(master_key, bits)
        self.cipher = _rc4(self.key)

    def change_key(self) -> None:
        """RFC 3078 §7.3 ChangeKey, then a fresh RC4 context under the new key."""
        h = self._prefix.copy()
        h.update(self.key)
        h.update(SHA_PAD2)
        interim = h.digest()[:self._n]
        key = _rc4(interim).update(interim)
        if self.bits != 128:
            key = reduce_key(key, self.bits)
        self.key = key
        self.cipher = _rc4(key)


class MppeEncryptor:
    """One direction's sender. `master_key` is MppeKeys.send (16 octets; 40/56 bits use the first 8)."""

    def __init__(self, master_key: bytes, *, bits: int = 128, stateless: bool = False) -> None:
        self.stateless = stateless
        self._ks = _KeySchedule(master_key, bits)
        self._ccount = CCOUNT_MASK        # the first packet carries count 0
        self._flush = False
        self.packets = 0

    @property
    def bits(self) -> int:
        return self._ks.bits

    def reset(self) -> None:
        """A CCP Reset-Request arrived: the next packet changes key and carries the flushed bit."""
        self._flush = True

    def encrypt(self, payload: bytes | memoryview) -> bytes:
        ccount = (self._ccount + 1) & CCOUNT_MASK
        self._ccount = ccount
        ks = self._ks
        if self.stateless or (ccount & 0xFF) == 0xFF or self._flush:
            # Stateless mode lands here for every packet: a new key, so a new RC4 context per packet
            # (RFC 3078 §8.1), the one exception to "one cipher per direction per key" (DESIGN.md §5).
            ks.change_key()
            self._flush = False
            header = ((BIT_FLUSHED | BIT_ENCRYPTED) << 8) | ccount
        else:
            header = (BIT_ENCRYPTED << 8) | ccount
        self.packets += 1
        return header.to_bytes(2, "big") + ks.cipher.update(payload)


class MppeDecryptor:
    """One direction's receiver. `master_key` is MppeKeys.recv.

    `need_reset` turns True when a lost packet (stateful mode) calls for a CCP Reset-Request; `discarding`
    stays True until the sender's flushed packet arrives (the link may repeat the Reset-Request meanwhile).
    """

    def __init__(self, master_key: bytes, *, bits: int = 128, stateless: bool = False) -> None:
        self.stateless = stateless
        self._ks = _KeySchedule(master_key, bits)
        self._ccount = CCOUNT_MASK
        self.discarding = False
        self.need_reset = False
        self.packets = 0
        self.stats = Counters()

    @property
    def bits(self) -> int:
        return self._ks.bits

    def take_reset(self) -> bool:
        """True once per needed Reset-Request (clears `need_reset`)."""
        need, self.need_reset = self.need_reset, False
        return need

    def decrypt(self, data: bytes | memoryview) -> bytes | None:
        """The PPP payload (protocol field + information) of one MPPE packet, or None when dropped."""
        if len(data) < OVERHEAD + 1:
            self.stats.count("mppe: short packet")
            return None
        flags = data[0]
        ccount = ((flags & 0x0F) << 8) | data[1]
        flushed = flags & BIT_FLUSHED
        if not flags & BIT_ENCRYPTED:
            self.stats.count("mppe: packet not encrypted")
            return None
        if flags & (BIT_B | BIT_C):
            self.stats.count("mppe: compressed packet (MPPC not negotiated)")
            return None
        ks = self._ks
        if self.stateless:
            if not flushed:
                self.stats.count("mppe: stateless packet without flushed bit")
                return None
            steps = (ccount - self._ccount) & CCOUNT_MASK
            if steps > CCOUNT_SPACE // 2:
                self.stats.count("mppe: late packet")
                return None
            if steps == 0:
                # A duplicate of the last packet: same key, so restart RC4 from it.
                self.stats.count("mppe: duplicate packet")
                ks.cipher = _rc4(ks.key)
            for _ in range(steps):
                ks.change_key()
            self._ccount = ccount
        else:
            if (ccount & 0xFF) == 0xFF and not flushed:
                self.stats.count("mppe: flag packet without flushed bit")
                return None
            if not self.discarding:
                expected = (self._ccount + 1) & CCOUNT_MASK
                self._ccount = expected
                if ccount != expected:
                    self.discarding = True
                    self.need_reset = True
                    self.stats.count("mppe: packet lost, resynchronising")
                    return None
            elif not flushed:
                self.stats.count("mppe: discarded while resynchronising")
                return None
            else:
                # Change key once per flag packet we missed, then take the sender's count.
                while (ccount & 0xF00) != (self._ccount & 0xF00):
                    ks.change_key()
                    self._ccount = (self._ccount + 256) & CCOUNT_MASK
                self.discarding = False
                self._ccount = ccount
            if flushed:
                ks.change_key()
        self.packets += 1
        return ks.cipher.update(data[OVERHEAD:])
