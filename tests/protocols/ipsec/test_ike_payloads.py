"""IKEv1 codecs (RFC 2408 §3, RFC 2407 §4.6, RFC 3947) on the bytes of real captures: read fields, write fields,
reject every truncation, parse, emit the same bytes (DESIGN §10)."""

from __future__ import annotations

import pytest
from ike_capture import IKE_CAPTURES, ike_datagrams
from ike_pairs import WINDOWS_VIDS

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ipsec.ike import payloads as P
from rrasctl.protocols.ipsec.ike.constants import (ExchangeType, IdType, NotifyType, Phase1Attribute, PayloadType,
                                                   ProtocolId)
from rrasctl.protocols.ipsec.ike.natt import vid_name

CISCO = ike_datagrams("ikev1-cisco-ios-mm-qm-psk.pcap")
HUAWEI_AM = ike_datagrams("ikev1-huawei-aggressive-psk.pcap")
OPENSWAN = ike_datagrams("ikev1-openswan-natt-4500.pcap")
HUAWEI_L2TP = ike_datagrams("l2tp-ipsec-natt-huawei-des.pcap")


def test_every_ike_message_of_every_capture_decodes():
    counts = {}
    for name in IKE_CAPTURES:
        messages = [P.decode_message(d.message) for d in ike_datagrams(name)]
        counts[name] = (len(messages), sum(1 for m in messages if m.chain is None))
    # (messages, of which encrypted): the frames tshark lists as ISAKMP in each capture's .txt
    assert counts == {"ikev1-cisco-ios-mm-qm-psk.pcap": (9, 5), "ikev1-huawei-aggressive-psk.pcap": (6, 4),
                      "ikev1-openswan-natt-4500.pcap": (15, 11), "l2tp-ipsec-natt-huawei-des.pcap": (9, 5)}


def test_cisco_mm1_fields():
    m = P.decode_message(CISCO[0].message)
    h = m.header
    assert (h.ispi.hex(), h.rspi, h.exchange, h.flags, h.message_id, h.length) == (
        CISCO[0].message[:8].hex(), bytes(8), ExchangeType.IDENTITY_PROTECTION, 0, 0, 168)
    assert m.chain.types() == [PayloadType.SA] + [PayloadType.VENDOR_ID] * 4
    sa = m.chain.payloads[0]
    assert (sa.doi, sa.situation, len(sa.proposals)) == (1, 1, 1)
    p = sa.proposals[0]
    assert (p.number, p.protocol, p.spi, len(p.transforms)) == (1, ProtocolId.ISAKMP, b"", 1)
    t = p.transforms[0]
    attrs = {a.type: a.as_int() for a in t.attributes}
    assert attrs == {Phase1Attribute.ENCRYPTION_ALGORITHM: 7, Phase1Attribute.KEY_LENGTH: 128,
                     Phase1Attribute.HASH_ALGORITHM: 2, Phase1Attribute.GROUP_DESCRIPTION: 2,
                     Phase1Attribute.AUTHENTICATION_METHOD: 1, Phase1Attribute.LIFE_TYPE: 1,
                     Phase1Attribute.LIFE_DURATION: 86400}
    assert [vid_name(v.data) for v in m.chain.payloads[1:]] == [
        "RFC 3947", "439b59f8ba676c4c7737ae22eab8f582", "draft-ietf-ipsec-nat-t-ike-03",
        "draft-ietf-ipsec-nat-t-ike-02\\n"]


def test_life_duration_sent_as_a_variable_attribute_reads_as_an_int():
    sa = P.decode_message(HUAWEI_AM[0].message).chain.payloads[0]
    life = [a for a in sa.proposals[0].transforms[0].attributes if a.type == Phase1Attribute.LIFE_DURATION]
    assert life == [P.Attribute(Phase1Attribute.LIFE_DURATION, b"\x00\x01\x51\x80")] and life[0].as_int() == 86400


