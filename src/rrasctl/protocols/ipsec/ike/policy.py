"""What rrasctl offers and accepts: phase-1 and ESP suites, the IKE configuration, and proposal selection.

The responder chooses by its own order of preference (the first of our suites that the peer offers), as strongSwan
does by default; the chosen transform goes back exactly as proposed (RFC 2409 §5: the responder MUST NOT change
attributes). The initiator checks that the answer is one of the transforms it offered. Lifetimes: a proposed
lifetime longer than ours is accepted on the wire and enforced locally as ours (phase 2 also tells the peer with
RESPONDER-LIFETIME, RFC 2407 §4.6.3.1). Decision 0109 lists the defaults and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rrasctl.protocols.ipsec.ike.constants import (AuthAlgorithm, AuthMethod, EncapsulationMode,
                                                   EncryptionAlgorithm, EspTransform, HashAlgorithm, LifeType,
                                                   Phase1Attribute, Phase2Attribute, ProtocolId)
from rrasctl.protocols.ipsec.ike.groups import GROUPS, DhGroup
from rrasctl.protocols.ipsec.ike.keys import cipher_key_len
from rrasctl.protocols.ipsec.ike.natt import NattVersion
from rrasctl.protocols.ipsec.ike.payloads import Attribute, Proposal, Transform, number

KEY_IKE = 1                     # RFC 2409 Appendix A: the phase-1 transform id


# ----------------------------------------------------------------------------------------------- phase 1

@dataclass(frozen=True, slots=True)
class Phase1Suite:
    encryption: EncryptionAlgorithm
    key_bits: int | None
    hash: HashAlgorithm
    group: DhGroup

    @property
    def name(self) -> str:
        enc = {EncryptionAlgorithm.AES_CBC: f"aes{self.key_bits}", EncryptionAlgorithm.TRIPLE_DES_CBC: "3des",
               EncryptionAlgorithm.DES_CBC: "des"}[self.encryption]
        h = {HashAlgorithm.MD5: "md5", HashAlgorithm.SHA1: "sha1", HashAlgorithm.SHA2_256: "sha256",
             HashAlgorithm.SHA2_384: "sha384", HashAlgorithm.SHA2_512: "sha512"}[self.hash]
        return f"{enc}-{h}-modp{GROUPS[self.group].length * 8}"

    @property
    def enc_key_len(self) -> int:
        return cipher_key_len(self.encryption, self.key_bits)

    def transform(self, number_: int, lifetime_s: int) -> Transform:
        attrs = [Attribute(Phase1Attribute.ENCRYPTION_ALGORITHM, self.encryption)]
        if self.key_bits is not None:
            attrs.append(Attribute(Phase1Attribute.KEY_LENGTH, self.key_bits))
        attrs += [Attribute(Phase1Attribute.HASH_ALGORITHM, self.hash),
                  Attribute(Phase1Attribute.AUTHENTICATION_METHOD, AuthMethod.PRE_SHARED_KEY),
                  Attribute(Phase1Attribute.GROUP_DESCRIPTION, self.group),
                  Attribute(Phase1Attribute.LIFE_TYPE, LifeType.SECONDS),
                  number(Phase1Attribute.LIFE_DURATION, lifetime_s)]
        return Transform(number_, KEY_IKE, tuple(attrs))


def read_phase1(t: Transform) -> tuple[Phase1Suite, int | None] | None:
    """(suite, proposed lifetime in seconds) of a phase-1 transform we could use, or None: another auth method,
    a PRF attribute, an unknown algorithm or group, a private group definition."""
    if t.transform_id != KEY_IKE:
        return None
    a = t.attrs()
    known = {int(x) for x in (Phase1Attribute.ENCRYPTION_ALGORITHM, Phase1Attribute.KEY_LENGTH,
                              Phase1Attribute.HASH_ALGORITHM, Phase1Attribute.AUTHENTICATION_METHOD,
                              Phase1Attribute.GROUP_DESCRIPTION, Phase1Attribute.LIFE_TYPE,
                              Phase1Attribute.LIFE_DURATION)}
    if set(a) - known:
        return None
    try:
        enc = EncryptionAlgorithm(a[Phase1Attribute.ENCRYPTION_ALGORITHM].as_int())
        hash_ = HashAlgorithm(a[Phase1Attribute.HASH_ALGORITHM].as_int())
        group = DhGroup(a[Phase1Attribute.GROUP_DESCRIPTION].as_int())
        if a[Phase1Attribute.AUTHENTICATION_METHOD].as_int() != AuthMethod.PRE_SHARED_KEY:
            return None
    except (KeyError, ValueError):
        return None
    key_bits = a[Phase1Attribute.KEY_LENGTH].as_int() if Phase1Attribute.KEY_LENGTH in a else None
    if enc == EncryptionAlgorithm.AES_CBC and key_bits is None:
        key_bits = 128                                    # RFC 3602 §5: no Key Length means AES-128
    if enc != EncryptionAlgorithm.AES_CBC and key_bits is not None:
        return None
    life = t.lifetimes(Phase1Attribute.LIFE_TYPE, Phase1Attribute.LIFE_DURATION)
    return Phase1Suite(enc, key_bits, hash_, group), life.get(LifeType.SECONDS)


# ----------------------------------------------------------------------------------------------- phase 2 (ESP)

_ESP_KEY_BYTES = {EspTransform.DES: 8, EspTransform.TRIPLE_DES: 24, EspTransform.NULL: 0}
_AUTH_KEY_BYTES = {AuthAlgorithm.HMAC_MD5: 16, AuthAlgorithm.HMAC_SHA1: 20, AuthAlgorithm.HMAC_SHA2_256: 32}


@dataclass(frozen=True, slots=True)
class EspProposal:
    """One ESP suite: transform id, key length (AES) and integrity (None for AES-GCM, RFC 4106 §8.1)."""
    transform: EspTransform
    key_bits: int | None = None
    auth: AuthAlgorithm | None = None

    @property
    def name(self) -> str:
        t = self.transform
        enc = {EspTransform.AES_CBC: f"aes{self.key_bits}", EspTransform.AES_GCM_16: f"aes{self.key_bits}gcm16",
               EspTransform.TRIPLE_DES: "3des", EspTransform.DES: "des", EspTransform.NULL: "null"}.get(
            t, t.name.lower())
        if self.auth is None:
            return enc
        return enc + "-" + {AuthAlgorithm.HMAC_MD5: "md5", AuthAlgorithm.HMAC_SHA1: "sha1",
                            AuthAlgorithm.HMAC_SHA2_256: "sha256"}.get(self.auth, self.auth.name.lower())

    @property
    def enc_key_len(self) -> int:
        """Octets of encryption key in KEYMAT (AES-GCM: key + 4-octet salt, RFC 4106 §8.1)."""
        if self.transform == EspTransform.AES_GCM_16:
            return self.key_bits // 8 + 4
        if self.transform == EspTransform.AES_CBC:
            return self.key_bits // 8
        return _ESP_KEY_BYTES[self.transform]

    @property
    def keymat_len(self) -> int:
        return self.enc_key_len + (_AUTH_KEY_BYTES[self.auth] if self.auth is not None else 0)

    def transform_payload(self, number_: int, mode: EncapsulationMode, lifetime_s: int, lifetime_kb: int | None,
                          pfs: DhGroup | None) -> Transform:
        attrs = [Attribute(Phase2Attribute.SA_LIFE_TYPE, LifeType.SECONDS),
                 number(Phase2Attribute.SA_LIFE_DURATION, lifetime_s)]
        if lifetime_kb:
            attrs += [Attribute(Phase2Attribute.SA_LIFE_TYPE, LifeType.KILOBYTES),
                      number(Phase2Attribute.SA_LIFE_DURATION, lifetime_kb)]
        if pfs is not None:
            attrs.append(Attribute(Phase2Attribute.GROUP_DESCRIPTION, pfs))
        attrs.append(Attribute(Phase2Attribute.ENCAPSULATION_MODE, mode))
        if self.auth is not None:
            attrs.append(Attribute(Phase2Attribute.AUTHENTICATION_ALGORITHM, self.auth))
        if self.key_bits is not None:
            attrs.append(Attribute(Phase2Attribute.KEY_LENGTH, self.key_bits))
        return Transform(number_, self.transform, tuple(attrs))


@dataclass(frozen=True, slots=True)
class EspChoice:
    """A peer's ESP transform read into what we need."""
    proposal: EspProposal
    mode: EncapsulationMode
    lifetime_s: int | None
    lifetime_kb: int | None
    pfs: int | None


