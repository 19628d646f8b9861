"""After the exchanges: rekey of both phases on the virtual clock (the old child SA kept until the new one carries
traffic), kilobyte lifetimes, Dead Peer Detection (RFC 3706), Delete, close, INITIAL-CONTACT (issue 14, item 3)."""

from __future__ import annotations

import pytest
from ike_pairs import IkePair, assert_mirrored, config, peers

from rrasctl.protocols.base import CoreMisuse
from rrasctl.protocols.ipsec.ike import payloads as P
from rrasctl.protocols.ipsec.ike.constants import ExchangeType
from rrasctl.protocols.ipsec.ike.events import (ChildSaDeleted, ChildSaEstablished, DeleteReason, PeerDead,
                                                Phase1Deleted, Phase1Established)
from rrasctl.protocols.ipsec.ike.peer import IkePeer, PeerState
from support import fixed_rng


def up(cfg_a=None, cfg_b=None, **kw) -> IkePair:
    a, b = peers(cfg_a or config(), cfg_b)
    pair = IkePair(a, b, **kw)
    a.connect(0.0)
    assert pair.up()
    return pair


class Traffic:
    """The engine's part in a rekey: a side sends on a new SA as soon as it has it; the receiving side reports the
    first packet with child_sa_used."""

    def __init__(self) -> None:
        self.installed: dict[str, set[int]] = {"a": set(), "b": set()}      # inbound SPIs each side can open

    def __call__(self, side: str, event, pair: IkePair) -> None:
        if not isinstance(event, ChildSaEstablished):
            return
        other = "b" if side == "a" else "a"
        child = event.child
        self.installed[side].add(child.inbound_spi)
        if child.outbound_spi in self.installed[other]:     # we send on it: the other side sees traffic
            pair.cores[other].child_sa_used(child.outbound_spi, pair.now)
            pair.cores[side].child_sa_used(child.inbound_spi, pair.now)   # and it answers on its own new SA


def test_child_rekey_keeps_the_old_sa_until_the_new_one_is_used():
    pair = up()
    a, b = pair.a, pair.b
    first = pair.all(ChildSaEstablished, "a")[0].child
    assert pair.run(until=lambda: len(pair.all(ChildSaEstablished, "b")) == 2)
    # a (the quick mode initiator) rekeyed first, at 90 % of the hour minus its jitter
    new_a, new_b = pair.all(ChildSaEstablished, "a")[1], pair.all(ChildSaEstablished, "b")[1]
    assert 0.85 * 3600 <= pair.now <= 0.9 * 3600 + 1 and new_a.child.initiator
    assert new_a.replaces == first.inbound_spi and new_b.replaces == first.outbound_spi
    assert_mirrored(new_a.child, new_b.child)
    assert sorted(a.children) == sorted([first.inbound_spi, new_a.child.inbound_spi])   # the old one is kept
    assert not pair.saw(ChildSaDeleted)
    pair.run(until=lambda: pair.now > 3500)
    assert first.inbound_spi in a.children and not pair.saw(ChildSaDeleted)        # still kept: nothing used it
    b.child_sa_used(new_b.child.inbound_spi, pair.now)       # traffic arrives on b's new inbound SA
    assert pair.run(until=lambda: pair.saw(ChildSaDeleted, "a"))
    assert pair.all(ChildSaDeleted, "b") == [ChildSaDeleted(first.outbound_spi, first.inbound_spi,
                                                            DeleteReason.REPLACED)]
    assert pair.all(ChildSaDeleted, "a") == [ChildSaDeleted(first.inbound_spi, first.outbound_spi,
                                                            DeleteReason.PEER_DELETED)]
    assert list(a.children) == [new_a.child.inbound_spi] and list(b.children) == [new_b.child.inbound_spi]


def test_an_unused_old_child_goes_at_its_hard_lifetime():
    pair = up()
    first = pair.all(ChildSaEstablished, "a")[0].child
    assert pair.run(until=lambda: pair.saw(ChildSaDeleted, "a") and pair.saw(ChildSaDeleted, "b"))
    assert pair.now == pytest.approx(3600.0, abs=0.1)
    assert pair.all(ChildSaDeleted, "a")[0] == ChildSaDeleted(first.inbound_spi, first.outbound_spi,
                                                              DeleteReason.EXPIRED)


def test_both_phases_rekey_for_days_on_the_virtual_clock_with_traffic():
    traffic = Traffic()
    a, b = peers(config())
    pair = IkePair(a, b, on_event=traffic)
    a.connect(0.0)
    assert pair.run(until=lambda: pair.now >= 2 * 86400)
    p1a, p1b = pair.all(Phase1Established, "a"), pair.all(Phase1Established, "b")
    # 8-hour ISAKMP SAs renewed by their initiator before 90 %: at least six in two days, each replacing the last
    assert len(p1a) == len(p1b) >= 7 and all(e.replaces == prev.cookies for prev, e in zip(p1a, p1a[1:]))
    assert [e.reason for e in pair.all(Phase1Deleted, "a")] == [DeleteReason.REPLACED] * (len(p1a) - 1)
    assert [e.reason for e in pair.all(Phase1Deleted, "b")] == [DeleteReason.PEER_DELETED] * (len(p1a) - 1)
    ca, cb = pair.all(ChildSaEstablished, "a"), pair.all(ChildSaEstablished, "b")
    assert len(ca) == len(cb) >= 50                                   # hourly child SAs, renewed ahead of time
    assert {e.reason for e in pair.all(ChildSaDeleted, "a") + pair.all(ChildSaDeleted, "b")} <= {
        DeleteReason.REPLACED, DeleteReason.PEER_DELETED}
    assert len(a.children) == len(b.children) == 1 and len(a.sas) == len(b.sas) == 1
    [(spi_a, rec_a)], [(spi_b, rec_b)] = a.children.items(), b.children.items()
    assert_mirrored(rec_a.child, rec_b.child)
    assert a.state is b.state is PeerState.ESTABLISHED


