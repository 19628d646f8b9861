"""The keys Quick Mode derives drive real ESP SAs (issue 14, acceptance 3): for every suite with MODP2048 and
MODP1024, two IkePeer cores agree, and EspSa pairs built from their ChildSa events carry 10,000 packets each way
byte-exact. This is the hand-over the engine makes:

    EspSa(child.inbound_spi, suite_from_ike(child.transform, child.key_bits, child.auth), child.keymat_in)   # opens
    EspSa(child.outbound_spi, <same suite>, child.keymat_out, rng=...)                                     # seals
"""

from __future__ import annotations

import random

import pytest
from ike_pairs import IkePair, peers
from support import fixed_rng
from test_ike_exchanges import SUITES, config

from rrasctl.protocols.ipsec.esp import EspSa, suite_from_ike
from rrasctl.protocols.ipsec.ike.events import ChildSaEstablished
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
