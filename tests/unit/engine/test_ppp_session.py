"""engine/ppp_session.py: the PPP-session glue both tunnel drivers use, with a fake link and a real engine context
(sessions, admission, address pool); accounting and refusal records are recorded. Same inputs on PPTP and L2TP give
the same decisions (the one difference: plain L2TP can only carry encryption "none")."""

from __future__ import annotations

import json
from datetime import datetime
from ipaddress import IPv4Address
from types import SimpleNamespace

import pytest

from rrasctl.config.model import Auth, Config, DemandDial, Lockout, Policy, PortPool, Route, Server, User
from rrasctl.engine.drivers import EngineContext
from rrasctl.engine.lockout import LockoutStore
from rrasctl.engine.ppp_session import PppSession
from rrasctl.protocols.causes import Cause
from rrasctl.engine.sessions import Session, SessionTable
from rrasctl.protocols.ppp.auth import AuthFailed, AuthMethod, AuthRequested, AuthSucceeded
from rrasctl.protocols.ppp.link import LinkDown, NetworkUp, PppConfig, Role
from rrasctl.router.addrpool import AddressPool
from rrasctl.router.admission import Admission, Protocol, Use, pools_from_config

PEER = "203.0.113.9"
WALL = 1_700_000_000.0          # a Tuesday, 22:13 UTC: no hours conditions in these policies
TUNNELS = ("pptp", "l2tp")


class FakeLink:
    """Records the glue's commands; returns no events (the tests feed the events the real link would emit)."""

    def __init__(self, encryption=("none", "basic", "strong", "strongest"), password_ok=True) -> None:
        self.config = SimpleNamespace(encryption=encryption)
        self.calls: list[tuple] = []
        self.password_ok = password_ok     # what verify_password says (the real link checks the response)

    def verify_password(self, password):
        return self.password_ok

    def answer_password(self, password, now):
        self.calls.append(("password", password))
        return []

    def answer_external(self, accepted, *, now, **kw):
        self.calls.append(("external", accepted, kw.get("error")))
        return []

    def assign_address(self, ip, now):
        self.calls.append(("address", str(ip)))
        return []

    def close(self, cause, now, detail=""):
        self.calls.append(("close", cause))
        return []


class FakeAccounting:
    def __init__(self) -> None:
        self.refusals: list[dict] = []
        self.started: list[str] = []

    def refusal(self, **kw):
        self.refusals.append(kw)

    def start(self, session):
        self.started.append(session.user)

    def stop(self, session, cause):
        pass


class FakeTun:
    def __init__(self) -> None:
        self.routes: list[tuple] = []
        self.addresses: set[str] = set()

    def add_route(self, cidr, metric=None, *, src=None):
        self.routes.append((cidr, src))

    def del_route(self, cidr):
        pass

    def add_address(self, a, prefixlen=32):
        self.addresses.add(a)

    def del_address(self, a, prefixlen=32):
        self.addresses.discard(a)


def make_config(*, policies=None, lockout=0, encryption=("basic", "strong", "strongest", "none"),
                methods=("ms-chap", "ms-chap-v2", "pap"), **users) -> Config:
    kw = {} if policies is None else {"policies": tuple(policies)}
    return Config(server=Server(address_pool="198.51.100.64/26", tunnel_address="198.51.100.1"),
                  ports={"pptp": PortPool(20), "l2tp": PortPool(20)},
                  auth=Auth(methods=methods, encryption=encryption, lockout=Lockout(max_failures=lockout,
                                                                                     reset_minutes=30)),
                  users={n: User(n, password=f"sealed-{n}", dial_in=d) for n, d in users.items()}, **kw)


def make_ctx(cfg: Config, state_dir=None) -> EngineContext:
    ctx = EngineContext(loop=None, timers=None, sessions=SessionTable(),
                        admission=Admission(pools_from_config(cfg.ports), cfg.server.max_concurrent,
                                            cfg.server.edition),
                        addrpool=AddressPool(cfg.server.address_pool, server_address=cfg.server.tunnel_address),
                        config=cfg, accounting=FakeAccounting())
    ctx.open_secret = lambda sealed: "pw-" + sealed.removeprefix("sealed-")
    ctx.lockout = LockoutStore(state_dir, wall=lambda: WALL)
    return ctx


