"""The allocation-free data path (seal_into / encrypt_into / decrypt_in_place / PptpCall.seal_view) produces exactly
the bytes of the allocating one, and its buffer contract holds: a returned view aliases a buffer that the next call
overwrites, while the caller's IP packet may be reused as soon as the call returns."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_link import client, connect, server  # noqa: E402

from rrasctl.protocols.ppp.mppe import MppeDecryptor, MppeEncryptor  # noqa: E402
from rrasctl.protocols.pptp.call import PptpCall  # noqa: E402
from rrasctl.protocols.pptp.gre import GreHeader, GreWindow, decode  # noqa: E402

KEY = bytes(range(16))


def packets(count: int = 300):
    for i in range(count):
        size = 20 + (i * 37) % 1400
        yield bytes([0x45]) + bytes((i + j) & 0xFF for j in range(size - 1))


def twin_links(**kw):
    """Two link pairs with the same keys (fixed rngs): one for the allocating path, one for the in-place one."""
    return [connect(server(**kw), client(**kw)) for _ in range(2)]


@pytest.mark.parametrize("stateless", [False, True])
def test_encrypt_into_and_decrypt_in_place_match_encrypt_and_decrypt(stateless):
    enc, enc2 = MppeEncryptor(KEY, stateless=stateless), MppeEncryptor(KEY, stateless=stateless)
    dec, dec2 = MppeDecryptor(KEY, stateless=stateless), MppeDecryptor(KEY, stateless=stateless)
    buf = bytearray(2048)
    view = memoryview(buf)
    for i, payload in enumerate(packets(300)):     # 300 packets: crosses the stateful flag packet (count 255)
        if i == 100:
            enc.reset(), enc2.reset()                # a CCP Reset-Request: the next packet is flushed
        wire = enc.encrypt(payload)
        end = 6 + len(payload)
        buf[6:end] = payload
        enc2.encrypt_into(buf, view, 4, end)
        assert bytes(buf[4:end]) == wire
        frame = bytearray(wire)
        plain = dec2.decrypt_in_place(memoryview(frame))
        assert plain == dec.decrypt(wire) == payload
        assert plain.obj is frame and bytes(frame[2:]) == payload      # overwritten in place, no copy


def test_decrypt_in_place_drops_like_decrypt():
    enc = MppeEncryptor(KEY)
    dec, dec2 = MppeDecryptor(KEY), MppeDecryptor(KEY)
    first, _lost, third = enc.encrypt(b"\x00\x21a"), enc.encrypt(b"\x00\x21b"), enc.encrypt(b"\x00\x21c")
    for wire in (first, third):
        assert dec2.decrypt_in_place(memoryview(bytearray(wire))) == dec.decrypt(wire)
    assert dec2.need_reset and dec2.discarding and dec2.stats == dec.stats == {"mppe: packet lost, resynchronising": 1}
    assert dec2.decrypt_in_place(memoryview(bytearray(b"\x90"))) is None and dec2.stats["mppe: short packet"] == 1


@pytest.mark.parametrize("kw", [{}, {"mppe_stateless": True}, {"encryption": ("none",)}],
                         ids=["stateful", "stateless", "clear"])
def test_seal_into_matches_seal_data_and_open_data_decrypts_in_place(kw):
    (p1, p2) = twin_links(**kw)
    buf = bytearray(2048)
    view = memoryview(buf)
    for ip in packets(300):
        frame = p1.a.seal_data(ip)
        end = p2.a.seal_into(memoryview(ip), buf, view, 16)
        assert bytes(buf[16:end]) == frame
        rx = bytearray(frame)                          # the engine's receive buffer: writable
        got = p2.b.open_data(memoryview(rx))
        assert bytes(got) == bytes(p1.b.open_data(frame)) == ip
        assert got.obj is rx                           # a view into the receive buffer, decrypted there
    assert (p2.a.packets_out, p2.a.bytes_out, p2.b.packets_in) == (p1.a.packets_out, p1.a.bytes_out, 300)


def test_open_data_leaves_a_read_only_frame_alone():
    (p1,) = [connect(server(), client())]
    frame = p1.a.seal_data(b"\x45" + bytes(19))
    copy = bytes(frame)
    assert bytes(p1.b.open_data(frame)) == b"\x45" + bytes(19) and frame == copy


def test_seal_into_refuses_what_seal_data_refuses():
    a, b = server(), client()
    buf = bytearray(64)
    assert a.seal_into(b"\x45" + bytes(19), buf, memoryview(buf), 0) == -1        # network not up
    connect(a, b)
    assert a.seal_data(b"\x60" + bytes(39)) is None                               # IPv6 without IPV6CP
    assert a.seal_into(b"\x60" + bytes(39), buf, memoryview(buf), 0) == -1
    assert buf == bytearray(64)


def test_header_into_matches_header():
    w1, w2 = GreWindow(5, 9), GreWindow(5, 9)
    buf = bytearray(32)
    for i in range(4):
        if i % 2:
            for w in (w1, w2):
                w.open(GreHeader(5, 1, seq=i).encode(b"x"))      # an ack is owed: piggybacked on the next header
        hdr = bytes(w1.header(100 + i))
        start = w2.header_into(buf, 20, 100 + i)
        assert bytes(buf[start:20]) == hdr and 20 - start == len(hdr)
    assert (w2.tx_seq, w2.tx_packets, w2.ack_pending) == (w1.tx_seq, w1.tx_packets, w1.ack_pending) == (4, 4, False)


def test_seal_view_matches_seal_packet_and_the_view_is_reused():
    (p1, p2) = twin_links()
    c1, c2 = PptpCall(GreWindow(10, 20), p1.a), PptpCall(GreWindow(10, 20), p2.a)
    ip_buf = bytearray(1400)                          # the TUN read buffer, reused for every packet
    seen = []
    for ip in packets(50):
        ip_buf[:len(ip)] = ip
        pkt = c2.seal_view(memoryview(ip_buf)[:len(ip)])
        ip_buf[:len(ip)] = bytes(len(ip))             # reusing the input right away does not touch the packet
        assert bytes(pkt) == c1.seal_packet(ip)
        assert decode(bytes(pkt))[0].call_id == 20
        seen.append(pkt)
    # the contract: every view aliases the same transmit buffer, so an old one now shows the latest packet
    assert seen[0].obj is seen[-1].obj
    first = bytes(seen[-1])
    c2.seal_view(b"\x45" + bytes(99))
    assert bytes(seen[-1]) != first


def test_seal_view_grows_for_a_packet_larger_than_its_buffer():
    (p1, p2) = twin_links(encryption=("none",))
    c1, c2 = PptpCall(GreWindow(1, 2), p1.a), PptpCall(GreWindow(1, 2), p2.a)
    big = b"\x45" + bytes(4000)
    assert bytes(c2.seal_view(big)) == c1.seal_packet(big)
    assert c2.seal_view(b"\x60" + bytes(39)) is None                              # IPv6 without IPV6CP


def test_l2tp_seal_view_matches_header_plus_seal_data():
    from rrasctl.protocols.l2tp.data import L2tpSession, payload_bounds

    (p1, p2) = twin_links(encryption=("none",))
    s1, s2 = L2tpSession(1, 2, 3, 4), L2tpSession(1, 2, 3, 4, p2.a)
    for ip in packets(20):
        pkt = s2.seal_view(memoryview(ip))
        assert bytes(pkt) == s1.seal_header + p1.a.seal_data(ip)
        assert payload_bounds(pkt, len(pkt)) == (4, 6, len(pkt))
    assert s2.seal_view(b"\x45" + bytes(3000))[6:] == p1.a.seal_data(b"\x45" + bytes(3000))     # grown buffer
    assert (s2.frames_out, s2.seal_view(b"\x60" + bytes(39))) == (0, None)                    # IPv6 without IPV6CP


def test_clear_ipv4_head_is_seal_data_s_head_counted_and_refused_where_seal_data_encrypts_or_refuses():
    (p1, p2) = twin_links(encryption=("none",))
    ip = b"\x45" + bytes(range(1, 60))
    head = p2.a.clear_ipv4_head(len(ip))
    assert head + ip == p1.a.seal_data(ip)                                   # the same frame, built by the caller
    assert (p2.a.packets_out, p2.a.bytes_out) == (p1.a.packets_out, p1.a.bytes_out) == (1, 60)
    mppe = connect(server(), client())                                       # MPPE on: never clear
    assert mppe.a.clear_ipv4_head(60) is None and mppe.a.packets_out == 0
    assert server(encryption=("none",)).clear_ipv4_head(60) is None          # network not up
