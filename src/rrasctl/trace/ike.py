"""IKE rows for `trace decode`: ISAKMP messages decoded with the engine's own IKEv1 codecs (SPEC §8, decision 0105).

A clear message lists its payloads and what they say: the proposals of an SA payload ("aes256-sha1-modp2048 psk
28800s"), vendor IDs by name, identities, nonce and KE sizes, notifications, deletes, and a NAT verdict from its
NAT-D payloads (computed with the hash the exchange chose, against the addresses in the capture). An encrypted body
is shown as encrypted: without the Diffie-Hellman secrets nobody can open it.

With a pre-shared key (`--psk-stdin`), an Aggressive Mode answer is checked offline: HASH_R depends only on the PSK
and the clear payloads (RFC 2409 §5.4), so the row says "PSK matches" or "PSK does NOT match". Main Mode hides HASH_I
and HASH_R under keys derived from g^xy, so a capture cannot tell; its message 5 says so.
"""

from __future__ import annotations

import struct
from typing import Any

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ipsec.ike import natt
from rrasctl.protocols.ipsec.ike import payloads as P
from rrasctl.protocols.ipsec.ike.constants import (AuthMethod, EncapsulationMode, EncryptionAlgorithm, EspTransform,
                                                   ExchangeType, HashAlgorithm, IdType, LifeType, NotifyType,
                                                   Phase1Attribute, ProtocolId, name_of)
from rrasctl.protocols.ipsec.ike.phase1 import aggressive_hash_r
from rrasctl.protocols.ipsec.ike.policy import read_esp, read_phase1

