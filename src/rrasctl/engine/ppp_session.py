"""The glue between a tunnel call (PPTP or L2TP) and its PppLink, shared by both drivers (DESIGN.md §1: the engine
executes, `router/` decides).

A driver makes one `PppSession` per call, builds the link with `new_link()`, hands every link event to
`handle(event, now)` (which returns the events its link commands caused: the driver handles them too), does its own
transport work on `NetworkUp` (data path) and `LinkDown` (ending the call), and calls `finish(cause)` right before
`ctx.session_down`. Everything else happens here, identically for both tunnel types:

- PppConfig from the configuration: server role (methods and levels of `auth`, narrowed to what some remote access
  policy's profile for this tunnel type and client allows: `router.authorize.offered`), client role (the demand-dial
  interface's credentials and weakest level);
- `AuthRequested`: `router.authorize.authorize` (user, lockout, policies in order, profile methods and encryption);
  a refusal is answered on the link with the Windows error (E=) and recorded once per call;
- admission's router rule (a caller named like a demand-dial interface is a router: ROUTER_IN, its routes);
- failures: a wrong password of a known user counts towards lockout (`<state dir>/lockout.json`, re-read at every
  decision so that `rrasctl users unlock` takes effect at once); a success clears the count;
- the address (pool or static), routes, `ctx.session_up`; after `NetworkUp` the negotiated encryption is checked
  against the profile's levels;
- outbound: our address on the TUN, the interface's routes with that address as preferred source, `DialFailed`
  with a Windows error when the link fails before it is up.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import time
from typing import Any, Callable

from rrasctl.engine.drivers import DialFailed
from rrasctl.engine.sessions import Direction, Session
from rrasctl.errors import RrasctlError
from rrasctl.router import authorize as az
from rrasctl.router.lockout import LockoutTable

log = logging.getLogger(__name__)

LEVELS = ("none", "basic", "strong", "strongest")
ERROR_NO_ADDRESS = 733          # "The PPP control protocol for this network protocol is not available" (no IPCP)


# ---- lockout state ------------------------------------------------------------------------------------------------

class LockoutStore:
    """The engine's failure counting over `config.state.LockoutFile` (`<state dir>/lockout.json`, shared with the
    CLI's `users show` and `users unlock` under one lock): read before each decision, so an unlock takes effect at
    once. Without a state dir it lives in memory. A state dir that cannot be written is logged, never raised."""

    def __init__(self, state_dir: str | os.PathLike | None, wall: Callable[[], float] = time.time) -> None:
        from rrasctl.config.state import LockoutFile

        self.file = LockoutFile(state_dir)
        self.wall = wall

    def load(self, config: Any) -> LockoutTable:
        return self.file.read(config)

    def failed(self, config: Any, user: str) -> bool:
        """Count a failed authentication of USER; True when the account is now locked."""
        if config.auth.lockout.max_failures <= 0:
            return False
        try:
            with self.file.update(config) as table:
                return table.record_failure(user, self.wall())
        except (OSError, RrasctlError) as exc:
            log.error("cannot record the failure in %s: %s", self.file.path, exc)
            return False

    def succeeded(self, config: Any, user: str) -> None:
        try:
            with self.file.update(config) as table:
                if user in table.entries:
                    table.record_success(user)
        except (OSError, RrasctlError) as exc:
            log.error("cannot update %s: %s", self.file.path, exc)


def lockout_store(ctx: Any) -> LockoutStore:
    """The engine's lockout store (one per context, made on first use)."""
    store = getattr(ctx, "lockout", None)
    if store is None:
        store = LockoutStore(getattr(getattr(ctx, "paths", None), "state_dir", None))
        ctx.lockout = store
    return store


# ---- Windows errors for a failed link -----------------------------------------------------------------------------