def test_huawei_aggressive_mode_payloads():
    am1, am2 = (P.decode_message(d.message).chain for d in HUAWEI_AM[:2])
    assert am1.types() == [1, 4, 10, 5] + [13] * 6
    assert am2.types() == [1, 4, 10, 5, 13, 13, 13, 13, 20, 20, 8]
    idi, idr = am1.one(P.IdPayload), am2.one(P.IdPayload)
    assert (idi.id_type, idi.text(), idi.protocol, idi.port) == (IdType.IPV4_ADDR, "202.1.1.1", 0, 0)
    assert idr.text() == "202.1.2.1"
    assert len(am1.one(P.KePayload).data) == 128 and len(am2.one(P.NoncePayload).data) == 16
    assert am2.one(P.HashPayload).data.hex() == "058515b32b15cbf03b35fb19035befa2c911b423fec898fa2aaabcb2548e9596"
    assert [vid_name(v.data) for v in am2.all(P.VendorIdPayload)] == [
        "RFC 3947", "CISCO-UNITY 1.0", "DPD (RFC 3706)", "HUAWEI-IKEv1DSCP"]


def test_openswan_nat_d_payloads_and_vendor_ids():
    mm1 = P.decode_message(OPENSWAN[0].message).chain
    assert [vid_name(v.data) for v in mm1.all(P.VendorIdPayload)] == [
        "OEkRbGXRvmPE", "DPD (RFC 3706)", "RFC 3947", "draft-ietf-ipsec-nat-t-ike-03",
        "draft-ietf-ipsec-nat-t-ike-02", "draft-ietf-ipsec-nat-t-ike-00"]
    mm3 = P.decode_message(OPENSWAN[2].message).chain
    assert [(type(p).__name__, len(p.data)) for p in mm3 if isinstance(p, P.NatDPayload)] == [
        ("NatDPayload", 16), ("NatDPayload", 16)]


@pytest.mark.parametrize("name", IKE_CAPTURES)
def test_clear_messages_re_encode_byte_for_byte(name):
    checked = 0
    for d in ike_datagrams(name):
        m = P.decode_message(d.message)
        if m.chain is None:
            continue
        first, body = P.encode_chain(m.chain.payloads)
        h = m.header
        assert P.encode_message(h.ispi, h.rspi, h.exchange, h.message_id, h.flags, first, body) == d.message
        checked += 1
    assert checked >= 2


def test_every_truncation_of_every_clear_message_is_malformed():
    fed = 0
    for name in IKE_CAPTURES:
        for d in ike_datagrams(name):
            if P.decode_message(d.message).chain is None:
                continue
            for n in range(len(d.message)):
                with pytest.raises(Malformed):
                    P.decode_message(d.message[:n])
                fed += 1
    assert fed == sum(len(d.message) for name in IKE_CAPTURES for d in ike_datagrams(name)
                      if not d.message[19] & 1)


def test_a_lying_header_length_or_payload_length_is_malformed():
    raw = bytearray(CISCO[0].message)
    raw[24:28] = (len(raw) + 1).to_bytes(4, "big")
    with pytest.raises(Malformed, match="bad ISAKMP length"):
        P.decode_message(bytes(raw))
    raw = bytearray(CISCO[0].message)
    raw[30:32] = (0xFFFF).to_bytes(2, "big")                # the SA payload's length
    with pytest.raises(Malformed, match="payload longer than its container"):
        P.decode_message(bytes(raw))
    raw = bytearray(CISCO[0].message)
    raw[16] = 99                                            # first payload: a type RFC 2408 reserves
    with pytest.raises(Malformed, match="unknown payload type"):
        P.decode_message(bytes(raw))


def test_attributes_tv_and_tlv():
    assert P.Attribute(14, 256).encode() == bytes.fromhex("800e0100")
    assert P.Attribute(12, b"\x00\x01\x51\x80").encode() == bytes.fromhex("000c000400015180")
    assert P.number(12, 28800) == P.Attribute(12, 28800)
    assert P.number(12, 86400) == P.Attribute(12, b"\x00\x01\x51\x80")
    with pytest.raises(ValueError):
        P.Attribute(12, 70000).encode()


