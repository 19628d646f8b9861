"""MPPE (RFC 3078): RC4 encryption of PPP payloads, stateful or stateless, 40/56/128-bit keys.

    enc = MppeEncryptor(keys.send, bits=128, stateless=False)
    dec = MppeDecryptor(keys.recv, bits=128, stateless=False)
    wire = enc.encrypt(ppp_payload)     # 2-octet MPPE header + ciphertext; the link adds protocol 0x00FD
    plain = dec.decrypt(wire)           # the PPP payload, or None (dropped; the reason is in dec.stats)
    if dec.take_reset(): the link sends a CCP Reset-Request (stateful mode, a packet was lost)
    on a CCP Reset-Request received: enc.reset()  (the next packet changes key and carries the flushed bit)

The data path (DESIGN.md §5) works in place on preallocated buffers, with no per-packet copies:

    enc.encrypt_into(buf, view, p, end)   # view = memoryview(buf); plaintext in buf[p+2:end] -> header at p,
                                          # ciphertext over the plaintext
    plain = dec.decrypt_in_place(view)    # a writable view of one MPPE packet -> a view of its plaintext
                                          # (view[2:], overwritten in place), or None

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

import ctypes
import ctypes.util
import hashlib
import os
import weakref

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


_HEADER = [((BIT_ENCRYPTED << 8) | c).to_bytes(2, "big") for c in range(CCOUNT_SPACE)]
# After count c, the header of an in-order, non-flushed stateful packet (count c + 1), or -1 if c + 1 is a flag.
_NEXT_PLAIN = [-1 if (c + 1) & 0xFF == 0xFF else (BIT_ENCRYPTED << 8) | ((c + 1) & CCOUNT_MASK)
               for c in range(CCOUNT_SPACE)]
_HEADER_FLUSHED = [(((BIT_FLUSHED | BIT_ENCRYPTED) << 8) | c).to_bytes(2, "big") for c in range(CCOUNT_SPACE)]


def _rc4(key: bytes):
    return Cipher(ARC4(key), None).encryptor()


class _Rekeying:
    """RC4 for the per-packet key changes of stateless mode, where context creation dominates the cost.

    `cryptography` builds a new OpenSSL context per key (≈ 4-9 µs, an algorithm fetch each time). When the
    system's libcrypto 3 and its legacy provider are present, one EVP_CIPHER_CTX per direction is re-keyed in
    place through ctypes (EVP_CipherInit_ex2 with only a key: ≈ 1-2 µs), inside a private OSSL_LIB_CTX so
    hashlib and ssl are not affected. Otherwise every call falls back to a new `cryptography` context.
    """

    __slots__ = ("_ctx", "_buf", "_outl", "_init", "_update", "_string_at", "_n", "_small", "_small_ptr",
                 "_init_fast", "_update_fast", "_char", "_addressof", "__weakref__")

    def __init__(self, key_octets: int) -> None:
        self._ctx = None
        self._n = key_octets
        lib = _libcrypto()
        if lib is None:
            return
        ctx = ctypes.c_void_p(lib.EVP_CIPHER_CTX_new())
        if not ctx.value or lib.EVP_CipherInit_ex2(ctx, _LIB["rc4"], None, None, 1, None) != 1:
            return
        if lib.EVP_CIPHER_CTX_set_key_length(ctx, key_octets) != 1:
            lib.EVP_CIPHER_CTX_free(ctx)
            return
        self._ctx = ctx
        self._buf = ctypes.create_string_buffer(64)    # grows to the largest packet seen (no 64 KiB per session)
        self._outl = ctypes.byref(ctypes.c_int())
        self._init, self._update, self._string_at = lib.EVP_CipherInit_ex2, lib.EVP_CipherUpdate, ctypes.string_at
        # The per-packet calls go through prototypes without argtypes (ctypes converts c_void_p, bytes, int and
        # None in C; the argtypes path costs ~0.3 us more per call) on pointers computed once: a small buffer for
        # the interim keys, and the caller's own (writable) packet buffer for in-place encryption.
        self._init_fast = lib._FuncPtr(("EVP_CipherInit_ex2", lib))
        self._update_fast = lib._FuncPtr(("EVP_CipherUpdate", lib))
        self._small = ctypes.create_string_buffer(64)
        self._small_ptr = ctypes.c_void_p(ctypes.addressof(self._small))
        self._char, self._addressof = ctypes.c_char, ctypes.addressof
        weakref.finalize(self, lib.EVP_CIPHER_CTX_free, ctx)

    def crypt(self, key: bytes, data: bytes | memoryview) -> bytes:
        """RC4 under a fresh `key` over `data` (one packet or one interim key)."""
        ctx = self._ctx
        n = len(data)
        if ctx is None or len(key) != self._n:
            return _rc4(key).update(data)
        if n <= 64 and type(data) is bytes:                  # an interim key (next_key): the fast prototypes
            small = self._small
            self._init_fast(ctx, None, key, None, 1, None)
            self._update_fast(ctx, self._small_ptr, self._outl, data, n)
            return small.raw[:n]
        if n > len(self._buf):
            self._buf = ctypes.create_string_buffer(max(n, 2048))
        if isinstance(data, memoryview):
            data = data.tobytes()
        self._init(ctx, None, key, None, 1, None)
        self._update(ctx, self._buf, self._outl, data, n)
        return self._string_at(self._buf, n)

    def crypt_into(self, key: bytes, view: memoryview) -> None:
        """`crypt` in place over a writable, contiguous view (the packet buffer): no copy."""
        ctx = self._ctx
        n = len(view)
        if ctx is None or len(key) != self._n or n == 0:
            view[:] = _rc4(key).update(view)
            return
        ptr = ctypes.c_void_p(self._addressof(self._char.from_buffer(view)))
        self._init_fast(ctx, None, key, None, 1, None)
        self._update_fast(ctx, ptr, self._outl, ptr, n)


_LIB: dict = {}


def _libcrypto():
    """The system libcrypto with RC4 fetched from the legacy provider in a private library context, or None."""
    if "lib" in _LIB:
        return _LIB["lib"]
    _LIB["lib"] = None
    if os.environ.get("RRASCTL_MPPE_NO_CTYPES") == "1":
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
        vp = ctypes.c_void_p
        lib.OSSL_LIB_CTX_new.restype = vp
        lib.OSSL_PROVIDER_load.restype = vp
        lib.OSSL_PROVIDER_load.argtypes = [vp, ctypes.c_char_p]
        lib.EVP_CIPHER_fetch.restype = vp
        lib.EVP_CIPHER_fetch.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p]
        lib.EVP_CIPHER_CTX_new.restype = vp
        lib.EVP_CIPHER_CTX_free.argtypes = [vp]
        lib.EVP_CIPHER_CTX_set_key_length.argtypes = [vp, ctypes.c_int]
        lib.EVP_CipherInit_ex2.argtypes = [vp, vp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, vp]
        lib.EVP_CipherUpdate.argtypes = [vp, ctypes.c_char_p, vp, ctypes.c_char_p, ctypes.c_int]
        libctx = lib.OSSL_LIB_CTX_new()
        if not libctx or not lib.OSSL_PROVIDER_load(libctx, b"legacy"):
            return None
        rc4 = lib.EVP_CIPHER_fetch(libctx, b"RC4", None)
        if not rc4:
            return None
    except (OSError, AttributeError):
        return None
    # self-test against `cryptography` before trusting it
    _LIB["rc4"] = ctypes.c_void_p(rc4)
    _LIB["lib"] = lib
    probe = _Rekeying(16)
    if probe._ctx is None or probe.crypt(b"k" * 16, b"\x00" * 32) != _rc4(b"k" * 16).update(b"\x00" * 32):
        _LIB["lib"] = None
    return _LIB["lib"]


class _KeySchedule:
    """One direction's session key and its RC4 context (one persistent context per key)."""

    __slots__ = ("bits", "_n", "_prefix", "key", "cipher", "_rekeying")

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
        self._rekeying = _Rekeying(n)

    def next_key(self) -> None:
        """RFC 3078 §7.3 ChangeKey: the new session key (the caller decides how to start RC4 with it)."""
        h = self._prefix.copy()
        h.update(self.key)
        h.update(SHA_PAD2)
        interim = h.digest()[:self._n]
        key = self._rekeying.crypt(interim, interim)
        self.key = key if self.bits == 128 else reduce_key(key, self.bits)

    def change_key(self) -> None:
        """ChangeKey, then a fresh persistent RC4 context under the new key (stateful mode)."""
        self.next_key()
        self.cipher = _rc4(self.key)

    def crypt_once(self, data: bytes | memoryview) -> bytes:
        """RC4 from the start of the current key over one packet (stateless mode)."""
        return self._rekeying.crypt(self.key, data)

    def crypt_once_into(self, view: memoryview) -> None:
        """`crypt_once` in place over a writable view."""
        self._rekeying.crypt_into(self.key, view)


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
        self.packets += 1
        if self.stateless:
            # A new key for every packet (RFC 3078 §8.1): RC4 restarts per packet, the one exception to
            # "one cipher per direction per key" (DESIGN.md §5); _Rekeying re-keys one context in place.
            ks.next_key()
            return _HEADER_FLUSHED[ccount] + ks.crypt_once(payload)
        if (ccount & 0xFF) == 0xFF or self._flush:
            ks.change_key()
            self._flush = False
            return _HEADER_FLUSHED[ccount] + ks.cipher.update(payload)
        return _HEADER[ccount] + ks.cipher.update(payload)

    def encrypt_into(self, buf: bytearray, view: memoryview, p: int, end: int) -> None:
        """`encrypt` in place: the payload is already in ``buf[p + 2:end]`` (``view`` is ``memoryview(buf)``); the
        MPPE header goes to ``buf[p:p + 2]`` and the ciphertext over the payload. Same key schedule as `encrypt`."""
        ccount = (self._ccount + 1) & CCOUNT_MASK
        self._ccount = ccount
        self.packets += 1
        ks = self._ks
        payload = view[p + 2:end]
        if self.stateless:
            ks.next_key()                                   # RFC 3078 §8.1, see `encrypt`
            buf[p:p + 2] = _HEADER_FLUSHED[ccount]
            ks.crypt_once_into(payload)
            return
        if (ccount & 0xFF) == 0xFF or self._flush:
            ks.change_key()
            self._flush = False
            buf[p:p + 2] = _HEADER_FLUSHED[ccount]
        else:
            buf[p:p + 2] = _HEADER[ccount]
        ks.cipher.update_into(payload, payload)


