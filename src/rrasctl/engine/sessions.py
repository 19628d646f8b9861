"""The engine's session table: one `Session` record per connection, whatever its protocol (SPEC §6, §7).

A driver creates a `Session` when it admits a call, fills in what it learns (user, address, encryption, auth), and
removes it when the call ends. The table gives the control socket its rows (`connections list`, `ports show`) and
gives the TUN reader its demultiplexer: a packet read from the TUN goes to the session whose client address (exact
/32) or routed prefix (a calling router's or a demand-dial interface's routes, longest prefix first) matches the
destination.

Counting convention: `bytes_in` = IP bytes received from the peer (written to the TUN by the driver), `bytes_out` =
IP bytes sent to the peer (the TUN reader adds them before calling `session.tx`).
"""

from __future__ import annotations

import enum
import ipaddress
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator

from rrasctl.protocols.causes import Cause
from rrasctl.router.admission import port_name


class SessionState(enum.Enum):
    STARTING = "starting"            # tunnel/call being set up
    AUTHENTICATING = "authenticating"
    UP = "up"                        # network layer open: data flows
    CLOSING = "closing"


class Direction(enum.Enum):
    INBOUND = "in"
    OUTBOUND = "out"


@dataclass(eq=False)
class Session:
    """One connection. Drivers own the fields after construction; the table owns `id`."""

    protocol: str                    # "pptp" | "l2tp"
    port: int                        # index in the protocol's pool (PPTP-<port>)
    peer: str                        # "198.51.100.7" or "198.51.100.7:1701"
    direction: Direction = Direction.INBOUND
    user: str | None = None
    interface: str | None = None     # the demand-dial interface it binds to (router-to-router), else None
    ip: str | None = None            # the client's (or, outbound, the remote end's) tunnel address
    local_ip: str | None = None      # our end's tunnel address for this session
    encryption: str | None = None    # "mppe-128", "mppe-40", "none", ...
    auth: str | None = None          # "ms-chap-v2", "pap", ...
    state: SessionState = SessionState.STARTING
    started: float = field(default_factory=time.time)          # wall clock, for display (ISO 8601 UTC)
    started_mono: float = field(default_factory=time.monotonic)
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
    routes: tuple[str, ...] = ()     # CIDRs reachable through this session (besides ip/32)
    id: int = 0                      # set by SessionTable.add
    end_cause: Cause | None = None   # why it ended (set by session_down)
    # Set by the call runner (engine/calls.py):
    tx: Callable[[memoryview], None] | None = None                    # send one IP packet to the peer
    disconnect: Callable[[Cause], Awaitable[None] | None] | None = None  # end it (cause), cleanly on the wire
    core: Any = None                 # the call (engine/calls.Call): its core, carrier and glue
    extra: dict[str, Any] = field(default_factory=dict)               # protocol details for `connections show`

    @property
    def port_name(self) -> str:
        return port_name(self.protocol, self.port)

    def duration_s(self, now_mono: float | None = None) -> int:
        return int((time.monotonic() if now_mono is None else now_mono) - self.started_mono)

    def row(self) -> dict[str, Any]:
        """The `connections list` object (SPEC §7 keys, exactly)."""
        return {
            "id": self.id,
            "protocol": self.protocol,
            "user": self.user,
            "interface": self.interface,
            "peer": self.peer,
            "port": self.port_name,
            "ip": self.ip,
            "encryption": self.encryption,
            "auth": self.auth,
            "started": iso_utc(self.started),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }

    def detail(self) -> dict[str, Any]:
        """`connections show`: the row plus state, direction, duration, packets, routes and protocol details."""
        d = self.row()
        d.update({
            "state": self.state.value,
            "direction": self.direction.value,
            "duration_s": self.duration_s(),
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "local_ip": self.local_ip,
            "routes": list(self.routes),
        })
        if self.extra:
            d["details"] = dict(self.extra)
        return d


class SessionLog(logging.LoggerAdapter):
    """DESIGN.md §9: every line about a session starts with `[PPTP-3 alice 198.51.100.7]`.

        slog = SessionLog(log, session)
        slog.info("authenticated with %s", method)
    """

    def __init__(self, logger: logging.Logger, session: Session) -> None:
        super().__init__(logger, {"session": session})

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        s: Session = self.extra["session"]  # type: ignore[index]
        kwargs["extra"] = {**self.extra, **(kwargs.get("extra") or {})}    # the journal's RRAS_* fields
        return f"[{s.port_name} {s.user or s.interface or '-'} {s.peer}] {msg}", kwargs


def iso_utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class SessionTable:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._by_id: dict[int, Session] = {}
        self.by_ip: dict[int, Session] = {}                      # client address as int -> session (TUN demux)
        self._routes: list[tuple[int, int, int, Session]] = []   # (prefixlen, net, mask, session), longest first
        self._on_remove: list[Callable[[Session], None]] = []

    # --- membership ------------------------------------------------------------------------------------------
    def add(self, session: Session) -> Session:
        session.id = next(self._ids)
        self._by_id[session.id] = session
        return session

    def remove(self, session: Session) -> None:
        """Forget a session: its id, address and routes (idempotent). Callbacks run once."""
        if self._by_id.pop(session.id, None) is None:
            return
        self.unbind(session)
        for cb in list(self._on_remove):
            cb(session)

    def on_remove(self, callback: Callable[[Session], None]) -> None:
        self._on_remove.append(callback)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_id.values()))

    def get(self, session_id: int) -> Session | None:
        return self._by_id.get(session_id)

    def by_interface(self, name: str) -> Session | None:
        return next((s for s in self._by_id.values() if s.interface == name), None)

    def by_port(self, protocol: str, port: int) -> Session | None:
        return next((s for s in self._by_id.values() if s.protocol == protocol and s.port == port), None)

    def of_protocol(self, protocol: str) -> list[Session]:
        return [s for s in self._by_id.values() if s.protocol == protocol]

    # --- TUN demultiplexing ------------------------------------------------------------------------------------
    def bind_ip(self, session: Session, ip: str) -> None:
        """Route packets for `ip` (the peer's tunnel address) to `session`."""
        if session.ip is not None:
            old = int(ipaddress.IPv4Address(session.ip))
            if self.by_ip.get(old) is session:
                del self.by_ip[old]
        session.ip = ip
        self.by_ip[int(ipaddress.IPv4Address(ip))] = session

    def bind_routes(self, session: Session, cidrs: tuple[str, ...] | list[str]) -> None:
        """Route packets for these prefixes to `session` (replaces its earlier routes)."""
        self._routes = [r for r in self._routes if r[3] is not session]
        for c in cidrs:
            net = ipaddress.IPv4Network(c, strict=False)
            self._routes.append((net.prefixlen, int(net.network_address), int(net.netmask), session))
        self._routes.sort(key=lambda r: -r[0])
        session.routes = tuple(str(ipaddress.IPv4Network(c, strict=False)) for c in cidrs)

    def unbind(self, session: Session) -> None:
        for k in [k for k, s in self.by_ip.items() if s is session]:
            del self.by_ip[k]
        self._routes = [r for r in self._routes if r[3] is not session]

    def route(self, dst: int) -> Session | None:
        """The session for destination address `dst` (an int): exact address first, then the longest prefix."""
        s = self.by_ip.get(dst)
        if s is not None:
            return s
        for _, net, mask, sess in self._routes:
            if dst & mask == net:
                return sess
        return None

    # --- views -------------------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        return [s.row() for s in sorted(self._by_id.values(), key=lambda s: s.id)]
