"""Routes on the TUN are reference-counted per prefix (issue 13, hole 9; decision 0145). A fake netlink stands in
for the kernel, including its one rule that matters here: removing an address flushes the routes whose preferred
source it was. The root test in tests/integration/test_hardening_netns.py runs the same sequence on a real TUN."""

from __future__ import annotations

import asyncio
import errno

import pytest

from rrasctl.protocols.causes import Cause
from rrasctl.config.model import validate
from rrasctl.engine.run import build_context
from rrasctl.engine.sessions import Direction, Session
from rrasctl.engine.tun import Tun


class NetlinkError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class FakeKernel:
    def __init__(self) -> None:
        self.routes: dict[str, dict] = {}
        self.addresses: set[str] = set()
        self.calls: list[tuple] = []

    def route(self, op: str, **kw):
        self.calls.append((op, kw.get("dst"), kw.get("prefsrc")))
        if op == "replace":
            if kw.get("prefsrc") and kw["prefsrc"] not in self.addresses:
                raise NetlinkError(errno.EINVAL)          # the kernel refuses a source it does not have
            self.routes[kw["dst"]] = kw
        elif op == "del":
            if self.routes.pop(kw["dst"], None) is None:
                raise NetlinkError(errno.ESRCH)

    def addr(self, op: str, **kw):
        if op == "add":
            self.addresses.add(kw["address"])
        else:
            self.addresses.discard(kw["address"])
            for dst in [d for d, r in self.routes.items() if r.get("prefsrc") == kw["address"]]:
                del self.routes[dst]                      # routes with a vanished preferred source are flushed


@pytest.fixture
def tun():
    t = Tun("rrtest0")
    t._ipr, t.index = FakeKernel(), 7
    return t


def _outbound_up(tun: Tun, local: str, peer: str, routes: list[str]) -> None:
    """What engine/ppp_session.py `_outbound_up` and drivers.py `session_up` do, in that order."""
    tun.add_address(local)
    tun.add_route(f"{peer}/32")
    for r in routes:
        tun.add_route(r)
    for c in (f"{peer}/32", *routes):
        tun.add_route(c, src=local)


def _outbound_down(tun: Tun, local: str, peer: str, routes: list[str]) -> None:
    """`PppSession.finish` (the address), then drivers.py `session_down` (the routes)."""
    tun.del_address(local)
    tun.del_route(f"{peer}/32")
    for r in routes:
        tun.del_route(r)


def test_two_demand_dial_interfaces_with_the_same_route_keep_it_until_the_last_goes(tun):
    k = tun._ipr
    _outbound_up(tun, "10.91.0.2", "10.1.0.1", ["192.0.2.0/24"])
    _outbound_up(tun, "10.92.0.2", "10.2.0.1", ["192.0.2.0/24"])
    assert k.routes["192.0.2.0/24"]["prefsrc"] == "10.92.0.2" and tun.holders("192.0.2.0/24") == 2
    _outbound_down(tun, "10.92.0.2", "10.2.0.1", ["192.0.2.0/24"])   # the newer one goes: the kernel flushed
    assert k.routes["192.0.2.0/24"] == {"dst": "192.0.2.0/24", "oif": 7, "prefsrc": "10.91.0.2"}
    assert set(k.routes) == {"192.0.2.0/24", "10.1.0.1/32"} and tun.holders("192.0.2.0/24") == 1
    _outbound_down(tun, "10.91.0.2", "10.1.0.1", ["192.0.2.0/24"])
    assert k.routes == {} and tun.routes == set()


def test_the_older_interface_going_first_leaves_the_route_untouched(tun):
    k = tun._ipr
    _outbound_up(tun, "10.91.0.2", "10.1.0.1", ["192.0.2.0/24"])
    _outbound_up(tun, "10.92.0.2", "10.2.0.1", ["192.0.2.0/24"])
    calls = len(k.calls)
    _outbound_down(tun, "10.91.0.2", "10.1.0.1", ["192.0.2.0/24"])
    assert k.routes["192.0.2.0/24"]["prefsrc"] == "10.92.0.2"
    assert k.calls[calls:] == [("del", "10.1.0.1/32", None)]            # nothing else to do in the kernel
    _outbound_down(tun, "10.92.0.2", "10.2.0.1", ["192.0.2.0/24"])
    assert k.routes == {}


def test_plain_holders_are_counted(tun):
    k = tun._ipr
    tun.add_route("198.51.100.0/24")
    tun.add_route("198.51.100.7/24")                   # the same prefix written another way
    tun.del_route("198.51.100.0/24")
    assert "198.51.100.0/24" in k.routes and tun.holders("198.51.100.0/24") == 1
    tun.del_route("198.51.100.0/24")
    assert k.routes == {}
    tun.del_route("198.51.100.0/24")                   # not ours any more: idempotent, no error counted
    assert tun.netlink_errors == 0


def test_overlapping_router_routes_survive_one_disconnect_through_the_engine_context(tun):
    """Two router callers (sessions) with the same route, through drivers.py session_up/session_down."""
    loop = asyncio.new_event_loop()
    try:
        ctx = build_context(loop, None, validate({}))
        ctx.tun = tun
        a = ctx.sessions.add(Session("pptp", 0, "203.0.113.10", user="branch1"))
        b = ctx.sessions.add(Session("l2tp", 0, "203.0.113.11:1701", user="branch2"))
        for s, ip in ((a, "10.87.0.2"), (b, "10.87.0.3")):
            ctx.sessions.bind_routes(s, ["10.2.0.0/16"])
            ctx.session_up(s, ip)
        assert set(tun._ipr.routes) == {"10.87.0.2/32", "10.87.0.3/32", "10.2.0.0/16"}
        ctx.session_down(a, Cause.PEER_DISCONNECTED)
        assert set(tun._ipr.routes) == {"10.87.0.3/32", "10.2.0.0/16"}
        ctx.session_down(b, Cause.PEER_DISCONNECTED)
        assert tun._ipr.routes == {}
    finally:
        loop.close()


def test_an_outbound_session_and_an_inbound_one_share_a_prefix(tun):
    k = tun._ipr
    _outbound_up(tun, "10.91.0.2", "10.1.0.1", ["10.2.0.0/16"])
    tun.add_route("10.2.0.0/16")                       # a router caller routing the same prefix to us
    assert k.routes["10.2.0.0/16"].get("prefsrc") is None
    _outbound_down(tun, "10.91.0.2", "10.1.0.1", ["10.2.0.0/16"])
    assert k.routes["10.2.0.0/16"] == {"dst": "10.2.0.0/16", "oif": 7} and tun.netlink_errors == 0
    tun.del_route("10.2.0.0/16")
    assert k.routes == {}
