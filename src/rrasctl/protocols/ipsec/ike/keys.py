"""IKEv1 key derivation and the ISAKMP payload cipher (RFC 2409 §5, §5.5, Appendix B).

- PRF: HMAC with the negotiated hash (RFC 2409 §4, "the HMAC version of the negotiated hash").
- SKEYID (pre-shared key) = prf(PSK, Ni_b | Nr_b); SKEYID_d, SKEYID_a, SKEYID_e from g^xy and the cookies (§5).
- The encryption key: the leftmost bytes of SKEYID_e, expanded as K1 = prf(SKEYID_e, 0), K2 = prf(SKEYID_e, K1) ...
  when the cipher needs more than the PRF gives (Appendix B; 3DES under SHA-1 or MD5 needs it).
- IVs: phase 1 starts from hash(g^xi | g^xr); each later phase-1 message uses the previous message's last
  ciphertext block. Every Quick Mode and Informational exchange starts from hash(last phase-1 block | M-ID) and
  chains within its exchange (Appendix B).
- HASH_I / HASH_R (§5), Quick Mode HASH(1)/(2)/(3) and KEYMAT with expansion (§5.5), Informational HASH(1) (§5.7).
- NAT-D: HASH(CKY-I | CKY-R | IP | Port) with the negotiated hash, not the PRF (RFC 3947 §3.2).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ipsec.ike.constants import EncryptionAlgorithm, HashAlgorithm

_HASH_NAMES = {HashAlgorithm.MD5: "md5", HashAlgorithm.SHA1: "sha1", HashAlgorithm.SHA2_256: "sha256",
               HashAlgorithm.SHA2_384: "sha384", HashAlgorithm.SHA2_512: "sha512"}


def hash_name(alg: int) -> str:
    try:
        return _HASH_NAMES[HashAlgorithm(alg)]
    except (ValueError, KeyError):
        raise KeyError(f"hash algorithm {alg} not supported") from None


def digest_size(alg: int) -> int:
    return hashlib.new(hash_name(alg)).digest_size


def prf(alg: int, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hash_name(alg)).digest()


def hash_(alg: int, data: bytes) -> bytes:
    return hashlib.new(hash_name(alg), data).digest()


def expand(alg: int, key: bytes, seed: bytes, length: int, *, first: bytes | None = None) -> bytes:
    """K1 | K2 | ... truncated to `length`: K1 = prf(key, first if given else seed), Kn = prf(key, Kn-1 | seed).

    Appendix B (phase-1 encryption key): seed is empty and K1 = prf(SKEYID_e, 0), so `first=b"\\0"`.
    §5.5 (KEYMAT): K1 = prf(SKEYID_d, seed), K2 = prf(SKEYID_d, K1 | seed) with seed = [g(qm)^xy |] protocol | SPI |
    Ni_b | Nr_b.
    """
    out, block = b"", b""
    while len(out) < length:
        block = prf(alg, key, (first if (first is not None and not out) else block + seed))
        out += block
    return out[:length]


@dataclass(frozen=True, slots=True)
class Phase1Keys:
    skeyid: bytes
    skeyid_d: bytes
    skeyid_a: bytes
    skeyid_e: bytes
    enc_key: bytes

    def __repr__(self) -> str:              # keys never reach a log through repr
        return "Phase1Keys(********)"


def skeyid_psk(alg: int, psk: bytes, ni_b: bytes, nr_b: bytes) -> bytes:
    """SKEYID for pre-shared key authentication (RFC 2409 §5)."""
    return prf(alg, psk, ni_b + nr_b)


def derive_phase1(alg: int, skeyid: bytes, gxy: bytes, cky_i: bytes, cky_r: bytes, enc_key_len: int) -> Phase1Keys:
    d = prf(alg, skeyid, gxy + cky_i + cky_r + b"\0")
    a = prf(alg, skeyid, d + gxy + cky_i + cky_r + b"\1")
    e = prf(alg, skeyid, a + gxy + cky_i + cky_r + b"\2")
    enc = e[:enc_key_len] if len(e) >= enc_key_len else expand(alg, e, b"", enc_key_len, first=b"\0")
    return Phase1Keys(skeyid, d, a, e, enc)


def hash_i(alg: int, skeyid: bytes, gxi: bytes, gxr: bytes, cky_i: bytes, cky_r: bytes, sai_b: bytes,
           idii_b: bytes) -> bytes:
    return prf(alg, skeyid, gxi + gxr + cky_i + cky_r + sai_b + idii_b)


def hash_r(alg: int, skeyid: bytes, gxi: bytes, gxr: bytes, cky_i: bytes, cky_r: bytes, sai_b: bytes,
           idir_b: bytes) -> bytes:
    return prf(alg, skeyid, gxr + gxi + cky_r + cky_i + sai_b + idir_b)


def _mid(message_id: int) -> bytes:
    return struct.pack("!I", message_id)


def qm_hash1(alg: int, skeyid_a: bytes, message_id: int, rest: bytes) -> bytes:
    """HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [| KE] [| IDci | IDcr]): `rest` is every payload after HASH.
    The Informational HASH(1) (§5.7, prf(SKEYID_a, M-ID | N/D)) is the same function."""
    return prf(alg, skeyid_a, _mid(message_id) + rest)


def qm_hash2(alg: int, skeyid_a: bytes, message_id: int, ni_b: bytes, rest: bytes) -> bytes:
    return prf(alg, skeyid_a, _mid(message_id) + ni_b + rest)


def qm_hash3(alg: int, skeyid_a: bytes, message_id: int, ni_b: bytes, nr_b: bytes) -> bytes:
    return prf(alg, skeyid_a, b"\0" + _mid(message_id) + ni_b + nr_b)


def keymat(alg: int, skeyid_d: bytes, protocol: int, spi: bytes, ni_b: bytes, nr_b: bytes, length: int,
           gqm: bytes = b"") -> bytes:
    """KEYMAT for the SA whose (inbound) SPI is `spi`, `length` octets (§5.5; `gqm` = g(qm)^xy with PFS)."""
    return expand(alg, skeyid_d, gqm + bytes([protocol]) + spi + ni_b + nr_b, length)


def phase1_iv(alg: int, gxi: bytes, gxr: bytes, block: int) -> bytes:
    return hash_(alg, gxi + gxr)[:block]


def exchange_iv(alg: int, last_phase1_block: bytes, message_id: int, block: int) -> bytes:
    """The first IV of a Quick Mode or Informational exchange (Appendix B)."""
    return hash_(alg, last_phase1_block + _mid(message_id))[:block]


def natd_hash(alg: int, cky_i: bytes, cky_r: bytes, ip: str, port: int) -> bytes:
    return hash_(alg, cky_i + cky_r + ipaddress.ip_address(ip).packed + struct.pack("!H", port))


# ----------------------------------------------------------------------------------------------- the cipher

_BLOCK = {EncryptionAlgorithm.DES_CBC: 8, EncryptionAlgorithm.TRIPLE_DES_CBC: 8, EncryptionAlgorithm.AES_CBC: 16}


def cipher_key_len(alg: int, key_bits: int | None) -> int:
    if alg == EncryptionAlgorithm.DES_CBC:
        return 8
    if alg == EncryptionAlgorithm.TRIPLE_DES_CBC:
        return 24
    if alg == EncryptionAlgorithm.AES_CBC:
        if key_bits not in (128, 192, 256):
            raise KeyError(f"AES key length {key_bits} not supported")
        return key_bits // 8
    raise KeyError(f"encryption algorithm {alg} not supported")


def block_size(alg: int) -> int:
    try:
        return _BLOCK[EncryptionAlgorithm(alg)]
    except (ValueError, KeyError):
        raise KeyError(f"encryption algorithm {alg} not supported") from None


class IsakmpCipher:
    """CBC encryption of message bodies under the phase-1 key. `encrypt`/`decrypt` take the IV and return the
    new chaining block (the last ciphertext block) with the result, so the caller keeps the IV state per exchange.
    Padding (RFC 2409 App. B, RFC 2408 §3.1) is zeros up to the block size; the receiver ignores it."""

    __slots__ = ("alg", "block", "_algorithm")

    def __init__(self, alg: int, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers import algorithms

        self.alg, self.block = alg, block_size(alg)
        if alg == EncryptionAlgorithm.AES_CBC:
            self._algorithm = algorithms.AES(key)
        else:
            try:   # cryptography >= 43 keeps 3DES under `decrepit`
                from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
            except ImportError:                             # pragma: no cover
                from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore
            self._algorithm = TripleDES(key * 3 if len(key) == 8 else key)   # single DES as K1 = K2 = K3

    def __repr__(self) -> str:
        return f"IsakmpCipher({EncryptionAlgorithm(self.alg).name}, ********)"

    def encrypt(self, iv: bytes, plain: bytes) -> tuple[bytes, bytes]:
        from cryptography.hazmat.primitives.ciphers import Cipher, modes

        pad = -len(plain) % self.block
        enc = Cipher(self._algorithm, modes.CBC(iv)).encryptor()
        ct = enc.update(plain + bytes(pad)) + enc.finalize()
        return ct, ct[-self.block:]

    def decrypt(self, iv: bytes, ct: bytes) -> tuple[bytes, bytes]:
        from cryptography.hazmat.primitives.ciphers import Cipher, modes

        if not ct or len(ct) % self.block:
            raise Malformed("encrypted body not a whole number of blocks")
        dec = Cipher(self._algorithm, modes.CBC(iv)).decryptor()
        return dec.update(ct) + dec.finalize(), ct[-self.block:]
