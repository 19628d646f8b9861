"""router/admission.py: pools x use flags x edition cap (SPEC §3), as tables."""

from __future__ import annotations

import pytest

from rrasctl.protocols.causes import Cause
from rrasctl.router.admission import (
    Admission, Admit, Pool, Protocol, Refuse, Use, pools_from_config, port_name,
)

PPTP, L2TP = Protocol.PPTP, Protocol.L2TP
CAPS = {"web": 1, "standard": 1000, "enterprise": None, "datacenter": None}


def adm(pptp=Pool(5), l2tp=Pool(5), edition="standard"):
    return Admission({PPTP: pptp, L2TP: l2tp}, CAPS[edition], edition)


def test_lowest_free_port_first_and_reuse_after_release():
    a = adm()
    ports = [a.try_admit(PPTP, Use.INBOUND).port for _ in range(3)]
    assert ports == [0, 1, 2]
    a.release(PPTP, 1)
    assert a.try_admit(PPTP, Use.INBOUND) == Admit(PPTP, 1, Use.INBOUND)
    assert a.in_use(PPTP) == 3 and a.in_use(L2TP) == 0


# (pool flags, use) -> admitted?
FLAG_TABLE = [
    ((True, True), Use.REMOTE_ACCESS, True),
    ((True, True), Use.ROUTER_IN, True),
    ((True, True), Use.ROUTER_OUT, True),
    ((True, True), Use.INBOUND, True),
    ((True, False), Use.REMOTE_ACCESS, True),
    ((True, False), Use.ROUTER_IN, False),
    ((True, False), Use.ROUTER_OUT, False),
    ((True, False), Use.INBOUND, True),
    ((False, True), Use.REMOTE_ACCESS, False),
    ((False, True), Use.ROUTER_IN, True),
    ((False, True), Use.ROUTER_OUT, True),
    ((False, True), Use.INBOUND, True),
    ((False, False), Use.REMOTE_ACCESS, False),
    ((False, False), Use.ROUTER_OUT, False),
    ((False, False), Use.INBOUND, False),
]


@pytest.mark.parametrize("flags,use,admitted", FLAG_TABLE)
def test_use_flags(flags, use, admitted):
    a = adm(pptp=Pool(5, *flags))
    v = a.try_admit(PPTP, use)
    assert isinstance(v, Admit) is admitted
    if not admitted:
        assert v.cause is Cause.PORT_USE_NOT_ALLOWED
        assert (v.refusal.wire_result, v.refusal.windows_error, v.refusal.permanent) == (7, 649, True)
        assert a.in_use(PPTP) == 0


def test_web_edition_caps_inbound_across_protocols_and_frees_on_release():
    a = adm(edition="web")
    first = a.try_admit(PPTP, Use.INBOUND)
    assert first == Admit(PPTP, 0, Use.INBOUND)
    v = a.try_admit(L2TP, Use.INBOUND)
    assert isinstance(v, Refuse) and v.cause is Cause.EDITION_CAP
    assert v.refusal.detail == "web edition: 1 of 1 inbound connections in use"
    assert (v.refusal.wire_result, v.refusal.wire, v.refusal.windows_error) == (
        4, "CDN result 4 (lack of facilities, temporary)", 676)
    v2 = a.try_admit(PPTP, Use.REMOTE_ACCESS)
    assert isinstance(v2, Refuse) and v2.refusal.wire == "OCRP result 4 (busy)"
    assert a.occupied(PPTP) == {0: Use.INBOUND} and a.in_use(L2TP) == 0   # nobody touched
    a.release(PPTP, 0)
    assert a.try_admit(L2TP, Use.INBOUND) == Admit(L2TP, 0, Use.INBOUND)


def test_outbound_occupies_a_port_but_not_the_cap():
    a = adm(pptp=Pool(2), edition="web")
    assert a.try_admit(PPTP, Use.ROUTER_OUT) == Admit(PPTP, 0, Use.ROUTER_OUT)
    assert a.inbound_count() == 0
    assert a.try_admit(PPTP, Use.INBOUND) == Admit(PPTP, 1, Use.INBOUND)
    v = a.try_admit(PPTP, Use.ROUTER_OUT)   # the cap does not apply, the ports do
    assert isinstance(v, Refuse) and v.cause is Cause.NO_FREE_PORT
    assert v.refusal.detail == "all 2 pptp ports in use"


def test_pool_of_three_refuses_the_fourth_with_busy():
    a = adm(pptp=Pool(3))
    for i in range(3):
        assert a.try_admit(PPTP, Use.INBOUND).port == i
    v = a.try_admit(PPTP, Use.INBOUND)
    assert isinstance(v, Refuse)
    assert (v.cause, v.refusal.wire_result, v.refusal.windows_error) == (Cause.NO_FREE_PORT, 4, 676)
    a.release(PPTP, 2)
    assert a.try_admit(PPTP, Use.INBOUND).port == 2


