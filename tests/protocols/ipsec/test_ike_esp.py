"""The keys Quick Mode derives drive real ESP SAs (issue 14, acceptance 3): for every suite with MODP2048 and
MODP1024, two IkePeer cores agree, and EspSa pairs built from their ChildSa events carry 10,000 packets each way
byte-exact. This is the hand-over the engine makes:

    EspSa(child.inbound_spi, suite_from_ike(child.transform, child.key_bits, child.auth), child.keymat_in)   # opens
    EspSa(child.outbound_spi, <same suite>, child.keymat_out, rng=...)                                     # seals
"""

from __future__ import annotations

import random

import pytest
from ike_pairs import SUITES, IkePair, config, peers
from support import fixed_rng

from rrasctl.protocols.ipsec.esp import EspSa, suite_from_ike
from rrasctl.protocols.ipsec.ike.events import ChildSaDeleted, ChildSaEstablished, DeleteReason
from rrasctl.protocols.ipsec.ike.groups import DhGroup
from rrasctl.protocols.ipsec.ike.policy import DEFAULT_ESP
from rrasctl.protocols.ipsec.natt import EncapKind, classify

PACKETS = 10_000


def esp_pair(child, seed: int) -> tuple[EspSa, EspSa]:
    suite = suite_from_ike(child.transform, child.key_bits, child.auth)
    return (EspSa(child.outbound_spi, suite, child.keymat_out, rng=fixed_rng(seed)),
            EspSa(child.inbound_spi, suite, child.keymat_in))


def test_every_default_esp_proposal_asks_for_the_keymat_its_esp_suite_needs():
    for p in DEFAULT_ESP:
        assert p.keymat_len == suite_from_ike(p.transform, p.key_bits, p.auth).keymat_len, p.name


@pytest.mark.parametrize("group", [DhGroup.MODP2048, DhGroup.MODP1024], ids=["modp2048", "modp1024"])
@pytest.mark.parametrize("name", list(SUITES))
def test_quick_mode_keys_carry_10000_packets_each_way_byte_exact(name, group):
    a, b = peers(config(name, group), nat=True)
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    [ca] = [e.child for e in pair.all(ChildSaEstablished, "a")]
    [cb] = [e.child for e in pair.all(ChildSaEstablished, "b")]
    assert suite_from_ike(ca.transform, ca.key_bits, ca.auth).label == name
    a_out, a_in = esp_pair(ca, 1)
    b_out, b_in = esp_pair(cb, 2)
    rng = random.Random(f"{name}-{group}")
    data = rng.randbytes(1 << 16)
    # 10,000 distinct payloads: mostly control-sized, one in eight up to 1,400 octets (keeps 3DES/DES quick)
    cuts = [(rng.randrange(60000), rng.randrange(8, 1400 if i % 8 == 0 else 160)) for i in range(PACKETS)]
    for sender, receiver in ((a_out, b_in), (b_out, a_in)):
        seal, open_ = sender.seal, receiver.open
        for i, (at, n) in enumerate(cuts, 1):
            payload = data[at:at + n]
            opened = open_(seal(payload, 17))
            assert opened.payload == payload and opened.next_header == 17 and opened.seq == i
        assert receiver.stats == {}
        assert classify(seal(b"x" * 64, 17)) is EncapKind.ESP      # ready for UDP 4500 as it is (NAT-T here)
    # and the other SA of the pair cannot open them: the two directions have different keys
    assert b_in.open(b_out.seal(b"x" * 64, 17)) is None and b_in.stats == {"wrong spi": 1}


def test_lossy_exchange_keys_carry_traffic():
    a, b = peers(config("aes256-sha256"), nat=True, seed=3)
    pair = IkePair(a, b, seed=3, loss=0.2, duplicate=0.2, reorder=0.02)
    a.connect(0.0)
    assert pair.up()
    [ca] = [e.child for e in pair.all(ChildSaEstablished, "a")]
    [cb] = [e.child for e in pair.all(ChildSaEstablished, "b")]
    (a_out, a_in), (b_out, b_in) = esp_pair(ca, 1), esp_pair(cb, 2)
    for i in range(1000):
        assert b_in.open(a_out.seal(b"%d" % i, 17)).payload == b"%d" % i
        assert a_in.open(b_out.seal(b"%d" % -i, 17)).payload == b"%d" % -i


def test_rekeyed_esp_old_sa_opens_until_the_new_one_is_used_then_goes():
    a, b = peers(config("aes128-sha1"))
    pair = IkePair(a, b)
    a.connect(0.0)
    assert pair.up()
    inbound = {"a": {}, "b": {}}                          # what an engine keeps: inbound SPI -> EspSa
    outbound = {}

    def install(side, child, seed):
        out, inn = esp_pair(child, seed)
        inbound[side][child.inbound_spi] = inn
        outbound[side] = out                              # new SAs are used for sending at once

    for side in "ab":
        install(side, pair.all(ChildSaEstablished, side)[0].child, 1 if side == "a" else 2)
    old_out_a = outbound["a"]
    assert pair.run(until=lambda: len(pair.all(ChildSaEstablished, "b")) == 2)
    for side in "ab":
        install(side, pair.all(ChildSaEstablished, side)[1].child, 3 if side == "a" else 4)
    old_spi_b = pair.all(ChildSaEstablished, "b")[0].child.inbound_spi
    new_spi_b = pair.all(ChildSaEstablished, "b")[1].child.inbound_spi
    # a packet a sealed on the old SA before switching still opens at b: the old inbound SA is kept
    late = old_out_a.seal(b"late", 17)
    assert inbound["b"][old_spi_b].open(late).payload == b"late"
    # a's first packet on the new SA: b opens it on the new inbound SA and reports the SA used
    first = outbound["a"].seal(b"first on the new SA", 17)
    spi = int.from_bytes(first[:4], "big")
    assert spi == new_spi_b and inbound["b"][spi].open(first).payload == b"first on the new SA"
    b.child_sa_used(spi, pair.now)
    assert pair.run(until=lambda: pair.saw(ChildSaDeleted, "a"))
    assert [e.reason for e in pair.all(ChildSaDeleted, "a")] == [DeleteReason.PEER_DELETED]
    assert [(e.inbound_spi, e.reason) for e in pair.all(ChildSaDeleted, "b")] == [(old_spi_b, DeleteReason.REPLACED)]
    del inbound["b"][old_spi_b]                            # the engine drops what the core deleted
    assert int.from_bytes(old_out_a.seal(b"too late", 17)[:4], "big") not in inbound["b"]
    assert list(b.children) == [new_spi_b]
