"""Option judging replayed on real peers' packets: Windows 2000 ↔ Poptop pptpd
(tests/data/captures/pptp-win2000-poptop-mschapv2-mppe128.pcap; frame numbers as in its .txt rendering).

Our cores, put in the place of either side, answer what that side answered, byte for byte."""

from __future__ import annotations

from ipaddress import IPv4Address

from rrasctl.protocols.ppp.auth import AuthMethod
from rrasctl.protocols.ppp.ccp import CcpLayer, CcpPolicy
from rrasctl.protocols.ppp.frame import Code, ControlPacket, split_frame
from rrasctl.protocols.ppp.ipcp import IpcpLayer, IpcpPolicy
from rrasctl.protocols.ppp.lcp import LcpLayer, LcpPolicy
from tests.conftest import CAPTURES, fixed_rng


def info(frame_hex: str) -> ControlPacket:
    return ControlPacket.decode(split_frame(bytes.fromhex(frame_hex))[1])


# frame 14: Windows' LCP Configure-Request (magic, PFC, ACFC, callback, MRRU, endpoint discriminator)
WIN_LCP_REQ = info("ff03c0210100002c05060015706a070208020d03061104064e1317017f6769e949404affbb24d0941651d7aa00000004")
# frame 18: pptpd's Configure-Reject: callback and MRRU
POPTOP_LCP_REJ = info("ff03c0210401000b0d03061104064e")
# frame 12: pptpd's LCP request (ACCM 0, EAP, magic, PFC, ACFC); frame 23: Windows' Nak with MS-CHAP v2
POPTOP_LCP_REQ = info("ff03c021010100180206000000000304c22705060d3515db07020802")
WIN_LCP_NAK = info("ff03c021030100090305c22381")
# frames 39 / 44: Windows' CCP request (H, M, S, L, C) and pptpd's Nak (H + S); 38/43: pptpd's request, Windows' Ack
WIN_CCP_REQ = info("80fd0105000a1206010000e1")
POPTOP_CCP_NAK = info("80fd0305000a120601000040")
POPTOP_CCP_REQ = info("80fd0101000a120601000040")
# frame 41: Windows asks address, DNS, NBNS, DNS2, NBNS2 with 0.0.0.0; 46: pptpd rejects the NBNS pair
WIN_IPCP_REQ = info("802101060022030600000000810600000000820600000000830600000000840600000000")
POPTOP_IPCP_REJ = info("802104060010820600000000840600000000")
# frame 48: the request again without NBNS; 51: pptpd's Nak with the address and DNS; 52: Windows takes it
WIN_IPCP_REQ2 = info("802101080016030600000000810600000000830600000000")
POPTOP_IPCP_NAK = info("8021030800160306c0a802028106c0a802018306c0a80201")
WIN_IPCP_REQ3 = info("8021010900160306c0a802028106c0a802018306c0a80201")
# frame 47: pptpd's own IPCP request (its address); 49: Windows' Ack
POPTOP_IPCP_REQ = info("80210102000a0306c0a80201")


def test_server_rejects_what_pptpd_rejected_in_windows_lcp_request():
    lcp = LcpLayer(LcpPolicy(True, (AuthMethod.MSCHAP_V2,), 1400, fixed_rng(1)))
    assert lcp.judge_request(WIN_LCP_REQ.data, True) == (Code.CONFIGURE_REJECT, POPTOP_LCP_REJ.data)
    rest = bytes.fromhex("05060015706a070208021317017f6769e949404affbb24d0941651d7aa00000004")   # frame 19
    assert lcp.judge_request(rest, True) == (Code.CONFIGURE_ACK, rest)
    assert lcp.neg.peer_got["magic-number"] == 0x0015706A and lcp.neg.peer_got["pfc"] is True


def test_peer_naks_eap_with_ms_chap_v2_as_windows_did():
    lcp = LcpLayer(LcpPolicy(False, (AuthMethod.MSCHAP_V2,), 1400, fixed_rng(1)))
    assert lcp.judge_request(POPTOP_LCP_REQ.data, True) == (Code.CONFIGURE_NAK, WIN_LCP_NAK.data)
    again = bytes.fromhex("0206000000000305c2238105060d3515db07020802")                     # frame 24
    assert lcp.judge_request(again, True) == (Code.CONFIGURE_ACK, again)
    assert lcp.auth_method is AuthMethod.MSCHAP_V2


def test_authenticator_moves_to_the_method_the_peer_names():
    lcp = LcpLayer(LcpPolicy(True, (AuthMethod.CHAP_MD5, AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2), 1500,
                             fixed_rng(1)))
    assert lcp.neg.want["auth-protocol"] == AuthMethod.MSCHAP_V2.option_data      # the strongest first
    lcp.build_request()
    assert lcp.nak_received(bytes.fromhex("0305c22305"))                        # the peer names CHAP-MD5
    assert lcp.neg.want["auth-protocol"] == AuthMethod.CHAP_MD5.option_data


