"""The journal's native protocol: field encoding (both forms), the fields of a record (session, cause, Windows
error), the JOURNAL_STREAM check, large entries through a sealed memfd, and a canary: a registered password never
appears in any datagram, whatever field carries it."""

from __future__ import annotations

import array
import logging
import os
import socket
import threading
import struct

import pytest

from rrasctl.engine.journal import (JournalHandler, decode_entry, encode_field, priority, record_fields,
                                    stderr_is_journal)
from rrasctl.engine.sessions import Session
from rrasctl.redact import MASK, RedactingFilter, register


@pytest.fixture
def journal(tmp_path, monkeypatch):
    path = str(tmp_path / "journal.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.settimeout(5)
    monkeypatch.setenv("RRASCTL_JOURNAL_SOCKET", path)
    handler = JournalHandler()
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(f"rrasctl.test.journal.{id(handler)}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, sock, handler
    logger.removeHandler(handler)
    handler.close()
    sock.close()


def receive(sock) -> dict[str, list[bytes]]:
    data, anc, _flags, _addr = sock.recvmsg(1 << 20, socket.CMSG_SPACE(4))
    if not data and anc:        # the memfd form: an empty payload and one descriptor
        fds = array.array("i")
        fds.frombytes(anc[0][2][:4])
        with os.fdopen(fds[0], "rb") as f:      # the file offset is shared with the sender: read from 0
            data = os.pread(f.fileno(), 1 << 21, 0)
    return decode_entry(data)


def one(entry: dict[str, list[bytes]], name: str) -> str:
    (v,) = entry[name]
    return v.decode()


def test_encoding_plain_and_binary_safe():
    assert encode_field("MESSAGE", "up: 10.87.0.2") == b"MESSAGE=up: 10.87.0.2\n"
    assert encode_field("MESSAGE", "a\nb") == b"MESSAGE\n" + struct.pack("<Q", 3) + b"a\nb\n"
    both = encode_field("A", "x=y") + encode_field("B", "1\n2\n") + encode_field("C", "")
    assert decode_entry(both) == {"A": [b"x=y"], "B": [b"1\n2\n"], "C": [b""]}


@pytest.mark.parametrize("level,prio", [(logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4),
                                        (logging.ERROR, 3), (logging.CRITICAL, 2)])
def test_priority(level, prio):
    assert priority(level) == prio


def test_a_session_line_carries_the_rras_fields(journal):
    log, sock, _ = journal
    s = Session("pptp", 3, "198.51.100.7", user="alice")
    s.id = 42
    log.warning("down: %s", "peer terminated", extra={"session": s, "cause": "peer terminated"})
    e = receive(sock)
    assert one(e, "MESSAGE") == "down: peer terminated"
    assert (one(e, "PRIORITY"), one(e, "SYSLOG_IDENTIFIER")) == ("4", "rrasctl")
    assert one(e, "CODE_FILE") == __file__ and int(one(e, "CODE_LINE")) > 0
    assert one(e, "CODE_FUNC") == "test_a_session_line_carries_the_rras_fields"
    assert {k: one(e, k) for k in e if k.startswith("RRAS_")} == {
        "RRAS_SESSION_ID": "42", "RRAS_PORT": "PPTP-3", "RRAS_USER": "alice", "RRAS_PEER": "198.51.100.7",
        "RRAS_PROTOCOL": "pptp", "RRAS_CAUSE": "peer terminated"}


def test_a_refusal_line_carries_cause_and_windows_error(journal):
    log, sock, _ = journal
    log.warning("refused", extra={"protocol": "l2tp", "peer": "203.0.113.5", "user": "bob",
                                  "cause": "authentication failed", "windows_error": 691})
    e = receive(sock)
    assert {k: one(e, k) for k in e if k.startswith("RRAS_")} == {
        "RRAS_USER": "bob", "RRAS_PEER": "203.0.113.5", "RRAS_PROTOCOL": "l2tp",
        "RRAS_CAUSE": "authentication failed", "RRAS_WINDOWS_ERROR": "691"}


def test_a_plain_line_has_no_rras_fields_and_a_traceback_goes_binary_safe(journal):
    log, sock, _ = journal
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("driver failed")
    e = receive(sock)
    msg = one(e, "MESSAGE")
    assert msg.startswith("driver failed\nTraceback (most recent call last):") and msg.endswith("ValueError: boom")
    assert not [k for k in e if k.startswith("RRAS_")]
    assert one(e, "PRIORITY") == "3"


def test_an_entry_too_large_for_a_datagram_goes_through_a_sealed_memfd(journal):
    log, sock, handler = journal
    big = "x" * 400_000
    log.info("big %s", big)
    e = receive(sock)
    assert e["MESSAGE"] == [("big " + big).encode()]        # (no `one`: a failure would print 400 kB)
    assert handler.via_memfd == 1


def test_canary_a_registered_password_appears_in_no_field(journal):
    log, sock, _ = journal
    canary = "Canary-pw-7f3a9c1e"
    register(canary)
    s = Session("l2tp", 0, "198.51.100.9", user=canary)       # even a (wrong) field holding it
    log.error("auth with %s failed", canary, extra={"session": s, "cause": f"bad {canary}",
                                                      "windows_error": 691})
    try:
        raise RuntimeError(f"secret {canary} in an exception")
    except RuntimeError:
        log.exception("oops %s", "enc:v1:QUJDREVGRw==")
    raw = b""
    for _ in range(2):
        data = sock.recv(1 << 20)
        raw += data
        assert canary.encode() not in data and b"enc:v1:" not in data
    assert raw.count(MASK.encode()) >= 4


def test_stderr_is_journal_matches_dev_and_inode(tmp_path):
    r, w = os.pipe()
    try:
        st = os.fstat(w)
        assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, fd=w)
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, fd=w)
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, fd=w)
        assert not stderr_is_journal({}, fd=w)
    finally:
        os.close(r)
        os.close(w)


def test_record_fields_skip_empty_values():
    rec = logging.LogRecord("rrasctl.x", logging.INFO, "/f.py", 10, "m", None, None, func="f")
    rec.session = Session("pptp", 0, "192.0.2.1")           # no user, no interface
    names = [k for k, _ in record_fields(rec, "m")]
    assert "RRAS_USER" not in names and "RRAS_INTERFACE" not in names and "RRAS_PEER" in names


def test_a_journal_that_falls_behind_costs_log_lines_never_a_blocked_engine(journal):
    """The journal's queue holds net.unix.max_dgram_qlen datagrams (10 on this kernel, 512 under systemd): once it
    is full a blocking send would stop the event loop until journald reads. The handler never blocks; the lines it
    could not write are counted and said in the next line that gets through."""
    logger, sock, handler = journal
    n = 2_000                                       # far beyond any queue length
    worker = threading.Thread(target=lambda: [logger.info("line %d", i) for i in range(n)], daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "a log call blocked on the journal socket"
    assert handler.dropped > 0 and handler.sent + handler.dropped == n
    received = 0
    sock.settimeout(0)
    try:
        while True:
            receive(sock)
            received += 1
    except BlockingIOError:
        pass
    assert received == handler.sent
    dropped = handler.dropped
    sock.settimeout(5)
    logger.warning("back")
    assert one(receive(sock), "MESSAGE") == f"back ({dropped} earlier log lines dropped: the journal was not keeping up)"
    assert handler.dropped == 0
