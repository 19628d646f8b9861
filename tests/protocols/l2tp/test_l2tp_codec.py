"""L2TP codecs on real captures (Huawei LAC/LNS with tunnel auth, ISP data with O/P bits) and round trips."""

from __future__ import annotations

import hashlib

import pytest
from support import CAPTURES
from l2tp_capture import udp_payloads

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.l2tp.avp import (
    AvpType, MessageType, ResultCode, challenge_response, decode_avps, decode_result, encode_avp,
    encode_avp_list, hide, unhide,
)
from rrasctl.protocols.l2tp.data import decode_data, encode_data, payload_bounds
from rrasctl.protocols.l2tp.messages import decode_control, encode_control, peek
from rrasctl.protocols.wire import Reader

HUAWEI = CAPTURES / "l2tp-huawei-lac-lns-chap.pcap"
ISP = CAPTURES / "l2tp-data-isp-pppoe-ipv6.pcap"
SECRET = b"abc-123"


def huawei_control():
    return [decode_control(p) for _, _, _, p in udp_payloads(HUAWEI) if peek(p)[0]]


def test_huawei_control_messages_decode_in_order():
    msgs = huawei_control()
    assert [m.name for m in msgs] == ["SCCRQ", "SCCRP", "SCCCN", "ICRQ", "ICRP", "ICCN", "ZLB"]
    assert [(m.tunnel_id, m.session_id, m.ns, m.nr) for m in msgs] == [
        (0, 0, 0, 0), (1, 0, 0, 1), (1, 0, 1, 1), (1, 0, 2, 1), (1, 13, 1, 3), (1, 7, 3, 2), (1, 0, 2, 4)]
    sccrq, sccrp, _, icrq, icrp, iccn, _ = msgs
    assert sccrq.get(AvpType.HOST_NAME) == "lac" and sccrq.get(AvpType.VENDOR_NAME) == "Huawei"
    assert sccrq.get(AvpType.PROTOCOL_VERSION) == (1, 0)
    assert sccrq.get(AvpType.ASSIGNED_TUNNEL_ID) == 1 and sccrq.get(AvpType.RECEIVE_WINDOW_SIZE) == 128
    assert sccrp.get(AvpType.HOST_NAME) == "lns" and sccrp.get(AvpType.BEARER_CAPABILITIES) == 3
    assert icrq.get(AvpType.ASSIGNED_SESSION_ID) == 13 and icrq.get(AvpType.CALLED_NUMBER) == "8888"
    assert icrq.get(AvpType.CALL_SERIAL_NUMBER) == 13 and icrq.get(AvpType.PHYSICAL_CHANNEL_ID) == 0
    assert icrp.get(AvpType.ASSIGNED_SESSION_ID) == 7
    assert iccn.get(AvpType.TX_CONNECT_SPEED) == 64000 and iccn.get(AvpType.FRAMING_TYPE) == 3
    assert iccn.get(AvpType.RX_CONNECT_SPEED) == 64000 and iccn.get(AvpType.PRIVATE_GROUP_ID) == b"\0\0\0\0"
    for m in msgs:
        assert m.unknown_mandatory() is None
        assert all(a.known for a in m.avps)


def test_huawei_tunnel_authentication_verifies_with_secret():
    sccrq, sccrp, scccn = huawei_control()[:3]
    assert sccrp.get(AvpType.CHALLENGE_RESPONSE) == challenge_response(
        MessageType.SCCRP, SECRET, sccrq.get(AvpType.CHALLENGE))
    assert scccn.get(AvpType.CHALLENGE_RESPONSE) == challenge_response(
        MessageType.SCCCN, SECRET, sccrp.get(AvpType.CHALLENGE))
    assert sccrp.get(AvpType.CHALLENGE_RESPONSE) != challenge_response(
        MessageType.SCCRP, b"abc-124", sccrq.get(AvpType.CHALLENGE))


def test_huawei_control_messages_reencode_byte_identical():
    for _, _, _, p in udp_payloads(HUAWEI):
        if not peek(p)[0]:
            continue
        m = decode_control(p)
        body = b"".join(encode_avp(a.type, a.value, mandatory=a.mandatory) for a in m.avps)
        assert encode_control(m.tunnel_id, m.session_id, m.ns, m.nr, body) == bytes(p)


def test_huawei_data_carries_ppp_and_chap_response_verifies():
    frames = [(s, p) for _, s, _, p in udp_payloads(HUAWEI) if not peek(p)[0]]
    assert len(frames) == 36
    ppp = [p[decode_data(p).payload_offset:] for _, p in frames]
    assert all(f[:2] == b"\xff\x03" for f in ppp)
    prio = [decode_data(p).priority for _, p in frames]
    assert prio.count(True) == 27            # LCP/CHAP/IPCP with P set; the 9 IP packets without
    chal = next(f for f in ppp if f[2:4] == b"\xc2\x23" and f[4] == 1)
    resp = next(f for f in ppp if f[2:4] == b"\xc2\x23" and f[4] == 2)
    challenge = chal[9:9 + chal[8]]
    value = resp[9:9 + resp[8]]
    assert resp[9 + resp[8]:] == b"aa"
    assert hashlib.md5(bytes([resp[5]]) + SECRET + challenge).digest() == value


