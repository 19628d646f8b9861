"""MPPE (RFC 3078): RC4 encryption of PPP payloads, stateful or stateless, 40/56/128-bit keys.

    enc = MppeEncryptor(keys.send, bits=128, stateless=False)
    dec = MppeDecryptor(keys.recv, bits=128, stateless=False)
    wire = enc.encrypt(ppp_payload)     # 2-octet MPPE header + ciphertext; the link adds protocol 0x00FD
    plain = dec.decrypt(wire)           # bytes (protocol field + data as encrypted) or None (dropped)
    if dec.need_reset: send CCP Reset-Request; dec.need_reset is cleared by take_reset()
    on CCP Reset-Request received: enc.reset()   (next packet carries the flushed bit A, new key per §7.4?)

`ppp_payload` is what RFC 3078 §3 encrypts: the PPP protocol field (2 octets, or 1 with PFC) followed by
the information field. The coherency count is 12 bits and wraps; the key changes every 256 packets in
stateful mode (RFC 3078 §7.3) and for every packet in stateless mode (§7.2, the H bit).
"""

from __future__ import annotations


class MppeEncryptor:
    """One direction's sender. `master_key` is MppeKeys.send (16 octets; 40/56 bits use 8)."""

    def __init__(self, master_key: bytes, *, bits: int = 128, stateless: bool = False) -> None:
        raise NotImplementedError

    def encrypt(self, payload: bytes | memoryview) -> bytes:
        raise NotImplementedError

    def reset(self) -> None:
        """A CCP Reset-Request arrived (stateful mode): set the flushed bit on the next packet."""
        raise NotImplementedError


class MppeDecryptor:
    """One direction's receiver. `need_reset` turns True when a lost packet requires a CCP Reset-Request."""

    need_reset: bool

    def __init__(self, master_key: bytes, *, bits: int = 128, stateless: bool = False) -> None:
        raise NotImplementedError

    def decrypt(self, data: bytes | memoryview) -> bytes | None:
        raise NotImplementedError

    def take_reset(self) -> bool:
        """True once per needed Reset-Request (clears `need_reset`)."""
        raise NotImplementedError