@pytest.mark.parametrize("edition,n_admitted", [("web", 1), ("standard", 1000), ("enterprise", 1200),
                                                ("datacenter", 1200)])
def test_edition_caps_with_large_pools(edition, n_admitted):
    a = Admission({PPTP: Pool(600), L2TP: Pool(600)}, CAPS[edition], edition)
    got = 0
    for i in range(1300):
        if isinstance(a.try_admit(PPTP if i % 2 else L2TP, Use.INBOUND), Admit):
            got += 1
    assert got == n_admitted


def test_zero_ports_disables_the_protocol():
    a = adm(l2tp=Pool(0))
    v = a.try_admit(L2TP, Use.ROUTER_OUT)
    assert isinstance(v, Refuse) and v.cause is Cause.PROTOCOL_DISABLED
    assert (v.refusal.wire_result, v.refusal.permanent) == (5, True)


def test_check_does_not_occupy():
    a = adm(pptp=Pool(1))
    assert isinstance(a.check(PPTP, Use.INBOUND), Admit)
    assert isinstance(a.check(PPTP, Use.INBOUND), Admit)
    assert a.in_use(PPTP) == 0


@pytest.mark.parametrize("flags,as_use,keeps", [
    ((True, True), Use.REMOTE_ACCESS, True), ((True, True), Use.ROUTER_IN, True),
    ((True, False), Use.ROUTER_IN, False), ((False, True), Use.REMOTE_ACCESS, False),
])
def test_classify_after_authentication(flags, as_use, keeps):
    a = adm(pptp=Pool(2, *flags))
    port = a.try_admit(PPTP, Use.INBOUND).port
    r = a.classify(PPTP, port, as_use)
    if keeps:
        assert r is None and a.occupied(PPTP) == {port: as_use}
    else:
        assert r.cause is Cause.PORT_USE_NOT_ALLOWED and a.in_use(PPTP) == 0


def test_classify_misuse_raises():
    a = adm()
    with pytest.raises(KeyError):
        a.classify(PPTP, 3, Use.REMOTE_ACCESS)
    p = a.try_admit(PPTP, Use.INBOUND).port
    with pytest.raises(ValueError):
        a.classify(PPTP, p, Use.ROUTER_OUT)


def test_reconfigure_keeps_live_ports_and_names_those_over_the_limit():
    a = adm(pptp=Pool(5))
    for _ in range(5):
        a.try_admit(PPTP, Use.INBOUND)
    a.release(PPTP, 1)
    a.reconfigure({PPTP: Pool(2), L2TP: Pool(5)}, 1, "web")
    assert a.in_use(PPTP) == 4 and a.over_limit(PPTP) == [4, 3, 2]
    assert a.try_admit(PPTP, Use.ROUTER_OUT) == Admit(PPTP, 1, Use.ROUTER_OUT)
    assert isinstance(a.try_admit(L2TP, Use.INBOUND), Refuse)   # web cap now: 4 inbound live


def test_removal_victims_highest_first():
    a = adm(pptp=Pool(5))
    for _ in range(4):
        a.try_admit(PPTP, Use.INBOUND)
    assert a.removal_victims(PPTP, 1) == []
    assert a.removal_victims(PPTP, 3) == [3, 2]
    assert a.removal_victims(PPTP, 9) == [3, 2, 1, 0]


def test_release_is_idempotent():
    a = adm()
    a.release(PPTP, 0)
    p = a.try_admit(PPTP, Use.INBOUND).port
    a.release(PPTP, p)
    a.release(PPTP, p)
    assert a.in_use(PPTP) == 0


def test_pools_from_config_objects_and_dicts():
    class P:
        count, remote_access, demand_dial = 3, False, True
    pools = pools_from_config({"pptp": P(), "l2tp": {"count": 7}})
    assert pools == {PPTP: Pool(3, False, True), L2TP: Pool(7, True, True)}
    assert pools_from_config({}) == {PPTP: Pool(0), L2TP: Pool(0)}


def test_port_names():
    assert port_name("pptp", 0) == "PPTP-0" and port_name(L2TP, 12) == "L2TP-12"
    assert adm().try_admit(L2TP, Use.INBOUND).port_name == "L2TP-0"


def test_with_the_real_config_model_defaults():
    from rrasctl.config.model import Config

    cfg = Config()
    a = Admission(pools_from_config(cfg.ports), cfg.server.max_concurrent, cfg.server.edition)
    assert a.pool("pptp") == Pool(5, True, True) and a.edition_cap == 1000
