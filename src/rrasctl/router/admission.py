"""Who gets a port: pools x use flags x the edition cap (SPEC §3). Pure: no I/O, no clock, no asyncio.

Each connection, inbound or outbound, occupies one port of its protocol's pool, and only for a use the pool's flags
allow: *remote access* (inbound clients) or *demand-dial routing* (inbound calling routers and our own dial-outs).
The edition caps **inbound** connections of all protocols together (web 1, standard 1000, enterprise/datacenter none);
outbound demand-dial connections occupy a port but do not count toward the cap.

An inbound call does not say yet whether it is a client or a calling router: that is known only once PPP has
authenticated the user (the router rule, SPEC §4). So an inbound call is admitted as `Use.INBOUND` when the pool
allows *either* inbound use, and `classify()` narrows it after authentication, refusing (and freeing the port) when the
pool's flags do not allow what the caller turned out to be.

    verdict = admission.try_admit(Protocol.PPTP, Use.INBOUND)
    if isinstance(verdict, Refuse):
        core.refuse_call(call_id, verdict.refusal.wire_result)   # OCRP "busy" / CDN "lack of resources"
        ...record a refusal with verdict.cause, verdict.refusal.wire
    else:
        port = verdict.port                                          # PPTP-<port>
    ...
    admission.release(Protocol.PPTP, port)

A refusal never touches an existing connection, and the next attempt after a release is admitted again.
Decision record: docs/decisions/0021-admission-and-refusal-codes.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping

from rrasctl.protocols.causes import Cause


class Protocol(str, enum.Enum):
    PPTP = "pptp"
    L2TP = "l2tp"

    @property
    def port_prefix(self) -> str:
        return self.value.upper()


def port_name(protocol: Protocol | str, index: int) -> str:
    """`PPTP-0`, `L2TP-12`: the RRAS names of a pool's ports."""
    return f"{Protocol(protocol).value.upper()}-{index}"


class Use(enum.Enum):
    REMOTE_ACCESS = "remote_access"      # inbound client
    ROUTER_IN = "router_in"              # inbound calling router (user name = one of our demand-dial interfaces)
    ROUTER_OUT = "router_out"            # our own demand-dial connection (outbound)
    INBOUND = "inbound"                  # inbound, not yet authenticated: client or router, narrowed by classify()

    @property
    def inbound(self) -> bool:
        return self is not Use.ROUTER_OUT


@dataclass(frozen=True, slots=True)
class Pool:
    count: int
    remote_access: bool = True
    demand_dial: bool = True

    def allows(self, use: Use) -> bool:
        if use is Use.REMOTE_ACCESS:
            return self.remote_access
        if use is Use.INBOUND:
            return self.remote_access or self.demand_dial
        return self.demand_dial


# The answer on the wire for each protocol (the Windows error the client then shows is router/causes.py's, by cause).
# PPTP: Outgoing-Call-Reply Result Code (RFC 2637 §2.8): 4 = Busy, 7 = Do-Not-Accept.
# L2TP: CDN Result Code AVP (RFC 2661 §4.4.2, CDN values): 4 = "Call failed due to lack of appropriate facilities
#       being available (temporary condition)", 5 = same, permanent condition. A tunnel that cannot be admitted at all
#       gets StopCCN Result 2 "General error" with Error Code 4 "Insufficient resources to handle this operation now".
OCRP_BUSY, OCRP_DO_NOT_ACCEPT = 4, 7
CDN_TEMPORARY, CDN_PERMANENT = 4, 5
STOPCCN_GENERAL_ERROR, ERROR_INSUFFICIENT_RESOURCES = 2, 4
PERMANENT = frozenset({Cause.PROTOCOL_DISABLED, Cause.PORT_USE_NOT_ALLOWED})


@dataclass(frozen=True, slots=True)
class Refusal:
    cause: Cause                # PROTOCOL_DISABLED, NO_FREE_PORT, EDITION_CAP, SETUP_LIMIT, PORT_USE_NOT_ALLOWED
    protocol: Protocol
    detail: str                 # one line for the log and the refusal record, e.g. "web edition: 1 of 1 in use"
    wire_result: int            # the result code to send (OCRP result / CDN result)
    wire: str                   # that answer spelled out, e.g. "OCRP result 4 (busy)"
    permanent: bool = False     # retrying will not help until the configuration changes

    @property
    def windows_error(self) -> int:
        from rrasctl.router.causes import windows_error

        return int(windows_error(self.cause))

    def as_dict(self) -> dict[str, object]:
        return {"cause": self.cause.value, "protocol": self.protocol.value, "detail": self.detail,
                "wire_result": self.wire_result, "wire": self.wire, "windows_error": self.windows_error}