def inbound(ctx, tunnel: str, link=None) -> tuple[PppSession, FakeLink]:
    port = ctx.admission.try_admit(Protocol(tunnel), Use.INBOUND).port
    s = ctx.sessions.add(Session(tunnel, port, peer=PEER))
    glue = PppSession(ctx, tunnel, s, PEER)
    glue.link = link or FakeLink(("none",) if tunnel == "l2tp" else ("none", "basic", "strong", "strongest"))
    return glue, glue.link


def ask(glue, user, method=AuthMethod.MSCHAP_V2):
    return glue.handle(AuthRequested(method, user), 0.0)


def refusal_view(ctx):
    return [(r["protocol"], r["reason"], r["windows_error"], r["user"]) for r in ctx.accounting.refusals]


@pytest.mark.parametrize("tunnel", TUNNELS)
def test_default_deny_policy_refuses_a_policy_user_with_649_on_both_tunnels(tunnel):
    ctx = make_ctx(make_config(carol="policy"))
    glue, link = inbound(ctx, tunnel)
    ask(glue, "DOM\\carol")
    assert link.calls == [("external", False, 649)]
    glue.handle(AuthFailed(AuthMethod.MSCHAP_V2, "DOM\\carol", 649, "no dial-in permission"), 0.0)
    assert refusal_view(ctx) == [(tunnel, "policy_denied", 649, "carol")]     # recorded once
    assert ctx.counters.refused.as_dict() == {"policy_denied": 1}


@pytest.mark.parametrize("tunnel", TUNNELS)
def test_a_wrong_password_gets_691_whoever_the_user_is(tunnel):
    """SPEC §4 / issue #13: credentials first, so a denied user with a wrong password looks exactly like an
    unknown one (691), and 649 never tells a guesser that the name exists."""
    ctx = make_ctx(make_config(carol="policy", bob="deny", alice="allow"))
    answers = {}
    for user in ("carol", "bob", "alice", "mallory"):
        glue, link = inbound(ctx, tunnel, FakeLink(password_ok=False))
        ask(glue, user)
        answers[user] = link.calls
    assert answers == {"carol": [("password", "pw-carol")], "bob": [("password", "pw-bob")],
                       "alice": [("password", "pw-alice")], "mallory": [("password", None)]}
    assert refusal_view(ctx) == []        # the core's own 691 failure; recorded when it is final (AuthFailed)


@pytest.mark.parametrize("tunnel", TUNNELS)
def test_a_granting_policy_admits_the_policy_user_and_dial_in_allow_overrides_a_deny(tunnel):
    grant = Policy("staff", permission="grant", users=("carol",))
    ctx = make_ctx(make_config(policies=[grant, Policy("default")], carol="policy", alice="allow", bob="deny"))
    for user, expect in (("carol", ("password", "pw-carol")), ("alice", ("password", "pw-alice")),
                         ("bob", ("external", False, 649)), ("mallory", ("password", None))):
        glue, link = inbound(ctx, tunnel)
        ask(glue, user)
        assert link.calls == [expect], user
    assert refusal_view(ctx) == [(tunnel, "dial_in_denied", 649, "bob")]


@pytest.mark.parametrize("tunnel", TUNNELS)
def test_success_assigns_an_address_and_network_up_opens_the_session(tunnel):
    ctx = make_ctx(make_config(alice="allow"))
    glue, link = inbound(ctx, tunnel)
    ask(glue, "alice")
    glue.handle(AuthSucceeded(AuthMethod.MSCHAP_V2, "alice"), 0.0)
    assert link.calls[-1] == ("address", "198.51.100.65")
    glue.handle(NetworkUp(IPv4Address("198.51.100.1"), IPv4Address("198.51.100.65"), (), (), "none",
                          "ms-chap-v2"), 0.0)
    s = glue.session
    assert (s.user, s.ip, s.auth, s.encryption, s.state.value) == ("alice", "198.51.100.65", "ms-chap-v2", "none", "up")
    assert ctx.accounting.started == ["alice"] and glue.up


