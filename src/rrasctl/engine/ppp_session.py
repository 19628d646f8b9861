"""The glue between a call (any tunnel type) and its PppLink: who may connect, with what (DESIGN.md §1: the engine
executes, `router/` decides). The call runner (engine/calls.py) makes one per call and hands it every link event.

- PppConfig from the configuration: server role (methods and levels of `auth`, narrowed to what some remote access
  policy's profile for this tunnel type and client allows: `router.authorize.offered`), client role (the demand-dial
  interface's credentials and weakest level);
- `AuthRequested`, in SPEC §4's order: the password first (an unknown user, a wrong password, whoever the user is:
  691, counted towards lockout for a known user), then lockout (647), dial-in permission and the policies (649, 919,
  741: `router.authorize.authorize`), then admission's router rule (a caller named like a demand-dial interface is a
  router: ROUTER_IN, its routes); each refusal is answered on the link with its Windows error and recorded once;
- lockout in memory (engine/lockout.py: no disk I/O per login);
- the address (pool or static), routes, `ctx.session_up`; after `NetworkUp` the negotiated encryption is checked
  against the profile's levels;
- outbound: our address on the TUN, the interface's routes with that address as preferred source, `DialFailed`
  with the typed cause when the link fails before it is up.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
from typing import Any, Callable

from rrasctl.engine.drivers import DialFailed
from rrasctl.engine.hostaddrs import own_addresses
from rrasctl.engine.sessions import Direction, Session
from rrasctl.errors import RrasctlError
from rrasctl.protocols.causes import Cause
from rrasctl.router import authorize as az
from rrasctl.router.causes import cause_for_error, windows_error

log = logging.getLogger(__name__)

LEVELS = ("none", "basic", "strong", "strongest")

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
            password = (self._open(iface.password) if iface.password else None) or ""
            return PppConfig(role=Role.PEER, methods=methods, encryption=levels, mppe_stateless=self.mppe_stateless,
                             user=user, password=password, own_addresses=own_addresses(cfg))
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

    def _open(self, sealed: str | None) -> str | None:
        """A sealed secret from the configuration; None when it cannot be opened (logged once, never raised)."""
        try:
            return self.ctx.open_secret(sealed)
        except RrasctlError as exc:
            log.error("[%s] %s", self.session.port_name, exc)
            return None

    # ---- events ---------------------------------------------------------------------------------------------

    def handle(self, ev: Any, now: float) -> list:
        """One link event; returns the events the link commands it issued caused (the runner handles those too)."""
        from rrasctl.protocols.ppp.link import AuthFailed, AuthRequested, AuthSucceeded, LinkDown, NetworkUp

        if isinstance(ev, AuthRequested):
            return self._auth_requested(ev, now)
        if isinstance(ev, AuthSucceeded):
            return self._auth_succeeded(ev, now)
        if isinstance(ev, AuthFailed):
            self._auth_failed(ev)
        elif isinstance(ev, NetworkUp):
            return self._network_up(ev, now)
        elif isinstance(ev, LinkDown):
            if self.outbound and self.failure is None and not self.up:
                cause = cause_for_error(ev.error) if ev.cause is Cause.AUTH_FAILED and ev.error else ev.cause
                self.failure = DialFailed(cause, ev.detail)
        return []

    def _method(self, ev: Any) -> str:
        return ev.method.value if hasattr(ev.method, "value") else str(ev.method)

    def _refuse(self, cause: Cause, detail: str, wire: str, user: str | None) -> None:
        if self.refusal_recorded:
            return
        self.refusal_recorded = True
        self.ctx.refused(cause, protocol=self.protocol, peer=self.peer, wire=wire, detail=detail, user=user)

    def _auth_requested(self, ev: Any, now: float) -> list:
        ctx, link = self.ctx, self.link
        cfg = ctx.config
        method = self._method(ev)
        name = az.bare_user(ev.user)
        user = cfg.users.get(name)
        if user is None or user.password is None:
            self.known_user = None
            return link.answer_password(None, now)          # unknown user: the core's own 691, never say which
        self.known_user = name
        try:
            password = ctx.open_secret(user.password)
        except RrasctlError as exc:
            # the key file is missing or replaced: refuse like a wrong password on the wire, say why in the record
            self._refuse(Cause.SECRET_UNAVAILABLE, exc.message, f"PPP {method} failure E=691", name)
            self.known_user = None
            return link.answer_external(False, now=now, error=int(windows_error(Cause.SECRET_UNAVAILABLE)))
        if not link.verify_password(password):
            return link.answer_password(password, now)      # the core's own failure (691, MS-CHAP retry)
        store = ctx.lockout
        wall = store.wall()
        v = az.authorize(cfg, store.view(cfg), user=ev.user, tunnel=self.protocol, method=method,
                         at=datetime.datetime.fromtimestamp(wall), now=wall, client_ip=self.peer,
                         link_levels=tuple(link.config.encryption))
        if not v.allowed:
            cause = v.cause or Cause.POLICY_DENIED
            error = int(windows_error(cause))
            self._refuse(cause, v.detail, f"PPP {method} failure E={error}", v.user)
            return link.answer_external(False, now=now, error=error, message=v.reason[:60])
        from rrasctl.router.admission import Protocol, Use

        s = self.session
        refusal = ctx.admission.classify(Protocol(self.protocol), s.port,
                                         Use.ROUTER_IN if v.router_interface else Use.REMOTE_ACCESS)
        if refusal is not None:
            r = refusal.refusal
            error = int(windows_error(r.cause))
            self._refuse(r.cause, r.detail, f"PPP {method} failure E={error}", v.user)
            return link.answer_external(False, now=now, error=error, message=r.detail[:60])
        self.profile, self.levels = v.profile, v.levels
        if v.router_interface:
            s.interface = v.router_interface
        return link.answer_password(password, now)

    def _auth_failed(self, ev: Any) -> None:
        if self.outbound:
            if self.failure is None and not getattr(ev, "retry", False):
                cause = cause_for_error(ev.error) if ev.error else Cause.AUTH_TIMEOUT
                self.failure = DialFailed(cause, "" if ev.error else ev.reason)
                self.ctx.metrics.authentication(self.protocol, self._method(ev), "failure", "out")
            return
        if self.known_user is not None and az.counts_towards_lockout(True, ev.error) and not self.refusal_recorded:
            if self.ctx.lockout.failed(self.ctx.config, self.known_user):
                log.warning("user %s is now locked out (%d failed authentications)", self.known_user,
                            self.ctx.config.auth.lockout.max_failures)
        if getattr(ev, "retry", False):
            self.pending_failure = ev             # recorded if the peer hangs up instead of retrying
            return
        self.pending_failure = None
        self._record_auth_failure(ev)

    def _record_auth_failure(self, ev: Any) -> None:
        self.ctx.metrics.authentication(self.protocol, self._method(ev), "failure", "in")
        error = ev.error or int(windows_error(Cause.AUTH_FAILED))
        self._refuse(cause_for_error(error), ev.reason, f"PPP {self._method(ev)} failure E={error}",
                     az.bare_user(ev.user) if ev.user else None)

    def _auth_succeeded(self, ev: Any, now: float) -> list:
        s = self.session
        s.auth = self._method(ev)
        self.ctx.metrics.authentication(self.protocol, s.auth, "success", "out" if self.outbound else "in")
        self.pending_failure = None
        if self.outbound:
            s.user = self.iface.user if self.iface is not None else s.user
            if self.progress is not None:
                self.progress("registering")
            return []
        name = az.bare_user(ev.user)
        s.user = name
        self.ctx.lockout.succeeded(self.ctx.config, name)
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
            self._refuse(Cause.NCP_FAILED, "the address pool is exhausted", "LCP Terminate", s.user)
            return self.link.close(Cause.NCP_FAILED, now, "no address available")
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
            self._refuse(Cause.ENCRYPTION_MISMATCH, detail, "LCP Terminate", s.user)
            return self.link.close(Cause.ENCRYPTION_MISMATCH, now, "encryption level not allowed by the profile")
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
                tun.add_route(cidr, src=local)

    # ---- the end --------------------------------------------------------------------------------------------

    def finish(self, cause: Cause, detail: str = "") -> None:
        """The call is ending (the runner calls it before `ctx.session_down`): pending refusal records, our TUN
        address."""
        if self.pending_failure is not None:          # the peer hung up instead of retrying
            ev, self.pending_failure = self.pending_failure, None
            self._record_auth_failure(ev)
        if not self.outbound and (cause is Cause.ENCRYPTION_MISMATCH or not self.up and cause in (
                Cause.NO_COMMON_AUTH, Cause.NEGOTIATION_FAILED, Cause.ADDRESS_CLASH)):
            # SPEC §6: every refused attempt is recorded, with the error the client shows
            self._refuse(cause, detail, "LCP Terminate", self.session.user)
        if self.added_address and self.ctx.tun is not None:
            try:
                self.ctx.tun.del_address(self.added_address)
            except Exception:
                log.debug("could not remove %s from the TUN", self.added_address)
            self.added_address = None

    def still_allowed(self, config: Any) -> Cause | None:
        """After a reload: None if this session may stay, else the cause to disconnect it with. Inbound: the user
        must still exist and be granted by the policies; outbound: its demand-dial interface must still be enabled."""
        s = self.session
        if self.outbound:
            iface = (config.demand_dial or {}).get(s.interface or "")
            return Cause.CONFIG_CHANGED if iface is None or not iface.enabled else None
        if s.user is None or not self.up:
            return None
        user = config.users.get(s.user)
        if user is None or user.dial_in == "deny":
            return Cause.CONFIG_CHANGED
        ok, _why = az.dial_in_still_allowed(config, user=s.user, tunnel=self.protocol, method=s.auth or "",
                                            at=datetime.datetime.now(), client_ip=self.peer)
        return None if ok else Cause.CONFIG_CHANGED