def _refusal(protocol: Protocol, cause: Cause, detail: str) -> Refusal:
    permanent = cause in PERMANENT
    if protocol is Protocol.PPTP:
        code = OCRP_DO_NOT_ACCEPT if permanent else OCRP_BUSY
        wire = f"OCRP result {code} ({'do not accept' if permanent else 'busy'})"
    else:
        code = CDN_PERMANENT if permanent else CDN_TEMPORARY
        wire = f"CDN result {code} (lack of facilities, {'permanent' if permanent else 'temporary'})"
    return Refusal(cause, protocol, detail, code, wire, permanent)


@dataclass(frozen=True, slots=True)
class Admit:
    protocol: Protocol
    port: int
    use: Use

    @property
    def port_name(self) -> str:
        return port_name(self.protocol, self.port)


@dataclass(frozen=True, slots=True)
class Refuse:
    refusal: Refusal

    @property
    def cause(self) -> Cause:
        return self.refusal.cause


@dataclass(slots=True)
class _PoolState:
    pool: Pool
    used: dict[int, Use] = field(default_factory=dict)   # port index -> use

    def lowest_free(self) -> int | None:
        for i in range(self.pool.count):
            if i not in self.used:
                return i
        return None


class Admission:
    """Port occupancy and the edition cap. Mutated only by its own methods; the engine owns one instance."""

    def __init__(self, pools: Mapping[Protocol | str, Pool], edition_cap: int | None, edition: str = "", *,
                 setup_per_source: int = 0, setup_total: int = 0) -> None:
        self._pools: dict[Protocol, _PoolState] = {}
        self.edition = edition
        self.edition_cap = edition_cap
        # calls admitted but not yet authenticated: (protocol, port) -> source address (accel-ppp's max-starting)
        self._setup: dict[tuple[Protocol, int], str] = {}
        self.setup_per_source = setup_per_source       # 0 = no limit
        self.setup_total = setup_total                 # 0 = no limit
        self.reconfigure(pools, edition_cap, edition)

    # --- configuration -------------------------------------------------------------------------------------------
    def reconfigure(self, pools: Mapping[Protocol | str, Pool], edition_cap: int | None, edition: str = "") -> None:
        """New pools/cap (SIGHUP). Live connections keep their ports even above a smaller count; new calls obey the
        new limits. `over_limit()` names the ports that no longer exist, for the engine to decide about."""
        new: dict[Protocol, _PoolState] = {}
        for proto in Protocol:
            pool = pools.get(proto, pools.get(proto.value, Pool(0)))  # type: ignore[call-overload]
            old = self._pools.get(proto)
            new[proto] = _PoolState(pool, dict(old.used) if old else {})
        self._pools = new
        self.edition_cap = edition_cap
        if edition:
            self.edition = edition

    def pool(self, protocol: Protocol | str) -> Pool:
        return self._pools[Protocol(protocol)].pool

    # --- decisions -----------------------------------------------------------------------------------------------
    def check(self, protocol: Protocol | str, use: Use) -> Admit | Refuse:
        """What `try_admit` would answer, without occupying anything (e.g. before accepting an L2TP tunnel)."""
        proto = Protocol(protocol)
        st = self._pools[proto]
        if st.pool.count <= 0:
            return Refuse(_refusal(proto, Cause.PROTOCOL_DISABLED, f"the {proto.value} pool has 0 ports"))
        if not st.pool.allows(use):
            what = "remote access" if use is Use.REMOTE_ACCESS else "demand-dial routing"
            if use is Use.INBOUND:
                what = "inbound connections"
            return Refuse(_refusal(proto, Cause.PORT_USE_NOT_ALLOWED, f"{proto.value} ports do not serve {what}"))
        if use.inbound and self.edition_cap is not None:
            n = self.inbound_count()
            if n >= self.edition_cap:
                ed = f"{self.edition} edition" if self.edition else "edition"
                return Refuse(_refusal(proto, Cause.EDITION_CAP,
                                     f"{ed}: {n} of {self.edition_cap} inbound connections in use"))
        port = st.lowest_free()
        if port is None:
            return Refuse(_refusal(proto, Cause.NO_FREE_PORT,
                                 f"all {st.pool.count} {proto.value} ports in use"))
        return Admit(proto, port, use)

    def try_admit(self, protocol: Protocol | str, use: Use, now: float | None = None, *,
                  source: str | None = None) -> Admit | Refuse:
        """Occupy the lowest free port for `use`, or say why not. An inbound call from SOURCE holds its port as
        "setting up" until `classify` (after authentication): a source may hold at most `setup_per_source` such
        ports, and all sources together `setup_total` (SETUP_LIMIT, answered busy), so that callers that never
        authenticate cannot occupy the pool (issue #13). `now` is accepted for symmetry with the cores."""
        proto = Protocol(protocol)
        if use is Use.INBOUND and source is not None:
            limit = self._setup_limit(proto, source)
            if limit is not None:
                return Refuse(limit)
        verdict = self.check(protocol, use)
        if isinstance(verdict, Admit):
            self._pools[verdict.protocol].used[verdict.port] = use
            if use is Use.INBOUND and source is not None:
                self._setup[(verdict.protocol, verdict.port)] = source
        return verdict

    def _setup_limit(self, proto: Protocol, source: str) -> Refusal | None:
        if self.setup_per_source > 0:
            mine = sum(1 for s in self._setup.values() if s == source)
            if mine >= self.setup_per_source:
                return _refusal(proto, Cause.SETUP_LIMIT, f"{source} already has {mine} calls being set up "
                                                          f"(at most {self.setup_per_source} per source)")
        if self.setup_total > 0 and len(self._setup) >= self.setup_total:
            return _refusal(proto, Cause.SETUP_LIMIT, f"{len(self._setup)} calls are being set up "
                                                      f"(at most {self.setup_total})")
        return None

    def setting_up(self, source: str | None = None) -> int:
        """Calls admitted and not yet authenticated (from SOURCE, or from anyone)."""
        return sum(1 for s in self._setup.values() if source is None or s == source)

    def classify(self, protocol: Protocol | str, port: int, use: Use) -> Refuse | None:
        """Narrow an admitted INBOUND port to REMOTE_ACCESS or ROUTER_IN once the user is known.

        Returns None when the pool serves that use (the port keeps it), or Refuse and frees the port when not."""
        proto = Protocol(protocol)
        st = self._pools[proto]
        if port not in st.used:
            raise KeyError(f"{port_name(proto, port)} is not occupied")
        self._setup.pop((proto, port), None)
        if use not in (Use.REMOTE_ACCESS, Use.ROUTER_IN):
            raise ValueError(f"classify() narrows to REMOTE_ACCESS or ROUTER_IN, not {use}")
        if not st.pool.allows(use):
            del st.used[port]
            what = "remote access" if use is Use.REMOTE_ACCESS else "demand-dial routing"
            return Refuse(_refusal(proto, Cause.PORT_USE_NOT_ALLOWED, f"{proto.value} ports do not serve {what}"))
        st.used[port] = use
        return None

    def release(self, protocol: Protocol | str, port: int) -> None:
        """Free a port (idempotent: releasing a free port does nothing)."""
        proto = Protocol(protocol)
        self._pools[proto].used.pop(port, None)
        self._setup.pop((proto, port), None)

    # --- views ---------------------------------------------------------------------------------------------------
    def in_use(self, protocol: Protocol | str) -> int:
        return len(self._pools[Protocol(protocol)].used)

    def inbound_count(self) -> int:
        return sum(1 for st in self._pools.values() for u in st.used.values() if u.inbound)

    def occupied(self, protocol: Protocol | str) -> dict[int, Use]:
        return dict(sorted(self._pools[Protocol(protocol)].used.items()))

    def over_limit(self, protocol: Protocol | str) -> list[int]:
        """Occupied ports at or above the pool's count (after a reconfigure shrank it), highest first."""
        st = self._pools[Protocol(protocol)]
        return sorted((p for p in st.used if p >= st.pool.count), reverse=True)

    def removal_victims(self, protocol: Protocol | str, remove: int) -> list[int]:
        """Occupied ports that removing `remove` ports from the top of the pool would take away, highest first."""
        st = self._pools[Protocol(protocol)]
        new_count = max(0, st.pool.count - max(0, remove))
        return sorted((p for p in st.used if p >= new_count), reverse=True)


def pools_from_config(ports: Mapping[str, object] | None) -> dict[Protocol, Pool]:
    """Build pools from `Config.ports` (objects or dicts with count, remote_access, demand_dial)."""
    out: dict[Protocol, Pool] = {}
    for proto in Protocol:
        p = (ports or {}).get(proto.value)
        if p is None:
            out[proto] = Pool(0)
            continue
        get = (lambda k, d: p.get(k, d)) if isinstance(p, Mapping) else (lambda k, d: getattr(p, k, d))
        out[proto] = Pool(int(get("count", 0)), bool(get("remote_access", True)), bool(get("demand_dial", True)))
    return out

