"""What the IKE core reports to its owner: typed failures, phase-1 and child SA facts (DESIGN §3 "events are facts").

A `ChildSa` carries what protocols/ipsec/esp.py needs to build the two ESP SAs:
`EspSa(child.inbound_spi, suite_from_ike(child.transform, child.key_bits, child.auth), child.keymat_in)` opens what
the peer sends; the same with `outbound_spi` and `keymat_out` seals what we send. KEYMAT is the encryption key
(|| the 4-octet salt for AES-GCM) || the integrity key, as RFC 2409 §5.5 and RFC 4106 §8.1 lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from rrasctl.protocols.base import Event
from rrasctl.protocols.ipsec.ike.constants import AuthAlgorithm, EncapsulationMode, EspTransform
from rrasctl.protocols.ipsec.ike.natt import NatState, NattVersion, PeerCaps


class FailureCause(Enum):
    NO_PROPOSAL_CHOSEN = "no-proposal-chosen"          # no common suite (ours or the peer's verdict)
    AUTHENTICATION_FAILED = "authentication-failed"    # HASH_I/HASH_R mismatch: almost always a wrong PSK
    TIMEOUT = "timeout"                                # no answer after every retransmission
    INVALID_KEY_INFORMATION = "invalid-key-information"  # a KE value out of range or of the wrong size
    INVALID_ID_INFORMATION = "invalid-id-information"  # quick mode selectors we do not serve
    PEER_ERROR = "peer-error"                          # another error notification from the peer


class DeleteReason(Enum):
    PEER_DELETED = "peer-deleted"          # a Delete payload from the peer
    EXPIRED = "expired"                    # the hard lifetime (seconds or kilobytes) ran out
    REPLACED = "replaced"                  # rekeyed, and the new SA is in use
    CLOSED = "closed"                      # our owner closed the peer
    PEER_DEAD = "peer-dead"                # DPD got no answer
    PEER_RESTARTED = "peer-restarted"      # INITIAL-CONTACT in a new main mode


@dataclass(frozen=True, slots=True)
class ChildSa:
    """One negotiated pair of ESP SAs (our inbound SPI is the key the owner files it under)."""
    inbound_spi: int
    outbound_spi: int
    transform: EspTransform
    key_bits: int | None
    auth: AuthAlgorithm | None
    encapsulation: EncapsulationMode
    keymat_in: bytes = field(repr=False)
    keymat_out: bytes = field(repr=False)
    lifetime_s: int
    lifetime_kb: int | None
    pfs_group: int | None
    initiator: bool                        # we started the quick mode
    local_selector: str                    # "192.0.2.1 udp/1701" as negotiated
    peer_selector: str
    peer_original_address: str | None = None   # the peer's NAT-OA (RFC 3947 §5.2), for the checksum fix-up
    local_original_address: str | None = None  # the NAT-OA the peer sent for us

    @property
    def udp_encapsulated(self) -> bool:
        return self.encapsulation in (EncapsulationMode.UDP_TRANSPORT, EncapsulationMode.UDP_TRANSPORT_DRAFT,
                                      EncapsulationMode.UDP_TUNNEL, EncapsulationMode.UDP_TUNNEL_DRAFT)


@dataclass(frozen=True, slots=True)
class Phase1Established(Event):
    cookies: bytes                         # CKY-I || CKY-R: the ISAKMP SA's name
    initiator: bool
    suite: str                             # "aes256-sha1-modp2048"
    lifetime_s: int
    peer_id: str
    nat: NatState
    natt: NattVersion | None
    floated: bool                          # the exchange moved to port 4500 (and ESP goes in UDP)
    peer_caps: PeerCaps
    replaces: bytes | None = None          # the cookies of the ISAKMP SA this one rekeys


@dataclass(frozen=True, slots=True)
class Phase1Failed(Event):
    cause: FailureCause
    detail: str
    initiator: bool


@dataclass(frozen=True, slots=True)
class Phase1Deleted(Event):
    cookies: bytes
    reason: DeleteReason


@dataclass(frozen=True, slots=True)
class ChildSaEstablished(Event):
    child: ChildSa
    replaces: int | None = None            # the inbound SPI of the SA this one rekeys (kept until this is used)


@dataclass(frozen=True, slots=True)
class ChildSaFailed(Event):
    cause: FailureCause
    detail: str
    initiator: bool


@dataclass(frozen=True, slots=True)
class ChildSaDeleted(Event):
    inbound_spi: int
    outbound_spi: int
    reason: DeleteReason


@dataclass(frozen=True, slots=True)
class PeerDead(Event):
    """DPD (RFC 3706): no R-U-THERE-ACK after every retry. Every SA of the peer is deleted with it."""
    probes: int


@dataclass(frozen=True, slots=True)
class NotifyReceived(Event):
    """An authenticated notification the core does not act on itself (shown in logs)."""
    notify_type: int
    protocol: int
    data: bytes
