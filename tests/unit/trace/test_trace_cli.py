"""`rrasctl trace decode` through the root group: output formats, secrets on stdin, errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rrasctl.cli import cli

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "captures"
MOXIE = str(CAPTURES / "pptp-mschapv2-3frames-pptpd.pcap")
HUAWEI = str(CAPTURES / "l2tp-huawei-lac-lns-chap.pcap")
KEYS = ["frame", "time", "src", "dst", "tunnel", "protocol", "message", "fields", "error"]


def invoke(args, input=None, columns="400"):
    # a wide terminal unless a test says otherwise: tables fit COLUMNS by wrapping (decision 0124)
    return CliRunner().invoke(cli, ["trace", "decode", *args], input=input, env={"COLUMNS": columns},
                              catch_exceptions=False)


def test_table_in_a_pipe():
    res = invoke([MOXIE])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["FRAME", "TIME", "SRC", "DST", "TUNNEL", "PROTOCOL", "MESSAGE", "FIELDS"]
    assert lines[1].split()[:9] == ["1", "0.000000", "198.252.153.26", "192.168.43.114", "gre", "call=0", "seq=3",
                                    "CHAP", "Challenge"]
    assert lines[1].endswith("id=176 name=pptpd challenge=258d4fc024f111512d0b61f9c375aee1")
    assert len(lines) == 4
    assert res.stderr == "3 frames, 3 rows\n"


def test_json_rows_with_documented_keys():
    res = invoke(["-o", "json", "--password-stdin", MOXIE], input="bPCFyF2uL1p5Lg5yrKmqmY\n")
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert [list(r) for r in rows] == [KEYS] * 3
    assert rows[1]["protocol"] == "MS-CHAP-V2" and rows[1]["fields"]["verification"] == "verified"
    assert rows[2]["fields"]["verification"] == "verified" and rows[2]["error"] is None
    assert rows[1]["time"] == 0.002422
    assert "bPCFyF2uL1p5Lg5yrKmqmY" not in res.stdout + res.stderr
    assert "authentication: 2 verified, 0 NOT verified" in res.stderr


def test_json_from_the_environment(monkeypatch):
    monkeypatch.setenv("RRASCTL_OUTPUT", "json")
    res = invoke([MOXIE])
    assert res.exit_code == 0 and len(json.loads(res.stdout)) == 3


def test_wrong_password_says_so():
    res = invoke(["--password-stdin", MOXIE], input="wrong\n")
    assert res.exit_code == 0
    assert res.stdout.count("NOT verified") == 2
    assert "warning: the password verified no authentication exchange: nothing was decrypted" in res.stderr


def test_password_and_l2tp_secret_on_two_lines():
    res = invoke(["-o", "json", "--password-stdin", "--l2tp-secret-stdin", HUAWEI], input="abc-123\nabc-123\n")
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert [r["fields"].get("verification") for r in rows if r["protocol"] == "L2TP"][1:3] == ["verified"] * 2
    assert "L2TP tunnel authentication: 2 verified, 0 NOT verified" in res.stderr


def test_l2tp_secret_alone():
    res = invoke(["--l2tp-secret-stdin", HUAWEI], input="abc-123\n")
    assert res.exit_code == 0 and "L2TP tunnel authentication: 2 verified" in res.stderr


def test_stdin_errors_exit_2():
    res = invoke(["--password-stdin", "--l2tp-secret-stdin", HUAWEI], input="only-one\n")
    assert res.exit_code == 2
    assert res.stderr == "error: expected two lines on stdin: the password, then the L2TP secret\n"
    res = invoke(["--password-stdin", MOXIE], input="")
    assert res.exit_code == 2 and res.stderr.startswith("error: password:")


def test_not_a_capture_exit_2(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, world\n")
    res = invoke([str(bad)])
    assert res.exit_code == 2
    assert res.stderr == (f"error: {bad}: not a pcap or pcapng file (unknown magic number) (at byte 0)\n"
                          "hint: give a pcap or pcapng capture\n")
    assert res.stdout == ""


def test_truncated_capture_decodes_what_it_can(tmp_path):
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(Path(MOXIE).read_bytes()[:-10])
    res = invoke(["-o", "json", str(cut)])
    assert res.exit_code == 0 and len(json.loads(res.stdout)) == 2
    assert "truncated pcap record" in res.stderr and "decoded the frames before it" in res.stderr


def test_missing_file_is_a_usage_error():
    res = invoke(["/nonexistent/x.pcap"])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_help_has_an_example_and_the_json_keys():
    res = CliRunner().invoke(cli, ["trace", "decode", "--help"])
    assert res.exit_code == 0
    assert "Example:" in res.stdout and "--password-stdin" in res.stdout and "--write-pcap" in res.stdout
    for key in ("frame", "time", "src, dst", "tunnel", "protocol", "message", "fields", "error"):
        assert f"  {key}  " in res.stdout


def test_write_pcap_into_a_missing_directory_exit_1(tmp_path):
    res = invoke(["--write-pcap", str(tmp_path / "no" / "such" / "dir.pcap"), MOXIE])
    assert res.exit_code == 1 and res.stderr.startswith("error: cannot write ")


def test_write_pcap_tightens_an_existing_file(tmp_path):
    out = tmp_path / "old.pcap"
    out.write_bytes(b"old")
    out.chmod(0o644)
    res = invoke(["--write-pcap", str(out), MOXIE])
    assert res.exit_code == 0 and out.stat().st_mode & 0o777 == 0o600
    assert out.read_bytes()[:4] == bytes.fromhex("d4c3b2a1") and len(out.read_bytes()) == 24
    assert res.stderr.endswith(f"wrote 0 decrypted PPP frames to {out}\n")


def test_rows_fit_an_80_column_terminal():
    res = invoke([MOXIE], columns="80")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    # the tunnel column is left out and the fields go under their row (decision 0124)
    assert lines[:3] == ["FRAME  TIME      SRC             DST             PROTOCOL    MESSAGE",
                         "1      0.000000  198.252.153.26  192.168.43.114  CHAP        Challenge",
                         "       id=176 name=pptpd challenge=258d4fc024f111512d0b61f9c375aee1"]