@pytest.mark.parametrize("tunnel", TUNNELS)
def test_lockout_after_n_failures_then_647_then_unlock_through_the_state_file(tunnel, tmp_path):
    ctx = make_ctx(make_config(lockout=2, alice="allow"), state_dir=tmp_path)
    for attempt in range(2):
        glue, link = inbound(ctx, tunnel)
        ask(glue, "alice")
        assert link.calls == [("password", "pw-alice")], attempt
        glue.handle(AuthFailed(AuthMethod.MSCHAP_V2, "alice", 691, "wrong password"), 0.0)
    assert json.loads((tmp_path / "lockout.json").read_text()) == {"alice": {"failures": 2, "last_failure": WALL}}
    glue, link = inbound(ctx, tunnel)
    ask(glue, "alice")
    assert link.calls == [("external", False, 647)]            # the right password, but locked
    assert refusal_view(ctx)[-1] == (tunnel, "account_locked", 647, "alice")
    glue, link = inbound(ctx, tunnel, FakeLink(password_ok=False))
    ask(glue, "alice")
    assert link.calls == [("password", "pw-alice")]            # a wrong one still gets 691: nothing is revealed
    # unknown users are never counted (nothing to lock), and a locked user stays locked for everyone
    other, _ = inbound(ctx, tunnel)
    ask(other, "nobody")
    other.handle(AuthFailed(AuthMethod.MSCHAP_V2, "nobody", 691, "unknown"), 0.0)
    assert set(json.loads((tmp_path / "lockout.json").read_text())) == {"alice"}
    # `rrasctl users unlock alice` tells the running engine (control op users.unlock), which forgets at once
    assert ctx.lockout.unlock("alice")
    glue, link = inbound(ctx, tunnel)
    ask(glue, "alice")
    assert link.calls == [("password", "pw-alice")]
    glue.handle(AuthSucceeded(AuthMethod.MSCHAP_V2, "alice"), 0.0)
    assert json.loads((tmp_path / "lockout.json").read_text()) == {}


def test_a_success_clears_earlier_failures_and_an_ms_chap_retry_is_recorded_once(tmp_path):
    ctx = make_ctx(make_config(lockout=3, alice="allow"), state_dir=tmp_path)
    glue, link = inbound(ctx, "pptp")
    ask(glue, "alice")
    glue.handle(AuthFailed(AuthMethod.MSCHAP_V2, "alice", 691, "wrong password", retry=True), 0.0)
    assert refusal_view(ctx) == []                                      # a retry may follow
    assert json.loads((tmp_path / "lockout.json").read_text())["alice"]["failures"] == 1
    ask(glue, "alice")
    glue.handle(AuthSucceeded(AuthMethod.MSCHAP_V2, "alice"), 0.0)
    assert json.loads((tmp_path / "lockout.json").read_text()) == {}
    glue.finish(Cause.PEER_DISCONNECTED)
    assert refusal_view(ctx) == []
    # a client that gives up after a failure that allowed a retry: one record when the call ends
    glue, link = inbound(ctx, "l2tp")
    ask(glue, "alice")
    glue.handle(AuthFailed(AuthMethod.MSCHAP_V2, "alice", 691, "wrong password", retry=True), 0.0)
    glue.finish(Cause.PEER_ABORTED)
    glue.finish(Cause.PEER_ABORTED)
    assert refusal_view(ctx) == [("l2tp", "auth_failed", 691, "alice")]


@pytest.mark.parametrize("tunnel", TUNNELS)
def test_profile_methods_refuse_with_919(tunnel):
    v2_only = Policy("v2", permission="grant", methods=("ms-chap-v2",))
    ctx = make_ctx(make_config(policies=[v2_only], alice="allow"))
    glue, link = inbound(ctx, tunnel)
    ask(glue, "alice", AuthMethod.MSCHAP_V1)
    assert link.calls == [("external", False, 919)]
    assert refusal_view(ctx) == [(tunnel, "method_not_allowed", 919, "alice")]


