"""Main Mode + Quick Mode between two IkePeer cores on a virtual wire (issue 14, acceptance 3): every suite, loss,
duplication and reordering, typed failures (wrong PSK, no proposal, timeout), NAT detection, PFS, a quick mode the
responder starts, responder lifetimes."""

from __future__ import annotations

import pytest
from ike_pairs import (INITIATOR_PRIVATE, INITIATOR_PUBLIC, RESPONDER, SUITES, WINDOWS_VIDS, IkePair,
                       assert_mirrored, config, peers)

from rrasctl.protocols.ipsec.ike import payloads as P
from rrasctl.protocols.ipsec.ike.constants import EncapsulationMode, ExchangeType, PayloadType
from rrasctl.protocols.ipsec.ike.events import (ChildSaEstablished, ChildSaFailed, FailureCause, Phase1Established,
                                                Phase1Failed)
from rrasctl.protocols.ipsec.ike.groups import DhGroup
from rrasctl.protocols.ipsec.ike.natt import NattVersion, unframe
from rrasctl.protocols.ipsec.ike.peer import PeerState
from rrasctl.protocols.ipsec.ike.policy import IkeConfig, Phase1Suite

def children(pair: IkePair):
    [a] = [e.child for e in pair.all(ChildSaEstablished, "a")]
    [b] = [e.child for e in pair.all(ChildSaEstablished, "b")]
    return a, b


@pytest.mark.parametrize("group", [DhGroup.MODP2048, DhGroup.MODP1024], ids=["modp2048", "modp1024"])
@pytest.mark.parametrize("name", list(SUITES))
def test_every_suite_completes_main_and_quick_mode_with_the_same_keys(name, group):
    a, b = peers(config(name, group))
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    ca, cb = children(pair)
    assert_mirrored(ca, cb)
    assert len(ca.keymat_in) == SUITES[name][1].keymat_len
    [ea], [eb] = pair.all(Phase1Established, "a"), pair.all(Phase1Established, "b")
    assert ea.suite == eb.suite == Phase1Suite(*SUITES[name][0], group).name
    assert (ea.initiator, eb.initiator, ea.cookies) == (True, False, eb.cookies)
    assert (ca.initiator, cb.initiator, ca.lifetime_s, ca.encapsulation) == (True, False, 3600,
                                                                            EncapsulationMode.TRANSPORT)
    assert (ca.local_selector, ca.peer_selector) == ("198.51.100.7 udp/1701", "203.0.113.1 udp/1701")
    assert a.state is b.state is PeerState.ESTABLISHED
    assert [len(x) for _t, _d, x in pair.log][:1] and len(pair.log) == 9      # MM1-MM6, QM1-QM3: no retransmission
    assert sum(a.stats.values()) == sum(b.stats.values()) == 0


@pytest.mark.parametrize("seed", range(8))
def test_loss_duplication_and_reordering_converge_by_retransmission(seed):
    a, b = peers(config("aes256-sha256"), nat=seed % 2 == 1, seed=seed)
    pair = IkePair(a, b, seed=seed, loss=0.2, duplicate=0.2, reorder=0.02)
    a.connect(0.0)
    assert pair.up()
    assert_mirrored(*children(pair))
    assert not pair.saw(Phase1Failed) and not pair.saw(ChildSaFailed)


def test_the_lossy_runs_did_retransmit_and_answer_duplicates():
    totals = {"retransmissions": 0, "duplicates answered": 0}
    for seed in range(8):
        a, b = peers(config("aes256-sha256"), seed=seed)
        pair = IkePair(a, b, seed=seed, loss=0.2, duplicate=0.2, reorder=0.02)
        a.connect(0.0)
        assert pair.up()
        for k in totals:
            totals[k] += a.stats[k] + b.stats[k]
    assert totals["retransmissions"] >= 8 and totals["duplicates answered"] >= 8


def test_wrong_psk_fails_with_authentication_failed_on_both_sides():
    a, b = peers(config(), IkeConfig(**{**config().__dict__, "psk": b"another"}))
    pair = IkePair(a, b)
    a.connect(0.0)
    pair.run(max_time=100)
    assert pair.events["b"] == [Phase1Failed(FailureCause.AUTHENTICATION_FAILED,
                                             "MM5 does not decrypt (payload longer than its container)", False)]
    assert pair.events["a"] == [Phase1Failed(FailureCause.AUTHENTICATION_FAILED,
                                             "the responder sent AUTHENTICATION_FAILED", True)]
    assert a.state is b.state is PeerState.IDLE and not a.sas and not b.sas
    assert len(pair.log) == 6                          # MM1-MM5, then the responder's clear notification
    last = P.decode_message(pair.log[-1][2])
    assert last.header.exchange == ExchangeType.INFORMATIONAL and not last.header.encrypted
    assert last.chain.payloads[0].notify_type == 24
    assert "another" not in repr(b.config) and "pre-shared" not in repr(a.config)


