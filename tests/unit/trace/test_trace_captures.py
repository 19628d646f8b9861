"""`trace decode` on the real captures of tests/data/captures (issue 4, acceptance 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rrasctl.trace.dissect import Dissector
from rrasctl.trace.pcap import read_packets

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "captures"
PPP_CAPTURES = sorted(p.name for p in CAPTURES.glob("*.pcap") if p.name.startswith(("pptp", "l2tp", "ppp")))


def decode(name: str, password: str | None = None, secret: bytes | None = None):
    d = Dissector(password, secret)
    rows = []
    for n, pkt in enumerate(read_packets((CAPTURES / name).read_bytes()), 1):
        rows += d.feed(n, pkt)
    return d, rows


def by_message(rows, protocol: str, message: str):
    return [r for r in rows if r.protocol == protocol and r.message == message]


def test_moxie_response_and_authenticator_response_verified():
    d, rows = decode("pptp-mschapv2-3frames-pptpd.pcap", "bPCFyF2uL1p5Lg5yrKmqmY")
    assert [(r.frame, r.protocol, r.message) for r in rows] == [
        (1, "CHAP", "Challenge"), (2, "MS-CHAP-V2", "Response"), (3, "MS-CHAP-V2", "Success")]
    assert rows[0].fields == {"id": 176, "name": "pptpd", "challenge": "258d4fc024f111512d0b61f9c375aee1"}
    assert rows[1].fields["user"] == "moxie" and rows[1].fields["verification"] == "verified"
    assert rows[2].fields["authenticator_response"] == "S=54644F81E5F18C0EE9E26776495D6BC7ADDFB767"
    assert rows[2].fields["message"] == "Access granted" and rows[2].fields["verification"] == "verified"
    assert (rows[1].src, rows[1].dst, rows[1].tunnel) == ("192.168.43.114", "198.252.153.26",
                                                          "gre call=46080 seq=4 ack=3")
    assert d.summary.ppp.verified == 2 and d.summary.ppp.not_verified == 0


def test_moxie_without_password_shows_no_verdict():
    d, rows = decode("pptp-mschapv2-3frames-pptpd.pcap")
    assert all("verification" not in r.fields for r in rows)
    assert d.summary.ppp.verified == d.summary.ppp.not_verified == 0


def test_win2000_exchange_verified_with_turquoise():
    d, rows = decode("pptp-win2000-poptop-mschapv2-mppe128.pcap", "turquoise")
    [resp] = by_message(rows, "MS-CHAP-V2", "Response")
    [ok] = by_message(rows, "MS-CHAP-V2", "Success")
    assert resp.fields["user"] == "scott" and resp.fields["verification"] == "verified"
    assert ok.fields["authenticator_response"] == "S=CEE89947F2DCA18C95F551C2E9E676504112C722"
    assert ok.fields["verification"] == "verified"
    assert len([r for r in rows if r.protocol == "MPPE"]) == 26


def test_win2000_wrong_password_verifies_nothing_and_decrypts_nothing():
    d, rows = decode("pptp-win2000-poptop-mschapv2-mppe128.pcap", "purple")
    verdicts = [r.fields["verification"] for r in rows if "verification" in r.fields]
    assert verdicts == ["NOT verified", "NOT verified"]
    mppe = [r for r in rows if r.protocol == "MPPE"]
    assert len(mppe) == 26 and {r.message for r in mppe} == {"encrypted"}
    assert d.summary.ppp.verified == 0 and d.summary.ppp.decrypted == 0 and d.summary.ppp.undecrypted == 26
    assert d.decrypted == []


def test_win2000_control_connection_and_negotiation():
    _, rows = decode("pptp-win2000-poptop-mschapv2-mppe128.pcap")
    pptp = [r.message for r in rows if r.protocol == "PPTP"]
    assert pptp == ["Start-Control-Connection-Request", "Start-Control-Connection-Reply", "Outgoing-Call-Request",
                    "Outgoing-Call-Reply", "Set-Link-Info", "Set-Link-Info"]
    assert [r.frame for r in rows if r.message == "retransmission"] == [5, 6, 10]
    [sccrp] = by_message(rows, "PPTP", "Start-Control-Connection-Reply")
    assert sccrp.fields["vendor"] == "MoretonBay"
    nak = by_message(rows, "LCP", "Configure-Nak")
    assert [r.fields["options"] for r in nak] == ["auth-protocol=ms-chap-v2"]
    assert [r.fields["options"] for r in by_message(rows, "CCP", "Configure-Ack")] == ["mppe=128+stateless", "mppe=128+stateless"]
    assert [r.fields.get("message") for r in by_message(rows, "LCP", "Identification")] == [
        "MSRASV5.00", "MSRASV5.00", "MSRAS-1-PC-4", "MSRAS-1-PC-4"]
    assert [r.fields["rejected_code"] for r in by_message(rows, "LCP", "Code-Reject")] == [12, 12]
    acks = by_message(rows, "GRE", "ack only")
    assert acks[0].frame == 21 and acks[0].fields == {"call_id": 4, "ack": 3}


def test_windows_failure_691_with_retry_then_final_failure():
    _, rows = decode("ppp-mschapv2-failure-retry-windows.pcap")
    failures = by_message(rows, "MS-CHAP-V2", "Failure")
    assert [(r.fields["error"], r.fields["retry"], r.fields.get("challenge")) for r in failures[::2]] == [
        (691, True, "64fb09a09f80035e4ca6ff6da2846a01")] * 4 + [
        (691, True, "fc651e09ea935cd1327b0c27570dbe5e"), (691, False, None)]
    responses = by_message(rows, "MS-CHAP-V2", "Response")
    assert [(r.frame, r.fields["id"], r.fields["user"]) for r in responses] == [
        (9, 1, "Tyson"), (10, 1, "Tyson"), (13, 2, "Tyson"), (14, 2, "Tyson")]
    assert [r.message for r in rows if r.protocol == "LCP"] == ["Terminate-Request"] * 3 + ["Terminate-Ack"]
    assert (rows[0].src, rows[1].src) == ("Send_02", "Recv_03")


def test_windows_failure_with_a_password_verifies_nothing():
    d, rows = decode("ppp-mschapv2-failure-retry-windows.pcap", "not-the-password")
    assert {r.fields["verification"] for r in rows if "verification" in r.fields} == {"NOT verified"}
    assert d.summary.ppp.verified == 0


def test_l2tp_huawei_chap_md5_and_tunnel_authentication_verified():
    d, rows = decode("l2tp-huawei-lac-lns-chap.pcap", "abc-123", b"abc-123")
    assert [r.message for r in rows if r.protocol == "L2TP"] == [
        "SCCRQ", "SCCRP", "SCCCN", "ICRQ", "ICRP", "ICCN", "ZLB"]
    sccrp, scccn = rows[1], rows[2]
    assert sccrp.fields["verification"] == scccn.fields["verification"] == "verified"
    [resp] = by_message(rows, "CHAP", "Response")
    assert resp.fields == {"id": 1, "user": "aa", "response": "62471b2f47b7064d0fb731be2e36327e",
                           "verification": "verified"}
    assert rows[6].tunnel == "l2tp tunnel=1 session=7 P" and rows[6].protocol == "LCP"
    assert d.summary.l2tp_verified == 2 and d.summary.ppp.verified == 1
    icmp = [r for r in rows if r.protocol == "IP"]
    assert len(icmp) == 9 and icmp[0].message == "IPv4 192.168.1.2 → 192.168.2.2 ICMP echo request"


def test_l2tp_huawei_wrong_secrets():
    d, rows = decode("l2tp-huawei-lac-lns-chap.pcap", "wrong", b"wrong")
    assert d.summary.l2tp_verified == 0 and d.summary.l2tp_not_verified == 2
    assert d.summary.ppp.verified == 0 and d.summary.ppp.not_verified == 1


def test_l2tp_data_offset_priority_and_ipv6():
    _, rows = decode("l2tp-data-isp-pppoe-ipv6.pcap")
    assert [(r.tunnel, r.protocol, r.message) for r in rows] == [
        ("l2tp tunnel=18994 session=54110 P", "LCP", "Echo-Request"),
        ("l2tp tunnel=1527 session=8298", "IPv6",
         "IPv6 2a00:5e80:101:212d:504:7b1:2572:db22 → 2606:f200:0:7:bad:f00d:d00d:1 TCP 37034 → 80 [SYN]"),
        ("l2tp tunnel=1527 session=8298", "IPv6",
         "IPv6 2a00:5e80:101:212d:504:7b1:2572:db22 → 2606:f200:0:7:bad:f00d:d00d:1 TCP 37034 → 80 [PSH,ACK]"),
        ("l2tp tunnel=18994 session=54110", "IPv6",
         "IPv6 2606:f200:0:7:bad:f00d:d00d:1 → 2a00:5e80:101:212d:504:7b1:2572:db22 TCP 80 → 37034 [PSH,ACK]"),
    ]


def test_pptp_control_only_capture():
    _, rows = decode("pptp-ctrl-linux-to-windows-rras.pcap")
    assert [r.message for r in rows if r.protocol == "PPTP"] == [
        "Start-Control-Connection-Request", "Start-Control-Connection-Reply", "Outgoing-Call-Request",
        "Outgoing-Call-Reply", "Set-Link-Info", "Set-Link-Info", "Call-Clear-Request", "Call-Disconnect-Notify"]
    [sccrp] = by_message(rows, "PPTP", "Start-Control-Connection-Reply")
    assert sccrp.fields["vendor"] == "Microsoft"


@pytest.mark.parametrize("name", PPP_CAPTURES)
def test_every_frame_of_every_pptp_and_l2tp_capture_decodes(name):
    d, rows = decode(name)
    assert [r for r in rows if r.error] == []
    assert d.summary.malformed == 0 and d.summary.frames == len({r.frame for r in rows})
    assert not [r for r in rows if r.protocol in ("PPP", "?") or r.message.startswith("code ")]


def test_every_capture_in_the_directory_is_covered():
    assert len(PPP_CAPTURES) == 7