def windows_error(reason: str, default: int = 629) -> int:
    """The RAS error a Windows router would show for a link that went down with REASON before it was up."""
    r = reason.lower()
    for code in (691, 649, 647, 646, 733, 741, 742, 919):
        if f"({code})" in r or f"e={code}" in r:
            return code
    if "authentication" in r:
        return 691
    if "encryption" in r:
        return 742                   # the remote computer does not support the required encryption
    if "did not acknowledge" in r or "retransmission" in r:
        return 809                   # no answer on the tunnel (L2TP)
    if "did not answer" in r or "timeout" in r:
        return 800
    return default


# ---- one call's PPP session ---------------------------------------------------------------------------------------

class PppSession:
    """See the module docstring. PROTOCOL is "pptp" or "l2tp"; PEER the caller's IP address (no port)."""

    def __init__(self, ctx: Any, protocol: str, session: Session, peer: str, *, iface: Any = None,
                 progress: Callable[[str], None] | None = None, mppe_stateless: bool = True) -> None:
        self.ctx = ctx
        self.protocol = protocol
        self.session = session
        self.peer = peer
        self.iface = iface                          # outbound: the demand-dial interface
        self.progress = progress
        self.mppe_stateless = mppe_stateless
        self.link: Any = None
        self.levels: tuple[str, ...] = ()           # inbound, authorised: the encryption the profile allows
        self.profile: Any = None
        self.known_user: str | None = None          # inbound: the configured user being authenticated
        self.refusal_recorded = False               # one refusal record per call (MS-CHAP retries included)
        self.pending_failure: Any = None            # an AuthFailed that allowed a retry, not yet recorded
        self.failure: DialFailed | None = None      # outbound: why the call did not come up
        self.added_address: str | None = None       # outbound: our address on the TUN
        self.up = False

    @property
    def outbound(self) -> bool:
        return self.session.direction is Direction.OUTBOUND

    # ---- link configuration ---------------------------------------------------------------------------------

    def link_config(self) -> Any:
        from rrasctl.protocols.ppp.auth import AuthMethod
        from rrasctl.protocols.ppp.link import PppConfig, Role

        cfg = self.ctx.config
        if self.outbound:
            iface = self.iface
            methods = tuple(AuthMethod(x) for x in cfg.auth.methods if x != "eap-tls")
            if self.protocol == "l2tp":
                levels: tuple[str, ...] = ("none",)                 # plain L2TP (decision 0070)
            else:
                weakest = iface.encryption if iface.encryption in LEVELS else "basic"
                levels = LEVELS[LEVELS.index(weakest):]
            user = f"{iface.domain}\\{iface.user}" if iface.domain else iface.user
            password = (self.ctx.open_secret(iface.password) if iface.password else None) or ""
            return PppConfig(role=Role.PEER, methods=methods, encryption=levels, mppe_stateless=self.mppe_stateless,
                             user=user, password=password)
        methods, levels = az.offered(cfg, self.protocol, self.peer)
        return PppConfig(role=Role.AUTHENTICATOR, methods=tuple(AuthMethod(x) for x in methods if x != "eap-tls"),
                         encryption=levels, mppe_stateless=self.mppe_stateless,
                         local_address=ipaddress.IPv4Address(cfg.server.tunnel_address), peer_address=None,
                         dns=tuple(ipaddress.IPv4Address(a) for a in cfg.server.dns),
                         nbns=tuple(ipaddress.IPv4Address(a) for a in cfg.server.wins))

    def new_link(self) -> Any:
        from rrasctl.protocols.ppp.link import PppLink

        self.link = PppLink(self.link_config())
        return self.link

    # ---- events ---------------------------------------------------------------------------------------------

    def handle(self, ev: Any, now: float) -> list:
        """One link event; returns the events the link commands it issued caused (handle those too)."""
        name = type(ev).__name__
        if name == "AuthRequested":
            return self._auth_requested(ev, now)
        if name == "AuthSucceeded":
            return self._auth_succeeded(ev, now)
        if name == "AuthFailed":
            self._auth_failed(ev)
        elif name == "NetworkUp":
            return self._network_up(ev, now)
        elif name == "LinkDown":
            if self.outbound and self.failure is None and not self.up:
                self.failure = DialFailed(f"the connection failed: {ev.reason}", windows_error(ev.reason))
        return []

    def _method(self, ev: Any) -> str:
        return ev.method.value if hasattr(ev.method, "value") else str(ev.method)

    def _refuse(self, reason: str, detail: str, error: int | None, wire: str, user: str | None) -> None:
        if self.refusal_recorded:
            return
        self.refusal_recorded = True
        self.ctx.refused_other(protocol=self.protocol, peer=self.peer, reason=reason, detail=detail, wire=wire,
                               windows_error=error, user=user)

    def _auth_requested(self, ev: Any, now: float) -> list:
        ctx, link = self.ctx, self.link
        cfg = ctx.config
        method = self._method(ev)
        store = lockout_store(ctx)
        v = az.authorize(cfg, store.load(cfg), user=ev.user, tunnel=self.protocol, method=method,
                         at=datetime.datetime.fromtimestamp(store.wall()), now=store.wall(), client_ip=self.peer,
                         link_levels=tuple(link.config.encryption))
        self.known_user = v.user if v.known_user else None
        if not v.allowed and v.reason == az.AUTH_FAILED:
            return link.answer_password(None, now)          # unknown user: the core's own 691, never say which
        if not v.allowed:
            self._refuse(v.reason, v.detail, v.windows_error, f"PPP {method} failure E={v.windows_error}", v.user)
            return link.answer_external(False, now=now, error=v.windows_error, message=v.reason[:60])
        from rrasctl.router.admission import Protocol, Use

        s = self.session
        refusal = ctx.admission.classify(Protocol(self.protocol), s.port,
                                         Use.ROUTER_IN if v.router_interface else Use.REMOTE_ACCESS)
        if refusal is not None:
            if not self.refusal_recorded:
                self.refusal_recorded = True
                ctx.refused(refusal.cause, peer=self.peer, user=v.user)
            return link.answer_external(False, now=now, error=refusal.cause.windows_error,
                                        message=refusal.cause.detail[:60])
        self.profile, self.levels = v.profile, v.levels
        if v.router_interface:
            s.interface = v.router_interface
        user = cfg.users[v.user]
        return link.answer_password(ctx.open_secret(user.password), now)

    def _auth_failed(self, ev: Any) -> None:
        if self.outbound:
            if self.failure is None and not getattr(ev, "retry", False):
                error = ev.error or 691
                self.failure = DialFailed(
                    "the user name or password is not valid on the remote server (authentication failed)"
                    if error == 691 else f"authentication failed: {ev.reason}", error,
                    unreachable="AUTHENTICATION_FAILURE")
            return
        if self.known_user is not None and az.counts_towards_lockout(True, ev.error) and not self.refusal_recorded:
            if lockout_store(self.ctx).failed(self.ctx.config, self.known_user):
                log.warning("user %s is now locked out (%d failed authentications)", self.known_user,
                            self.ctx.config.auth.lockout.max_failures)
        if getattr(ev, "retry", False):
            self.pending_failure = ev             # recorded if the peer hangs up instead of retrying
            return
        self.pending_failure = None
        self._record_auth_failure(ev)

    def _record_auth_failure(self, ev: Any) -> None:
        error = ev.error or 691
        self._refuse(az.AUTH_FAILED, ev.reason, error, f"PPP {self._method(ev)} failure E={error}",
                     az.bare_user(ev.user) if ev.user else None)

    def _auth_succeeded(self, ev: Any, now: float) -> list:
        s = self.session
        s.auth = self._method(ev)
        self.pending_failure = None
        if self.outbound:
            s.user = self.iface.user if self.iface is not None else s.user
            if self.progress is not None:
                self.progress("registering")
            return []
        name = az.bare_user(ev.user)
        s.user = name
        lockout_store(self.ctx).succeeded(self.ctx.config, name)
        return self._assign(now)

    def _assign(self, now: float) -> list:
        ctx, s = self.ctx, self.session
        cfg = ctx.config
        user = cfg.users.get(s.user or "")
        static = self.profile.static_ip if self.profile is not None else getattr(user, "static_ip", None)
        routes: list[str] = []
        if s.interface:
            dd = (cfg.demand_dial or {}).get(s.interface)
            routes += [r.cidr for r in dd.routes] if dd is not None else []
        if user is not None:
            routes += list(user.routes)
        if routes:
            ctx.sessions.bind_routes(s, routes)
        ip = ctx.addrpool.allocate(static=static)
        if ip is None:
            self._refuse("no address available", "the address pool is exhausted", ERROR_NO_ADDRESS, "IPCP", s.user)
            return self.link.close("no address available", now)
        s.ip = str(ip)            # released by session_down whatever happens next
        return self.link.assign_address(ipaddress.IPv4Address(str(ip)), now)

    def _network_up(self, ev: Any, now: float) -> list:
        s = self.session
        s.encryption, s.auth = ev.encryption, ev.auth or s.auth
        s.local_ip = str(ev.local_ip)
        if self.outbound:
            self._outbound_up(ev)
            self.up = True
            return []
        if not az.encryption_allowed(self.levels, ev.encryption):
            detail = f"{ev.encryption} is not among the profile's levels {', '.join(self.levels)}"
            self._refuse(az.ENCRYPTION_REQUIRED, detail, az.ERROR_ENCRYPTION_REQUIRED, "LCP Terminate", s.user)
            return self.link.close("encryption level not allowed by the profile", now)
        self.up = True
        self.ctx.session_up(s, str(ev.peer_ip))
        return []

    def _outbound_up(self, ev: Any) -> None:
        ctx, s = self.ctx, self.session
        local, peer = str(ev.local_ip), str(ev.peer_ip)
        iface = (ctx.config.demand_dial or {}).get(s.interface) if s.interface else None
        iface = iface or self.iface
        ctx.sessions.bind_routes(s, [r.cidr for r in iface.routes] if iface is not None else [])
        tun = ctx.tun
        if tun is not None:
            try:
                tun.add_address(local)
                self.added_address = local
            except Exception:
                log.warning("[%s] could not add %s to the TUN", s.port_name, local)
        ctx.session_up(s, peer)
        if tun is not None:           # again, with our address as preferred source: replies come back to it
            for cidr in (f"{peer}/32", *s.routes):
                try:
                    tun.add_route(cidr, src=local)
                except TypeError:     # a TUN without preferred sources (test doubles)
                    break

    # ---- the end --------------------------------------------------------------------------------------------

    def finish(self, cause: str) -> None:
        """The call is ending (call before `ctx.session_down`): pending refusal records, our TUN address."""
        if self.pending_failure is not None:          # the peer hung up instead of retrying
            ev, self.pending_failure = self.pending_failure, None
            self._record_auth_failure(ev)
        if not self.outbound and not self.up and "encryption" in cause:
            # SPEC §6: a client that cannot meet the required encryption sees 741
            self._refuse(az.ENCRYPTION_REQUIRED, cause, az.ERROR_ENCRYPTION_REQUIRED, "LCP Terminate",
                         self.session.user)
        if self.added_address and self.ctx.tun is not None:
            try:
                self.ctx.tun.del_address(self.added_address)
            except Exception:
                log.debug("could not remove %s from the TUN", self.added_address)
            self.added_address = None

    def still_allowed(self, config: Any) -> str | None:
        """After a reload: None if this session may stay, else the cause to disconnect it with. Inbound: the user
        must still exist and be granted by the policies; outbound: its demand-dial interface must still be enabled."""
        s = self.session
        if self.outbound:
            iface = (config.demand_dial or {}).get(s.interface or "")
            return "demand-dial interface removed or disabled" if iface is None or not iface.enabled else None
        if s.user is None or not self.up:
            return None
        user = config.users.get(s.user)
        if user is None or user.dial_in == "deny":
            return "no longer allowed (configuration reloaded)"
        ok, _why = az.dial_in_still_allowed(config, user=s.user, tunnel=self.protocol, method=s.auth or "",
                                            at=datetime.datetime.now(), client_ip=self.peer)
        return None if ok else "no longer allowed (configuration reloaded)"
