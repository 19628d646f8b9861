"""ESP cipher suites: what an SA encrypts and authenticates with, and how IKEv1 names it.

`EspSuite` is a closed table (one member per combination we can build); its properties give every length the SA
and the key derivation need:

    suite = suite_from_ike(transform_id=12, key_bits=128, auth_alg=2)   # ESP_AES (CBC), 128 bits, HMAC-SHA
    suite is EspSuite.AES_CBC_128_SHA1
    suite.keymat_len == 16 + 20          # encryption key || integrity key: what Quick Mode's KEYMAT must yield
    suite.ike == (12, 128, 2)            # the transform id and attributes to propose it with

IKEv1 numbers (RFC 2407 §4.4.4 ESP transform identifiers, §4.5 "Authentication Algorithm" attribute):
ESP_DES = 2, ESP_3DES = 3, ESP_NULL = 11, ESP_AES = 12 (AES-CBC, RFC 3602 §5.1), ESP_AES_GCM_16 = 20 (RFC 4106 §8.3);
HMAC-MD5 = 1, HMAC-SHA = 2 (RFC 2407 §4.5), HMAC-SHA2-256 = 5 (RFC 4868 §4).
AES needs the Key Length attribute (RFC 3602 §5.3, RFC 4106 §8.4); AES-GCM carries no Authentication Algorithm.

Suites whose integrity is NONE (other than AES-GCM, which authenticates by itself) exist only to decrypt manually
keyed captures and in tests: `suite_from_ike` never returns them and `EspSuite.negotiable` is False for them.
HMAC-SHA2-256 comes in two ICV lengths: 128 bits (RFC 4868, the standard) and 96 bits (the draft that Linux before
2.6.33 and strongSwan's `sha256_96` implement); IKEv1 cannot tell them apart, so the 96-bit one is chosen by
configuration (`sha256_96=True`).
"""

from __future__ import annotations

import enum

from rrasctl.protocols.base import ProtocolError


class EncAlg(enum.Enum):
    """ESP encryption algorithms (value: RFC 2407 §4.4.4 / IANA IPsec ESP transform identifier)."""

    DES_CBC = 2          # RFC 2405
    DES3_CBC = 3         # RFC 2451
    NULL = 11            # RFC 2410
    AES_CBC = 12         # RFC 3602
    AES_GCM_16 = 20      # RFC 4106, 16-octet ICV


class IntegAlg(enum.Enum):
    """ESP integrity algorithms: (IKEv1 Authentication Algorithm attribute, key length, ICV length) in octets."""

    NONE = (None, 0, 0)
    HMAC_MD5_96 = (1, 16, 12)              # RFC 2403
    HMAC_SHA1_96 = (2, 20, 12)             # RFC 2404
    HMAC_SHA2_256_128 = (5, 32, 16)        # RFC 4868 §2.1
    HMAC_SHA2_256_96 = (5, 32, 12)         # draft-ietf-ipsec-ciph-sha-256-00 (pre-RFC 4868 Linux, strongSwan)

    def __init__(self, ike_id: int | None, key_len: int, icv_len: int) -> None:
        self.ike_id = ike_id
        self.key_len = key_len
        self.icv_len = icv_len


_E, _I = EncAlg, IntegAlg


