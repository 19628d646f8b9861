"""The typed configuration: frozen dataclasses with SPEC defaults, and ``validate(raw) -> Config``.

``validate`` takes the plain dict of a TOML document (missing keys mean defaults, SPEC §2) and returns a ``Config``
or raises ``ValidationError`` whose message names the failing key, e.g.
``ports.pptp.count: 1200 is over the standard edition's limit of 1000``. Unknown keys are errors (typos).

Secrets stay sealed here (``enc:v2:…`` strings, see config/secrets.py): only the engine opens them.
Pure: imports only the standard library and rrasctl.errors/editions.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from rrasctl import editions
from rrasctl.errors import ValidationError

SCHEMA_VERSION = 1

PROTOCOLS = editions.PROTOCOLS
EDITIONS = editions.EDITIONS
METHODS = ("pap", "chap", "ms-chap", "ms-chap-v2", "eap-tls")   # weakest first (cli/auth.py offer_order)
ENCRYPTION_LEVELS = ("none", "basic", "strong", "strongest")
PROVIDERS = ("local", "radius")
ACCOUNTING = ("none", "local", "radius")
DIAL_IN = ("allow", "deny", "policy")
DEMAND_DIAL_TYPES = ("automatic", "pptp", "l2tp")
PERMISSIONS = ("grant", "deny")
LOG_LEVELS = ("debug", "info", "warning", "error")
TUNNEL_TYPES = ("pptp", "l2tp")

# decision 0002, now the fallback where no config path is known: a file's default is its installation's (0120)
DEFAULT_ADDRESS_POOL = "10.87.0.0/24"
DEFAULT_TUNNEL_ADDRESS = "10.87.0.1"
DEFAULT_PORTS = 5
RADIUS_AUTH_PORT = 1812

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
TUN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


# ---------------------------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Server:
    edition: str = editions.DEFAULT_EDITION
    listen_address: str = "0.0.0.0"
    address_pool: str = DEFAULT_ADDRESS_POOL  # CIDR the clients' addresses come from
    tunnel_address: str = DEFAULT_TUNNEL_ADDRESS  # the server's own address on the TUN and in IPCP
    dns: tuple[str, ...] = ()
    wins: tuple[str, ...] = ()
    log_level: str = "info"
    tun_name: str = "rras0"
    metrics_listen: str | None = None  # "127.0.0.1:9477": Prometheus endpoint; None = off (decision 0162)
    metrics_per_session: bool = False  # one series per live connection (cardinality: off by default)
    # inbound calls admitted but not yet authenticated (decision 0086): per source address, and in all; 0 = no limit
    setup_per_source: int = 2
    setup_total: int = 0

    @property
    def max_concurrent(self) -> int | None:
        return editions.max_concurrent(self.edition)


@dataclass(frozen=True)
class PortPool:
    count: int = DEFAULT_PORTS
    remote_access: bool = True  # RRAS: remote access connections (inbound only)
    demand_dial: bool = True  # RRAS: demand-dial routing connections (inbound and outbound)


@dataclass(frozen=True)
class RadiusServer:
    host: str
    port: int = RADIUS_AUTH_PORT

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Lockout:
    max_failures: int = 0  # 0 = off (RRAS default MaxDenials 0)
    reset_minutes: int = 2880  # RRAS default ResetTime: 48 hours


@dataclass(frozen=True)
class Auth:
    methods: tuple[str, ...] = ("ms-chap", "ms-chap-v2")
    encryption: tuple[str, ...] = ("basic", "strong", "strongest")
    provider: str = "local"
    radius_servers: tuple[RadiusServer, ...] = ()
    radius_secret: str | None = None  # sealed
    radius_timeout_s: int = 5
    accounting: str = "none"
    psk: str | None = None  # sealed L2TP/IPsec pre-shared key
    lockout: Lockout = field(default_factory=Lockout)
    eap_tls_cert: str | None = None
    eap_tls_key: str | None = None
    eap_tls_ca: str | None = None


@dataclass(frozen=True)
class User:
    name: str
    password: str | None = None  # sealed
    dial_in: str = "policy"
    static_ip: str | None = None
    routes: tuple[str, ...] = ()  # CIDRs reachable through a router caller


@dataclass(frozen=True)
class Route:
    cidr: str
    metric: int = 1

    def __str__(self) -> str:
        return self.cidr if self.metric == 1 else f"{self.cidr}/{self.metric}"


@dataclass(frozen=True)
class DemandDial:
    name: str
    destination: str
    user: str
    type: str = "automatic"
    domain: str | None = None
    password: str | None = None  # sealed
    persistent: bool = False
    idle_timeout_s: int = 300
    redial_attempts: int = 3
    redial_interval_s: int = 60
    routes: tuple[Route, ...] = ()
    dial_hours: str | None = None  # None = always; see parse_hours()
    encryption: str = "basic"  # the weakest level this interface accepts
    enabled: bool = True


@dataclass(frozen=True)
class Policy:
    """A remote access policy (RRAS 2003): conditions (empty = any), permission, profile (None = no constraint)."""

    name: str
    permission: str = "deny"
    # conditions
    tunnel_types: tuple[str, ...] = ()
    hours: str | None = None  # day-and-time restriction, same syntax as dial hours
    users: tuple[str, ...] = ()
    client_ips: tuple[str, ...] = ()  # CIDRs
    auth_types: tuple[str, ...] = ()
    # profile
    methods: tuple[str, ...] | None = None
    encryption: tuple[str, ...] | None = None
    idle_timeout_s: int | None = None
    max_session_s: int | None = None
    static_ip: str | None = None
    address_pool: str | None = None


DEFAULT_POLICY = Policy(name="default", permission="deny")


@dataclass(frozen=True)
class Pptp:
    echo_interval_s: int = 60
    no_call_timeout_s: int = 60  # close an answered control connection that carries no call this long (0 = never)


@dataclass(frozen=True)
class L2tp:
    secret: str | None = None  # sealed tunnel secret (tunnel authentication, hidden AVPs)
    hide_avps: bool = False
    hello_interval_s: int = 60
    no_session_timeout_s: int = 60  # close an answered tunnel that carries no session this long (0 = never)


@dataclass(frozen=True)
class Config:
    schema_version: int = SCHEMA_VERSION
    server: Server = field(default_factory=Server)
    ports: dict[str, PortPool] = field(default_factory=lambda: {p: PortPool() for p in PROTOCOLS})
    auth: Auth = field(default_factory=Auth)
    users: dict[str, User] = field(default_factory=dict)
    demand_dial: dict[str, DemandDial] = field(default_factory=dict)
    policies: tuple[Policy, ...] = (DEFAULT_POLICY,)
    pptp: Pptp = field(default_factory=Pptp)
    l2tp: L2tp = field(default_factory=L2tp)

    @property
    def max_concurrent(self) -> int | None:
        return self.server.max_concurrent

    def policy(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)


def defaults() -> Config:
    return Config()


# ---------------------------------------------------------------------------------------------- converters

Conv = Callable[[str, Any], Any]


def _bad(key: str, value: Any, why: str) -> ValidationError:
    return ValidationError(f"{key}: {_show(value)} {why}")


def _show(value: Any) -> str:
    if isinstance(value, str) and value.startswith(("enc:v1:", "enc:v2:")):
        return "(sealed value)"
    return repr(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else str(value)


def _str(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _bad(key, v, "is not a string")
    return v


def _opt(conv: Conv) -> Conv:
    def c(key: str, v: Any) -> Any:
        return None if v is None or v == "" else conv(key, v)

    return c


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _bad(key, v, "is not true or false")
    return v


def _int(lo: int | None = None, hi: int | None = None) -> Conv:
    def c(key: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _bad(key, v, "is not a whole number")
        if lo is not None and v < lo:
            raise _bad(key, v, f"is below the minimum of {lo}")
        if hi is not None and v > hi:
            raise _bad(key, v, f"is over the maximum of {hi}")
        return v

    return c


def _choice(options: tuple[str, ...]) -> Conv:
    def c(key: str, v: Any) -> str:
        if v not in options:
            raise _bad(key, v, f"is not one of {', '.join(options)}")
        return v

    return c


def _list(conv: Conv, *, unique: bool = True) -> Conv:
    def c(key: str, v: Any) -> tuple:
        if isinstance(v, str):
            v = [x.strip() for x in v.split(",") if x.strip()]
        if not isinstance(v, (list, tuple)):
            raise _bad(key, v, "is not a list")
        out = tuple(conv(f"{key}[{i}]", x) for i, x in enumerate(v))
        if unique and len(set(out)) != len(out):
            raise _bad(key, list(v), "lists a value twice")
        return out

    return c


def ip_address(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _bad(key, v, "is not an IP address")
    try:
        return str(ipaddress.IPv4Address(v))
    except ValueError:
        raise _bad(key, v, "is not an IPv4 address") from None


def cidr(key: str, v: Any) -> str:
    if not isinstance(v, str) or "/" not in v:
        raise _bad(key, v, "is not a CIDR (like 10.1.0.0/24)")
    try:
        return str(ipaddress.IPv4Network(v, strict=True))
    except ValueError as e:
        raise _bad(key, v, f"is not a valid CIDR ({e})") from None


def name(key: str, v: Any) -> str:
    if not isinstance(v, str) or not NAME_RE.match(v):
        raise _bad(key, v, "is not a valid name (letters, digits, . _ @ -, at most 64, starting with a letter or digit)")
    return v


def host(key: str, v: Any) -> str:
    if not isinstance(v, str) or not v or len(v) > 253 or not re.match(r"^[A-Za-z0-9_.:-]+$", v):
        raise _bad(key, v, "is not a host name or address")
    return v


def radius_server(key: str, v: Any) -> RadiusServer:
    if isinstance(v, str):
        h, sep, p = v.rpartition(":") if v.count(":") == 1 else (v, "", "")
        h = h if sep else v
        port = RADIUS_AUTH_PORT
        if sep:
            if not p.isdigit() or not 1 <= int(p) <= 65535:
                raise _bad(key, v, "has no valid port (HOST[:PORT], port 1..65535)")
            port = int(p)
        return RadiusServer(host(key, h), port)
    raise _bad(key, v, "is not HOST[:PORT]")


def route(key: str, v: Any) -> Route:
    """A demand-dial route: "CIDR" or "CIDR/METRIC" (string), or {cidr=…, metric=…}."""
    if isinstance(v, dict):
        extra = set(v) - {"cidr", "metric"}
        if extra:
            raise ValidationError(f"{key}.{sorted(extra)[0]}: unknown key")
        return Route(cidr(f"{key}.cidr", v.get("cidr")), _int(1, 9999)(f"{key}.metric", v.get("metric", 1)))
    if isinstance(v, str):
        parts = v.split("/")
        if len(parts) == 3:
            if not parts[2].isdigit():
                raise _bad(key, v, "has a metric that is not a number (CIDR[/metric])")
            return Route(cidr(key, "/".join(parts[:2])), _int(1, 9999)(key, int(parts[2])))
        return Route(cidr(key, v))
    raise _bad(key, v, "is not a route (CIDR[/metric])")


# ---------------------------------------------------------------------------------------------- hours

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW_RE = re.compile(r"^(?P<days>[a-z,\-]+)\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})-(?P<h2>\d{1,2}):(?P<m2>\d{2})$")


@dataclass(frozen=True)
class HoursWindow:
    """Minutes [start, end) of one weekday (0 = Monday); an overnight window is split in two."""

    day: int
    start: int
    end: int


def parse_hours(spec: str) -> tuple[HoursWindow, ...]:
    """Parse a dial-hours / day-and-time spec; raises ValueError naming the bad part.

    Grammar: ``always`` | ``never`` | WINDOW (';' WINDOW)*, WINDOW = DAYS ' ' HH:MM-HH:MM, DAYS = ``daily`` |
    ``weekdays`` | ``weekends`` | DAY[-DAY] (',' DAY[-DAY])*, DAY = mon..sun. ``22:00-06:00`` runs past midnight;
    ``00:00-24:00`` is the whole day. Example: ``mon-fri 08:00-18:00; sat 09:00-12:00``.
    """
    s = spec.strip().lower()
    if s == "always":
        return tuple(HoursWindow(d, 0, 1440) for d in range(7))
    if s == "never":
        return ()
    out: list[HoursWindow] = []
    for part in (p.strip() for p in s.split(";")):
        if not part:
            continue
        m = _WINDOW_RE.match(part)
        if not m:
            raise ValueError(f"{part!r} is not DAYS HH:MM-HH:MM")
        days = _parse_days(m["days"])
        h1, m1, h2, m2 = (int(m[x]) for x in ("h1", "m1", "h2", "m2"))
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(f"{part!r} has an invalid time")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ValueError(f"{part!r} is an empty window")
        for d in days:
            if start < end:
                out.append(HoursWindow(d, start, end))
            else:
                out.append(HoursWindow(d, start, 1440))
                if end:
                    out.append(HoursWindow((d + 1) % 7, 0, end))
    if not out:
        raise ValueError("no window given")
    return tuple(out)


def _parse_days(text: str) -> list[int]:
    named = {"daily": range(7), "weekdays": range(5), "weekends": range(5, 7)}
    if text in named:
        return list(named[text])
    days: list[int] = []
    for item in text.split(","):
        a, _, b = item.partition("-")
        if a not in DAYS or (b and b not in DAYS):
            raise ValueError(f"{item!r} is not a day or day range (mon..sun)")
        i, j = DAYS.index(a), DAYS.index(b or a)
        k = i
        while True:
            days.append(k)
            if k == j:
                break
            k = (k + 1) % 7
    return days


def hours_allow(windows: tuple[HoursWindow, ...], weekday: int, minute: int) -> bool:
    """Whether a time (weekday 0 = Monday, minute of the day) falls in the windows."""
    return any(w.day == weekday and w.start <= minute < w.end for w in windows)


def hours(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _bad(key, v, "is not an hours spec")
    try:
        parse_hours(v)
    except ValueError as e:
        raise _bad(key, v, f"is not a valid hours spec: {e} (example: 'mon-fri 08:00-18:00; sat 09:00-12:00')") from None
    return v.strip()


def tun_name(key: str, v: Any) -> str:
    if not isinstance(v, str) or not TUN_RE.match(v):
        raise _bad(key, v, "is not an interface name (1..15 of letters, digits, _ . -)")
    return v


def listen_address(key: str, v: Any) -> str:
    """HOST:PORT for a listener: an IPv4 address, [IPv6] or localhost, and a port 1..65535; a bare PORT means
    127.0.0.1:PORT (a non-loopback address is only ever used when written out). Returns the normal form."""
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str) or not v.strip():
        raise _bad(key, v, "is not HOST:PORT (like 127.0.0.1:9477)")
    text = v.strip()
    if text.isdigit():
        host, port = "127.0.0.1", text
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise _bad(key, v, "is not HOST:PORT (like 127.0.0.1:9477)")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _bad(key, v, "has no valid port (HOST:PORT, port 1..65535)")
    if host.startswith("[") and host.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1])}]:{int(port)}"
        except ValueError:
            raise _bad(key, v, "has no valid IPv6 address inside [ ]") from None
    if host == "localhost":
        return f"localhost:{int(port)}"
    try:
        return f"{ipaddress.IPv4Address(host)}:{int(port)}"
    except ValueError:
        raise _bad(key, v, "is not HOST:PORT with an IPv4 address, [IPv6 address] or localhost") from None


def sealed(key: str, v: Any) -> str:
    if not isinstance(v, str) or not v.startswith(("enc:v1:", "enc:v2:")):
        raise ValidationError(f"{key}: is not a sealed secret (enc:v2:…); set it with rrasctl, never by hand")
    return v


# ---------------------------------------------------------------------------------------------- validate

_SERVER = {
    "edition": _choice(EDITIONS),
    "listen_address": ip_address,
    "address_pool": cidr,
    "tunnel_address": ip_address,
    "dns": _list(ip_address),
    "wins": _list(ip_address),
    "log_level": _choice(LOG_LEVELS),
    "tun_name": lambda k, v: tun_name(k, v),
    "metrics_listen": _opt(listen_address),
    "metrics_per_session": _bool,
    "setup_per_source": _int(0, 1000),
    "setup_total": _int(0, 2000),
}
_PORTS = {"count": _int(0), "remote_access": _bool, "demand_dial": _bool}
_LOCKOUT = {"max_failures": _int(0, 1000), "reset_minutes": _int(0, 525600)}
_AUTH = {
    "methods": _list(_choice(METHODS)),
    "encryption": _list(_choice(ENCRYPTION_LEVELS)),
    "provider": _choice(PROVIDERS),
    "radius_servers": _list(radius_server),
    "radius_secret": _opt(sealed),
    "radius_timeout_s": _int(1, 300),
    "accounting": _choice(ACCOUNTING),
    "psk": _opt(sealed),
    "eap_tls_cert": _opt(_str),
    "eap_tls_key": _opt(_str),
    "eap_tls_ca": _opt(_str),
}
_USER = {"password": _opt(sealed), "dial_in": _choice(DIAL_IN), "static_ip": _opt(ip_address), "routes": _list(cidr)}
_DD = {
    "destination": host,
    "type": _choice(DEMAND_DIAL_TYPES),
    "user": _str,
    "domain": _opt(_str),
    "password": _opt(sealed),
    "persistent": _bool,
    "idle_timeout_s": _int(0, 86400 * 7),
    "redial_attempts": _int(0, 1000),
    "redial_interval_s": _int(0, 86400),
    "routes": _list(route),
    "dial_hours": _opt(hours),
    "encryption": _choice(ENCRYPTION_LEVELS),
    "enabled": _bool,
}
_POLICY = {
    "name": name,
    "permission": _choice(PERMISSIONS),
    "tunnel_types": _list(_choice(TUNNEL_TYPES)),
    "hours": _opt(hours),
    "users": _list(name),
    "client_ips": _list(cidr),
    "auth_types": _list(_choice(METHODS)),
    "methods": _opt(_list(_choice(METHODS))),
    "encryption": _opt(_list(_choice(ENCRYPTION_LEVELS))),
    "idle_timeout_s": _opt(_int(0, 86400 * 7)),
    "max_session_s": _opt(_int(0, 86400 * 365)),
    "static_ip": _opt(ip_address),
    "address_pool": _opt(cidr),
}
_PPTP = {"echo_interval_s": _int(0, 3600), "no_call_timeout_s": _int(0, 86400)}
_L2TP = {"secret": _opt(sealed), "hide_avps": _bool, "hello_interval_s": _int(0, 3600),
         "no_session_timeout_s": _int(0, 86400)}
_TOP = ("schema_version", "server", "ports", "auth", "users", "demand_dial", "policies", "pptp", "l2tp")


def _table(key: str, raw: Any) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _bad(key, raw, "is not a table")
    return raw


def _section(key: str, raw: Any, spec: dict[str, Conv], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    raw = _table(key, raw)
    for k in raw:
        if k not in spec and k not in skip:
            raise ValidationError(f"{key}.{k}: unknown key" if key else f"{k}: unknown key")
    return {k: spec[k](f"{key}.{k}", raw[k]) for k in spec if k in raw}


def _key_part(s: str) -> str:
    return s if re.match(r"^[A-Za-z0-9_-]+$", s) else '"' + s + '"'


def validate(raw: dict[str, Any]) -> Config:
    """Check a plain dict (a parsed TOML document, already migrated) and build the Config."""
    raw = _table("", raw)
    for k in raw:
        if k not in _TOP:
            raise ValidationError(f"{k}: unknown key")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise _bad("schema_version", version, f"is not {SCHEMA_VERSION}, the version this rrasctl reads")

    server = Server(**_section("server", raw.get("server"), _SERVER))

    ports_raw = _table("ports", raw.get("ports"))
    for p in ports_raw:
        if p not in PROTOCOLS:
            raise ValidationError(f"ports.{p}: unknown protocol (pptp or l2tp)")
    ports = {p: PortPool(**_section(f"ports.{p}", ports_raw.get(p), _PORTS)) for p in PROTOCOLS}
    for p, pool in ports.items():
        limit = editions.port_limit(server.edition, p)
        if pool.count > limit:
            raise ValidationError(
                f"ports.{p}.count: {pool.count} is over the {server.edition} edition's limit of {limit}")

    auth_raw = _table("auth", raw.get("auth"))
    auth_kw = _section("auth", auth_raw, _AUTH, skip=("lockout",))
    auth = Auth(**auth_kw, lockout=Lockout(**_section("auth.lockout", auth_raw.get("lockout"), _LOCKOUT)))
    if not auth.methods:
        raise ValidationError("auth.methods: at least one method is needed")
    if not auth.encryption:
        raise ValidationError("auth.encryption: at least one level is needed")
    if auth.provider == "radius" and not auth.radius_servers:
        raise ValidationError("auth.radius_servers: provider radius needs at least one server (--radius-server)")

    users: dict[str, User] = {}
    for uname, u in _table("users", raw.get("users")).items():
        key = f"users.{_key_part(uname)}"
        name(key, uname)
        users[uname] = User(name=uname, **_section(key, u, _USER))

    dds: dict[str, DemandDial] = {}
    for dname, d in _table("demand_dial", raw.get("demand_dial")).items():
        key = f"demand_dial.{_key_part(dname)}"
        name(key, dname)
        kw = _section(key, d, _DD)
        for req in ("destination", "user"):
            if req not in kw:
                raise ValidationError(f"{key}.{req}: is required")
        dds[dname] = DemandDial(name=dname, **kw)

    if "policies" in raw:
        pol_raw = raw["policies"]
        if not isinstance(pol_raw, (list, tuple)):
            raise _bad("policies", pol_raw, "is not an array of tables")
        policies = []
        for i, p in enumerate(pol_raw):
            key = f"policies[{i}]"
            kw = _section(key, p, _POLICY)
            if "name" not in kw:
                raise ValidationError(f"{key}.name: is required")
            policies.append(Policy(**kw))
        seen: set[str] = set()
        for i, p in enumerate(policies):
            if p.name in seen:
                raise ValidationError(f"policies[{i}].name: {p.name!r} is used by an earlier policy")
            seen.add(p.name)
        policies_t = tuple(policies)
    else:
        policies_t = (DEFAULT_POLICY,)

    pptp = Pptp(**_section("pptp", raw.get("pptp"), _PPTP))
    l2tp = L2tp(**_section("l2tp", raw.get("l2tp"), _L2TP))
    return Config(schema_version=SCHEMA_VERSION, server=server, ports=ports, auth=auth, users=users,
                  demand_dial=dds, policies=policies_t, pptp=pptp, l2tp=l2tp)


# ---------------------------------------------------------------------------------------------- to plain data


def _plain(obj: Any) -> Any:
    if isinstance(obj, (RadiusServer, Route)):
        return str(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def to_plain(config: Config) -> dict[str, Any]:
    """The whole effective configuration as JSON-able data (secrets still sealed; redact before showing)."""
    return _plain(config)
