"""Two routers on one address pool (issue #12): the peer learns that the address the authenticator claims for itself
is one of its own, Naks it with 0.0.0.0 and ends the link with `Cause.ADDRESS_CLASH`; the authenticator, Naked on
its own address, ends with the same cause (so both sides report the same Windows error). Neither side reports the
network up."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from pairs import Pair

from rrasctl.protocols.ppp.auth import AuthMethod, AuthRequested
from rrasctl.protocols.ppp.frame import Code, ControlPacket, PppProtocol, split_frame
from rrasctl.protocols.ppp.fsm import NegotiationFailed
from rrasctl.protocols.ppp.ipcp import IpcpLayer, IpcpPolicy
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.ppp.link import LinkDown, NetworkUp, PppConfig, PppLink, Role
from support import fixed_rng

HQ = IPv4Address("10.87.0.1")
ASSIGNED = IPv4Address("10.87.0.2")
OURS = frozenset({IPv4Address("10.87.0.1"), IPv4Address("10.2.0.1"), IPv4Address("203.0.113.2")})
CLASH_TEXT = ("the remote server's address, 10.87.0.1, is already an address of this host: the two sides share an "
              "address pool")


def test_the_peer_naks_an_authenticator_address_it_holds_itself():
    layer = IpcpLayer(IpcpPolicy(False, None, None, own_addresses=OURS))
    assert layer.judge_request(bytes.fromhex("03060a570001"), True) == (Code.CONFIGURE_NAK,
                                                                         bytes.fromhex("030600000000"))
    assert layer.clash == HQ
    other = IpcpLayer(IpcpPolicy(False, None, None, own_addresses=OURS))
    assert other.judge_request(bytes.fromhex("03060a580001"), True) == (Code.CONFIGURE_ACK,
                                                                         bytes.fromhex("03060a580001"))
    assert other.clash is None


def test_an_assigned_address_the_peer_holds_fails_with_the_clash_cause():
    layer = IpcpLayer(IpcpPolicy(False, None, None, own_addresses=OURS))
    layer.build_request()
    with pytest.raises(NegotiationFailed) as ei:
        layer.nak_received(bytes.fromhex("03060a020001"))
    assert ei.value.cause is Cause.ADDRESS_CLASH
    assert ei.value.reason.startswith("the address the remote server assigned us, 10.2.0.1, is already an address")


def test_the_authenticator_naked_on_its_own_address_fails_with_the_same_cause():
    layer = IpcpLayer(IpcpPolicy(True, HQ, ASSIGNED))
    layer.build_request()
    with pytest.raises(NegotiationFailed) as ei:
        layer.nak_received(bytes.fromhex("030600000000"))
    assert (ei.value.reason, ei.value.cause) == ("peer refused our address 10.87.0.1", Cause.ADDRESS_CLASH)


def _links(own: frozenset[IPv4Address]) -> tuple[PppLink, PppLink]:
    methods = (AuthMethod.MSCHAP_V2,)
    server = PppLink(PppConfig(Role.AUTHENTICATOR, methods=methods, encryption=("strongest",), local_address=HQ,
                               peer_address=ASSIGNED), rng=fixed_rng(1))
    client = PppLink(PppConfig(Role.PEER, methods=methods, encryption=("strongest",), user="branch1", password="pw",
                               own_addresses=own), rng=fixed_rng(2))
    return server, client


def _run(server: PppLink, client: PppLink) -> Pair:
    def answer(side, event, pair):
        if isinstance(event, AuthRequested):
            pair.note(side, pair.cores[side].answer_password("pw", pair.now))

    pair = Pair(server, client, on_event=answer)
    server.open(0.0)
    client.open(0.0)
    pair.run(until=lambda: (pair.saw(LinkDown, "a") and pair.saw(LinkDown, "b"))
             or (pair.saw(NetworkUp, "a") and pair.saw(NetworkUp, "b")))
    return pair


def test_two_routers_on_one_pool_both_end_with_a_typed_cause():
    server, client = _links(OURS)
    pair = _run(server, client)
    assert not pair.saw(NetworkUp)
    assert pair.events["b"][-1] == LinkDown(Cause.ADDRESS_CLASH, CLASH_TEXT)
    assert pair.events["a"][-1] == LinkDown(Cause.ADDRESS_CLASH, "peer refused our address 10.87.0.1")
    sent = [split_frame(data) for _, way, data in pair.log if way == "b->a"]
    naks = [ControlPacket.decode(info) for proto, info in sent if proto == PppProtocol.IPCP
            and ControlPacket.decode(info).code == Code.CONFIGURE_NAK]
    assert [bytes(n.data) for n in naks] == [bytes.fromhex("030600000000")]
    lcp = [ControlPacket.decode(info).code for proto, info in sent if proto == PppProtocol.LCP]
    assert Code.TERMINATE_REQUEST in lcp


def test_distinct_pools_come_up():
    server, client = _links(frozenset({IPv4Address("10.88.0.1")}))
    pair = _run(server, client)
    up = [e for e in pair.events["b"] if isinstance(e, NetworkUp)]
    assert [(e.local_ip, e.peer_ip) for e in up] == [(ASSIGNED, HQ)]
