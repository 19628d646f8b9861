"""SPEC §4: the authenticator asks for the strongest allowed method first (EAP-TLS, MS-CHAP v2, MS-CHAP, CHAP, PAP),
whatever the order the list was given in; after a Nak it moves to the strongest one not tried; the peer Naks with
its strongest allowed method. Two default links (`ms-chap, ms-chap-v2`) settle on MS-CHAP v2."""

from __future__ import annotations

import pytest

from rrasctl.config import model
from rrasctl.protocols.ppp.auth import STRENGTH_ORDER, AuthMethod, strongest_first
from rrasctl.protocols.ppp.frame import Code, ControlPacket
from rrasctl.protocols.ppp.fsm import NegotiationFailed
from rrasctl.protocols.ppp.lcp import LcpLayer, LcpPolicy
from rrasctl.protocols.ppp.link import NetworkUp, PppConfig, PppLink, Role
from support import fixed_rng

V1, V2, CHAP, PAP = AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2, AuthMethod.CHAP_MD5, AuthMethod.PAP


def test_the_strength_order_is_the_config_list_reversed():
    assert [m.value for m in STRENGTH_ORDER] == list(reversed(model.METHODS))
    from rrasctl.cli.auth import offer_order

    assert offer_order(("pap", "ms-chap", "chap", "ms-chap-v2")) == ("ms-chap-v2", "ms-chap", "chap", "pap")
    assert strongest_first((PAP, V1, PAP, V2)) == (V2, V1, PAP)


@pytest.mark.parametrize("methods, first", [
    ((V1, V2), V2), ((V2, V1), V2), ((PAP, CHAP), CHAP), ((PAP, CHAP, V1), V1), ((PAP,), PAP)])
def test_the_authenticator_asks_for_the_strongest_whatever_the_order(methods, first):
    layer = LcpLayer(LcpPolicy(True, methods, 1500, fixed_rng(1)))
    request = layer.build_request()
    assert request.startswith(b"\x03" + bytes((2 + len(first.option_data),)) + first.option_data)


def test_after_a_nak_for_an_unknown_method_the_next_strongest_is_asked():
    layer = LcpLayer(LcpPolicy(True, (PAP, V1, CHAP, V2), 1500, fixed_rng(1)))
    asked = []
    for _ in range(4):
        layer.build_request()
        asked.append(AuthMethod.from_option_data(layer.neg.want["auth-protocol"]))
        try:
            layer.nak_received(bytes.fromhex("0304c227"))          # the peer names EAP, which we do not allow
        except NegotiationFailed as exc:
            assert "policy allows ms-chap-v2, ms-chap, chap, pap" in exc.reason
            break
    assert asked == [V2, V1, CHAP, PAP]


def test_the_peer_naks_with_its_strongest_allowed_method():
    layer = LcpLayer(LcpPolicy(False, (PAP, V1, V2), 1500, fixed_rng(1)))
    assert layer.judge_request(bytes.fromhex("0305c22305"), True) == (Code.CONFIGURE_NAK, bytes.fromhex("0305c22381"))


def _pump(a: PppLink, b: PppLink, now: float) -> list:
    events = []
    for _ in range(200):
        moved = False
        for src, dst in ((a, b), (b, a)):
            for frame in src.take_output():
                moved = True
                for ev in dst.receive(frame, now):
                    events.append((dst, ev))
                    if type(ev).__name__ == "AuthRequested":
                        events += [(dst, e) for e in dst.answer_password("pw-7", now)]
        if not moved:
            break
    return events


def test_two_default_links_settle_on_ms_chap_v2():
    from ipaddress import IPv4Address

    default = tuple(AuthMethod(m) for m in model.Auth().methods)
    assert default == (V1, V2)                                   # the list order SPEC §4 gives
    server = PppLink(PppConfig(role=Role.AUTHENTICATOR, methods=default, encryption=("strongest",),
                               local_address=IPv4Address("10.87.0.1"), peer_address=IPv4Address("10.87.0.2")),
                     rng=fixed_rng(1))
    client = PppLink(PppConfig(role=Role.PEER, methods=default, encryption=("strongest",), user="u",
                               password="pw-7"), rng=fixed_rng(2))
    client.open(0.0)
    server.open(0.0)
    events = _pump(server, client, 0.0)
    ups = [ev for _, ev in events if isinstance(ev, NetworkUp)]
    assert [ev.auth for ev in ups] == ["ms-chap-v2", "ms-chap-v2"]
    assert server.auth_method is V2 and client.auth_method is V2
