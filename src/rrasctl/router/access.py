"""Remote access policy evaluation (SPEC §4), pure: no I/O, the time is an argument.

RRAS 2003 rules: policies are tried in order; the first whose conditions all match decides (empty condition = any).
The user's dial-in ``allow``/``deny`` overrides that policy's permission, but its profile still applies; ``policy``
defers to it. No match denies, whatever the dial-in. Router rule: a caller whose user name equals a demand-dial
interface's name is a router and binds to that interface.

``evaluate`` returns a ``Decision`` that also explains every earlier policy that did not match (``policy test``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from rrasctl.config.model import Config, Policy, hours_allow, parse_hours
from rrasctl.router.causes import WindowsError

ERROR_NO_DIALIN_PERMISSION = int(WindowsError.NO_DIALIN_PERMISSION)  # 649: no permission to dial in
ERROR_AUTH_PROTOCOL = int(WindowsError.PEER_REFUSED_AUTH)  # 919: the method is not permitted by the policy
ERROR_NO_SUCH_USER = int(WindowsError.AUTHENTICATION_FAILURE)  # 691: bad user name or password (never say which)


@dataclass(frozen=True)
class Request:
    user: str
    tunnel: str  # "pptp" | "l2tp"
    auth: str  # a method of model.METHODS
    at: datetime  # local wall time of the attempt
    client_ip: str | None = None


@dataclass(frozen=True)
class Step:
    policy: str
    matched: bool
    why: str  # the first failing condition, or "all conditions match"


@dataclass(frozen=True)
class Profile:
    methods: tuple[str, ...]
    encryption: tuple[str, ...]
    idle_timeout_s: int | None = None
    max_session_s: int | None = None
    static_ip: str | None = None
    address_pool: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy: str | None  # the matching policy
    reason: str
    windows_error: int | None  # what the client will show when refused
    profile: Profile | None
    steps: tuple[Step, ...]
    router_interface: str | None  # the demand-dial interface a router caller binds to
    dial_in: str  # the user's dial-in setting that took part

    def as_dict(self) -> dict:
        return {
            "allowed": self.allowed, "policy": self.policy, "reason": self.reason,
            "windows_error": self.windows_error, "dial_in": self.dial_in,
            "router_interface": self.router_interface,
            "steps": [{"policy": s.policy, "matched": s.matched, "why": s.why} for s in self.steps],
            "profile": None if self.profile is None else {
                "methods": list(self.profile.methods), "encryption": list(self.profile.encryption),
                "idle_timeout_s": self.profile.idle_timeout_s, "max_session_s": self.profile.max_session_s,
                "static_ip": self.profile.static_ip, "address_pool": self.profile.address_pool},
        }


def mismatch(policy: Policy, req: Request) -> str | None:
    """Why POLICY's conditions do not match REQ (the first failing one), or None when they all match."""
    if policy.tunnel_types and req.tunnel not in policy.tunnel_types:
        return f"tunnel type {req.tunnel} is not {', '.join(policy.tunnel_types)}"
    if policy.users and req.user not in policy.users:
        return f"user {req.user} is not {', '.join(policy.users)}"
    if policy.auth_types and req.auth not in policy.auth_types:
        return f"authentication {req.auth} is not {', '.join(policy.auth_types)}"
    if policy.client_ips:
        if req.client_ip is None:
            return "the client IP is unknown and the policy restricts it"
        addr = ipaddress.IPv4Address(req.client_ip)
        if not any(addr in ipaddress.IPv4Network(c) for c in policy.client_ips):
            return f"client IP {req.client_ip} is not in {', '.join(policy.client_ips)}"
    if policy.hours:
        minute = req.at.hour * 60 + req.at.minute
        if not hours_allow(parse_hours(policy.hours), req.at.weekday(), minute):
            return f"{req.at:%a %H:%M} is outside the hours {policy.hours!r}"
    return None


def evaluate(config: Config, req: Request) -> Decision:
    user = config.users.get(req.user)
    dial_in = user.dial_in if user is not None else "policy"
    router = req.user if req.user in config.demand_dial else None
    steps: list[Step] = []
    for policy in config.policies:
        why = mismatch(policy, req)
        if why is not None:
            steps.append(Step(policy.name, False, why))
            continue
        steps.append(Step(policy.name, True, "all conditions match"))
        profile = Profile(
            methods=policy.methods if policy.methods is not None else config.auth.methods,
            encryption=policy.encryption if policy.encryption is not None else config.auth.encryption,
            idle_timeout_s=policy.idle_timeout_s, max_session_s=policy.max_session_s,
            static_ip=(user.static_ip if user is not None and user.static_ip else policy.static_ip),
            address_pool=policy.address_pool)
        common = dict(policy=policy.name, profile=profile, steps=tuple(steps), router_interface=router,
                      dial_in=dial_in)
        if dial_in == "deny":
            return Decision(False, reason=f"user {req.user}'s dial-in is deny (overrides policy {policy.name})",
                            windows_error=ERROR_NO_DIALIN_PERMISSION, **common)
        if dial_in == "policy" and policy.permission == "deny":
            return Decision(False, reason=f"policy {policy.name} denies remote access permission",
                            windows_error=ERROR_NO_DIALIN_PERMISSION, **common)
        if req.auth not in profile.methods:
            return Decision(False, reason=f"the profile of policy {policy.name} does not allow {req.auth}",
                            windows_error=ERROR_AUTH_PROTOCOL, **common)
        by = f"user {req.user}'s dial-in is allow" if dial_in == "allow" else f"policy {policy.name} grants access"
        return Decision(True, reason=by, windows_error=None, **common)
    return Decision(False, policy=None, reason="no remote access policy matches", windows_error=ERROR_NO_DIALIN_PERMISSION,
                    profile=None, steps=tuple(steps), router_interface=router, dial_in=dial_in)