def test_server_ccp_naks_windows_with_stateless_128_as_pptpd():
    ccp = CcpLayer(CcpPolicy(frozenset({128}), True))
    assert ccp.judge_request(WIN_CCP_REQ.data, True) == (Code.CONFIGURE_NAK, POPTOP_CCP_NAK.data)
    assert ccp.judge_request(POPTOP_CCP_NAK.data, True) == (Code.CONFIGURE_ACK, POPTOP_CCP_NAK.data)


def test_client_ccp_acks_pptpd_request_and_offers_like_windows():
    ccp = CcpLayer(CcpPolicy(frozenset({40, 56, 128}), True))
    assert ccp.judge_request(POPTOP_CCP_REQ.data, True) == (Code.CONFIGURE_ACK, POPTOP_CCP_REQ.data)
    assert ccp.build_request() == bytes.fromhex("1206010000e0")       # Windows' bits without MPPC
    assert ccp.nak_received(POPTOP_CCP_NAK.data)
    assert ccp.build_request() == POPTOP_CCP_NAK.data
    assert ccp.ack_received(POPTOP_CCP_NAK.data)
    ccp.neg.peer_got = {"mppe": 0x01000040}
    assert ccp.directions() == ((128, True), (128, True))


def test_server_ipcp_answers_windows_as_pptpd_did():
    ipcp = IpcpLayer(IpcpPolicy(True, IPv4Address("192.168.2.1"), IPv4Address("192.168.2.2"),
                                dns=(IPv4Address("192.168.2.1"), IPv4Address("192.168.2.1"))))
    assert ipcp.judge_request(WIN_IPCP_REQ.data, True) == (Code.CONFIGURE_REJECT, POPTOP_IPCP_REJ.data)
    assert ipcp.judge_request(WIN_IPCP_REQ2.data, True) == (Code.CONFIGURE_NAK, POPTOP_IPCP_NAK.data)
    assert ipcp.judge_request(WIN_IPCP_REQ3.data, True) == (Code.CONFIGURE_ACK, WIN_IPCP_REQ3.data)
    assert ipcp.build_request() == POPTOP_IPCP_REQ.data


def test_client_ipcp_asks_and_takes_like_windows():
    ipcp = IpcpLayer(IpcpPolicy(False, None, None))
    assert ipcp.build_request() == WIN_IPCP_REQ.data
    assert ipcp.reject_received(POPTOP_IPCP_REJ.data)
    assert ipcp.build_request() == WIN_IPCP_REQ2.data
    assert ipcp.nak_received(POPTOP_IPCP_NAK.data)
    assert ipcp.build_request() == WIN_IPCP_REQ3.data
    assert ipcp.ack_received(WIN_IPCP_REQ3.data)
    assert ipcp.judge_request(POPTOP_IPCP_REQ.data, True) == (Code.CONFIGURE_ACK, POPTOP_IPCP_REQ.data)
    assert ipcp.result() == (IPv4Address("192.168.2.2"), IPv4Address("192.168.2.1"),
                             (IPv4Address("192.168.2.1"), IPv4Address("192.168.2.1")), ())


def _gre_ppp_frames(path):
    """PPP payloads of enhanced GRE (RFC 2637 §4.1) in an Ethernet capture (a minimal reader for this test)."""
    import struct

    from rrasctl.trace.pcap import read_packets
    frames = []
    for packet in read_packets(path.read_bytes()):
        d = packet.data
        if packet.linktype != 1 or d[12:14] != b"\x08\x00" or d[14 + 9] != 47:
            continue
        gre = d[14 + (d[14] & 15) * 4:]
        flags, proto, length = struct.unpack_from("!HHH", gre)
        pos = 8 + (4 if flags & 0x1000 else 0) + (4 if flags & 0x0080 else 0)
        if proto == 0x880B and length:
            frames.append(gre[pos:pos + length])
    return frames


def test_every_control_frame_of_the_pptp_captures_decodes():
    from rrasctl.protocols.ppp.options import parse_options
    counts = {}
    for name in ("pptp-win2000-poptop-mschapv2-mppe128.pcap", "pptp-mschapv2-3frames-pptpd.pcap"):
        for frame in _gre_ppp_frames(CAPTURES / name):
            protocol, payload = split_frame(frame)
            if protocol in (0xC021, 0x8021, 0x80FD, 0xC223):
                packet = ControlPacket.decode(payload)
                if protocol != 0xC223 and packet.code in (1, 2, 3, 4):
                    parse_options(packet.data)
            counts[protocol] = counts.get(protocol, 0) + 1
    assert counts == {0xC021: 17, 0xC223: 6, 0x8021: 10, 0x80FD: 7, 0x00FD: 26}
