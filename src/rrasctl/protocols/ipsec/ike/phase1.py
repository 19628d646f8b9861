"""Main Mode with a pre-shared key (RFC 2409 §5, §5.4), initiator and responder; Aggressive Mode verification.

    Initiator                          Responder
    HDR, SA, VID...             -->                                   MM1
                                <--    HDR, SA, VID...                MM2
    HDR, KE, Ni, NAT-D, NAT-D   -->                                   MM3
                                <--    HDR, KE, Nr, NAT-D, NAT-D      MM4
    HDR*, IDii, HASH_I [, N]    -->    (on port 4500 if a NAT is seen) MM5
                                <--    HDR*, IDir, HASH_R             MM6

A `MainMode` holds one exchange. `handle` takes a decoded message that belongs to it (the core has already routed
it by cookies and dropped exact duplicates) and returns a `Step`: the reply to send, the `IsakmpSa` once keyed and
authenticated, or a typed failure with the notification to send. Malformed input raises `Malformed` and changes
nothing, so the core can count and drop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rrasctl.protocols.base import Malformed, Rng
from rrasctl.protocols.ipsec.ike import keys, natt
from rrasctl.protocols.ipsec.ike.constants import (IKE_PORT, ExchangeType, Flags, NotifyType, PayloadType,
                                                   ProtocolId)
from rrasctl.protocols.ipsec.ike.events import FailureCause
from rrasctl.protocols.ipsec.ike.groups import DhKey
from rrasctl.protocols.ipsec.ike.payloads import (Chain, HashPayload, IdPayload, KePayload, Message, NatDPayload,
                                                  NoncePayload, NotifyPayload, Proposal, SaPayload, VendorIdPayload,
                                                  decode_chain, encode_chain, encode_message)
from rrasctl.protocols.ipsec.ike.policy import IkeConfig, Phase1Suite, choose_phase1, phase1_sa, read_phase1
from rrasctl.protocols.ipsec.ike.sa import IsakmpSa, equal

ZERO_COOKIE = bytes(8)


class MmState(Enum):
    START = "start"
    WAIT_MM2 = "wait-mm2"          # initiator
    WAIT_MM4 = "wait-mm4"
    WAIT_MM6 = "wait-mm6"
    WAIT_MM3 = "wait-mm3"          # responder
    WAIT_MM5 = "wait-mm5"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Step:
    reply: bytes | None = None
    sa: IsakmpSa | None = None
    failure: tuple[FailureCause, str] | None = None


def new_cookie(rng: Rng) -> bytes:
    """8 random octets whose first four are not zero (a zero start would read as the non-ESP marker on 4500)."""
    while True:
        c = rng(8)
        if c[:4] != b"\0\0\0\0":
            return c


def error_notify(ispi: bytes, rspi: bytes, notify_type: NotifyType) -> bytes:
    """An unprotected Informational carrying one error notification (RFC 2408 §5.1: before keys exist)."""
    first, body = encode_chain([NotifyPayload(notify_type, ProtocolId.ISAKMP, ispi + rspi)])
    return encode_message(ispi, rspi, ExchangeType.INFORMATIONAL, 0, Flags.NONE, first, body)


class MainMode:
    def __init__(self, cfg: IkeConfig, initiator: bool, rng: Rng, local: tuple[str, int], remote: tuple[str, int],
                 *, initial_contact: bool = False) -> None:
        self.cfg, self.initiator, self.rng = cfg, initiator, rng
        self.local, self.remote = local, remote
        self.initial_contact = initial_contact        # initiator: say so in MM5; responder: the peer said so
        self.state = MmState.START
        self.ispi, self.rspi = ZERO_COOKIE, ZERO_COOKIE
        self.suite: Phase1Suite | None = None
        self.lifetime_s = cfg.phase1_lifetime_s
        self.caps = natt.PeerCaps()
        self.natt: natt.NattVersion | None = None
        self.nat = natt.NatState()
        self.floated = False
        self._sai_b = b""
        self._dh: DhKey | None = None
        self._nonce = b""
        self._peer_nonce = b""
        self._gxi = self._gxr = b""
        self._keys: keys.Phase1Keys | None = None
        self._iv = b""

    # -- initiator ---------------------------------------------------------------------------------------------
    def start(self) -> bytes:
        self.ispi = new_cookie(self.rng)
        sa = SaPayload((phase1_sa(self.cfg),))
        self._sai_b = sa.encode()
        vids = [VendorIdPayload(v.vendor_id) for v in self.cfg.natt] + [VendorIdPayload(natt.DPD_VID)]
        vids += [VendorIdPayload(v) for v in self.cfg.vendor_ids]
        self.state = MmState.WAIT_MM2
        return self._clear([sa, *vids])

    def handle(self, msg: Message, on_4500: bool) -> Step:
        h = msg.header
        if h.exchange != ExchangeType.IDENTITY_PROTECTION:
            raise Malformed("not a main mode message")
        handler = {MmState.WAIT_MM2: self._mm2, MmState.WAIT_MM4: self._mm4, MmState.WAIT_MM6: self._mm6,
                   MmState.START: self._mm1, MmState.WAIT_MM3: self._mm3, MmState.WAIT_MM5: self._mm5}.get(self.state)
        if handler is None:
            raise Malformed("main mode message after the exchange ended")
        if h.encrypted != (self.state in (MmState.WAIT_MM5, MmState.WAIT_MM6)):
            raise Malformed("main mode message with the wrong encryption flag")
        return handler(msg, on_4500)

    def _mm2(self, msg: Message, on_4500: bool) -> Step:
        chain = msg.chain
        sa, _ = chain.need(SaPayload, "SA")
        if msg.header.rspi == ZERO_COOKIE:
            raise Malformed("MM2 without a responder cookie")
        if len(sa.proposals) != 1 or len(sa.proposals[0].transforms) != 1:
            raise Malformed("MM2 SA is not one proposal with one transform")
        t = sa.proposals[0].transforms[0]
        got = read_phase1(t)
        offered = phase1_sa(self.cfg).transforms
        if got is None or got[0] not in self.cfg.phase1 or t.number not in [o.number for o in offered]:
            self.state = MmState.FAILED
            return Step(failure=(FailureCause.NO_PROPOSAL_CHOSEN, "the responder chose a transform we did not offer"))
        self.rspi = msg.header.rspi
        self.suite, life = got
        self.lifetime_s = min(self.cfg.phase1_lifetime_s, life or self.cfg.phase1_lifetime_s)
        self._peer_caps(chain)
        self._dh = DhKey(self.suite.group, self.rng)
        self._nonce = self.rng(self.cfg.nonce_len)
        self._gxi = self._dh.public
        self.state = MmState.WAIT_MM4
        return Step(self._clear([KePayload(self._gxi), NoncePayload(self._nonce), *self._natds()]))

    def _mm4(self, msg: Message, on_4500: bool) -> Step:
        chain = msg.chain
        ke, _ = chain.need(KePayload, "KE")
        nonce, _ = chain.need(NoncePayload, "nonce")
        try:
            gxy = self._dh.shared(ke.data)
        except Malformed as exc:
            self.state = MmState.FAILED
            return Step(failure=(FailureCause.INVALID_KEY_INFORMATION, exc.reason))
        self._gxr, self._peer_nonce = ke.data, nonce.data
        self._derive(gxy, self._nonce, self._peer_nonce)
        self._detect(chain)
        self.floated = self.natt is not None and self.nat.detected        # RFC 3947 §4: float for MM5
        payloads = [IdPayload.address(self.local[0], 17, IKE_PORT)]
        payloads.append(HashPayload(keys.hash_i(self.suite.hash, self._keys.skeyid, self._gxi, self._gxr,
                                                self.ispi, self.rspi, self._sai_b, payloads[0].encode())))
        if self.initial_contact:
            payloads.append(NotifyPayload(NotifyType.INITIAL_CONTACT, ProtocolId.ISAKMP, self.ispi + self.rspi))
        self.state = MmState.WAIT_MM6
        return Step(self._sealed(payloads))

    def _mm6(self, msg: Message, on_4500: bool) -> Step:
        try:
            chain, last = self._open(msg)
            idp, i = chain.need(IdPayload, "ID")
            hp, _ = chain.need(HashPayload, "HASH")
        except Malformed as exc:
            self.state = MmState.FAILED
            return Step(failure=(FailureCause.AUTHENTICATION_FAILED, f"MM6 does not decrypt ({exc.reason})"))
        expected = keys.hash_r(self.suite.hash, self._keys.skeyid, self._gxi, self._gxr, self.ispi, self.rspi,
                               self._sai_b, chain.raw_body(i))
        if not equal(expected, hp.data):
            self.state = MmState.FAILED
            return Step(failure=(FailureCause.AUTHENTICATION_FAILED, "HASH_R does not verify"))
        self.state = MmState.DONE
        return Step(sa=self._sa(idp, last))

    # -- responder ---------------------------------------------------------------------------------------------
    def _mm1(self, msg: Message, on_4500: bool) -> Step:
        chain = msg.chain
        sa, i = chain.need(SaPayload, "SA")
        if msg.header.rspi != ZERO_COOKIE:
            raise Malformed("MM1 with a responder cookie")
        self.ispi, self.rspi = msg.header.ispi, new_cookie(self.rng)
        self._sai_b = chain.raw_body(i)
        chosen = choose_phase1(self.cfg, sa.proposals)
        if chosen is None:
            self.state = MmState.FAILED
            offered = [read_phase1(t) for p in sa.proposals for t in p.transforms]
            names = ", ".join(o[0].name for o in offered if o is not None) or "nothing we know"
            return Step(error_notify(self.ispi, self.rspi, NotifyType.NO_PROPOSAL_CHOSEN),
                        failure=(FailureCause.NO_PROPOSAL_CHOSEN, f"the initiator offered {names}"))
        proposal, transform, self.suite, life = chosen
        self.lifetime_s = min(self.cfg.phase1_lifetime_s, life or self.cfg.phase1_lifetime_s)
        self._peer_caps(chain)
        reply_sa = SaPayload((Proposal(proposal.number, proposal.protocol, proposal.spi, (transform,)),))
        vids = ([VendorIdPayload(self.natt.vendor_id)] if self.natt else []) + [VendorIdPayload(natt.DPD_VID)]
        vids += [VendorIdPayload(v) for v in self.cfg.vendor_ids]
        self.state = MmState.WAIT_MM3
        return Step(self._clear([reply_sa, *vids]))

    def _mm3(self, msg: Message, on_4500: bool) -> Step:
        chain = msg.chain
        ke, _ = chain.need(KePayload, "KE")
        nonce, _ = chain.need(NoncePayload, "nonce")
        self._dh = DhKey(self.suite.group, self.rng)
        try:
            gxy = self._dh.shared(ke.data)
        except Malformed as exc:
            self.state = MmState.FAILED
            return Step(error_notify(self.ispi, self.rspi, NotifyType.INVALID_KEY_INFORMATION),
                        failure=(FailureCause.INVALID_KEY_INFORMATION, exc.reason))
        self._nonce = self.rng(self.cfg.nonce_len)
        self._gxi, self._gxr, self._peer_nonce = ke.data, self._dh.public, nonce.data
        self._derive(gxy, self._peer_nonce, self._nonce)
        self._detect(chain)
        self.state = MmState.WAIT_MM5
        return Step(self._clear([KePayload(self._gxr), NoncePayload(self._nonce), *self._natds()]))

    def _mm5(self, msg: Message, on_4500: bool) -> Step:
        self.floated = on_4500                        # answer (even a failure) where the initiator now talks
        try:
            chain, last = self._open(msg)
            idp, i = chain.need(IdPayload, "ID")
            hp, _ = chain.need(HashPayload, "HASH")
        except Malformed as exc:
            return self._auth_failed(f"MM5 does not decrypt ({exc.reason})")
        expected = keys.hash_i(self.suite.hash, self._keys.skeyid, self._gxi, self._gxr, self.ispi, self.rspi,
                               self._sai_b, chain.raw_body(i))
        if not equal(expected, hp.data):
            return self._auth_failed("HASH_I does not verify")
        self._iv = last
        self.initial_contact = any(n.notify_type == NotifyType.INITIAL_CONTACT for n in chain.all(NotifyPayload))
        ours = IdPayload.address(self.local[0], 17, IKE_PORT)
        hash_r = keys.hash_r(self.suite.hash, self._keys.skeyid, self._gxi, self._gxr, self.ispi, self.rspi,
                             self._sai_b, ours.encode())
        reply = self._sealed([ours, HashPayload(hash_r)])
        self.state = MmState.DONE
        return Step(reply, sa=self._sa(idp, self._iv))

    def _auth_failed(self, detail: str) -> Step:
        self.state = MmState.FAILED
        return Step(error_notify(self.ispi, self.rspi, NotifyType.AUTHENTICATION_FAILED),
                    failure=(FailureCause.AUTHENTICATION_FAILED, detail))

    # -- shared ------------------------------------------------------------------------------------------------
    def _peer_caps(self, chain: Chain) -> None:
        self.caps = natt.PeerCaps.from_vids([v.data for v in chain.all(VendorIdPayload)])
        self.natt = self.caps.best_natt(self.cfg.natt)

    def _natds(self) -> list[NatDPayload]:
        if self.natt is None:
            return []
        return natt.natd_payloads(self.suite.hash, self.ispi, self.rspi, self.local, self.remote, self.natt.draft)

    def _detect(self, chain: Chain) -> None:
        if self.natt is not None:
            received = [p for p in chain.all(NatDPayload) if p.draft == self.natt.draft]
            self.nat = natt.detect(self.suite.hash, self.ispi, self.rspi, received, self.local, self.remote)

    def _derive(self, gxy: bytes, ni: bytes, nr: bytes) -> None:
        s = self.suite
        skeyid = keys.skeyid_psk(s.hash, self.cfg.psk, ni, nr)
        self._keys = keys.derive_phase1(s.hash, skeyid, gxy, self.ispi, self.rspi, s.enc_key_len)
        self._iv = keys.phase1_iv(s.hash, self._gxi, self._gxr, keys.block_size(s.encryption))

    def _clear(self, payloads: list) -> bytes:
        first, body = encode_chain(payloads)
        return encode_message(self.ispi, self.rspi, ExchangeType.IDENTITY_PROTECTION, 0, Flags.NONE, first, body)

    def _sealed(self, payloads: list) -> bytes:
        first, body = encode_chain(payloads)
        ct, self._iv = keys.IsakmpCipher(self.suite.encryption, self._keys.enc_key).encrypt(self._iv, body)
        return encode_message(self.ispi, self.rspi, ExchangeType.IDENTITY_PROTECTION, 0, Flags.ENCRYPTION, first,
                              ct)

    def _open(self, msg: Message) -> tuple[Chain, bytes]:
        cipher = keys.IsakmpCipher(self.suite.encryption, self._keys.enc_key)
        plain, last = cipher.decrypt(self._iv, msg.ciphertext)
        chain = decode_chain(msg.header.next_payload, plain, padded=True)
        if msg.header.next_payload != PayloadType.ID:
            raise Malformed("identity payload not first")
        return chain, last

    def _sa(self, idp: IdPayload, last_block: bytes) -> IsakmpSa:
        return IsakmpSa(self.ispi, self.rspi, self.initiator, self.suite, self._keys, last_block, 0.0,
                        self.lifetime_s, idp.text(), self.nat, self.natt, self.floated, self.caps)


# ----------------------------------------------------------------------------------------------- aggressive mode

def aggressive_hash_r(psk: bytes, am1: Chain, am2: Chain, ispi: bytes, rspi: bytes) -> tuple[bytes, bytes]:
    """(the HASH_R a PSK predicts, the HASH_R received) for an Aggressive Mode pair (RFC 2409 §5.4): SKEYID =
    prf(PSK, Ni_b | Nr_b), HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b). The DH secret is
    not needed, so a capture alone tells whether a PSK is the one in use."""
    sa, i_sa = am1.need(SaPayload, "SA")
    ke_i, _ = am1.need(KePayload, "KE")
    ke_r, _ = am2.need(KePayload, "KE")
    _, i_ni = am1.need(NoncePayload, "nonce")
    _, i_nr = am2.need(NoncePayload, "nonce")
    _, i_id = am2.need(IdPayload, "ID")
    received, _ = am2.need(HashPayload, "HASH")
    chosen, _ = am2.need(SaPayload, "SA")
    if not chosen.proposals or not chosen.proposals[0].transforms:
        raise Malformed("AM2 SA without a transform")
    got = read_phase1(chosen.proposals[0].transforms[0])
    if got is None:
        raise Malformed("AM2 chose a transform this core does not know")
    alg = got[0].hash
    skeyid = keys.skeyid_psk(alg, psk, am1.raw_body(i_ni), am2.raw_body(i_nr))
    expected = keys.hash_r(alg, skeyid, ke_i.data, ke_r.data, ispi, rspi, am1.raw_body(i_sa), am2.raw_body(i_id))
    return expected, received.data