def test_no_common_phase1_suite_is_no_proposal_chosen():
    a, b = peers(config("3des-sha1"), config("aes128-sha1"))
    pair = IkePair(a, b)
    a.connect(0.0)
    pair.run(max_time=100)
    assert pair.events["a"] == [Phase1Failed(FailureCause.NO_PROPOSAL_CHOSEN,
                                             "the responder sent NO_PROPOSAL_CHOSEN", True)]
    assert pair.events["b"] == [Phase1Failed(FailureCause.NO_PROPOSAL_CHOSEN,
                                             "the initiator offered 3des-sha1-modp2048", False)]


def test_no_common_esp_suite_fails_the_quick_mode_only():
    cfg_b = IkeConfig(**{**config().__dict__, "esp": (SUITES["3des-sha1"][1],)})
    a, b = peers(config(), cfg_b)
    pair = IkePair(a, b)
    a.connect(0.0)
    pair.run(max_time=100)
    assert [type(e) for e in pair.events["a"]] == [Phase1Established, ChildSaFailed]
    assert pair.events["a"][1] == ChildSaFailed(FailureCause.NO_PROPOSAL_CHOSEN,
                                                "the responder sent NO_PROPOSAL_CHOSEN", True)
    assert pair.events["b"][1] == ChildSaFailed(FailureCause.NO_PROPOSAL_CHOSEN,
                                                "the initiator offered aes128-sha1", False)
    assert a.state is b.state is PeerState.ESTABLISHED and not a.children and not b.children


def test_an_unanswered_main_mode_times_out_after_four_retransmissions():
    a, b = peers(config())
    pair = IkePair(a, b, filter=lambda src, data: src != "a")       # nothing reaches the responder
    a.connect(0.0)
    pair.run(until=lambda: pair.saw(Phase1Failed))
    assert [t for t, _d, _x in pair.log] == [0.0, 2.0, 6.0, 14.0, 30.0]
    assert len({x for _t, _d, x in pair.log}) == 1                   # the same MM1 every time
    assert pair.events["a"] == [Phase1Failed(FailureCause.TIMEOUT, "no answer after 4 retransmissions", True)]
    assert a.state is PeerState.IDLE and pair.now == 62.0


def test_nat_detected_when_the_addresses_differ_and_the_exchange_floats_to_4500():
    a, b = peers(config(), nat=True)
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    [ea], [eb] = pair.all(Phase1Established, "a"), pair.all(Phase1Established, "b")
    assert (ea.nat.local_behind, ea.nat.peer_behind, ea.floated, ea.natt) == (True, False, True, NattVersion.RFC3947)
    assert (eb.nat.local_behind, eb.nat.peer_behind, eb.floated) == (False, True, True)
    framed = [unframe(x)[1] for _t, _d, x in pair.log]
    assert framed == [False] * 4 + [True] * 5                         # MM5 on: non-ESP marker, port 4500
    ca, cb = children(pair)
    assert ca.encapsulation is cb.encapsulation is EncapsulationMode.UDP_TRANSPORT and ca.udp_encapsulated
    assert (ca.peer_original_address, cb.peer_original_address) == (RESPONDER[0], INITIATOR_PRIVATE[0])
    assert (ca.local_original_address, cb.local_original_address) == (INITIATOR_PUBLIC[0], RESPONDER[0])


def test_no_nat_when_the_addresses_match():
    a, b = peers(config(), nat=False)
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    [ea], [eb] = pair.all(Phase1Established, "a"), pair.all(Phase1Established, "b")
    assert not ea.nat.detected and not eb.nat.detected and not ea.floated and not eb.floated
    assert all(not unframe(x)[1] for _t, _d, x in pair.log)
    ca, _cb = children(pair)
    assert ca.encapsulation is EncapsulationMode.TRANSPORT and ca.peer_original_address is None
    mm3 = P.decode_message(pair.log[2][2]).chain
    assert [p.TYPE for p in mm3.all(P.NatDPayload)] == [PayloadType.NAT_D, PayloadType.NAT_D]


def test_a_draft_nat_t_peer_gets_the_draft_payload_numbers_and_encapsulation_mode():
    a, b = peers(config(natt=(NattVersion.DRAFT_02N,)), config(), nat=True)
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    assert pair.all(Phase1Established, "b")[0].natt is NattVersion.DRAFT_02N
    mm3 = P.decode_message(pair.log[2][2]).chain
    assert [p.TYPE for p in mm3.all(P.NatDPayload)] == [PayloadType.NAT_D_DRAFT] * 2
    ca, cb = children(pair)
    assert ca.encapsulation is EncapsulationMode.UDP_TRANSPORT_DRAFT
    assert (ca.peer_original_address, cb.peer_original_address) == (RESPONDER[0], INITIATOR_PRIVATE[0])


