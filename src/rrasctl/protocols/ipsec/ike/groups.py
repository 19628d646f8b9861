"""MODP Diffie-Hellman groups 1, 2 (RFC 2409 §6.1-6.2), 5 and 14 (RFC 3526 §2-3), keyed from the injected rng.

The private exponent is 256 bits from `rng` (twice the ~110-bit strength of the 2048-bit group, RFC 3526 §8; the
same length strongSwan uses), so a seeded test replays exact bytes. Groups 5 and 14 are computed by OpenSSL through
`cryptography`'s dh primitives; groups 1 and 2 with Python's `pow()`, because `cryptography` re-validates a group it
does not know on every key it loads (15-27 ms per key for these two primes against 0.01 ms for 5 and 14), and
because its finite-field DH is deprecated (it warns, and may go): `pow()` is the fallback for every group then
(decision 0107). Public values and the shared secret are left-padded to the prime's length (RFC 2409 §5,
RFC 2408 §3.7).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import IntEnum

from rrasctl.protocols.base import Malformed, Rng

EXPONENT_BYTES = 32


class DhGroup(IntEnum):
    """Group Description values (RFC 2409 Appendix A, RFC 3526)."""
    MODP768 = 1
    MODP1024 = 2
    MODP1536 = 5
    MODP2048 = 14


_PI_PREFIX = ("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
              "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63")
PRIMES_HEX = {
    DhGroup.MODP768: _PI_PREFIX + "A3620FFFFFFFFFFFFFFFF",
    DhGroup.MODP1024: _PI_PREFIX + (
        "7ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"),
    DhGroup.MODP1536: _PI_PREFIX + (
        "7ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A6"
        "9163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFF"
        "FFFFFFFFFF"),
    DhGroup.MODP2048: _PI_PREFIX + (
        "7ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A6"
        "9163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E"
        "462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA"
        "051015728E5A8AACAA68FFFFFFFFFFFFFFFF"),
}
GENERATOR = 2
_OPENSSL_GROUPS = frozenset({DhGroup.MODP1536, DhGroup.MODP2048})


@dataclass(frozen=True, slots=True)
class ModpGroup:
    id: DhGroup
    prime: int
    generator: int

    @property
    def length(self) -> int:
        """Octets of the prime, of a KE payload, and of g^xy."""
        return (self.prime.bit_length() + 7) // 8


GROUPS = {g: ModpGroup(g, int(h, 16), GENERATOR) for g, h in PRIMES_HEX.items()}


def group(group_id: int) -> ModpGroup:
    try:
        return GROUPS[DhGroup(group_id)]
    except ValueError:
        raise KeyError(f"MODP group {group_id} not supported") from None


class _OpenSsl:
    """The OpenSSL path: the private key from our exponent; the public value as the exchange with g itself."""

    def __init__(self, g: ModpGroup, x: int) -> None:
        from cryptography.hazmat.primitives.asymmetric import dh

        with _quiet():
            self._params = dh.DHParameterNumbers(g.prime, g.generator)
            # the stored public number is never used by a derivation (OpenSSL derives from the private value and
            # the peer's public one); g stands in until g^x is known
            self._key = dh.DHPrivateNumbers(x, dh.DHPublicNumbers(g.generator, self._params)).private_key()
            self.public = self._derive(g.generator)

    def _derive(self, y: int) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import dh

        with _quiet():
            return self._key.exchange(dh.DHPublicNumbers(y, self._params).public_key())

    def shared(self, y: int) -> bytes:
        return self._derive(y)


class _Pow:
    def __init__(self, g: ModpGroup, x: int) -> None:
        self._g, self._x = g, x
        self.public = pow(g.generator, x, g.prime).to_bytes(g.length, "big")

    def shared(self, y: int) -> bytes:
        return pow(y, self._x, self._g.prime).to_bytes(self._g.length, "big")


class DhKey:
    """One ephemeral exchange: `public` (for the KE payload) and `shared(peer_public)` = g^xy."""

    __slots__ = ("group", "_impl")

    def __init__(self, group_id: int, rng: Rng, *, backend: str | None = None) -> None:
        self.group = group(group_id)
        x = int.from_bytes(rng(EXPONENT_BYTES), "big") | (1 << (EXPONENT_BYTES * 8 - 1))
        use_openssl = backend == "openssl" or (backend is None and self.group.id in _OPENSSL_GROUPS)
        impl = None
        if use_openssl:
            try:
                impl = _OpenSsl(self.group, x)
            except (ImportError, AttributeError, ValueError, _unsupported()):   # dh removed, or refusing a group
                if backend == "openssl":
                    raise
        self._impl = impl or _Pow(self.group, x)

    @property
    def public(self) -> bytes:
        return self._impl.public

    def shared(self, peer_public: bytes) -> bytes:
        """g^xy, left-padded to the prime's length; Malformed for a public value out of range (RFC 2631 §2.1.5
        style check: 1 < y < p - 1) or of the wrong length."""
        if len(peer_public) != self.group.length:
            raise Malformed("KE length does not match the group")
        y = int.from_bytes(peer_public, "big")
        if not 1 < y < self.group.prime - 1:
            raise Malformed("KE value out of range")
        return self._impl.shared(y)


def _unsupported() -> type[Exception]:
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
    except ImportError:                                     # pragma: no cover
        return ImportError
    return UnsupportedAlgorithm


class _quiet(warnings.catch_warnings):
    """Silence cryptography's deprecation of finite-field DH around our own calls only."""

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from cryptography.utils import CryptographyDeprecationWarning
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        except ImportError:                                 # pragma: no cover
            pass
        return out