def test_isp_data_messages_with_offset_and_priority():
    hs = [decode_data(p) for _, _, _, p in udp_payloads(ISP)]
    assert [(h.tunnel_id, h.session_id, h.offset_size, h.priority, h.payload_offset) for h in hs] == [
        (18994, 54110, 0, True, 8), (1527, 8298, None, False, 6), (1527, 8298, None, False, 6),
        (18994, 54110, 0, False, 8)]
    payloads = [p for _, _, _, p in udp_payloads(ISP)]
    assert payloads[0][8:12] == bytes.fromhex("ff03c021")
    assert payload_bounds(payloads[0], len(payloads[0]))[:2] == (54110, 8)
    assert payload_bounds(payloads[1], len(payloads[1])) == (8298, 6, len(payloads[1]))


def test_every_truncation_of_captured_control_messages_is_malformed():
    for m in [p for _, _, _, p in udp_payloads(HUAWEI) if peek(p)[0]]:
        for n in range(len(m)):
            with pytest.raises(Malformed):
                decode_control(m[:n])


def test_data_header_forms_round_trip():
    for kw in ({}, {"ns": 5, "nr": 9}, {"offset": 3}, {"length": True, "priority": True},
               {"length": True, "ns": 1, "nr": 2, "offset": 0, "priority": True}):
        d = encode_data(7, 9, b"\xff\x03\xc0\x21", **kw)
        h = decode_data(d)
        assert (h.tunnel_id, h.session_id) == (7, 9)
        assert d[h.payload_offset:] == b"\xff\x03\xc0\x21"
        assert h.ns == kw.get("ns") and h.priority is kw.get("priority", False)
        assert h.length == (len(d) if kw.get("length") else None)
        assert payload_bounds(d, len(d)) == (9, h.payload_offset, len(d))
    assert encode_data(1, 2, b"x") == bytes.fromhex("00020001000278")


def test_result_code_parsed_leniently():
    assert decode_result(bytes.fromhex("0000060000000000")) == ResultCode(0, 0x0600, "\0\0\0\0")
    assert decode_result(b"\x00\x01") == ResultCode(1)
    assert decode_result(b"\x00\x02\x00\x04busy") == ResultCode(2, 4, "busy")
    assert decode_result(b"\x00\x02\x00") == ResultCode(2)
    with pytest.raises(Malformed):
        decode_result(b"\x00")


def test_hidden_avp_round_trip_and_rfc_layout():
    vector = bytes(range(16))
    hidden = hide(14, b"\x12\x34", b"s3cret", vector)
    assert len(hidden) == 4
    b1 = hashlib.md5(b"\x00\x0e" + b"s3cret" + vector).digest()
    assert bytes(x ^ y for x, y in zip(hidden, b1)) == b"\x00\x02\x12\x34"
    long = bytes(range(40))
    assert unhide(7, hide(7, long, b"k", vector), b"k", vector) == long
    body = encode_avp_list([(AvpType.MESSAGE_TYPE, 10), (AvpType.ASSIGNED_SESSION_ID, 0x1234),
                            (AvpType.CALL_SERIAL_NUMBER, 7)], secret=b"k",
                           hide_types=frozenset({AvpType.ASSIGNED_SESSION_ID, AvpType.CALL_SERIAL_NUMBER}),
                           rng=lambda n: vector[:n])
    avps = decode_avps(Reader(body), b"k")
    assert [(a.type, a.hidden) for a in avps] == [(0, False), (36, False), (14, True), (15, True)]
    assert avps[2].decoded() == 0x1234 and avps[3].decoded() == 7
    with pytest.raises(Malformed):
        decode_avps(Reader(body), None)                   # hidden without a secret
    with pytest.raises(Malformed):
        decode_avps(Reader(body[:6 + 2] + body[6 + 2 + 22:]), b"k")   # hidden before any Random Vector


def test_unknown_avps_and_reserved_bits():
    body = (encode_avp(0, b"\x00\x06") + encode_avp(99, b"x", mandatory=False) + encode_avp(77, b"y", vendor=9))
    m = decode_control(encode_control(1, 0, 0, 0, body))
    assert m.name == "HELLO"
    assert m.unknown_mandatory().type == 77
    raw = bytearray(encode_control(1, 0, 0, 0, encode_avp(0, b"\x00\x06") + encode_avp(7, b"h", mandatory=False)))
    raw[12 + 8] |= 0x04                                    # a reserved bit in the second AVP
    m = decode_control(bytes(raw))
    assert not m.avps[1].known and m.get(AvpType.HOST_NAME) is None
