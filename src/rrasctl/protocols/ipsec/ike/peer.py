"""`IkePeer`: the sans-I/O IKEv1 core for one remote peer (DESIGN §3), initiator and responder at once.

Inputs: `receive(datagram, now)` with the UDP payload as it came (from port 500, or from 4500 with the non-ESP
marker), `handle_timer(now)`, and the owner's commands: `connect` (main mode, then quick mode), `start_quick_mode`,
`child_sa_used` (the first packet arrived on a new ESP SA: the SA it replaced is deleted), `child_sa_bytes`
(kilobyte lifetimes), `traffic_seen` (ESP from the peer: it is alive, DPD waits), `close`.
Outputs: events (events.py), `take_output()` datagrams (one that starts with the non-ESP marker goes to the peer's
port 4500, any other to port 500) and `next_timer()`.

Rekeying: the side that started an SA renews it at `rekey_fraction` of its life (minus up to `rekey_jitter` of it,
from the rng), the other side at `responder_rekey_fraction` if no successor came by then. A new phase 1 we started
deletes the one it replaces at once; a new child SA is reported with the SPI it `replaces`, and the old one stays
until `child_sa_used` reports traffic on the new one, or its own hard lifetime ends (decision 0110).
"""

from __future__ import annotations

from enum import Enum

from rrasctl.protocols.base import Counters, CoreMisuse, Event, Malformed, Rng, default_rng
from rrasctl.protocols.ipsec.ike import natt
from rrasctl.protocols.ipsec.ike.constants import ExchangeType, NotifyType, ProtocolId
from rrasctl.protocols.ipsec.ike.events import (ChildSaDeleted, ChildSaEstablished, ChildSaFailed, DeleteReason,
                                                FailureCause, NotifyReceived, PeerDead, Phase1Deleted,
                                                Phase1Established, Phase1Failed)
from rrasctl.protocols.ipsec.ike.payloads import DeletePayload, Message, NotifyPayload, decode_message
from rrasctl.protocols.ipsec.ike.phase1 import ZERO_COOKIE, MainMode, MmState
from rrasctl.protocols.ipsec.ike.phase2 import QmState, QuickMode
from rrasctl.protocols.ipsec.ike.policy import IkeConfig
from rrasctl.protocols.ipsec.ike.records import ChildRecord, Dpd, Exchange
from rrasctl.protocols.ipsec.ike.sa import IsakmpSa

_AUTH_NOTIFIES = {NotifyType.AUTHENTICATION_FAILED, NotifyType.INVALID_HASH_INFORMATION,
                  NotifyType.PAYLOAD_MALFORMED, NotifyType.INVALID_ID_INFORMATION}
_CAUSES = {NotifyType.NO_PROPOSAL_CHOSEN: FailureCause.NO_PROPOSAL_CHOSEN,
           NotifyType.INVALID_KEY_INFORMATION: FailureCause.INVALID_KEY_INFORMATION,
           NotifyType.INVALID_ID_INFORMATION: FailureCause.INVALID_ID_INFORMATION,
           **{n: FailureCause.AUTHENTICATION_FAILED for n in _AUTH_NOTIFIES - {NotifyType.INVALID_ID_INFORMATION}}}


class PeerState(Enum):
    IDLE = "idle"                  # no ISAKMP SA (none yet, or all deleted)
    CONNECTING = "connecting"      # a main mode we started is under way
    ESTABLISHED = "established"
    CLOSED = "closed"              # closed by the owner or declared dead: inert