EXCHANGES = {2: "Identity Protection (Main Mode)", 4: "Aggressive", 5: "Informational", 6: "Transaction",
             32: "Quick Mode", 34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL"}
PAYLOAD_NAMES = {1: "SA", 4: "KE", 5: "ID", 6: "CERT", 7: "CR", 8: "HASH", 9: "SIG", 10: "NONCE", 11: "N", 12: "D",
                 13: "VID", 20: "NAT-D", 21: "NAT-OA", 130: "NAT-D(draft)", 131: "NAT-OA(draft)", 132: "FRAG"}
_MODES = {EncapsulationMode.TRANSPORT: "transport", EncapsulationMode.TUNNEL: "tunnel",
          EncapsulationMode.UDP_TRANSPORT: "udp-transport", EncapsulationMode.UDP_TUNNEL: "udp-tunnel",
          EncapsulationMode.UDP_TRANSPORT_DRAFT: "udp-transport(draft)",
          EncapsulationMode.UDP_TUNNEL_DRAFT: "udp-tunnel(draft)"}


class IkeView:
    """Per capture: the first messages of each exchange (by initiator cookie), for NAT-D and PSK checks."""

    def __init__(self, psk: bytes | None = None) -> None:
        self._psk = psk
        self._hash_alg: dict[bytes, int] = {}          # ispi -> the chosen phase-1 hash
        self._am1: dict[bytes, P.Chain] = {}
        self._noted: set[bytes] = set()
        self.verified = 0
        self.not_verified = 0

    def decode(self, data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> tuple[str, str, dict[str, Any]]:
        """(protocol, message, fields) of one ISAKMP message (without the non-ESP marker)."""
        if len(data) >= 18 and data[17] >> 4 == 2:
            return self._ikev2(data)
        m = P.decode_message(data)
        h = m.header
        message = EXCHANGES.get(h.exchange, f"exchange {h.exchange}")
        fields: dict[str, Any] = {"ispi": h.ispi.hex(), "rspi": h.rspi.hex(), "message_id": h.message_id,
                                  "length": h.length, "encrypted": h.encrypted}
        if m.chain is None:
            if self._psk is not None and h.exchange == ExchangeType.IDENTITY_PROTECTION and h.ispi not in self._noted:
                self._noted.add(h.ispi)           # message 5: where a PSK would show, were it not encrypted
                fields["verification"] = "not checkable offline (main mode hides HASH_I under the DH secret)"
            return "ISAKMP", message + " (encrypted)", fields
        fields["payloads"] = " ".join(PAYLOAD_NAMES.get(t, str(t)) for t in m.chain.types())
        for p in m.chain:
            self._describe(p, fields)
        self._learn(m)
        nat = self._nat(m, src, dst)
        if nat is not None:
            fields["nat"] = nat
        if h.exchange == ExchangeType.AGGRESSIVE and h.rspi != bytes(8) and m.chain.one(P.HashPayload):
            self._verify_aggressive(m, fields)
        return "ISAKMP", message, fields

    # ------------------------------------------------------------------ payloads
    def _describe(self, p: P.Payload, fields: dict[str, Any]) -> None:
        if isinstance(p, P.SaPayload):
            fields["sa"] = [describe_transform(prop, t) for prop in p.proposals for t in prop.transforms]
        elif isinstance(p, P.KePayload):
            fields["ke_bits"] = len(p.data) * 8
        elif isinstance(p, P.NoncePayload):
            fields["nonce_len"] = len(p.data)
        elif isinstance(p, P.IdPayload):
            text = p.text() + (f" {_proto(p.protocol)}/{p.port}" if p.protocol or p.port else "")
            fields.setdefault("id", []).append(f"{name_of(IdType, p.id_type).lower()} {text}")
        elif isinstance(p, P.HashPayload):
            fields["hash"] = p.data.hex()
        elif isinstance(p, P.VendorIdPayload):
            fields.setdefault("vendor_ids", []).append(natt.vid_name(p.data))
        elif isinstance(p, P.NotifyPayload):
            text = name_of(NotifyType, p.notify_type)
            if p.notify_type in (NotifyType.R_U_THERE, NotifyType.R_U_THERE_ACK) and len(p.data) == 4:
                text += f" seq={int.from_bytes(p.data, 'big')}"
            fields.setdefault("notify", []).append(text)
        elif isinstance(p, P.DeletePayload):
            spis = ",".join(s.hex() for s in p.spis)
            fields.setdefault("delete", []).append(f"{name_of(ProtocolId, p.protocol)} {spis}")
        elif isinstance(p, P.NatOaPayload):
            fields.setdefault("nat_oa", []).append(p.text())
        elif isinstance(p, (P.CertPayload, P.CrPayload)):
            fields.setdefault("cert" if isinstance(p, P.CertPayload) else "cert_request", []).append(
                f"encoding {p.encoding}, {len(p.data)} octets")
        elif isinstance(p, P.SigPayload):
            fields["signature_len"] = len(p.data)

    def _learn(self, m: P.Message) -> None:
        """The responder's SA (MM2/AM2) fixes the exchange's hash; AM1 is kept for the HASH_R check."""
        h = m.header
        if h.exchange not in (ExchangeType.IDENTITY_PROTECTION, ExchangeType.AGGRESSIVE):
            return
        sa = m.chain.one(P.SaPayload)
        if h.rspi == bytes(8):
            if h.exchange == ExchangeType.AGGRESSIVE:
                self._am1[h.ispi] = m.chain
            if sa is not None and len(sa.proposals[0].transforms) == 1:
                self._learn_hash(h.ispi, sa)
        elif sa is not None:
            self._learn_hash(h.ispi, sa)

    def _learn_hash(self, ispi: bytes, sa: P.SaPayload) -> None:
        attrs = sa.proposals[0].transforms[0].attrs() if sa.proposals[0].transforms else {}
        alg = attrs.get(Phase1Attribute.HASH_ALGORITHM)
        if alg is not None and alg.as_int() in (1, 2, 4, 5, 6):
            self._hash_alg[ispi] = alg.as_int()

    def _nat(self, m: P.Message, src: tuple[str, int], dst: tuple[str, int]) -> str | None:
        natds = m.chain.all(P.NatDPayload)
        alg = self._hash_alg.get(m.header.ispi)
        if not natds or alg is None:
            return None
        h = m.header
        state = natt.detect(alg, h.ispi, h.rspi, natds, dst, src)   # the receiver's view of this packet
        if not state.detected:
            return "none"
        who = [w for w, behind in (("receiver", state.local_behind), ("sender", state.peer_behind)) if behind]
        return " and ".join(who) + " behind a NAT"

    def _verify_aggressive(self, m: P.Message, fields: dict[str, Any]) -> None:
        am1 = self._am1.get(m.header.ispi)
        if self._psk is None or am1 is None:
            return
        try:
            expected, received = aggressive_hash_r(self._psk, am1, m.chain, m.header.ispi, m.header.rspi)
        except Malformed as exc:
            fields["verification"] = f"cannot check ({exc.reason})"
            return
        if expected == received:
            fields["verification"] = "PSK matches"
            self.verified += 1
        else:
            fields["verification"] = "PSK does NOT match"
            self.not_verified += 1

    @staticmethod
    def _ikev2(data: bytes) -> tuple[str, str, dict[str, Any]]:
        if len(data) < 28:
            raise Malformed("short IKEv2 header")
        ispi, rspi, _nxt, _ver, exchange, flags, msgid, length = struct.unpack_from("!8s8sBBBBII", data)
        return "IKEv2", EXCHANGES.get(exchange, f"exchange {exchange}"), {
            "ispi": ispi.hex(), "rspi": rspi.hex(), "message_id": msgid, "length": length}


def _proto(n: int) -> str:
    return {6: "tcp", 17: "udp"}.get(n, str(n))


def describe_transform(prop: P.Proposal, t: P.Transform) -> str:
    """One proposal transform as an operator reads it: "aes256-sha1-modp2048 psk 28800s" (phase 1) or
    "esp aes128-sha1 udp-transport 3600s 250000kb spi=0x1234abcd" (phase 2); unknown values by number."""
    if prop.protocol == ProtocolId.ISAKMP:
        got = read_phase1(t)
        if got is not None:
            suite, life = got
            return f"{suite.name} psk" + (f" {life}s" if life else "")
        a = t.attrs()
        parts = []
        for attr, enum in ((Phase1Attribute.ENCRYPTION_ALGORITHM, EncryptionAlgorithm),
                           (Phase1Attribute.HASH_ALGORITHM, HashAlgorithm),
                           (Phase1Attribute.AUTHENTICATION_METHOD, AuthMethod)):
            if attr in a:
                parts.append(name_of(enum, a[attr].as_int()).lower())
        if Phase1Attribute.GROUP_DESCRIPTION in a:
            parts.append(f"group{a[Phase1Attribute.GROUP_DESCRIPTION].as_int()}")
        life = t.lifetimes(Phase1Attribute.LIFE_TYPE, Phase1Attribute.LIFE_DURATION).get(LifeType.SECONDS)
        return " ".join(parts) + (f" {life}s" if life else "")
    name = name_of(ProtocolId, prop.protocol).lower()
    spi = f" spi=0x{prop.spi.hex()}" if prop.spi else ""
    if prop.protocol == ProtocolId.ESP:
        c = read_esp(t)
        if c is not None:
            life = (f" {c.lifetime_s}s" if c.lifetime_s else "") + (f" {c.lifetime_kb}kb" if c.lifetime_kb else "")
            pfs = f" pfs=group{c.pfs}" if c.pfs else ""
            return f"esp {c.proposal.name} {_MODES.get(c.mode, str(int(c.mode)))}{life}{pfs}{spi}"
        return f"esp {name_of(EspTransform, t.transform_id).lower()}{spi}"
    return f"{name} transform {t.transform_id}{spi}"


__all__ = ["IkeView", "describe_transform"]
