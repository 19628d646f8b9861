"""Frame codec (smoltcp's five tests) and the generic option logic of options.py."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ppp.frame import Code, ControlPacket, PppProtocol, build_frame, protocol_name, split_frame
from rrasctl.protocols.ppp.fsm import NegotiationFailed
from rrasctl.protocols.ppp.options import (
    ACK, EMPTY, IPV4, REJECT, U16_CODEC, Nak, OptionLayer, OptionSpec, encode_option, parse_options,
)

# pptpd's LCP Configure-Request, frame 12 of pptp-win2000-poptop-mschapv2-mppe128.pcap
FRAME = bytes.fromhex("ff03c021010100180206000000000304c22705060d3515db07020802")


def test_read_fields():
    protocol, info = split_frame(FRAME)
    packet = ControlPacket.decode(info)
    assert (protocol, packet.code, packet.id, len(packet.data)) == (PppProtocol.LCP, Code.CONFIGURE_REQUEST, 1, 20)
    assert parse_options(packet.data) == [(2, bytes(4)), (3, b"\xc2\x27"), (5, bytes.fromhex("0d3515db")),
                                          (7, b""), (8, b"")]


def test_write_fields_and_emit_same_bytes():
    packet = ControlPacket(Code.CONFIGURE_REQUEST, 1, b"".join(encode_option(t, v) for t, v in [
        (2, bytes(4)), (3, b"\xc2\x27"), (5, bytes.fromhex("0d3515db")), (7, b""), (8, b"")]))
    assert build_frame(PppProtocol.LCP, packet.encode()) == FRAME


@pytest.mark.parametrize("n", range(len(FRAME)))
def test_every_truncation_is_malformed_or_shorter(n):
    try:
        protocol, info = split_frame(FRAME[:n])
    except Malformed:
        return
    with pytest.raises(Malformed):
        ControlPacket.decode(info)


def test_compressed_forms():
    ip = b"\x45" + bytes(19)
    assert build_frame(PppProtocol.IP, ip, acfc=True, pfc=True) == b"\x21" + ip
    assert build_frame(PppProtocol.IP, ip, pfc=True) == b"\xff\x03\x21" + ip
    assert build_frame(PppProtocol.LCP, b"", acfc=True, pfc=True) == b"\xc0\x21"
    for frame in (b"\x21" + ip, b"\xff\x03\x21" + ip, b"\x00\x21" + ip, b"\xff\x03\x00\x21" + ip):
        protocol, info = split_frame(frame)
        assert protocol == 0x21 and bytes(info) == ip
    with pytest.raises(Malformed, match="bad HDLC control byte"):
        split_frame(b"\xff\x05\xc0\x21")
    with pytest.raises(Malformed, match="bad protocol field"):
        split_frame(b"\xc0\x20\x01")
    with pytest.raises(Malformed, match="short protocol field"):
        split_frame(b"\xff\x03\xc0")
    with pytest.raises(Malformed, match="empty PPP frame"):
        split_frame(b"\xff\x03")
    assert protocol_name(0x80FD) == "CCP" and protocol_name(0x8281) == "0x8281"


def test_padding_past_length_is_ignored():
    assert ControlPacket.decode(bytes.fromhex("0901000800000000") + b"\0" * 6) == ControlPacket(9, 1, bytes(4))
    with pytest.raises(ValueError):
        ControlPacket(1, 1, bytes(70000)).encode()


def test_parse_options_rejects_bad_lengths():
    for bad in (b"\x01", b"\x01\x01", b"\x01\x05\x00", b"\x01\x00"):
        with pytest.raises(Malformed):
            parse_options(bad)
    assert parse_options(b"") == []
    with pytest.raises(ValueError):
        encode_option(1, bytes(254))


def _layer():
    def judge_mru(value, neg):
        return ACK if value >= 1000 else Nak(1000) if value >= 500 else REJECT

    def nak_flag(ours, suggested, neg):
        raise NegotiationFailed("flag refused")

    specs = (OptionSpec(1, "mru", U16_CODEC, ours=lambda n: 1400, judge=judge_mru),
             OptionSpec(3, "address", IPV4, ours=lambda n: IPv4Address(0)),
             OptionSpec(7, "flag", EMPTY, ours=lambda n: True, on_nak=nak_flag))
    return OptionLayer(specs, allow=None)


def test_request_ack_nak_reject_cycle():
    layer = _layer()
    req = layer.build_request()
    assert req == bytes.fromhex("01040578" "030600000000" "0702")
    assert not layer.ack_received(req[:-2])                     # not an exact echo
    assert layer.ack_received(req) and layer.neg.got == {"mru": 1400, "address": IPv4Address(0), "flag": True}
    assert layer.nak_received(bytes.fromhex("030601020304" "0504000a"))   # unrequested option 5: ignored
    assert layer.neg.want["address"] == IPv4Address("1.2.3.4")
    assert not layer.nak_received(bytes.fromhex("0305010203"))  # wrong length for an IPv4 value
    layer.build_request()
    assert not layer.reject_received(bytes.fromhex("0104ffff"))  # not what we sent
    assert layer.reject_received(bytes.fromhex("01040578"))
    assert layer.build_request() == bytes.fromhex("030601020304" "0702")
    with pytest.raises(NegotiationFailed, match="flag refused"):
        layer.nak_received(bytes.fromhex("0702"))
    layer.reset()
    assert layer.build_request() == req


def test_judging_reject_wins_and_naks_turn_to_rejects():
    layer = _layer()
    assert layer.judge_request(bytes.fromhex("010403e8"), True) == (Code.CONFIGURE_ACK, bytes.fromhex("010403e8"))
    assert layer.neg.peer_got == {"mru": 1000}
    assert layer.judge_request(bytes.fromhex("01040258"), True) == (Code.CONFIGURE_NAK, bytes.fromhex("010403e8"))
    assert layer.judge_request(bytes.fromhex("01040258"), False) == (Code.CONFIGURE_REJECT, bytes.fromhex("01040258"))
    both = bytes.fromhex("01040258" "0d0306" "0703ff")       # Nak-able MRU, unknown 13, flag with a bad length
    assert layer.judge_request(both, True) == (Code.CONFIGURE_REJECT, bytes.fromhex("0d0306" "0703ff"))
    assert layer.judge_request(bytes.fromhex("01040010"), True) == (Code.CONFIGURE_REJECT, bytes.fromhex("01040010"))
    with pytest.raises(Malformed):
        layer.judge_request(b"\x01\x09\x00", True)