def test_nat_payloads_in_both_numberings_round_trip():
    chain = [P.NatDPayload(b"\x11" * 20), P.NatDPayload(b"\x22" * 16, draft=True),
             P.NatOaPayload.of("10.0.0.2"), P.NatOaPayload.of("192.0.2.9", draft=True)]
    first, body = P.encode_chain(chain)
    assert first == PayloadType.NAT_D
    assert body[:4] == bytes([PayloadType.NAT_D_DRAFT, 0, 0, 24])
    back = P.decode_chain(first, body)
    assert back.payloads == tuple(chain) and back.types() == [20, 130, 21, 131]
    assert back.payloads[2].encode() == bytes.fromhex("010000000a000002") and back.payloads[3].text() == "192.0.2.9"


def test_notify_delete_and_id_payloads():
    n = P.NotifyPayload(NotifyType.R_U_THERE, ProtocolId.ISAKMP, b"c" * 16, b"\0\0\0\x07")
    assert n.encode() == bytes.fromhex("00000001" "01" "10" "8d28") + b"c" * 16 + b"\0\0\0\x07"
    d = P.DeletePayload(ProtocolId.ESP, (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"))
    assert d.encode() == bytes.fromhex("00000001" "03" "04" "0002" "01020304" "05060708")
    idp = P.IdPayload.address("192.0.2.1", 17, 1701)
    assert idp.encode() == bytes.fromhex("01" "11" "06a5" "c0000201")
    chain = P.decode_chain(*P.encode_chain([n, d, idp, P.VendorIdPayload(b"x" * 16)]))
    assert chain.payloads == (n, d, idp, P.VendorIdPayload(b"x" * 16))
    assert chain.raw_body(2) == idp.encode() and chain.after(1) == P.encode_chain([idp, P.VendorIdPayload(b"x" * 16)])[1]


def test_cert_cr_and_sig_decode():
    body = P.encode_chain([P.CertPayload(4, b"\x30\x03\x02\x01\x01"), P.CrPayload(4, b""), P.SigPayload(b"s" * 8)])
    chain = P.decode_chain(*body)
    assert chain.payloads == (P.CertPayload(4, b"\x30\x03\x02\x01\x01"), P.CrPayload(4, b""),
                              P.SigPayload(b"s" * 8))


def test_padding_is_skipped_only_in_decrypted_bodies():
    first, body = P.encode_chain([P.HashPayload(b"h" * 20)])
    assert P.decode_chain(first, body + bytes(8), padded=True).padding == 8
    with pytest.raises(Malformed, match="bytes after the last payload"):
        P.decode_chain(first, body + bytes(8))


def test_nonce_length_and_id_data_length_are_checked():
    with pytest.raises(Malformed, match="nonce length"):
        P.decode_chain(*P.encode_chain([P.NoncePayload(b"1234567")]))
    with pytest.raises(Malformed, match="ID data length"):
        P.decode_chain(*P.encode_chain([P.IdPayload(IdType.IPV4_ADDR, b"\1\2\3")]))
    with pytest.raises(Malformed, match="NAT-OA address"):
        P.decode_chain(*P.encode_chain([P.NatOaPayload(IdType.IPV4_ADDR, b"\1\2\3\4\5")]))


def test_windows_vendor_ids_by_name_and_as_capabilities():
    from rrasctl.protocols.ipsec.ike.natt import NattVersion, PeerCaps

    vids = [bytes.fromhex(v) for v in WINDOWS_VIDS]
    assert [vid_name(v) for v in vids] == [
        "MS NT5 ISAKMPOAKLEY version 9", "RFC 3947", "draft-ietf-ipsec-nat-t-ike-02\\n", "FRAGMENTATION",
        "MS-Negotiation Discovery Capable", "Microsoft Vid-Initial-Contact", "IKE CGA version 1"]
    caps = PeerCaps.from_vids(vids)
    assert caps == PeerCaps((NattVersion.RFC3947, NattVersion.DRAFT_02N), dpd=False, windows_version=9,
                            fragmentation=True)
    assert caps.best_natt() is NattVersion.RFC3947
    assert caps.best_natt((NattVersion.DRAFT_02N,)) is NattVersion.DRAFT_02N
    assert vid_name(bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d380000000")) == "FRAGMENTATION flags 0x80000000"
