"""`trace decode` on the IKE captures (issue 14, acceptance 2, IKE part): every ISAKMP message decodes with zero
malformed rows, encrypted bodies show as encrypted, NAT-D verdicts, and `--psk-stdin` checks the Huawei Aggressive
Mode exchange's HASH_R."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from ike_capture import IKE_CAPTURES
from support import CAPTURES

from rrasctl.cli import cli
from rrasctl.trace.dissect import Dissector
from rrasctl.trace.pcap import read_packets

AGGRESSIVE = str(CAPTURES / "ikev1-huawei-aggressive-psk.pcap")


def decode(name: str, psk: bytes | None = None):
    d = Dissector(ike_psk=psk)
    rows = []
    for n, pkt in enumerate(read_packets((CAPTURES / name).read_bytes()), 1):
        rows += d.feed(n, pkt)
    return d, [r for r in rows if r.protocol == "ISAKMP"], rows


def invoke(args, input=None):
    return CliRunner().invoke(cli, ["trace", "decode", *args], input=input, catch_exceptions=False)


@pytest.mark.parametrize("name,count,clear", [("ikev1-cisco-ios-mm-qm-psk.pcap", 9, 4),
                                              ("ikev1-huawei-aggressive-psk.pcap", 6, 2),
                                              ("ikev1-openswan-natt-4500.pcap", 15, 4),
                                              ("l2tp-ipsec-natt-huawei-des.pcap", 9, 4)])
def test_every_ike_message_decodes_with_zero_malformed_rows(name, count, clear):
    d, ike, rows = decode(name)
    assert d.summary.malformed == 0 and all(r.error is None for r in rows)
    assert len(ike) == count
    assert sum(1 for r in ike if not r.fields["encrypted"]) == clear
    assert all(r.message.endswith("(encrypted)") == r.fields["encrypted"] for r in ike)
    assert all("payloads" in r.fields for r in ike if not r.fields["encrypted"])


def test_cisco_main_mode_rows():
    _, ike, _ = decode("ikev1-cisco-ios-mm-qm-psk.pcap")
    mm1, mm2, mm3 = ike[:3]
    assert mm1.message == "Identity Protection (Main Mode)" and mm1.fields["payloads"] == "SA VID VID VID VID"
    assert mm1.fields["sa"] == ["aes128-sha1-modp1024 psk 86400s"]
    assert mm2.fields["vendor_ids"] == ["RFC 3947"]
    assert (mm3.fields["ke_bits"], mm3.fields["nonce_len"], mm3.fields["nat"]) == (1024, 20, "none")
    assert [r.message for r in ike[6:]] == ["Quick Mode (encrypted)"] * 3


def test_nat_verdicts_from_nat_d_in_the_nat_t_captures():
    for name in ("l2tp-ipsec-natt-huawei-des.pcap", "ikev1-openswan-natt-4500.pcap"):
        _, ike, _ = decode(name)
        assert [r.fields.get("nat") for r in ike if "nat" in r.fields] == ["sender behind a NAT", "none"]
    _, ike, rows = decode("l2tp-ipsec-natt-huawei-des.pcap")
    assert ike[0].fields["sa"] == ["des-sha1-modp1024 psk 86400s"]
    assert ike[1].fields["vendor_ids"] == ["RFC 3947", "CISCO-UNITY 1.0", "DPD (RFC 3706)", "HUAWEI-IKEv1DSCP"]
    assert [r.frame for r in ike if r.fields["encrypted"]] == [5, 6, 7, 8, 9]       # MM5 on: port 4500, marker
    assert sum(1 for r in rows if r.protocol == "ESP") == 109


def test_aggressive_mode_psk_123_matches():
    d, ike, _ = decode("ikev1-huawei-aggressive-psk.pcap", b"123")
    am1, am2 = ike[:2]
    assert "verification" not in am1.fields
    assert am2.fields["verification"] == "PSK matches"
    assert am2.fields["hash"] == "058515b32b15cbf03b35fb19035befa2c911b423fec898fa2aaabcb2548e9596"
    assert am2.fields["id"] == ["ipv4_addr 202.1.2.1"] and am2.fields["sa"] == ["aes256-sha256-modp1024 psk 86400s"]
    assert (d.ike.verified, d.ike.not_verified) == (1, 0)


def test_aggressive_mode_wrong_psk_does_not_match():
    d, ike, _ = decode("ikev1-huawei-aggressive-psk.pcap", b"1234")
    assert ike[1].fields["verification"] == "PSK does NOT match"
    assert (d.ike.verified, d.ike.not_verified) == (0, 1)


def test_cli_psk_stdin_says_the_psk_matches():
    res = invoke(["--psk-stdin", AGGRESSIVE], input="123\n")
    assert res.exit_code == 0
    assert "verification=PSK matches" in res.stdout and "123" not in res.stdout.split("verification")[1][:20]
    assert res.stderr == "24 frames, 24 rows\nIKE pre-shared key: 1 exchanges match, 0 do NOT match\n"
    rows = json.loads(invoke(["-o", "json", "--psk-stdin", AGGRESSIVE], input="123\n").stdout)
    assert rows[1]["fields"]["verification"] == "PSK matches"


def test_cli_wrong_psk_says_it_does_not_match():
    res = invoke(["-o", "json", "--psk-stdin", AGGRESSIVE], input="wrong\n")
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert rows[1]["fields"]["verification"] == "PSK does NOT match"
    assert res.stderr.splitlines()[-1] == "IKE pre-shared key: 0 exchanges match, 1 do NOT match"
    assert "wrong" not in res.stdout and "wrong" not in res.stderr


def test_cli_main_mode_capture_says_the_psk_cannot_be_checked():
    res = invoke(["-o", "json", "--psk-stdin", str(CAPTURES / "ikev1-cisco-ios-mm-qm-psk.pcap")], input="x\n")
    rows = json.loads(res.stdout)
    assert rows[4]["fields"]["verification"] == \
        "not checkable offline (main mode hides HASH_I under the DH secret)"
    assert res.stderr.splitlines()[-1] == \
        "IKE pre-shared key: 0 exchanges match, 0 do NOT match (no Aggressive Mode exchange to check)"


def test_cli_three_secrets_on_three_lines_and_the_count_checked():
    res = invoke(["--password-stdin", "--l2tp-secret-stdin", "--psk-stdin", AGGRESSIVE], input="pw\nsecret\n123\n")
    assert res.exit_code == 0 and "IKE pre-shared key: 1 exchanges match" in res.stderr
    res = invoke(["--l2tp-secret-stdin", "--psk-stdin", AGGRESSIVE], input="only-one\n")
    assert res.exit_code == 2
    assert res.stderr == "error: expected two lines on stdin: the L2TP secret, then the pre-shared key\n"


@pytest.mark.parametrize("name", IKE_CAPTURES)
def test_json_rows_are_plain_json(name):
    res = invoke(["-o", "json", str(CAPTURES / name)])
    assert res.exit_code == 0
    rows = [r for r in json.loads(res.stdout) if r["protocol"] == "ISAKMP"]
    assert rows and all(isinstance(r["fields"]["ispi"], str) for r in rows)
