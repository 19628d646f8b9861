"""NAT traversal for IKEv1 (RFC 3947 and draft-ietf-ipsec-nat-t-ike-02/03), vendor IDs, and port-4500 framing.

- Which NAT-T dialect a peer speaks is learnt from its vendor IDs; the responder echoes the best one both sent.
  RFC 3947 uses NAT-D 20 / NAT-OA 21 and encapsulation modes 3/4; the drafts use 130 / 131 and 61443/61444.
- NAT-D (RFC 3947 §3.2): the first NAT-D a sender includes hashes the address it sent to, the next its own. A
  receiver whose own address/port does not hash to the first is behind a NAT; if the peer's source does not hash to
  any of the others, the peer is. Either way the initiator moves to port 4500 for message 5 (§4) and ESP goes
  UDP-encapsulated (RFC 3948).
- On port 4500 an IKE message is preceded by the 4-octet non-ESP marker (RFC 3948 §2.2); a lone 0xFF is a
  NAT-keepalive. `frame`/`unframe` are the IKE side of that rule; ESP-in-UDP is protocols/ipsec/esp.py's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

from rrasctl.protocols.ipsec.ike import keys
from rrasctl.protocols.ipsec.ike.constants import NON_ESP_MARKER, EncapsulationMode
from rrasctl.protocols.ipsec.ike.payloads import NatDPayload


def _md5(text: str) -> bytes:
    return hashlib.md5(text.encode("ascii")).digest()


class NattVersion(Enum):
    """NAT-T dialects in our order of preference; the value is the vendor ID's text (its MD5 is the VID)."""
    RFC3947 = "RFC 3947"
    DRAFT_03 = "draft-ietf-ipsec-nat-t-ike-03"
    DRAFT_02N = "draft-ietf-ipsec-nat-t-ike-02\n"
    DRAFT_02 = "draft-ietf-ipsec-nat-t-ike-02"

    @property
    def vendor_id(self) -> bytes:
        return _md5(self.value)

    @property
    def draft(self) -> bool:
        """True for the draft payload numbers (130/131) and encapsulation modes (61443/61444)."""
        return self is not NattVersion.RFC3947

    def transport_mode(self) -> EncapsulationMode:
        return EncapsulationMode.UDP_TRANSPORT_DRAFT if self.draft else EncapsulationMode.UDP_TRANSPORT


DPD_VID = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")        # RFC 3706 §4, version 1.0
MS_NT5_VID = _md5("MS NT5 ISAKMPOAKLEY")                              # + a 4-octet version (9: Windows 8 and later)
FRAGMENTATION_VID = _md5("FRAGMENTATION")                            # Windows sends it bare; Cisco adds 4 flag octets
CISCO_UNITY_VID = _md5("CISCO-UNITY")[:14] + b"\x01\x00"
XAUTH_VID = bytes.fromhex("09002689dfd6b712")

# exact vendor IDs -> the name an operator recognises
KNOWN_VIDS: dict[bytes, str] = {v.vendor_id: v.value.replace("\n", "\\n") for v in NattVersion}
KNOWN_VIDS.update({
    _md5("draft-ietf-ipsec-nat-t-ike-00"): "draft-ietf-ipsec-nat-t-ike-00",
    _md5("draft-ietf-ipsec-nat-t-ike-01"): "draft-ietf-ipsec-nat-t-ike-01",
    DPD_VID: "DPD (RFC 3706)",
    FRAGMENTATION_VID: "FRAGMENTATION",
    CISCO_UNITY_VID: "CISCO-UNITY 1.0",
    XAUTH_VID: "XAUTH",
    _md5("MS-Negotiation Discovery Capable"): "MS-Negotiation Discovery Capable",
    _md5("Vid-Initial-Contact"): "Microsoft Vid-Initial-Contact",
    _md5("IKE CGA version 1"): "IKE CGA version 1",
})
_PREFIX_VIDS = ((MS_NT5_VID, "MS NT5 ISAKMPOAKLEY"), (FRAGMENTATION_VID, "FRAGMENTATION"))


def vid_name(data: bytes) -> str:
    """"RFC 3947", "MS NT5 ISAKMPOAKLEY version 9", "DPD (RFC 3706)" ..., the text of a printable VID (Openswan's
    "OEkRbGXRvmPE", "HUAWEI-IKEv1DSCP"), or hex."""
    if data in KNOWN_VIDS:
        return KNOWN_VIDS[data]
    for prefix, name in _PREFIX_VIDS:
        if data.startswith(prefix) and len(data) == len(prefix) + 4:
            tail = int.from_bytes(data[len(prefix):], "big")
            return f"{name} version {tail}" if prefix == MS_NT5_VID else f"{name} flags 0x{tail:08x}"
    if data and all(0x20 <= c < 0x7F for c in data):
        return data.decode("ascii")
    return data.hex()


@dataclass(frozen=True, slots=True)
class PeerCaps:
    """What a peer's vendor IDs announce."""
    natt: tuple[NattVersion, ...] = ()
    dpd: bool = False
    windows_version: int | None = None     # the MS NT5 ISAKMPOAKLEY version, when the peer is Windows
    fragmentation: bool = False

    @classmethod
    def from_vids(cls, vids: list[bytes]) -> "PeerCaps":
        natt = tuple(v for v in NattVersion if v.vendor_id in vids)
        windows = next((int.from_bytes(v[16:20], "big") for v in vids if v[:16] == MS_NT5_VID and len(v) == 20),
                       None)
        return cls(natt, DPD_VID in vids, windows, any(v[:16] == FRAGMENTATION_VID for v in vids))

    def best_natt(self, allowed: tuple[NattVersion, ...] = tuple(NattVersion)) -> NattVersion | None:
        return next((v for v in NattVersion if v in self.natt and v in allowed), None)


@dataclass(frozen=True, slots=True)
class NatState:
    local_behind: bool = False
    peer_behind: bool = False

    @property
    def detected(self) -> bool:
        return self.local_behind or self.peer_behind


def natd_payloads(hash_alg: int, cky_i: bytes, cky_r: bytes, local: tuple[str, int], remote: tuple[str, int],
                  draft: bool) -> list[NatDPayload]:
    """The sender's NAT-D payloads: the address it sends to first, then its own (RFC 3947 §3.2)."""
    return [NatDPayload(keys.natd_hash(hash_alg, cky_i, cky_r, *remote), draft),
            NatDPayload(keys.natd_hash(hash_alg, cky_i, cky_r, *local), draft)]


def detect(hash_alg: int, cky_i: bytes, cky_r: bytes, received: list[NatDPayload], local: tuple[str, int],
           remote: tuple[str, int]) -> NatState:
    """Compare the peer's NAT-D payloads with our view of the two addresses (`remote` as the packet came from)."""
    if not received:
        return NatState()
    mine = keys.natd_hash(hash_alg, cky_i, cky_r, *local)
    theirs = keys.natd_hash(hash_alg, cky_i, cky_r, *remote)
    return NatState(local_behind=received[0].data != mine,
                    peer_behind=all(p.data != theirs for p in received[1:]))


def frame(message: bytes, on_4500: bool) -> bytes:
    """A datagram for the wire: the non-ESP marker first once the exchange runs on port 4500."""
    return NON_ESP_MARKER + message if on_4500 else message


def unframe(datagram: bytes | memoryview) -> tuple[bytes, bool]:
    """(the ISAKMP message, whether it came with the non-ESP marker, i.e. on port 4500)."""
    data = bytes(datagram)
    if data[:4] == NON_ESP_MARKER:
        return data[4:], True
    return data, False
