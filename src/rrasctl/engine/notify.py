"""The systemd service notification protocol (sd_notify(3)), spoken directly: no library, no libsystemd.

A service of `Type=notify` gets `$NOTIFY_SOCKET`, an AF_UNIX datagram socket: a path (`/run/systemd/notify`) or an
abstract name written with a leading `@`. Each datagram is newline-separated `KEY=VALUE` assignments:

    READY=1            start-up finished (listeners bound, control socket up): `systemctl start` returns
    STATUS=...         one line that `systemctl status` shows
    STOPPING=1         the service is shutting down
    WATCHDOG=1         keep-alive; with `WatchdogSec=` systemd restarts a service whose pings stop

`$WATCHDOG_USEC` (and `$WATCHDOG_PID`, when set, naming the process that must ping) give the watchdog interval;
pinging at half of it is what sd_watchdog_enabled(3) recommends. The variables are removed from the environment once
read (sd_notify's `unset_environment`), so nothing the engine might start inherits them.

Why no library: the protocol is one sendto() per message; `sdnotify` (PyPI) is unmaintained since 2017 and knows no
abstract names or watchdog variables, and `systemd-python` needs libsystemd headers to build (docs/decisions/0160).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes:
    """`$NOTIFY_SOCKET` -> an address for sendto(): a path, or an abstract name (`@name` -> b"\\0name")."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval_s(env: Mapping[str, str], pid: int) -> float | None:
    """The watchdog timeout in seconds for process `pid`, or None when it is off or meant for another process."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000


class Notifier:
    """Sends notifications to the service manager; every method is a cheap no-op when there is none.

    Failures to send are logged once and otherwise ignored: a notification that cannot be delivered must never
    stop the engine (systemd itself treats a missing READY=1 as a start-up timeout)."""

    def __init__(self, address: str | bytes | None, watchdog_s: float | None = None) -> None:
        self.address = address
        self.watchdog_s = watchdog_s
        self.sent: int = 0
        self.errors: int = 0
        self._sock: socket.socket | None = None
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, unset: bool = True) -> "Notifier":
        """Read `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` (from os.environ by default), then remove them."""
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET") or None
        watchdog = watchdog_interval_s(env, os.getpid()) if raw else None
        if unset:
            for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                env.pop(k, None)
        if raw is not None and not (raw.startswith("/") or raw.startswith("@")):
            log.warning("NOTIFY_SOCKET=%s is neither a path nor an abstract name; not notifying", raw)
            raw = None
        return cls(socket_address(raw) if raw else None, watchdog)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields: object) -> bool:
        """One datagram with the KEY=VALUE lines given (`send(READY=1, STATUS="ready")`). True when it went out."""
        if self._sock is None or self.address is None:
            return False
        lines = []
        for k, v in fields.items():
            text = str(v).replace("\n", " ")   # a value is one line in this protocol
            lines.append(f"{k}={text}")
        data = ("\n".join(lines) + "\n").encode("utf-8", "replace")
        try:
            self._sock.sendto(data, self.address)
        except OSError as exc:
            self.errors += 1
            if self.errors == 1:
                log.warning("cannot notify the service manager: %s", exc.strerror or exc)
            return False
        self.sent += 1
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING=1, STATUS=status)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