def test_profile_encryption_the_same_decision_for_both_tunnels_given_what_each_can_carry():
    strongest = Policy("strong", permission="grant", encryption=("strongest",))
    ctx = make_ctx(make_config(policies=[strongest], alice="allow"))
    # PPTP with MS-CHAP v2 can give MPPE-128: admitted, and only 128-bit is acceptable afterwards
    glue, link = inbound(ctx, "pptp")
    ask(glue, "alice")
    assert link.calls == [("password", "pw-alice")] and glue.levels == ("strongest",)
    glue.handle(AuthSucceeded(AuthMethod.MSCHAP_V2, "alice"), 0.0)
    glue.handle(NetworkUp(IPv4Address("198.51.100.1"), IPv4Address("198.51.100.64"), (), (), "mppe-40",
                          "ms-chap-v2"), 0.0)
    assert link.calls[-1] == ("close", Cause.ENCRYPTION_MISMATCH) and not glue.up
    assert refusal_view(ctx) == [("pptp", "encryption_mismatch", 741, "alice")]
    # PAP (no MPPE keys) on PPTP, and anything on plain L2TP, cannot meet it: 741 at authentication
    for tunnel, method in (("pptp", AuthMethod.PAP), ("l2tp", AuthMethod.MSCHAP_V2)):
        glue, link = inbound(ctx, tunnel)
        ask(glue, "alice", method)
        assert link.calls == [("external", False, 741)], tunnel
    assert [r[:3] for r in refusal_view(ctx)[1:]] == [("pptp", "encryption_mismatch", 741),
                                                      ("l2tp", "encryption_mismatch", 741)]


def test_server_link_offers_what_some_policy_for_this_tunnel_and_client_allows():
    pols = [Policy("pptp-v2", permission="grant", tunnel_types=("pptp",), methods=("ms-chap-v2",),
                   encryption=("strongest",)),
            Policy("lab", permission="grant", client_ips=("198.51.100.0/24",), methods=("pap",)),
            Policy("default")]
    ctx = make_ctx(make_config(policies=pols, methods=("ms-chap", "ms-chap-v2"), alice="allow"))
    glue, _ = inbound(ctx, "pptp")
    cfg = glue.link_config()
    assert isinstance(cfg, PppConfig) and cfg.role is Role.AUTHENTICATOR
    # "default" matches anything, with the profile of `auth`: everything stays offered
    assert cfg.methods == (AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2)
    ctx.config = make_config(policies=pols[:2], methods=("ms-chap", "ms-chap-v2"), alice="allow")
    assert glue.link_config().methods == (AuthMethod.MSCHAP_V2,)
    assert glue.link_config().encryption == ("strongest",)
    l2, _ = inbound(ctx, "l2tp")
    assert l2.link_config().encryption == ("none",)            # plain L2TP


def test_router_caller_gets_its_interface_routes_and_pool_exhaustion_is_733_for_both_sides():
    cfg = make_config(branch="allow")
    cfg = Config(server=cfg.server, ports=cfg.ports, auth=cfg.auth, users=cfg.users,
                 demand_dial={"branch": DemandDial("branch", destination="203.0.113.5", user="hq",
                                                   routes=(Route("192.0.2.0/24"),))})
    ctx = make_ctx(cfg)
    glue, link = inbound(ctx, "l2tp")
    ask(glue, "branch")
    glue.handle(AuthSucceeded(AuthMethod.MSCHAP_V2, "branch"), 0.0)
    assert (glue.session.interface, glue.session.routes) == ("branch", ("192.0.2.0/24",))
    ctx.addrpool.allocate = lambda static=None: None
    glue2, link2 = inbound(ctx, "pptp")
    ask(glue2, "branch")
    glue2.handle(AuthSucceeded(AuthMethod.MSCHAP_V2, "branch"), 0.0)
    assert link2.calls[-1] == ("close", Cause.NCP_FAILED)
    assert refusal_view(ctx) == [("pptp", "ncp_failed", 733, "branch")]


