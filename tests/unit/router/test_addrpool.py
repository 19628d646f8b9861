"""router/addrpool.py: dynamic addresses from the pool, static ones reserved."""

from __future__ import annotations

from ipaddress import IPv4Address as A

import pytest

from rrasctl.router.addrpool import AddressPool


def test_lowest_free_skipping_network_server_and_static():
    p = AddressPool("10.87.0.0/29", server_address="10.87.0.1", static=["10.87.0.3"])
    assert p.size == 4   # .2 .4 .5 .6
    got = [p.allocate() for _ in range(5)]
    assert got == [A("10.87.0.2"), A("10.87.0.4"), A("10.87.0.5"), A("10.87.0.6"), None]
    p.release("10.87.0.4")
    assert p.allocate() == A("10.87.0.4")
    assert p.allocate() is None


def test_static_allocation_exact_or_none():
    p = AddressPool("10.87.0.0/24", server_address="10.87.0.1", static=["10.87.0.50"])
    assert p.allocate(static="10.87.0.50") == A("10.87.0.50")
    assert p.allocate(static="10.87.0.50") is None
    assert p.allocate(static="10.87.0.1") is None            # the server's own address
    assert p.allocate(static="192.0.2.9") == A("192.0.2.9")   # outside the pool is allowed
    p.release("10.87.0.50")
    assert p.is_free("10.87.0.50")


@pytest.mark.parametrize("cidr,first,size", [("10.0.0.0/24", "10.0.0.1", 254), ("10.0.0.0/30", "10.0.0.1", 2),
                                             ("10.0.0.4/31", "10.0.0.4", 2), ("10.0.0.9/32", "10.0.0.9", 1)])
def test_cidr_edges(cidr, first, size):
    p = AddressPool(cidr)
    assert p.size == size and p.allocate() == A(first)


def test_thousand_allocations_and_release_order():
    p = AddressPool("10.80.0.0/22", server_address="10.80.0.1")
    got = [p.allocate() for _ in range(1000)]
    assert len(set(got)) == 1000 and None not in got and A("10.80.0.1") not in got
    for a in got[::2]:
        p.release(a)
    assert p.in_use == 500
    assert p.allocate() == got[0]


def test_release_unknown_and_none_are_harmless():
    p = AddressPool("10.87.0.0/24")
    p.release(None)
    p.release("10.87.0.77")
    assert p.in_use == 0


def test_reconfigure_keeps_addresses_in_use():
    p = AddressPool("10.87.0.0/24", server_address="10.87.0.1")
    a = p.allocate()
    p.reconfigure("10.87.0.0/24", server_address="10.87.0.1", static=[str(a)])
    assert not p.is_free(a) and p.allocate() == A("10.87.0.3")


def test_reserve():
    p = AddressPool("10.87.0.0/24")
    assert p.reserve("10.87.0.1") is True and p.reserve("10.87.0.1") is False
    assert p.allocate() == A("10.87.0.2")