class EspSuite(enum.Enum):
    """One ESP transform: encryption algorithm, its key length in octets, integrity algorithm."""

    AES_GCM_16_128 = (_E.AES_GCM_16, 16, _I.NONE)
    AES_GCM_16_192 = (_E.AES_GCM_16, 24, _I.NONE)
    AES_GCM_16_256 = (_E.AES_GCM_16, 32, _I.NONE)
    AES_CBC_128_SHA1 = (_E.AES_CBC, 16, _I.HMAC_SHA1_96)
    AES_CBC_192_SHA1 = (_E.AES_CBC, 24, _I.HMAC_SHA1_96)
    AES_CBC_256_SHA1 = (_E.AES_CBC, 32, _I.HMAC_SHA1_96)
    AES_CBC_128_SHA256 = (_E.AES_CBC, 16, _I.HMAC_SHA2_256_128)
    AES_CBC_192_SHA256 = (_E.AES_CBC, 24, _I.HMAC_SHA2_256_128)
    AES_CBC_256_SHA256 = (_E.AES_CBC, 32, _I.HMAC_SHA2_256_128)
    AES_CBC_128_SHA256_96 = (_E.AES_CBC, 16, _I.HMAC_SHA2_256_96)
    AES_CBC_192_SHA256_96 = (_E.AES_CBC, 24, _I.HMAC_SHA2_256_96)
    AES_CBC_256_SHA256_96 = (_E.AES_CBC, 32, _I.HMAC_SHA2_256_96)
    AES_CBC_128_MD5 = (_E.AES_CBC, 16, _I.HMAC_MD5_96)
    AES_CBC_192_MD5 = (_E.AES_CBC, 24, _I.HMAC_MD5_96)
    AES_CBC_256_MD5 = (_E.AES_CBC, 32, _I.HMAC_MD5_96)
    DES3_SHA1 = (_E.DES3_CBC, 24, _I.HMAC_SHA1_96)
    DES3_SHA256 = (_E.DES3_CBC, 24, _I.HMAC_SHA2_256_128)
    DES3_SHA256_96 = (_E.DES3_CBC, 24, _I.HMAC_SHA2_256_96)
    DES3_MD5 = (_E.DES3_CBC, 24, _I.HMAC_MD5_96)
    DES_SHA1 = (_E.DES_CBC, 8, _I.HMAC_SHA1_96)
    DES_SHA256 = (_E.DES_CBC, 8, _I.HMAC_SHA2_256_128)
    DES_SHA256_96 = (_E.DES_CBC, 8, _I.HMAC_SHA2_256_96)
    DES_MD5 = (_E.DES_CBC, 8, _I.HMAC_MD5_96)
    NULL_SHA1 = (_E.NULL, 0, _I.HMAC_SHA1_96)
    NULL_SHA256 = (_E.NULL, 0, _I.HMAC_SHA2_256_128)
    NULL_SHA256_96 = (_E.NULL, 0, _I.HMAC_SHA2_256_96)
    NULL_MD5 = (_E.NULL, 0, _I.HMAC_MD5_96)
    # confidentiality only, or nothing at all: captures and tests only (never negotiated)
    AES_CBC_128_NONE = (_E.AES_CBC, 16, _I.NONE)
    AES_CBC_192_NONE = (_E.AES_CBC, 24, _I.NONE)
    AES_CBC_256_NONE = (_E.AES_CBC, 32, _I.NONE)
    DES3_NONE = (_E.DES3_CBC, 24, _I.NONE)
    DES_NONE = (_E.DES_CBC, 8, _I.NONE)
    NULL_NONE = (_E.NULL, 0, _I.NONE)

    def __init__(self, enc: EncAlg, enc_key_len: int, integ: IntegAlg) -> None:
        self.enc = enc
        self.integ = integ
        #: octets of encryption key (GCM: without the salt)
        self.enc_key_len = enc_key_len

    # ------------------------------------------------------------------ lengths (octets)
    @property
    def aead(self) -> bool:
        return self.enc is EncAlg.AES_GCM_16

    @property
    def salt_len(self) -> int:
        """RFC 4106 §8.1: four octets of KEYMAT after the AES key."""
        return 4 if self.aead else 0

    @property
    def auth_key_len(self) -> int:
        return self.integ.key_len

    @property
    def icv_len(self) -> int:
        return 16 if self.aead else self.integ.icv_len

    @property
    def iv_len(self) -> int:
        """Octets of IV carried in each packet (RFC 3602 §3: 16 for AES-CBC; RFC 4106 §3.1: 8; DES: 8)."""
        return {EncAlg.AES_GCM_16: 8, EncAlg.AES_CBC: 16, EncAlg.DES3_CBC: 8, EncAlg.DES_CBC: 8,
                EncAlg.NULL: 0}[self.enc]

    @property
    def block_size(self) -> int:
        """What Payload ‖ Padding ‖ Pad Length ‖ Next Header is padded to: the cipher's block, at least 4
        (RFC 4303 §2.4: the ciphertext ends on a 4-octet boundary)."""
        return {EncAlg.AES_CBC: 16, EncAlg.DES3_CBC: 8, EncAlg.DES_CBC: 8}.get(self.enc, 4)

    @property
    def keymat_len(self) -> int:
        """Octets of KEYMAT an SA needs: encryption key ‖ salt (GCM) ‖ integrity key."""
        return self.enc_key_len + self.salt_len + self.auth_key_len

    @property
    def has_integrity(self) -> bool:
        return self.aead or self.integ is not IntegAlg.NONE

    @property
    def negotiable(self) -> bool:
        """False for the suites without integrity (captures and tests only)."""
        return self.has_integrity

    @property
    def overhead(self) -> int:
        """Octets ESP adds to a payload at most: SPI, sequence, IV, up to block-1 of padding, 2, ICV."""
        return 8 + self.iv_len + self.block_size - 1 + 2 + self.icv_len

    @property
    def ike(self) -> tuple[int, int | None, int | None]:
        """(ESP transform id, Key Length attribute in bits or None, Authentication Algorithm or None)."""
        key_bits = self.enc_key_len * 8 if self.enc in (EncAlg.AES_CBC, EncAlg.AES_GCM_16) else None
        return self.enc.value, key_bits, self.integ.ike_id

    @property
    def label(self) -> str:
        """A short operator label: "aes128gcm16", "aes256-sha1", "3des-md5", "null-sha256_96"."""
        enc = {EncAlg.AES_GCM_16: f"aes{self.enc_key_len * 8}gcm16", EncAlg.AES_CBC: f"aes{self.enc_key_len * 8}",
               EncAlg.DES3_CBC: "3des", EncAlg.DES_CBC: "des", EncAlg.NULL: "null"}[self.enc]
        if self.aead:
            return enc
        integ = {IntegAlg.NONE: "none", IntegAlg.HMAC_MD5_96: "md5", IntegAlg.HMAC_SHA1_96: "sha1",
                 IntegAlg.HMAC_SHA2_256_128: "sha256", IntegAlg.HMAC_SHA2_256_96: "sha256_96"}[self.integ]
        return f"{enc}-{integ}"