def test_a_kilobyte_lifetime_rekeys_at_90_percent_and_expires_at_100():
    pair = up(config(phase2_lifetime_kb=1000))
    a = pair.a
    first = pair.all(ChildSaEstablished, "a")[0].child
    assert first.lifetime_kb == 1000
    a.child_sa_bytes(first.inbound_spi, 900 * 1024 - 1, pair.now)
    pair.run(until=lambda: pair.now > 20)
    assert len(pair.all(ChildSaEstablished, "a")) == 1
    a.child_sa_bytes(first.inbound_spi, 900 * 1024, pair.now)
    assert pair.run(until=lambda: len(pair.all(ChildSaEstablished, "b")) == 2)
    a.child_sa_bytes(first.inbound_spi, 1000 * 1024, pair.now)
    assert pair.run(until=lambda: pair.saw(ChildSaDeleted, "b"))
    assert pair.all(ChildSaDeleted, "a")[0].reason is DeleteReason.EXPIRED
    assert pair.all(ChildSaDeleted, "b")[0].reason is DeleteReason.PEER_DELETED


def test_dpd_probes_an_idle_peer_and_gets_acks():
    pair = up()
    t0 = pair.now
    pair.run(until=lambda: pair.now > t0 + 95)
    probes = [x for t, d, x in pair.log if d == "a->b" and t > t0]
    infos = [P.decode_message(x) for x in probes]
    assert all(m.header.exchange == ExchangeType.INFORMATIONAL and m.header.encrypted for m in infos)
    assert 3 <= len(probes) <= 6 and not pair.saw(PeerDead)
    assert pair.a.stats["DPD ack without a probe"] == 0


def test_dpd_declares_a_silent_peer_dead_and_deletes_everything():
    silent = {"on": False}
    a, b = peers(config())
    pair = IkePair(a, b, filter=lambda src, data: not (silent["on"] and src == "b"))
    a.connect(0.0)
    assert pair.up()
    child = pair.all(ChildSaEstablished, "a")[0].child
    silent["on"] = True
    start = pair.now
    a.traffic_seen(start)
    assert pair.run(until=lambda: pair.saw(PeerDead, "a"))
    # 30 s idle, then five R-U-THERE 2 s apart, dead 2 s after the last
    assert pair.now == pytest.approx(start + 30 + 5 * 2, abs=1e-6)
    assert pair.events["a"][-3:] == [PeerDead(5), ChildSaDeleted(child.inbound_spi, child.outbound_spi,
                                                                  DeleteReason.PEER_DEAD),
                                     Phase1Deleted(pair.all(Phase1Established, "a")[0].cookies,
                                                   DeleteReason.PEER_DEAD)]
    assert a.state is PeerState.CLOSED and a.next_timer() is None
    with pytest.raises(CoreMisuse):
        a.connect(pair.now)


def test_close_deletes_on_both_sides():
    pair = up()
    child = pair.all(ChildSaEstablished, "b")[0].child
    cookies = pair.all(Phase1Established, "b")[0].cookies
    pair.a.close(pair.now)
    assert pair.run(until=lambda: pair.saw(Phase1Deleted, "b"))
    assert pair.all(ChildSaDeleted, "b") == [ChildSaDeleted(child.inbound_spi, child.outbound_spi,
                                                            DeleteReason.PEER_DELETED)]
    assert pair.all(Phase1Deleted, "b") == [Phase1Deleted(cookies, DeleteReason.PEER_DELETED)]
    assert [e.reason for e in pair.all(ChildSaDeleted, "a")] == [DeleteReason.CLOSED]
    assert pair.a.state is PeerState.CLOSED and pair.b.state is PeerState.IDLE and not pair.b.children


def test_initial_contact_from_a_restarted_initiator_clears_the_old_sas():
    pair = up()
    old = pair.all(ChildSaEstablished, "b")[0].child
    restarted = IkePeer(pair.a.config, pair.a.local, pair.a.remote, rng=fixed_rng(77))
    pair2 = IkePair(restarted, pair.b, start=pair.now)
    restarted.connect(pair2.now)
    assert pair2.up()
    assert pair2.all(ChildSaDeleted, "b") == [ChildSaDeleted(old.inbound_spi, old.outbound_spi,
                                                             DeleteReason.PEER_RESTARTED)]
    assert [e.reason for e in pair2.all(Phase1Deleted, "b")] == [DeleteReason.PEER_RESTARTED]
    assert len(pair.b.sas) == 1 and len(pair.b.children) == 1
    mm5 = [x for _t, d, x in pair2.log if d == "a->b"][2]
    assert P.decode_message(mm5).header.encrypted                   # INITIAL-CONTACT travels inside MM5


def test_a_duplicated_mm1_is_answered_with_the_same_mm2():
    a, b = peers(config())
    a.connect(0.0)
    mm1 = a.take_output()[0]
    assert b.receive(mm1, 0.1) == [] and b.receive(mm1, 0.2) == []
    first, again = b.take_output()
    assert first == again and b.stats == {"duplicates answered": 1}


def test_commands_on_unknown_children_are_caller_bugs():
    pair = up()
    with pytest.raises(CoreMisuse):
        pair.a.child_sa_used(0x1234, pair.now)
    with pytest.raises(CoreMisuse):
        pair.a.child_sa_bytes(0x1234, 10, pair.now)