@pytest.mark.parametrize("tunnel", TUNNELS)
def test_outbound_address_routes_with_source_and_dial_failures(tunnel):
    cfg = make_config()
    iface = DemandDial("hq", destination="203.0.113.1", user="alice", password="sealed-alice", encryption="none",
                       routes=(Route("203.0.113.128/25"),))
    cfg = Config(server=cfg.server, ports=cfg.ports, auth=cfg.auth, demand_dial={"hq": iface})
    ctx = make_ctx(cfg)
    ctx.tun = FakeTun()
    port = ctx.admission.try_admit(Protocol(tunnel), Use.ROUTER_OUT).port
    from rrasctl.engine.sessions import Direction

    s = ctx.sessions.add(Session(tunnel, port, peer="203.0.113.1", direction=Direction.OUTBOUND, interface="hq"))
    stages = []
    glue = PppSession(ctx, tunnel, s, "203.0.113.1", iface=iface, progress=stages.append)
    pc = glue.link_config()
    assert (pc.role, pc.user, pc.password) == (Role.PEER, "alice", "pw-alice")
    assert pc.encryption == (("none",) if tunnel == "l2tp" else ("none", "basic", "strong", "strongest"))
    glue.link = FakeLink()
    glue.handle(AuthSucceeded(AuthMethod.MSCHAP_V2, ""), 0.0)
    glue.handle(NetworkUp(IPv4Address("198.51.100.70"), IPv4Address("198.51.100.1"), (), (), "none",
                          "ms-chap-v2"), 0.0)
    assert stages == ["registering"] and s.state.value == "up" and s.user == "alice"
    assert ctx.tun.addresses == {"198.51.100.70"}
    assert ("203.0.113.128/25", "198.51.100.70") in ctx.tun.routes and ("198.51.100.1/32", "198.51.100.70") in \
        ctx.tun.routes
    assert glue.still_allowed(cfg) is None                      # reload: the interface is still there
    gone = Config(server=cfg.server, ports=cfg.ports, auth=cfg.auth)
    off = Config(server=cfg.server, ports=cfg.ports, auth=cfg.auth,
                 demand_dial={"hq": DemandDial("hq", destination="203.0.113.1", user="alice", enabled=False)})
    assert glue.still_allowed(gone) == glue.still_allowed(off) == Cause.CONFIG_CHANGED
    glue.finish(Cause.ADMIN_DISCONNECT)
    assert ctx.tun.addresses == set()
    # a failed authentication on the remote server: DialFailed with its E= number
    g2 = PppSession(ctx, tunnel, s, "203.0.113.1", iface=iface)
    g2.link = FakeLink()
    g2.handle(AuthFailed(AuthMethod.MSCHAP_V2, "alice", 649, "no dial-in permission"), 0.0)
    g2.handle(LinkDown(Cause.AUTH_FAILED, "authentication failed (649)", 649), 0.0)
    assert (g2.failure.cause, g2.failure.windows_error, g2.failure.unreachable) == (
        Cause.DIAL_IN_DENIED, 649, "AUTHENTICATION_FAILURE")


def test_reload_drops_a_session_the_new_policies_deny():
    grant = Policy("staff", permission="grant", users=("carol",))
    cfg = make_config(policies=[grant, Policy("default")], carol="policy")
    ctx = make_ctx(cfg)
    glue, _ = inbound(ctx, "pptp")
    ask(glue, "carol")
    glue.handle(AuthSucceeded(AuthMethod.MSCHAP_V2, "carol"), 0.0)
    glue.handle(NetworkUp(IPv4Address("198.51.100.1"), IPv4Address("198.51.100.64"), (), (), "mppe-128",
                          "ms-chap-v2"), 0.0)
    assert glue.still_allowed(cfg) is None
    assert glue.still_allowed(make_config(carol="policy")) == Cause.CONFIG_CHANGED
    assert glue.still_allowed(make_config()) == Cause.CONFIG_CHANGED


def test_lockout_store_without_state_dir_keeps_the_table_in_memory():
    store = LockoutStore(None, wall=lambda: 5.0)
    cfg = make_config(lockout=1, alice="allow")
    assert store.failed(cfg, "alice") is True
    assert store.is_locked(cfg, "alice")
    store.succeeded(cfg, "alice")
    assert not store.is_locked(cfg, "alice")
    assert datetime.fromtimestamp(WALL).year == 2023
