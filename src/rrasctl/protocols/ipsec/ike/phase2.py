"""Quick Mode for transport-mode ESP (RFC 2409 §5.5), initiator and responder, with optional PFS and NAT-OA.

    Initiator                                          Responder
    HDR*, HASH(1), SA, Ni [, KE] , IDci, IDcr [, NAT-OAi, NAT-OAr]  -->
                                              <--  HDR*, HASH(2), SA, Nr [, KE], IDci, IDcr [, NAT-OA...] [, N]
    HDR*, HASH(3)                                                   -->

HASH(1) = prf(SKEYID_a, M-ID | everything after HASH), HASH(2) = prf(SKEYID_a, M-ID | Ni_b | everything after
HASH), HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b). KEYMAT per direction from the SPI its receiver chose.
When a NAT was detected the proposal asks for UDP-encapsulated transport (RFC 3947 mode 4, or the drafts' 61444) and
carries the original addresses (RFC 3947 §5.2). A shorter responder lifetime goes back as RESPONDER-LIFETIME
(RFC 2407 §4.6.3.1). The core opens each message (sa.IsakmpSa.open) and hands the chain here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rrasctl.protocols.base import Malformed, Rng
from rrasctl.protocols.ipsec.ike import keys
from rrasctl.protocols.ipsec.ike.constants import (EncapsulationMode, ExchangeType, LifeType, NotifyType,
                                                   Phase2Attribute, ProtocolId)
from rrasctl.protocols.ipsec.ike.events import ChildSa, FailureCause
from rrasctl.protocols.ipsec.ike.groups import DhKey
from rrasctl.protocols.ipsec.ike.payloads import (Attribute, Chain, IdPayload, KePayload, NatOaPayload, NoncePayload,
                                                  NotifyPayload, Proposal, SaPayload, decode_attributes)
from rrasctl.protocols.ipsec.ike.policy import EspChoice, IkeConfig, choose_esp, read_esp
from rrasctl.protocols.ipsec.ike.sa import IsakmpSa, equal
from rrasctl.protocols.wire import Reader


class QmState(Enum):
    WAIT_QM2 = "wait-qm2"          # initiator
    WAIT_QM3 = "wait-qm3"          # responder
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class QmStep:
    reply: bytes | None = None
    child: ChildSa | None = None
    failure: tuple[FailureCause, str] | None = None


def new_spi(rng: Rng) -> bytes:
    """4 random octets, never one of the reserved SPIs 0-255 (RFC 4303 §2.1)."""
    while True:
        spi = rng(4)
        if int.from_bytes(spi, "big") > 255:
            return spi


def _selector(idp: IdPayload | None, fallback: str, protocol: int, port: int) -> str:
    if idp is None:
        return f"{fallback} udp/{port}" if protocol == 17 else fallback
    proto = {0: "any", 6: "tcp", 17: "udp"}.get(idp.protocol, str(idp.protocol))
    return f"{idp.text()} {proto}/{idp.port}"


class QuickMode:
    def __init__(self, cfg: IkeConfig, sa: IsakmpSa, initiator: bool, message_id: int, rng: Rng,
                 local: str, remote: str) -> None:
        self.cfg, self.sa, self.initiator, self.message_id, self.rng = cfg, sa, initiator, message_id, rng
        self.local, self.remote = local, remote
        self.state = QmState.WAIT_QM2 if initiator else QmState.WAIT_QM3
        self.spi = new_spi(rng)
        self._offered: list[EspChoice] = []
        self._ni = self._nr = b""
        self._dh: DhKey | None = None
        self._ids: tuple[IdPayload, IdPayload] | None = None
        self._child: ChildSa | None = None

    @property
    def _alg(self) -> int:
        return self.sa.hash_alg

    def _mode(self) -> EncapsulationMode:
        if self.sa.nat.detected and self.sa.natt is not None:
            return self.sa.natt.transport_mode()
        return EncapsulationMode.TRANSPORT

    def _nat_oa(self, initiator_addr: str, responder_addr: str) -> list[NatOaPayload]:
        """RFC 3947 §5.2 sends both original addresses (initiator's first); the drafts only the sender's own."""
        if not (self.sa.nat.detected and self.sa.natt is not None):
            return []
        draft = self.sa.natt.draft
        if draft:
            return [NatOaPayload.of(self.local, True)]
        return [NatOaPayload.of(initiator_addr), NatOaPayload.of(responder_addr)]

    # -- initiator ---------------------------------------------------------------------------------------------
    def start(self) -> bytes:
        mode, cfg = self._mode(), self.cfg
        proposals = []
        for n, suite in enumerate(cfg.esp, 1):
            t = suite.transform_payload(1, mode, cfg.phase2_lifetime_s, cfg.phase2_lifetime_kb, cfg.pfs)
            proposals.append(Proposal(n, ProtocolId.ESP, self.spi, (t,)))
            self._offered.append(read_esp(t))
        self._ni = self.rng(cfg.nonce_len)
        payloads: list = [SaPayload(tuple(proposals)), NoncePayload(self._ni)]
        if cfg.pfs is not None:
            self._dh = DhKey(cfg.pfs, self.rng)
            payloads.append(KePayload(self._dh.public))
        self._ids = (IdPayload.address(self.local, cfg.protocol, cfg.port),
                     IdPayload.address(self.remote, cfg.protocol, cfg.port))
        payloads += [*self._ids, *self._nat_oa(self.local, self.remote)]
        a, mid = self.sa.keys.skeyid_a, self.message_id
        return self.sa.seal(ExchangeType.QUICK_MODE, mid, payloads, lambda rest: keys.qm_hash1(self._alg, a, mid, rest))

    def _qm2(self, chain: Chain) -> QmStep:
        a, mid = self.sa.keys.skeyid_a, self.message_id
        if not equal(keys.qm_hash2(self._alg, a, mid, self._ni, chain.after(0)), chain.payloads[0].data):
            raise Malformed("QM HASH(2) does not verify")
        sa_p, _ = chain.need(SaPayload, "SA")
        nonce, i_nr = chain.need(NoncePayload, "nonce")
        if len(sa_p.proposals) != 1 or len(sa_p.proposals[0].transforms) != 1:
            return self._fail(FailureCause.NO_PROPOSAL_CHOSEN, "the answer is not one proposal with one transform")
        p = sa_p.proposals[0]
        got = read_esp(p.transforms[0])
        if (p.protocol != ProtocolId.ESP or len(p.spi) != 4 or got is None or not 1 <= p.number <= len(self._offered)
                or got.proposal != self._offered[p.number - 1].proposal or got.mode != self._mode()):
            return self._fail(FailureCause.NO_PROPOSAL_CHOSEN, "the responder chose an ESP transform we did not offer")
        self._nr = chain.raw_body(i_nr)
        gqm = b""
        ke = chain.one(KePayload)
        if (ke is None) != (self._dh is None):
            return self._fail(FailureCause.NO_PROPOSAL_CHOSEN, "the responder answered PFS wrongly")
        if ke is not None:
            try:
                gqm = self._dh.shared(ke.data)
            except Malformed as exc:
                return self._fail(FailureCause.INVALID_KEY_INFORMATION, exc.reason)
        life_s = min(x for x in (self.cfg.phase2_lifetime_s, got.lifetime_s, _responder_life(chain, LifeType.SECONDS))
                     if x)
        life_kb = _min_kb(self.cfg.phase2_lifetime_kb, got.lifetime_kb, _responder_life(chain, LifeType.KILOBYTES))
        oas = [o.text() for o in chain.all(NatOaPayload)]
        peer_oa = (oas[1] if len(oas) == 2 else oas[0]) if oas else None
        local_oa = oas[0] if len(oas) == 2 else None
        ids = chain.all(IdPayload)
        self._child = self._make_child(p.spi, got, life_s, life_kb, gqm, ids, peer_oa, local_oa)
        self.state = QmState.DONE
        reply = self.sa.seal(ExchangeType.QUICK_MODE, mid, [],
                             lambda _rest: keys.qm_hash3(self._alg, a, mid, self._ni, self._nr))
        return QmStep(reply, child=self._child)

    # -- responder ---------------------------------------------------------------------------------------------
    def _qm1(self, chain: Chain) -> QmStep:
        a, mid, cfg = self.sa.keys.skeyid_a, self.message_id, self.cfg
        if not equal(keys.qm_hash1(self._alg, a, mid, chain.after(0)), chain.payloads[0].data):
            raise Malformed("QM HASH(1) does not verify")
        sa_p, _ = chain.need(SaPayload, "SA")
        _nonce, i_ni = chain.need(NoncePayload, "nonce")
        self._ni = chain.raw_body(i_ni)
        ke = chain.one(KePayload)
        ids = chain.all(IdPayload)
        if len(ids) not in (0, 2):
            raise Malformed("quick mode with one identity")
        for idp in ids:
            if idp.protocol not in (0, cfg.protocol) or idp.port not in (0, cfg.port):
                return self._fail(FailureCause.INVALID_ID_INFORMATION,
                                  f"selector {idp.text()} protocol {idp.protocol} port {idp.port} is not L2TP",
                                  NotifyType.INVALID_ID_INFORMATION, sa_p.proposals[0].spi)
        chosen = choose_esp(cfg, sa_p.proposals, self.sa.nat.detected, ke is not None)
        if chosen is None:
            offered = sorted({c.proposal.name for p in sa_p.proposals for t in p.transforms
                              if (c := read_esp(t)) is not None})
            return self._fail(FailureCause.NO_PROPOSAL_CHOSEN,
                              f"the initiator offered {', '.join(offered) or 'nothing we know'}",
                              NotifyType.NO_PROPOSAL_CHOSEN, sa_p.proposals[0].spi)
        proposal, transform, choice = chosen
        gqm = b""
        if ke is not None:
            self._dh = DhKey(choice.pfs, self.rng)
            try:
                gqm = self._dh.shared(ke.data)
            except Malformed as exc:
                return self._fail(FailureCause.INVALID_KEY_INFORMATION, exc.reason, NotifyType.INVALID_KEY_INFORMATION,
                                  proposal.spi)
        self._nr = self.rng(cfg.nonce_len)
        life_s = min(x for x in (cfg.phase2_lifetime_s, choice.lifetime_s) if x)
        life_kb = _min_kb(cfg.phase2_lifetime_kb, choice.lifetime_kb, None)
        payloads: list = [SaPayload((Proposal(proposal.number, ProtocolId.ESP, self.spi, (transform,)),)),
                          NoncePayload(self._nr)]
        if self._dh is not None:
            payloads.append(KePayload(self._dh.public))
        payloads += ids
        oas = [o.text() for o in chain.all(NatOaPayload)]
        payloads += self._nat_oa(self.remote, self.local)
        if (choice.lifetime_s or 0) > life_s or (choice.lifetime_kb and life_kb and choice.lifetime_kb > life_kb):
            payloads.append(_responder_lifetime(self.spi, life_s, life_kb))
        self._child = self._make_child(proposal.spi, choice, life_s, life_kb, gqm, ids,
                                       oas[0] if oas else None, oas[1] if len(oas) == 2 else None)
        ni = self._ni
        reply = self.sa.seal(ExchangeType.QUICK_MODE, mid, payloads,
                             lambda rest: keys.qm_hash2(self._alg, a, mid, ni, rest))
        return QmStep(reply)

    def _qm3(self, chain: Chain) -> QmStep:
        a, mid = self.sa.keys.skeyid_a, self.message_id
        if len(chain) != 1 or not equal(keys.qm_hash3(self._alg, a, mid, self._ni, self._nr), chain.payloads[0].data):
            raise Malformed("QM HASH(3) does not verify")
        self.state = QmState.DONE
        return QmStep(child=self._child)

    # -- shared ------------------------------------------------------------------------------------------------
    def handle(self, chain: Chain) -> QmStep:
        """A decrypted message of this exchange (HASH first). Malformed: drop it and keep waiting."""
        if self.state is QmState.WAIT_QM2:
            return self._qm2(chain)
        if self.state is QmState.WAIT_QM3:
            return self._qm3(chain) if self._child is not None else self._qm1(chain)
        raise Malformed("quick mode message after the exchange ended")

    def _fail(self, cause: FailureCause, detail: str, notify: NotifyType | None = None,
              peer_spi: bytes = b"") -> QmStep:
        """The exchange ends; a responder tells the initiator with a protected notification naming its SPI."""
        self.state = QmState.FAILED
        reply = None
        if notify is not None:
            reply = self.sa.informational(self._info_id(), [NotifyPayload(notify, ProtocolId.ESP, peer_spi)])
        return QmStep(reply, failure=(cause, detail))

    def _info_id(self) -> int:
        while True:
            mid = int.from_bytes(self.rng(4), "big")
            if mid and mid != self.message_id:
                return mid

    def _make_child(self, peer_spi: bytes, choice: EspChoice, life_s: int, life_kb: int | None, gqm: bytes,
                    ids: list[IdPayload], peer_oa: str | None, local_oa: str | None) -> ChildSa:
        n = choice.proposal.keymat_len
        ni, nr, d, alg = self._ni, self._nr, self.sa.keys.skeyid_d, self._alg
        k_in = keys.keymat(alg, d, ProtocolId.ESP, self.spi, ni, nr, n, gqm)
        k_out = keys.keymat(alg, d, ProtocolId.ESP, peer_spi, ni, nr, n, gqm)
        mine, theirs = (ids[0], ids[1]) if (ids and self.initiator) else ((ids[1], ids[0]) if ids else (None, None))
        return ChildSa(int.from_bytes(self.spi, "big"), int.from_bytes(peer_spi, "big"), choice.proposal.transform,
                       choice.proposal.key_bits, choice.proposal.auth, choice.mode, k_in, k_out, life_s, life_kb,
                       choice.pfs, self.initiator, _selector(mine, self.local, self.cfg.protocol, self.cfg.port),
                       _selector(theirs, self.remote, self.cfg.protocol, self.cfg.port), peer_oa, local_oa)


def _responder_lifetime(spi: bytes, life_s: int, life_kb: int | None) -> NotifyPayload:
    attrs = [Attribute(Phase2Attribute.SA_LIFE_TYPE, LifeType.SECONDS),
             Attribute(Phase2Attribute.SA_LIFE_DURATION, life_s.to_bytes(4, "big"))]
    if life_kb:
        attrs += [Attribute(Phase2Attribute.SA_LIFE_TYPE, LifeType.KILOBYTES),
                  Attribute(Phase2Attribute.SA_LIFE_DURATION, life_kb.to_bytes(4, "big"))]
    return NotifyPayload(NotifyType.RESPONDER_LIFETIME, ProtocolId.ESP, spi, b"".join(a.encode() for a in attrs))


def _responder_life(chain: Chain, kind: LifeType) -> int | None:
    for n in chain.all(NotifyPayload):
        if n.notify_type == NotifyType.RESPONDER_LIFETIME:
            attrs = decode_attributes(Reader(n.data, "RESPONDER-LIFETIME"))
            current = None
            for a in attrs:
                if a.type == Phase2Attribute.SA_LIFE_TYPE:
                    current = a.as_int()
                elif a.type == Phase2Attribute.SA_LIFE_DURATION and current == kind:
                    return a.as_int()
    return None


def _min_kb(*values: int | None) -> int | None:
    given = [v for v in values if v]
    return min(given) if given else None