def read_esp(t: Transform) -> EspChoice | None:
    a = t.attrs()
    known = {int(x) for x in (Phase2Attribute.SA_LIFE_TYPE, Phase2Attribute.SA_LIFE_DURATION,
                              Phase2Attribute.GROUP_DESCRIPTION, Phase2Attribute.ENCAPSULATION_MODE,
                              Phase2Attribute.AUTHENTICATION_ALGORITHM, Phase2Attribute.KEY_LENGTH)}
    if set(a) - known:
        return None
    try:
        tid = EspTransform(t.transform_id)
        mode = EncapsulationMode(a[Phase2Attribute.ENCAPSULATION_MODE].as_int()) \
            if Phase2Attribute.ENCAPSULATION_MODE in a else EncapsulationMode.TUNNEL
        auth = AuthAlgorithm(a[Phase2Attribute.AUTHENTICATION_ALGORITHM].as_int()) \
            if Phase2Attribute.AUTHENTICATION_ALGORITHM in a else None
    except ValueError:
        return None
    key_bits = a[Phase2Attribute.KEY_LENGTH].as_int() if Phase2Attribute.KEY_LENGTH in a else None
    if tid in (EspTransform.AES_CBC, EspTransform.AES_GCM_16) and key_bits is None:
        key_bits = 128
    pfs = a[Phase2Attribute.GROUP_DESCRIPTION].as_int() if Phase2Attribute.GROUP_DESCRIPTION in a else None
    life = t.lifetimes(Phase2Attribute.SA_LIFE_TYPE, Phase2Attribute.SA_LIFE_DURATION)
    return EspChoice(EspProposal(tid, key_bits, auth), mode, life.get(LifeType.SECONDS),
                     life.get(LifeType.KILOBYTES), pfs)


