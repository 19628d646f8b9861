"""PptpCall: the GRE window and a PPP link composed, on a scripted link (the real PppLink is tested by its owner;
the pair test below runs two calls over a virtual wire)."""

from __future__ import annotations

from rrasctl.protocols.base import Event
from rrasctl.protocols.pptp.call import PptpCall
from rrasctl.protocols.pptp.gre import GreHeader, GreWindow, decode


class ScriptedLink:
    """The PppLink surface PptpCall uses: data frames are 0x21 + IP (PFC), anything else is control."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.out: list[bytes] = []
        self.opened_at: float | None = None

    def open(self, now):
        self.opened_at = now
        self.out.append(b"\xc0\x21\x01\x01\x00\x04")       # an LCP Configure-Request

    def close(self, reason, now):
        self.out.append(b"\xc0\x21\x05\x02\x00\x04")

    def lower_down(self, now):
        return [Event()]

    def receive(self, frame, now):
        self.received.append(bytes(frame))
        return [Event()]

    def handle_timer(self, now):
        return []

    def take_output(self):
        out, self.out = self.out, []
        return out

    def next_timer(self):
        return 3.0 if self.opened_at is not None else None

    def open_data(self, frame):
        return frame[1:] if frame[0] == 0x21 else None

    def seal_data(self, ip):
        return b"\x21" + bytes(ip)


def make_pair():
    a = PptpCall(GreWindow(local_call_id=100, peer_call_id=200), ScriptedLink())
    b = PptpCall(GreWindow(local_call_id=200, peer_call_id=100), ScriptedLink())
    return a, b


def test_control_frames_go_out_in_gre_with_sequence_numbers():
    a, b = make_pair()
    a.open(0.0)
    out = a.take_output()
    assert out == [GreHeader(200, 6, seq=0).encode(b"\xc0\x21\x01\x01\x00\x04")]
    assert a.next_timer() == 3.0
    b.open(0.0)
    events = b.receive(out[0], 0.0)
    assert events == [Event()] and b.link.received == [b"\xc0\x21\x01\x01\x00\x04"]
    assert b.take_ack() == GreHeader(100, 0, ack=0).encode()


def test_data_path_both_ways_with_piggybacked_acks():
    a, b = make_pair()
    hdr, frame = a.seal_data(b"\x45" + b"\0" * 19)
    pkt = bytes(hdr) + frame
    assert decode(pkt)[0] == GreHeader(200, 21, seq=0)
    ip = b.open_data(memoryview(pkt))
    assert bytes(ip) == b"\x45" + b"\0" * 19 and not b.pending
    back = b.seal_packet(b"\x45\x01")
    assert decode(back)[0] == GreHeader(100, 3, seq=0, ack=0)
    assert bytes(a.open_data(back)) == b"\x45\x01"
    assert (a.window.tx_packets, a.window.rx_packets) == (1, 1)
    assert a.window.tx_acked == 0


def test_control_frame_on_the_fast_path_is_kept_for_receive_pending():
    a, b = make_pair()
    a.open(0.0)
    b.open(0.0)
    pkt = a.take_output()[0]
    assert b.open_data(pkt) is None and b.pending
    assert b.receive_pending(1.0) == [Event()] and not b.pending
    assert b.link.received == [b"\xc0\x21\x01\x01\x00\x04"]


def test_frames_that_arrive_before_the_call_is_opened_wait_for_open():
    """The dialling side makes its call before the Outgoing-Call-Request goes out; the PAC's first LCP packet may
    arrive before the reply is processed: it waits, and reaches the link when the call opens (issue #12)."""
    a, b = make_pair()
    a.open(0.0)
    pkt = a.take_output()[0]
    assert b.open_data(pkt) is None and b.receive_pending(0.5) == [] and b.link.received == []
    assert b.open(1.0) == [Event()]
    assert b.link.received == [b"\xc0\x21\x01\x01\x00\x04"] and not b.pending


def test_duplicates_are_dropped_before_the_link_sees_them():
    a, b = make_pair()
    pkt = a.seal_packet(b"\x45abc")
    assert b.open_data(pkt) is not None
    assert b.open_data(pkt) is None and not b.pending
    assert b.window.stats["late or duplicate"] == 1


def test_slow_path_receive_puts_data_in_the_inbox():
    a, b = make_pair()
    assert b.receive(a.seal_packet(b"\x45xyz"), 0.0) == []
    assert b.inbox == [b"\x45xyz"]


# ---- the real PppLink on both ends, over a lossy virtual wire (tests/protocols/pairs.py) ----------------------

import sys  # noqa: E402
from ipaddress import IPv4Address  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pairs import Pair  # noqa: E402

from rrasctl.protocols.ppp.auth import AuthMethod, AuthRequested, AuthSucceeded  # noqa: E402
from rrasctl.protocols.ppp.link import LinkDown, NetworkUp, PppConfig, PppLink, Role  # noqa: E402


def rng_from(seed: int):
    import random
    r = random.Random(seed)
    return lambda n: bytes(r.getrandbits(8) for _ in range(n))


def real_pair(method: AuthMethod, levels: tuple[str, ...], *, password: str = "s3cret", loss: float = 0.0,
              stateless: bool = True):
    server = PptpCall(GreWindow(100, 200), PppLink(PppConfig(
        role=Role.AUTHENTICATOR, methods=(method,), encryption=levels, mppe_stateless=stateless,
        local_address=IPv4Address("10.87.0.1")), rng=rng_from(1)))
    client = PptpCall(GreWindow(200, 100), PppLink(PppConfig(
        role=Role.PEER, methods=(method,), encryption=levels, mppe_stateless=stateless, user="alice",
        password=password), rng=rng_from(2)))

    def answer(side, event, pair):
        if side == "a" and isinstance(event, AuthRequested):
            assert event.user == "alice"
            pair.note("a", server.link.answer_password("s3cret", pair.now))
        elif side == "a" and isinstance(event, AuthSucceeded):
            pair.note("a", server.link.assign_address(IPv4Address("10.87.0.2"), pair.now))

    pair = Pair(server, client, seed=3, loss=loss, on_event=answer)
    pair.note("a", server.open(0.0))
    pair.note("b", client.open(0.0))
    return pair, server, client


@pytest.mark.parametrize("method,levels,encryption", [
    (AuthMethod.MSCHAP_V2, ("strongest",), "mppe-128"),
    (AuthMethod.MSCHAP_V1, ("basic",), "mppe-40"),
    (AuthMethod.PAP, ("none",), "none"),
    (AuthMethod.CHAP_MD5, ("none",), "none"),
])
def test_two_calls_reach_network_up_and_carry_ip(method, levels, encryption):
    pair, server, client = real_pair(method, levels, loss=0.1)
    assert pair.run(until=lambda: pair.saw(NetworkUp, "a") and pair.saw(NetworkUp, "b"), max_time=120)
    settle = pair.now + 20.0          # retransmissions still in flight may renegotiate once (RFC 1661 Opened+RCR)
    pair.run(until=lambda: pair.now > settle)
    assert server.link.network_up and client.link.network_up
    up = pair.first(NetworkUp, "b")
    assert (up.local_ip, up.peer_ip, up.encryption, up.auth) == (
        IPv4Address("10.87.0.2"), IPv4Address("10.87.0.1"), encryption, method.value)
    for i in range(20):
        ip = bytes([0x45]) + bytes(19) + i.to_bytes(2, "big")
        assert bytes(server.open_data(client.seal_packet(ip))) == ip
        assert bytes(client.open_data(server.seal_packet(ip))) == ip


def test_wrong_password_ends_with_691():
    pair, server, client = real_pair(AuthMethod.MSCHAP_V2, ("strongest",), password="wrong")
    assert pair.run(until=lambda: pair.saw(LinkDown, "b"), max_time=300)
    assert pair.first(LinkDown, "b").error == 691