class IkePeer:
    def __init__(self, config: IkeConfig, local: tuple[str, int], remote: tuple[str, int], *,
                 rng: Rng = default_rng) -> None:
        self.config, self.local, self.remote, self._rng = config, local, remote, rng
        self.state = PeerState.IDLE
        self.stats = Counters()
        self._now = 0.0
        self._out: list[bytes] = []
        self._events: list[Event] = []
        self._mm: dict[bytes, Exchange] = {}              # by initiator cookie
        self._qm: dict[tuple[bytes, int], Exchange] = {}  # by (cookies, message id)
        self.sas: dict[bytes, IsakmpSa] = {}
        self.current: IsakmpSa | None = None
        self.children: dict[int, ChildRecord] = {}        # by our inbound SPI
        self._want_child: int | None | bool = False       # False, or True / the SPI a pending quick mode replaces
        self._rekeying_p1: bytes | None = None
        self._ever_connected = False
        self._last_heard = 0.0
        self._dpd: Dpd | None = None
        c = config
        self._linger = sum(c.retransmit_s * c.retransmit_backoff ** k for k in range(c.retransmits + 1))

    # ================================================================ commands
    def connect(self, now: float) -> None:
        """Start main mode as initiator; a quick mode for the configured selectors follows it."""
        self._command(now)
        if self.current is not None:
            self._start_qm(self.current, None)
            return
        self._want_child = True
        if not self._mm_in_progress():
            self._start_mm()

    def start_quick_mode(self, now: float, replaces: int | None = None) -> None:
        self._command(now)
        if self.current is not None:
            self._start_qm(self.current, replaces)
        else:
            self._want_child = replaces if replaces is not None else True
            if not self._mm_in_progress():
                self._start_mm()

    def child_sa_used(self, inbound_spi: int, now: float) -> None:
        """Traffic arrived on this SA: the SA it replaced (if any) is deleted now."""
        self._command(now)
        rec = self.children.get(inbound_spi)
        if rec is None:
            raise CoreMisuse(f"no child SA with inbound SPI 0x{inbound_spi:08x}")
        rec.used = True
        self._last_heard = now
        if rec.replaces is not None and rec.replaces in self.children:
            self._delete_child(rec.replaces, DeleteReason.REPLACED, notify_peer=True)
            rec.replaces = None

    def child_sa_bytes(self, inbound_spi: int, total_bytes: int, now: float) -> None:
        """Bytes carried so far by this SA pair, for a kilobyte lifetime (soft at the rekey fraction, hard at 100 %)."""
        self._command(now)
        rec = self.children.get(inbound_spi)
        if rec is None:
            raise CoreMisuse(f"no child SA with inbound SPI 0x{inbound_spi:08x}")
        rec.bytes = total_bytes
        kb = rec.child.lifetime_kb
        if kb:
            if total_bytes >= kb * 1024:
                self._delete_child(inbound_spi, DeleteReason.EXPIRED, notify_peer=True)
            elif total_bytes >= kb * 1024 * self.config.rekey_fraction:
                self._rekey_child(rec)

    def traffic_seen(self, now: float) -> None:
        self._command(now)
        self._last_heard = now

    def close(self, now: float) -> None:
        """Delete every child SA and ISAKMP SA (telling the peer) and go inert."""
        self._command(now)
        for spi in list(self.children):
            self._delete_child(spi, DeleteReason.CLOSED, notify_peer=True)
        for sa in list(self.sas.values()):
            self._delete_sa(sa, DeleteReason.CLOSED, notify_peer=True)
        self._mm.clear()
        self._qm.clear()
        self.state = PeerState.CLOSED

    def _command(self, now: float) -> None:
        if self.state is PeerState.CLOSED:
            raise CoreMisuse("the IKE peer is closed")
        self._now = now

    # ================================================================ outputs
    def take_output(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_timer(self) -> float | None:
        if self._events:
            return self._now
        if self.state is PeerState.CLOSED:
            return None
        times = [t for ex in (*self._mm.values(), *self._qm.values())
                 for t in (ex.deadline, ex.ended_at + self._linger if ex.ended_at is not None else None)
                 if t is not None]
        for sa in self.sas.values():
            times.append(sa.expires_at)
            if sa.rekey_at is not None and sa is self.current:
                times.append(sa.rekey_at)
        for rec in self.children.values():
            times.append(rec.expires_at)
            if rec.rekey_at is not None:
                times.append(rec.rekey_at)
        if self._dpd is not None and self.current is not None:
            times.append(self._dpd.deadline(self._last_heard))
        return min(times) if times else None

    def _take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # ================================================================ inputs
    def receive(self, data: bytes | memoryview, now: float) -> list[Event]:
        self._now = now
        if self.state is PeerState.CLOSED:
            self.stats.count("closed")
            return self._take_events()
        try:
            raw, on_4500 = natt.unframe(data)
            msg = decode_message(raw)
            exchange = msg.header.exchange
            if exchange == ExchangeType.IDENTITY_PROTECTION:
                self._main_mode(msg, on_4500)
            elif exchange == ExchangeType.QUICK_MODE:
                self._quick_mode(msg, on_4500)
            elif exchange == ExchangeType.INFORMATIONAL:
                self._informational(msg, on_4500)
            else:
                raise Malformed("exchange type not supported")
        except Malformed as exc:
            self.stats.count(exc.reason)
        return self._take_events()

    def handle_timer(self, now: float) -> list[Event]:
        self._now = now
        if self.state is PeerState.CLOSED:
            return self._take_events()
        self._retransmit(now)
        for sa in list(self.sas.values()):
            if sa.expires_at <= now:
                self._delete_sa(sa, DeleteReason.EXPIRED, notify_peer=True)
            elif sa is self.current and sa.rekey_at is not None and sa.rekey_at <= now:
                sa.rekey_at = None
                if not self._mm_in_progress():
                    self._rekeying_p1 = sa.cookies
                    self._start_mm()
        for spi, rec in list(self.children.items()):
            if rec.expires_at <= now:
                self._delete_child(spi, DeleteReason.EXPIRED, notify_peer=True)
            elif rec.rekey_at is not None and rec.rekey_at <= now:
                self._rekey_child(rec)
        self._dpd_timer(now)
        return self._take_events()

    # ================================================================ main mode
    def _start_mm(self) -> None:
        mm = MainMode(self.config, True, self._rng, self.local, self.remote,
                      initial_contact=not self._ever_connected)
        message = mm.start()
        ex = Exchange(mm)
        self._mm[mm.ispi] = ex
        self._send(ex, message, False, expects_reply=True)
        if self.state is PeerState.IDLE:
            self.state = PeerState.CONNECTING

    def _mm_in_progress(self) -> bool:
        return any(ex.ended_at is None for ex in self._mm.values())

    def _main_mode(self, msg: Message, on_4500: bool) -> None:
        h = msg.header
        ex = self._mm.get(h.ispi)
        if ex is None:
            if h.rspi != ZERO_COOKIE or h.encrypted:
                raise Malformed("main mode message for an unknown exchange")
            ex = Exchange(MainMode(self.config, False, self._rng, self.local, self.remote))
        elif ex.proto.rspi != ZERO_COOKIE and h.rspi not in (ex.proto.rspi, ZERO_COOKIE):
            raise Malformed("main mode message with the wrong responder cookie")
        if self._duplicate(ex, msg):
            return
        mm: MainMode = ex.proto
        if mm.state in (MmState.DONE, MmState.FAILED):
            raise Malformed("main mode message after the exchange ended")
        step = mm.handle(msg, on_4500)
        self._mm.setdefault(h.ispi, ex)
        ex.last_received = msg.raw
        if step.reply is not None:
            self._send(ex, step.reply, mm.floated, expects_reply=step.sa is None and step.failure is None,
                       retransmit=mm.initiator)
        if step.failure is not None:
            ex.end(self._now)
            self._events.append(Phase1Failed(step.failure[0], step.failure[1], mm.initiator))
            self._settle_state()
        elif step.sa is not None:
            ex.end(self._now)
            self._phase1_up(step.sa, mm)

    def _phase1_up(self, sa: IsakmpSa, mm: MainMode) -> None:
        now, cfg = self._now, self.config
        sa.established_at = now
        frac = cfg.rekey_fraction - cfg.rekey_jitter * self._jitter() if sa.initiator else \
            cfg.responder_rekey_fraction
        sa.rekey_at = now + sa.lifetime_s * frac
        old = self.current
        self.sas[sa.cookies] = sa
        self.current = sa
        self._ever_connected = True
        self._last_heard = now
        self.state = PeerState.ESTABLISHED
        if sa.caps.dpd and cfg.dpd_interval_s:
            self._dpd = Dpd.create(cfg.dpd_interval_s, cfg.dpd_retries, cfg.retransmit_s, self._rng)
        self._events.append(Phase1Established(sa.cookies, sa.initiator, sa.suite.name, sa.lifetime_s, sa.peer_id,
                                              sa.nat, sa.natt, sa.floated, sa.caps,
                                              old.cookies if old is not None else None))
        if not sa.initiator and mm.initial_contact:
            for spi in list(self.children):
                self._delete_child(spi, DeleteReason.PEER_RESTARTED, notify_peer=False)
            for other in [s for s in self.sas.values() if s is not sa]:
                self._delete_sa(other, DeleteReason.PEER_RESTARTED, notify_peer=False)
        elif old is not None and self._rekeying_p1 == old.cookies:
            self._delete_sa(old, DeleteReason.REPLACED, notify_peer=True)
        self._rekeying_p1 = None
        if self._want_child is not False and sa.initiator:
            replaces = None if self._want_child is True else self._want_child
            self._want_child = False
            self._start_qm(sa, replaces)

    # ================================================================ quick mode
    def _start_qm(self, sa: IsakmpSa, replaces: int | None) -> None:
        mid = self._message_id(sa)
        qm = QuickMode(self.config, sa, True, mid, self._rng, self.local[0], self.remote[0])
        ex = Exchange(qm, sa.cookies, replaces=replaces)
        self._qm[(sa.cookies, mid)] = ex
        self._send(ex, qm.start(), sa.floated, expects_reply=True)

    def _message_id(self, sa: IsakmpSa) -> int:
        while True:
            mid = int.from_bytes(self._rng(4), "big")
            if mid and (sa.cookies, mid) not in self._qm and mid not in sa.ivs:
                return mid

    def _quick_mode(self, msg: Message, on_4500: bool) -> None:
        h = msg.header
        sa = self._established(h.cookies)
        if h.message_id == 0:
            raise Malformed("quick mode with message id 0")
        key = (sa.cookies, h.message_id)
        ex = self._qm.get(key)
        if ex is None:
            ex = Exchange(QuickMode(self.config, sa, False, h.message_id, self._rng, self.local[0], self.remote[0]),
                          sa.cookies)
        if self._duplicate(ex, msg):
            return
        qm: QuickMode = ex.proto
        if qm.state in (QmState.DONE, QmState.FAILED):
            raise Malformed("quick mode message after the exchange ended")
        chain, iv = sa.open(msg)
        before = sa.ivs.get(h.message_id)
        sa.ivs[h.message_id] = iv
        try:
            step = qm.handle(chain)
        except Malformed:
            if before is None:
                sa.ivs.pop(h.message_id, None)
            else:
                sa.ivs[h.message_id] = before
            raise
        self._qm.setdefault(key, ex)
        ex.last_received = msg.raw
        self._heard(sa, on_4500)
        if step.reply is not None:
            self._send(ex, step.reply, sa.floated, expects_reply=step.child is None and step.failure is None)
        if step.failure is not None:
            ex.end(self._now)
            self._events.append(ChildSaFailed(step.failure[0], step.failure[1], qm.initiator))
        elif step.child is not None:
            ex.end(self._now)
            self._child_up(step.child, ex.replaces)

    def _child_up(self, child, replaces: int | None) -> None:
        now, cfg = self._now, self.config
        if replaces is None:                       # a rekey the peer started: the live child with our selectors
            replaces = next((spi for spi, r in self.children.items() if r.replaced_by is None
                             and r.child.local_selector == child.local_selector
                             and r.child.peer_selector == child.peer_selector), None)
        frac = cfg.rekey_fraction - cfg.rekey_jitter * self._jitter() if child.initiator else \
            cfg.responder_rekey_fraction
        rec = ChildRecord(child, now, now + child.lifetime_s * frac, now + child.lifetime_s, replaces)
        self.children[child.inbound_spi] = rec
        old = self.children.get(replaces) if replaces is not None else None
        if old is not None:
            old.replaced_by, old.rekey_at, old.rekeying = child.inbound_spi, None, False
        else:
            rec.replaces = None
        self._events.append(ChildSaEstablished(child, rec.replaces))

    def _rekey_child(self, rec: ChildRecord) -> None:
        rec.rekey_at = None
        if rec.rekeying or rec.replaced_by is not None:
            return
        rec.rekeying = True
        if self.current is not None:
            self._start_qm(self.current, rec.child.inbound_spi)
        else:
            self._want_child = rec.child.inbound_spi
            if not self._mm_in_progress():
                self._start_mm()

    # ================================================================ informational
    def _informational(self, msg: Message, on_4500: bool) -> None:
        h = msg.header
        if not h.encrypted:
            self._unprotected_notify(msg)
            return
        sa = self.sas.get(h.cookies)
        if sa is None:
            ex = self._mm.get(h.ispi)
            if ex is not None and ex.proto.state is MmState.WAIT_MM6:
                self._fail_mm(ex, FailureCause.AUTHENTICATION_FAILED,
                              "the responder answered MM5 with a notification we cannot decrypt (a different PSK)")
                return
            raise Malformed("informational for an unknown SA")
        chain, _ = sa.open(msg)
        sa.verify_informational(h.message_id, chain)
        self._heard(sa, on_4500)
        for p in chain.payloads[1:]:
            if isinstance(p, DeletePayload):
                self._peer_delete(p)
            elif isinstance(p, NotifyPayload):
                self._notify(sa, p)

    def _unprotected_notify(self, msg: Message) -> None:
        notifies = msg.chain.all(NotifyPayload)
        ex = self._mm.get(msg.header.ispi)
        if ex is None or not notifies or not ex.proto.initiator or ex.ended_at is not None:
            raise Malformed("unprotected informational outside a main mode we started")
        n = notifies[0].notify_type
        cause = _CAUSES.get(n, FailureCause.PEER_ERROR)
        name = NotifyType(n).name if n in NotifyType._value2member_map_ else str(n)
        self._fail_mm(ex, cause, f"the responder sent {name}")

    def _fail_mm(self, ex: Exchange, cause: FailureCause, detail: str) -> None:
        ex.proto.state = MmState.FAILED
        ex.end(self._now)
        self._events.append(Phase1Failed(cause, detail, ex.proto.initiator))
        self._settle_state()

    def _notify(self, sa: IsakmpSa, n: NotifyPayload) -> None:
        t = n.notify_type
        if t == NotifyType.R_U_THERE and len(n.data) == 4:
            self._send_info(sa, [NotifyPayload(NotifyType.R_U_THERE_ACK, ProtocolId.ISAKMP, sa.cookies, n.data)])
        elif t == NotifyType.R_U_THERE_ACK and len(n.data) == 4:
            if self._dpd is None or not self._dpd.acked(int.from_bytes(n.data, "big")):
                self.stats.count("DPD ack without a probe")
        elif t in _CAUSES and n.protocol == ProtocolId.ESP:
            pending = [(k, ex) for k, ex in self._qm.items() if k[0] == sa.cookies and ex.ended_at is None
                       and ex.proto.initiator]
            match = [kx for kx in pending if kx[1].proto.spi == n.spi] or pending[:1]
            for _key, ex in match:
                ex.proto.state = QmState.FAILED
                ex.end(self._now)
                self._events.append(ChildSaFailed(_CAUSES[t], f"the responder sent {NotifyType(t).name}", True))
        else:
            self._events.append(NotifyReceived(t, n.protocol, n.data))

    def _peer_delete(self, d: DeletePayload) -> None:
        if d.protocol == ProtocolId.ESP:
            for spi in d.spis:
                value = int.from_bytes(spi, "big")
                for inbound, rec in list(self.children.items()):
                    if rec.child.outbound_spi == value:
                        self._delete_child(inbound, DeleteReason.PEER_DELETED, notify_peer=False)
        elif d.protocol == ProtocolId.ISAKMP:
            for cookies in d.spis:
                sa = self.sas.get(cookies)
                if sa is not None:
                    self._delete_sa(sa, DeleteReason.PEER_DELETED, notify_peer=False)

    # ================================================================ deletion
    def _delete_child(self, inbound_spi: int, reason: DeleteReason, *, notify_peer: bool) -> None:
        rec = self.children.pop(inbound_spi)
        if notify_peer and self.current is not None:
            self._send_info(self.current, [DeletePayload(ProtocolId.ESP, (inbound_spi.to_bytes(4, "big"),))])
        for other in self.children.values():
            if other.replaces == inbound_spi:
                other.replaces = None
        self._events.append(ChildSaDeleted(inbound_spi, rec.child.outbound_spi, reason))

    def _delete_sa(self, sa: IsakmpSa, reason: DeleteReason, *, notify_peer: bool) -> None:
        if notify_peer:
            self._send_info(sa, [DeletePayload(ProtocolId.ISAKMP, (sa.cookies,))])
        self.sas.pop(sa.cookies, None)
        for key in [k for k in self._qm if k[0] == sa.cookies]:
            del self._qm[key]
        if self.current is sa:
            self.current = max(self.sas.values(), key=lambda s: s.established_at, default=None)
        if self.current is None:
            self._dpd = None
        self._events.append(Phase1Deleted(sa.cookies, reason))
        self._settle_state()

    def _settle_state(self) -> None:
        if self.state is not PeerState.CLOSED:
            self.state = PeerState.ESTABLISHED if self.current is not None else (
                PeerState.CONNECTING if self._mm_in_progress() else PeerState.IDLE)

    # ================================================================ timers
    def _retransmit(self, now: float) -> None:
        cfg = self.config
        for table in (self._mm, self._qm):
            for key, ex in list(table.items()):
                if ex.ended_at is not None and ex.ended_at + self._linger <= now:
                    del table[key]
                    if table is self._qm:
                        sa = self.sas.get(key[0])
                        if sa is not None:
                            sa.ivs.pop(key[1], None)
                    continue
                if ex.deadline is None or ex.deadline > now:
                    continue
                if ex.tries >= cfg.retransmits:
                    ex.end(now)
                    waited = (f"no answer within {self._linger:g} s" if ex.passive else
                              f"no answer after {cfg.retransmits} retransmissions")
                    if isinstance(ex.proto, MainMode):
                        ex.proto.state = MmState.FAILED
                        self._events.append(Phase1Failed(FailureCause.TIMEOUT, waited, ex.proto.initiator))
                        self._settle_state()
                    else:
                        ex.proto.state = QmState.FAILED
                        self._events.append(ChildSaFailed(FailureCause.TIMEOUT, waited, ex.proto.initiator))
                        if ex.replaces in self.children:
                            self.children[ex.replaces].rekeying = False
                    continue
                ex.tries += 1
                ex.deadline = now + cfg.retransmit_s * cfg.retransmit_backoff ** ex.tries
                self._out.append(natt.frame(ex.last_sent, ex.sent_on_4500))
                self.stats.count("retransmissions")

    def _dpd_timer(self, now: float) -> None:
        dpd, sa = self._dpd, self.current
        if dpd is None or sa is None or dpd.deadline(self._last_heard) > now:
            return
        seq = dpd.probe(now)
        if seq is None:
            self._events.append(PeerDead(dpd.retries))
            for spi in list(self.children):
                self._delete_child(spi, DeleteReason.PEER_DEAD, notify_peer=False)
            for other in list(self.sas.values()):
                self._delete_sa(other, DeleteReason.PEER_DEAD, notify_peer=False)
            self._mm.clear()
            self._qm.clear()
            self.state = PeerState.CLOSED
            return
        self._send_info(sa, [NotifyPayload(NotifyType.R_U_THERE, ProtocolId.ISAKMP, sa.cookies,
                                           seq.to_bytes(4, "big"))])

    # ================================================================ helpers
    def _send(self, ex: Exchange, message: bytes, on_4500: bool, *, expects_reply: bool,
              retransmit: bool = True) -> None:
        """Send an exchange's message. A main mode responder does not retransmit on its own (it answers the
        initiator's retransmissions): a spoofed MM1 then costs one MM2, never five, sent to whoever was spoofed.
        It still gives up after the whole retransmission window."""
        ex.sent(message, on_4500, self._now, expects_reply, self.config.retransmit_s if retransmit else self._linger)
        if not retransmit:
            ex.tries, ex.passive = self.config.retransmits, True
        self._out.append(natt.frame(message, on_4500))

    def _send_info(self, sa: IsakmpSa, payloads: list) -> None:
        self._out.append(natt.frame(sa.informational(self._message_id(sa), payloads), sa.floated))

    def _duplicate(self, ex: Exchange, msg: Message) -> bool:
        if ex.last_received is not None and ex.last_received == msg.raw:
            if ex.last_sent is not None:
                self._out.append(natt.frame(ex.last_sent, ex.sent_on_4500))
            self.stats.count("duplicates answered")
            return True
        return False

    def _established(self, cookies: bytes) -> IsakmpSa:
        sa = self.sas.get(cookies)
        if sa is None:
            raise Malformed("message for an unknown ISAKMP SA")
        return sa

    def _heard(self, sa: IsakmpSa, on_4500: bool) -> None:
        self._last_heard = self._now
        if on_4500 and not sa.floated:
            sa.floated = True                      # the peer moved to 4500 later (or floated without a NAT)

    def _jitter(self) -> float:
        return int.from_bytes(self._rng(2), "big") / 0xFFFF
