"""engine/hostaddrs.py: the host's own addresses for the PPP peer's address-clash check."""

from __future__ import annotations

from ipaddress import IPv4Address

from rrasctl.config.model import Config, Server
from rrasctl.engine.hostaddrs import own_addresses, parse_fib_trie

FIB = """Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 203.0.113.0/24 2 0 2
           |-- 203.0.113.0
              /24 link UNICAST
           |-- 203.0.113.2
              /32 host LOCAL
     |-- 10.87.0.1
        /32 host LOCAL
"""


def test_the_local_host_entries_of_a_fib_dump():
    assert parse_fib_trie(FIB) == {IPv4Address("127.0.0.1"), IPv4Address("203.0.113.2"), IPv4Address("10.87.0.1")}


def test_the_tunnel_address_counts_even_without_a_readable_fib(tmp_path):
    cfg = Config(server=Server(tunnel_address="10.83.4.1"))
    assert own_addresses(cfg, fib_path=str(tmp_path / "absent")) == {IPv4Address("10.83.4.1")}
    fib = tmp_path / "fib_trie"
    fib.write_text(FIB)
    assert own_addresses(cfg, extra=["10.9.9.9"], fib_path=str(fib)) == {
        IPv4Address("127.0.0.1"), IPv4Address("203.0.113.2"), IPv4Address("10.87.0.1"), IPv4Address("10.83.4.1"),
        IPv4Address("10.9.9.9")}


def test_this_namespace_holds_its_loopback():
    assert IPv4Address("127.0.0.1") in own_addresses()