def test_no_nat_t_vendor_id_means_no_nat_d_and_no_float():
    a, b = peers(config(natt=()), config(), nat=True)
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    assert pair.all(Phase1Established, "a")[0].natt is None
    assert not P.decode_message(pair.log[2][2]).chain.all(P.NatDPayload)
    assert children(pair)[0].encapsulation is EncapsulationMode.TRANSPORT


@pytest.mark.parametrize("group", [DhGroup.MODP1024, DhGroup.MODP2048])
def test_pfs_adds_a_key_exchange_to_quick_mode(group):
    a, b = peers(config(pfs=group))
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    ca, cb = children(pair)
    assert_mirrored(ca, cb)
    assert ca.pfs_group == cb.pfs_group == group


def test_pfs_required_by_the_responder_refuses_a_quick_mode_without_it():
    a, b = peers(config(), config(pfs=DhGroup.MODP2048))
    pair = IkePair(a, b)
    a.connect(0.0)
    pair.run(max_time=100)
    assert pair.all(ChildSaFailed, "a")[0].cause is FailureCause.NO_PROPOSAL_CHOSEN


def test_the_responder_starts_a_quick_mode_of_its_own():
    a, b = peers(config())
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    b.start_quick_mode(pair.now)
    assert pair.run(until=lambda: len(pair.all(ChildSaEstablished, "a")) == 2 == len(pair.all(ChildSaEstablished, "b")))
    new_a, new_b = pair.all(ChildSaEstablished, "a")[1], pair.all(ChildSaEstablished, "b")[1]
    assert (new_a.child.initiator, new_b.child.initiator) == (False, True)
    assert_mirrored(new_a.child, new_b.child)
    old_a = pair.all(ChildSaEstablished, "a")[0].child
    assert new_a.replaces == old_a.inbound_spi                 # same selectors: a rekey of the first child


def test_a_longer_proposed_lifetime_comes_back_as_responder_lifetime():
    a, b = peers(config(phase2_lifetime_s=28800, phase2_lifetime_kb=250000), config(phase2_lifetime_kb=100000))
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    ca, cb = children(pair)
    # the initiator proposed 8 h and 250,000 KB: it can only have learnt 1 h and 100,000 KB from RESPONDER-LIFETIME
    assert (ca.lifetime_s, cb.lifetime_s, ca.lifetime_kb, cb.lifetime_kb) == (3600, 3600, 100000, 100000)


def test_a_half_open_main_mode_responder_never_retransmits_and_gives_up_after_the_window():
    a, b = peers(config())
    a.connect(0.0)
    mm1 = a.take_output()[0]
    assert b.receive(mm1, 0.0) == []
    assert len(b.take_output()) == 1                             # MM2, once
    assert b.next_timer() == 62.0
    assert b.handle_timer(62.0) == [Phase1Failed(FailureCause.TIMEOUT, "no answer within 62 s", False)]
    assert b.take_output() == [] and b.stats == {}
    assert b.state is PeerState.IDLE


def test_a_windows_style_mm1_gets_aes256_sha1_modp2048():
    """Windows 8+ offers (in this order, 28800 s each) AES-256/SHA1/ECP384, AES-128/SHA1/ECP256,
    AES-256/SHA1/MODP2048, 3DES/SHA1/MODP2048, 3DES/SHA1/MODP1024, attributes in its own order (encryption, key
    length, hash, group, auth, life type, life duration), with the vendor IDs of test_ike_payloads.WINDOWS_VIDS."""
    def t(n, enc, bits, group):
        attrs = [P.Attribute(1, enc)] + ([P.Attribute(14, bits)] if bits else []) + [
            P.Attribute(2, 2), P.Attribute(4, group), P.Attribute(3, 1), P.Attribute(11, 1), P.Attribute(12, 28800)]
        return P.Transform(n, 1, tuple(attrs))

    sa = P.SaPayload((P.Proposal(1, 1, b"", (t(1, 7, 256, 20), t(2, 7, 128, 19), t(3, 7, 256, 14), t(4, 5, 0, 14),
                                              t(5, 5, 0, 2))),))
    first, body = P.encode_chain([sa] + [P.VendorIdPayload(bytes.fromhex(v)) for v in WINDOWS_VIDS])
    mm1 = P.encode_message(b"WinCooki", bytes(8), ExchangeType.IDENTITY_PROTECTION, 0, 0, first, body)
    _a, b = peers(IkeConfig(psk=b"x"))
    assert b.receive(mm1, 0.0) == []
    [mm2] = b.take_output()
    chain = P.decode_message(mm2).chain
    [chosen] = chain.payloads[0].proposals[0].transforms
    assert chosen == sa.proposals[0].transforms[2]                    # echoed exactly, number 3
    assert [v.data for v in chain.all(P.VendorIdPayload)][0] == NattVersion.RFC3947.vendor_id