# ----------------------------------------------------------------------------------------------- configuration

DEFAULT_PHASE1 = tuple(Phase1Suite(e, k, h, g) for g in (DhGroup.MODP2048, DhGroup.MODP1024)
                       for (e, k, h) in ((EncryptionAlgorithm.AES_CBC, 256, HashAlgorithm.SHA1),
                                         (EncryptionAlgorithm.AES_CBC, 128, HashAlgorithm.SHA1),
                                         (EncryptionAlgorithm.AES_CBC, 256, HashAlgorithm.SHA2_256),
                                         (EncryptionAlgorithm.AES_CBC, 128, HashAlgorithm.SHA2_256),
                                         (EncryptionAlgorithm.TRIPLE_DES_CBC, None, HashAlgorithm.SHA1)))
DEFAULT_ESP = (EspProposal(EspTransform.AES_GCM_16, 256), EspProposal(EspTransform.AES_GCM_16, 128),
               EspProposal(EspTransform.AES_CBC, 256, AuthAlgorithm.HMAC_SHA1),
               EspProposal(EspTransform.AES_CBC, 128, AuthAlgorithm.HMAC_SHA1),
               EspProposal(EspTransform.AES_CBC, 256, AuthAlgorithm.HMAC_SHA2_256),
               EspProposal(EspTransform.AES_CBC, 128, AuthAlgorithm.HMAC_SHA2_256),
               EspProposal(EspTransform.TRIPLE_DES, None, AuthAlgorithm.HMAC_SHA1),
               EspProposal(EspTransform.TRIPLE_DES, None, AuthAlgorithm.HMAC_MD5))