class UnsupportedSuite(ProtocolError):
    """An IKE proposal names an ESP transform this implementation does not build (the reason says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_AUTH_BY_IKE = {1: IntegAlg.HMAC_MD5_96, 2: IntegAlg.HMAC_SHA1_96, 5: IntegAlg.HMAC_SHA2_256_128}
_BY_PARTS = {(s.enc, s.enc_key_len, s.integ): s for s in EspSuite}


def suite_from_ike(transform_id: int, key_bits: int | None, auth_alg: int | None, *,
                   sha256_96: bool = False) -> EspSuite:
    """The suite a Quick Mode transform names, or `UnsupportedSuite`.

    `transform_id`: RFC 2407 §4.4.4 ESP transform id; `key_bits`: the Key Length attribute (None when absent);
    `auth_alg`: the Authentication Algorithm attribute (None when absent). `sha256_96` picks the 96-bit
    HMAC-SHA2-256 ICV for auth_alg 5 (a configuration choice: the wire cannot say it).
    """
    try:
        enc = EncAlg(transform_id)
    except ValueError:
        raise UnsupportedSuite(f"ESP transform id {transform_id} is not supported") from None
    if enc in (EncAlg.AES_CBC, EncAlg.AES_GCM_16):
        if key_bits is None:
            raise UnsupportedSuite(f"{enc.name} without a Key Length attribute")
        if key_bits not in (128, 192, 256):
            raise UnsupportedSuite(f"{enc.name} key length {key_bits} bits")
        key_len = key_bits // 8
    else:
        key_len = {EncAlg.DES_CBC: 8, EncAlg.DES3_CBC: 24, EncAlg.NULL: 0}[enc]
        if key_bits is not None and key_bits != key_len * 8:
            raise UnsupportedSuite(f"{enc.name} key length {key_bits} bits")
    if enc is EncAlg.AES_GCM_16:
        if auth_alg is not None:
            raise UnsupportedSuite("AES-GCM with an Authentication Algorithm attribute")
        integ = IntegAlg.NONE
    else:
        if auth_alg is None:
            raise UnsupportedSuite(f"{enc.name} without integrity (no Authentication Algorithm attribute)")
        try:
            integ = _AUTH_BY_IKE[auth_alg]
        except KeyError:
            raise UnsupportedSuite(f"authentication algorithm {auth_alg} is not supported") from None
        if integ is IntegAlg.HMAC_SHA2_256_128 and sha256_96:
            integ = IntegAlg.HMAC_SHA2_256_96
    return _BY_PARTS[(enc, key_len, integ)]


__all__ = ["EncAlg", "EspSuite", "IntegAlg", "UnsupportedSuite", "suite_from_ike"]
