"""Logging straight to the systemd journal with its native protocol, so fields can be filtered on.

    journalctl -u rrasctl RRAS_USER=alice
    journalctl -u rrasctl RRAS_WINDOWS_ERROR=691 -o json

Used when the engine's stderr *is* the journal: systemd sets `$JOURNAL_STREAM=<dev>:<inode>` for a service whose
stderr goes to journald, and the pair must match fstat(stderr) (a child that inherited the variable but writes
elsewhere keeps plain lines). Otherwise logging stays as before: rich on a TTY, plain lines in a pipe.

The native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL): one AF_UNIX datagram per entry to
/run/systemd/journal/socket, each field `NAME=value\\n`, or for a value holding a newline (a traceback) the
binary-safe form `NAME\\n<64-bit little-endian length><value>\\n`. An entry too large for one datagram goes in a
sealed memfd passed with SCM_RIGHTS and an empty payload. `$RRASCTL_JOURNAL_SOCKET` overrides the path (tests).

Fields: MESSAGE, PRIORITY (syslog 0..7), SYSLOG_IDENTIFIER=rrasctl, CODE_FILE, CODE_LINE, CODE_FUNC, LOGGER, and
from the record, when it carries them: RRAS_SESSION_ID, RRAS_PORT, RRAS_USER, RRAS_INTERFACE, RRAS_PEER,
RRAS_PROTOCOL (from `extra={"session": s}`), RRAS_CAUSE (`extra={"cause": ...}`) and RRAS_WINDOWS_ERROR
(`extra={"windows_error": ...}`). Every value passes the redaction of rrasctl.redact (registered secrets and sealed
values masked) before it is encoded.
"""

from __future__ import annotations

import array
import errno
import fcntl
import logging
import os
import socket
import struct
import sys
import traceback
from typing import Any

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SOCKET_ENV = "RRASCTL_JOURNAL_SOCKET"
IDENTIFIER = "rrasctl"

# logging level -> syslog priority (RFC 5424): CRITICAL 2, ERROR 3, WARNING 4, INFO 6, DEBUG 7
_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))

_SEALS = getattr(fcntl, "F_SEAL_SHRINK", 2) | getattr(fcntl, "F_SEAL_GROW", 4) | getattr(fcntl, "F_SEAL_WRITE", 8) \
    | getattr(fcntl, "F_SEAL_SEAL", 1)


def stderr_is_journal(env: dict[str, str] | None = None, fd: int | None = None) -> bool:
    """True when $JOURNAL_STREAM names the device and inode of our stderr."""
    env = os.environ if env is None else env
    raw = env.get("JOURNAL_STREAM", "")
    dev, sep, ino = raw.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat(sys.stderr.fileno() if fd is None else fd)
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def priority(levelno: int) -> int:
    for level, prio in _PRIORITY:
        if levelno >= level:
            return prio
    return 7


def encode_field(name: str, value: str | bytes) -> bytes:
    """One field in the native format; the binary-safe length form when the value holds a newline."""
    data = value if isinstance(value, bytes) else value.encode("utf-8", "replace")
    key = name.encode("ascii")
    if b"\n" in data:
        return key + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key + b"=" + data + b"\n"


def decode_entry(payload: bytes) -> dict[str, list[bytes]]:
    """The inverse of encoding (for tests and tools): field name -> values, both forms understood."""
    out: dict[str, list[bytes]] = {}
    i = 0
    while i < len(payload):
        nl = payload.index(b"\n", i)
        line = payload[i:nl]
        if b"=" in line:
            k, _, v = line.partition(b"=")
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack_from("<Q", payload, nl + 1)
            start = nl + 1 + 8
            v = payload[start:start + n]
            if payload[start + n:start + n + 1] != b"\n":
                raise ValueError(f"field {k!r}: no newline after {n} bytes")
            i = start + n + 1
        out.setdefault(k.decode("ascii"), []).append(v)
    return out


def _mask(text: str) -> str:
    from rrasctl.redact import mask_text

    return mask_text(text)


def record_fields(record: logging.LogRecord, message: str) -> list[tuple[str, str]]:
    """The journal fields of one record (values not yet redacted)."""
    fields = [("MESSAGE", message), ("PRIORITY", str(priority(record.levelno))),
              ("SYSLOG_IDENTIFIER", IDENTIFIER), ("CODE_FILE", record.pathname or ""),
              ("CODE_LINE", str(record.lineno)), ("CODE_FUNC", record.funcName or ""), ("LOGGER", record.name)]
    s = getattr(record, "session", None)
    if s is not None:
        for name, attr in (("RRAS_SESSION_ID", "id"), ("RRAS_PORT", "port_name"), ("RRAS_USER", "user"),
                           ("RRAS_INTERFACE", "interface"), ("RRAS_PEER", "peer"), ("RRAS_PROTOCOL", "protocol")):
            v = getattr(s, attr, None)
            if v is not None and v != "":
                fields.append((name, str(v)))
    for name, attr in (("RRAS_USER", "user"), ("RRAS_PEER", "peer"), ("RRAS_PROTOCOL", "protocol"),
                       ("RRAS_CAUSE", "cause"), ("RRAS_WINDOWS_ERROR", "windows_error")):
        v = getattr(record, attr, None)
        if v is not None and v != "" and not any(f[0] == name for f in fields):
            fields.append((name, str(v)))
    return fields


class JournalHandler(logging.Handler):
    """A logging handler that writes native-protocol datagrams (see the module docstring)."""

    def __init__(self, path: str | None = None, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.path = path or os.environ.get(SOCKET_ENV) or JOURNAL_SOCKET
        # never blocking: a journal that falls behind (its queue full) costs log lines, never the event loop
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        self.sent = 0
        self.via_memfd = 0
        self.dropped = 0          # lines the journal had no room for (said in the next line that gets through)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            if self.dropped:
                message += f" ({self.dropped} earlier log lines dropped: the journal was not keeping up)"
            payload = b"".join(encode_field(k, _mask(v)) for k, v in record_fields(record, message))
            try:
                self.send(payload)
            except (BlockingIOError, InterruptedError):
                self.dropped += 1
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.dropped += 1
                return
            self.dropped = 0
        except Exception:  # a log line that cannot be written must not take the engine down
            self.handleError(record)

    def send(self, payload: bytes) -> None:
        try:
            self.sock.sendto(payload, self.path)
        except OSError as exc:
            if exc.errno != 90:   # EMSGSIZE: too large for one datagram -> a sealed memfd
                raise
            self._send_memfd(payload)
        self.sent += 1

    def _send_memfd(self, payload: bytes) -> None:
        fd = os.memfd_create("rrasctl-journal", os.MFD_CLOEXEC | getattr(os, "MFD_ALLOW_SEALING", 2))
        try:
            os.write(fd, payload)
            fcntl.fcntl(fd, getattr(fcntl, "F_ADD_SEALS", 1033), _SEALS)
            self.sock.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))], 0, self.path)
            self.via_memfd += 1
        finally:
            os.close(fd)

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            super().close()


def make_handler() -> Any:
    """A JournalHandler when stderr is the journal, else None."""
    if not stderr_is_journal():
        return None
    return JournalHandler()