@dataclass(frozen=True)
class IkeConfig:
    """One peer's IKE settings. `psk` never shows in repr. Selectors: the transport-mode traffic (L2TP: UDP 1701)."""
    psk: bytes
    phase1: tuple[Phase1Suite, ...] = DEFAULT_PHASE1
    esp: tuple[EspProposal, ...] = DEFAULT_ESP
    phase1_lifetime_s: int = 28800               # 8 h, Windows' and strongSwan's IKEv1 default
    phase2_lifetime_s: int = 3600                # 1 h, Windows' quick mode default
    phase2_lifetime_kb: int | None = None        # Windows proposes 250,000 KB; None: we propose none
    pfs: DhGroup | None = None
    natt: tuple[NattVersion, ...] = tuple(NattVersion)
    protocol: int = 17                           # the selectors we propose as initiator (UDP)
    port: int = 1701                             # L2TP
    rekey_fraction: float = 0.9                  # the quick mode / main mode initiator rekeys at 90 % of the life
    responder_rekey_fraction: float = 0.95       # the responder only if the initiator has not by then
    rekey_jitter: float = 0.05                   # the initiator's rekey time comes up to 5 % of the life earlier
    retransmit_s: float = 2.0
    retransmit_backoff: float = 2.0
    retransmits: int = 4                         # 2, 4, 8, 16 s, then 32 s more before giving up (62 s)
    dpd_interval_s: float | None = 30.0          # idle time before R-U-THERE; None: no DPD
    dpd_retries: int = 5
    nonce_len: int = 32
    vendor_ids: tuple[bytes, ...] = field(default=())   # extra VIDs to send in MM1/MM2

    def __repr__(self) -> str:
        return (f"IkeConfig(psk=********, phase1={[s.name for s in self.phase1]}, "
                f"esp={[s.name for s in self.esp]}, pfs={self.pfs})")


def phase1_sa(cfg: IkeConfig) -> Proposal:
    return Proposal(1, ProtocolId.ISAKMP, b"", tuple(s.transform(i + 1, cfg.phase1_lifetime_s)
                                                      for i, s in enumerate(cfg.phase1)))


def choose_phase1(cfg: IkeConfig, proposals: tuple[Proposal, ...]) -> tuple[Proposal, Transform, Phase1Suite,
                                                                           int | None] | None:
    """Responder: the first of our suites the peer offers -> (its proposal, its transform, suite, lifetime)."""
    offered = []
    for p in proposals:
        if p.protocol != ProtocolId.ISAKMP:
            continue
        for t in p.transforms:
            got = read_phase1(t)
            if got is not None:
                offered.append((p, t, got[0], got[1]))
    for suite in cfg.phase1:
        for p, t, s, life in offered:
            if s == suite:
                return p, t, s, life
    return None


def choose_esp(cfg: IkeConfig, proposals: tuple[Proposal, ...], nat: bool, pfs_offered: bool
               ) -> tuple[Proposal, Transform, EspChoice] | None:
    """Responder: the first of our ESP suites the peer offers in transport mode (UDP-encapsulated when `nat`),
    with a PFS group we support when it sends KE, and none when it does not."""
    numbers = [p.number for p in proposals]
    candidates = []
    for p in proposals:
        if p.protocol != ProtocolId.ESP or len(p.spi) != 4 or numbers.count(p.number) > 1:
            continue                      # not ESP, or an AND-bundle with AH/IPCOMP (RFC 2408 §4.2)
        for t in p.transforms:
            c = read_esp(t)
            if c is None:
                continue
            if nat and c.mode not in (EncapsulationMode.UDP_TRANSPORT, EncapsulationMode.UDP_TRANSPORT_DRAFT):
                continue
            if not nat and c.mode != EncapsulationMode.TRANSPORT:
                continue
            if (c.pfs is not None) != pfs_offered or (c.pfs is not None and c.pfs not in GROUPS):
                continue
            if cfg.pfs is not None and c.pfs != cfg.pfs:
                continue
            candidates.append((p, t, c))
    for ours in cfg.esp:
        for p, t, c in candidates:
            if c.proposal == ours:
                return p, t, c
    return None