class MppeDecryptor:
    """One direction's receiver. `master_key` is MppeKeys.recv.

    `need_reset` turns True when a lost packet (stateful mode) calls for a CCP Reset-Request; `discarding`
    stays True until the sender's flushed packet arrives (the link may repeat the Reset-Request meanwhile).
    """

    def __init__(self, master_key: bytes, *, bits: int = 128, stateless: bool = False) -> None:
        self.stateless = stateless
        self._ks = _KeySchedule(master_key, bits)
        self._ccount = CCOUNT_MASK
        self._next = -1 if stateless else _NEXT_PLAIN[CCOUNT_MASK]
        self._cipher = self._ks.cipher
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
        expected = self._next
        if len(data) > OVERHEAD and (data[0] << 8 | data[1]) == expected:
            # Fast path: the next in-order stateful packet, not flushed and not a flag packet.
            ccount = expected & CCOUNT_MASK
            self._ccount = ccount
            self._next = _NEXT_PLAIN[ccount]
            self.packets += 1
            return self._cipher.update(data[OVERHEAD:])
        out = self._decrypt(data)
        self._next = -1 if self.stateless or self.discarding else _NEXT_PLAIN[self._ccount]
        self._cipher = self._ks.cipher
        return out

    def decrypt_in_place(self, data: memoryview) -> memoryview | None:
        """`decrypt` for a writable view: the plaintext overwrites the ciphertext and comes back as ``data[2:]``
        (no copy); None when dropped (the view's contents are then unspecified)."""
        expected = self._next
        if len(data) > OVERHEAD and (data[0] << 8 | data[1]) == expected:
            ccount = expected & CCOUNT_MASK      # the fast path of `decrypt`
            self._ccount = ccount
            self._next = _NEXT_PLAIN[ccount]
            self.packets += 1
            plain = data[OVERHEAD:]
            self._cipher.update_into(plain, plain)
            return plain
        out = self._decrypt(data, True)
        self._next = -1 if self.stateless or self.discarding else _NEXT_PLAIN[self._ccount]
        self._cipher = self._ks.cipher
        return out

    def _decrypt(self, data: bytes | memoryview, in_place: bool = False) -> bytes | memoryview | None:
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
                self.stats.count("mppe: duplicate packet")   # same count, same key: decrypts again
            for _ in range(steps):
                ks.next_key()
            self._ccount = ccount
            self.packets += 1
            if in_place:
                plain = data[OVERHEAD:]
                ks.crypt_once_into(plain)
                return plain
            return ks.crypt_once(data[OVERHEAD:])            # RC4 restarts per packet (RFC 3078 §8.1)
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
        if in_place:
            plain = data[OVERHEAD:]
            ks.cipher.update_into(plain, plain)
            return plain
        return ks.cipher.update(data[OVERHEAD:])
