"""Whether an authenticating PPP caller may have its session, on any tunnel (PPTP, L2TP): pure (SPEC §4).

One decision for both drivers (engine/ppp_session.py asks; the driver only answers the link): the local user must
exist with a password (else 691, never saying which), must not be locked out (RRAS remote access account lockout,
`router.lockout`: 647), the ordered remote access policies must grant access (`router.access.evaluate`: 649 for a
dial-in deny or a denying/no matching policy, 919 for a method the profile does not allow), and the profile's
encryption levels must leave at least one level this tunnel can give with this method (741).

Times are arguments: ``at`` is the local wall time for policy hours, ``now`` wall-clock seconds for the lockout table.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from rrasctl.config.model import Config
from rrasctl.protocols.causes import Cause
from rrasctl.router.access import ERROR_AUTH_PROTOCOL, ERROR_NO_SUCH_USER, Profile, Request, evaluate
from rrasctl.router.causes import WindowsError
from rrasctl.router.lockout import LockoutTable

ERROR_ACCOUNT_LOCKED = int(WindowsError.ACCT_DISABLED)      # 647: the nearest RAS error to "locked out" (0080)
ERROR_ENCRYPTION_REQUIRED = int(WindowsError.NO_LOCAL_ENCRYPTION)   # 741
KEYLESS_METHODS = frozenset({"pap", "chap"})     # no MPPE keys come out of these
NEGOTIATED_LEVEL = {"none": "none", "mppe-40": "basic", "mppe-56": "strong", "mppe-128": "strongest"}

# refusal-record reasons (`connections refusals`, `engine status` counters.refused)
AUTH_FAILED = "authentication failed"
LOCKED_OUT = "account locked out"
NO_DIAL_IN = "no dial-in permission"
POLICY_DENIED = "access denied by policy"
ENCRYPTION_REQUIRED = "encryption required"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    user: str                           # the bare user name (DOMAIN\ stripped)
    reason: str                         # refused: one of the reasons above; allowed: why (the policy that granted)
    detail: str                         # for the log and the refusal record
    windows_error: int | None           # what the client is told (E= in the MS-CHAP failure) when refused
    known_user: bool = False            # a failed password for a known user counts towards lockout
    profile: Profile | None = None
    router_interface: str | None = None  # the router rule (SPEC §4): the caller is this demand-dial interface
    levels: tuple[str, ...] = ()        # allowed: the encryption levels the session may end up with

    @property
    def cause(self) -> Cause | None:
        """The typed cause of a refusal (router/causes.py gives its Windows error); None when allowed."""
        if self.allowed:
            return None
        if self.reason == POLICY_DENIED and self.windows_error == ERROR_AUTH_PROTOCOL:
            return Cause.METHOD_NOT_ALLOWED
        return _CAUSES[self.reason]


_CAUSES = {AUTH_FAILED: Cause.AUTH_FAILED, LOCKED_OUT: Cause.ACCOUNT_LOCKED, NO_DIAL_IN: Cause.DIAL_IN_DENIED,
           POLICY_DENIED: Cause.POLICY_DENIED, ENCRYPTION_REQUIRED: Cause.ENCRYPTION_MISMATCH}


def bare_user(name: str) -> str:
    """``DOMAIN\\user`` (Windows clients) -> ``user``."""
    return name.rsplit("\\", 1)[-1]


def achievable_levels(tunnel: str, link_levels: tuple[str, ...], method: str) -> tuple[str, ...]:
    """The encryption levels a TUNNEL call authenticated with METHOD can end with, out of the link's LINK_LEVELS.
    L2TP is plain until IPsec exists (decision 0070); PAP and CHAP give no MPPE keys."""
    if tunnel == "l2tp" or method in KEYLESS_METHODS:
        return tuple(lv for lv in link_levels if lv == "none")
    return tuple(link_levels)


def authorize(config: Config, lockout: LockoutTable, *, user: str, tunnel: str, method: str, at: datetime,
              now: float, client_ip: str | None, link_levels: tuple[str, ...]) -> Verdict:
    """The decision for an `AuthRequested`: see the module docstring."""
    name = bare_user(user)
    u = config.users.get(name)
    if u is None or u.password is None:
        return Verdict(False, name, AUTH_FAILED, "unknown user or no password", ERROR_NO_SUCH_USER)
    if lockout.is_locked(name, now):
        return Verdict(False, name, LOCKED_OUT, f"user {name} is locked out after {lockout.max_failures} failed "
                       f"authentications (rrasctl users unlock {name})", ERROR_ACCOUNT_LOCKED, known_user=True)
    d = evaluate(config, Request(user=name, tunnel=tunnel, auth=method, at=at, client_ip=client_ip))
    if not d.allowed:
        return Verdict(False, name, NO_DIAL_IN if d.dial_in == "deny" else POLICY_DENIED, d.reason,
                       d.windows_error, known_user=True, profile=d.profile, router_interface=d.router_interface)
    assert d.profile is not None
    possible = achievable_levels(tunnel, link_levels, method)
    levels = tuple(lv for lv in possible if lv in d.profile.encryption)
    if not levels:
        can = ", ".join(possible) or "no level at all"
        return Verdict(False, name, ENCRYPTION_REQUIRED,
                       f"the profile of policy {d.policy} allows encryption {', '.join(d.profile.encryption)}; "
                       f"a {tunnel} call with {method} can have {can}", ERROR_ENCRYPTION_REQUIRED, known_user=True,
                       profile=d.profile, router_interface=d.router_interface)
    return Verdict(True, name, d.reason, d.reason, None, known_user=True, profile=d.profile,
                   router_interface=d.router_interface, levels=levels)


def offered(config: Config, tunnel: str, client_ip: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The auth methods and encryption levels a server link offers before the user is known: those of `auth` that
    the profile of at least one policy able to match this tunnel type and client allows (all of `auth` when none
    can match, or nothing would be left: the refusal then comes with the right error at authentication).
    Plain L2TP offers "none" only (decision 0070)."""
    methods: set[str] = set()
    levels: set[str] = set()
    for p in config.policies:
        if p.tunnel_types and tunnel not in p.tunnel_types:
            continue
        if p.client_ips and (client_ip is None or not any(
                ipaddress.IPv4Address(client_ip) in ipaddress.IPv4Network(c) for c in p.client_ips)):
            continue
        methods.update(p.methods if p.methods is not None else config.auth.methods)
        levels.update(p.encryption if p.encryption is not None else config.auth.encryption)
    m = tuple(x for x in config.auth.methods if x in methods) or tuple(config.auth.methods)
    lv = tuple(x for x in config.auth.encryption if x in levels) or tuple(config.auth.encryption)
    return m, (("none",) if tunnel == "l2tp" else lv)


def counts_towards_lockout(known_user: bool, windows_error: int | None) -> bool:
    """RRAS counts a failed authentication of a valid user name (a wrong password: 691), nothing else."""
    return known_user and (windows_error or ERROR_NO_SUCH_USER) == ERROR_NO_SUCH_USER


def encryption_allowed(levels: tuple[str, ...], negotiated: str) -> bool:
    """Whether the encryption NetworkUp reports ("none", "mppe-40", ...) is one of the session's allowed LEVELS."""
    return NEGOTIATED_LEVEL.get(negotiated, negotiated) in levels


def dial_in_still_allowed(config: Config, *, user: str, tunnel: str, method: str, at: datetime,
                          client_ip: str | None) -> tuple[bool, str]:
    """After a reload: does the (new) configuration still grant this live session? (allowed, why)."""
    if user not in config.users:
        return False, f"user {user} no longer exists"
    d = evaluate(config, Request(user=user, tunnel=tunnel, auth=method, at=at, client_ip=client_ip))
    return d.allowed, d.reason
