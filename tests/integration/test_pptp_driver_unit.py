"""The PPTP driver's decisions without sockets or root: GRE demultiplexing, local-user authentication, admission
refusals. The two-engine tests (test_pptp_e2e.py) run the same code on the wire."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from types import SimpleNamespace

from rrasctl.engine.drivers import EngineCounters
from rrasctl.engine.pptp import PptpDriver, _Call, _Tunnel
from rrasctl.engine.sessions import Session
from rrasctl.protocols.pptp import messages as m
from rrasctl.protocols.pptp.call import PptpCall
from rrasctl.protocols.pptp.control import CallRequested, ControlConfig, PptpControl, Role
from rrasctl.protocols.pptp.gre import GreHeader, GreWindow
from rrasctl.protocols.ppp.auth import AuthRequested
from rrasctl.router.admission import Admission, Pool, Protocol, Use


class FakeLoop:
    def __init__(self) -> None:
        self.soon = []
        self.now = 100.0

    def time(self) -> float:
        return self.now

    def call_soon(self, fn, *args):
        self.soon.append(fn)


class FakeTimers:
    def __init__(self) -> None:
        self.armed = {}

    def arm(self, key, deadline, fire):
        if deadline is None:
            self.armed.pop(key, None)
        else:
            self.armed[key] = (deadline, fire)

    def cancel(self, key):
        self.armed.pop(key, None)


class FakeGre:
    def __init__(self) -> None:
        self.sent = []

    def sendto(self, data, addr):
        self.sent.append((bytes(data), addr))


@dataclass
class FakeCtx:
    config: object
    loop: FakeLoop = field(default_factory=FakeLoop)
    timers: FakeTimers = field(default_factory=FakeTimers)
    counters: EngineCounters = field(default_factory=EngineCounters)
    tun: object = None
    refusals: list = field(default_factory=list)
    admission: Admission = field(default_factory=lambda: Admission({Protocol.PPTP: Pool(1)}, 1, "web"))
    secrets: dict = field(default_factory=dict)

    def open_secret(self, sealed):
        return self.secrets.get(sealed)

    def refused(self, cause, *, peer, user=None, interface=None):
        self.counters.refused.count(cause.reason.value)
        self.refusals.append(("admission", cause.wire_result, cause.windows_error, peer))

    def refused_other(self, *, protocol, peer, reason, detail, wire, windows_error, user=None, wire_result=None):
        self.counters.refused.count(reason)
        self.refusals.append((reason, windows_error, user, peer))


class RecordingLink:
    def __init__(self) -> None:
        self.calls = []

    def answer_password(self, password, now):
        self.calls.append(("password", password))
        return []

    def answer_external(self, accepted, *, now, **kw):
        self.calls.append(("external", accepted, kw.get("error")))
        return []

    def open_data(self, frame):
        return None

    def receive(self, frame, now):
        self.calls.append(("frame", bytes(frame)))
        return []

    def take_output(self):
        return []

    def next_timer(self):
        return None


def config(**users):
    return SimpleNamespace(users={name: SimpleNamespace(name=name, password=f"sealed-{name}", dial_in=d,
                                                        static_ip=None, routes=())
                                  for name, d in users.items()},
                           demand_dial={}, pptp=SimpleNamespace(echo_interval_s=60))


def driver_with_call(ctx, link=None, peer="198.51.100.7", local=1234):
    d = PptpDriver()
    d.ctx = ctx
    core = PptpControl(ControlConfig(Role.PAC))
    t = _Tunnel(core, peer)
    call = PptpCall(GreWindow(local, 99), link or RecordingLink())
    entry = _Call(call, Session("pptp", 0, peer=peer), t, peer, local)
    d._calls[local] = entry
    return d, entry


def ip_gre(call_id: int, payload: bytes = b"\xff\x03\xc0\x21", seq: int = 1, src: str = "198.51.100.7") -> bytes:
    """A raw socket's view of a GRE packet: an IPv4 header (the source is what the driver checks) + GRE."""
    return (bytes([0x45]) + bytes(11) + socket.inet_aton(src) + bytes(4)
            + GreHeader(call_id, len(payload), seq=seq).encode(payload))


def test_gre_demux_counts_short_unknown_and_spoofed_packets():
    ctx = FakeCtx(config())
    d, entry = driver_with_call(ctx)
    for raw in (b"\x45" + bytes(10), ip_gre(4321), ip_gre(1234, src="203.0.113.66")):
        d._on_gre(memoryview(raw), len(raw))
    assert ctx.counters.malformed.as_dict() == {"pptp: GRE from the wrong address": 1,
                                                "pptp: short GRE packet": 1, "pptp: unknown GRE call id": 1}
    assert entry.call.window.rx_packets == 0
    good = ip_gre(1234)
    d._on_gre(memoryview(good), len(good))
    assert entry.call.window.rx_packets == 1
    assert entry.call.link.calls == [("frame", b"\xff\x03\xc0\x21")]  # the LCP frame reached the link
    assert ctx.loop.soon == []                       # acks are settled by the drain after its batch, not call_soon


def _drain_with(d, packets):
    """Feed `packets` (raw IP+GRE) to the driver's GRE drain through a UDP socket pair on loopback: one batch."""
    import socket
    from rrasctl.engine.pptp import _GreDrain

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for raw in packets:
            tx.sendto(raw, rx.getsockname())
        drain = _GreDrain(rx, d)
        drain.on_readable()
        return drain
    finally:
        rx.close()
        tx.close()


def test_gre_drain_acks_once_half_the_window_is_unacknowledged():
    """Decision 0066: 40 packets in one batch -> one ack-only packet (for the last), no timer, no call_soon."""
    ctx = FakeCtx(config())
    d, entry = driver_with_call(ctx, peer="127.0.0.1")
    d._gre = FakeGre()
    drain = _drain_with(d, [ip_gre(1234, seq=s, src="127.0.0.1") for s in range(1, 41)])
    assert drain.packets == 40 and entry.call.window.rx_packets == 40
    assert d._gre.sent == [(GreHeader(99, 0, ack=40).encode(), ("127.0.0.1", 0))]
    assert ctx.timers.armed == {} and ctx.loop.soon == [] and entry.call.window.unacked == 0


def test_gre_drain_delays_the_ack_of_a_short_batch_until_the_deadline():
    ctx = FakeCtx(config())
    d, entry = driver_with_call(ctx, peer="127.0.0.1")
    d._gre = FakeGre()
    _drain_with(d, [ip_gre(1234, seq=s, src="127.0.0.1") for s in range(1, 6)])
    assert d._gre.sent == []                                             # 5 < 32: no ack yet
    key = ("pptp-ack", 1234, id(entry))
    deadline, fire = ctx.timers.armed[key]
    assert deadline == 100.02 and entry.ack_armed
    _drain_with(d, [ip_gre(1234, seq=6, src="127.0.0.1")])                                # a second batch: same deadline, no re-arm
    assert ctx.timers.armed[key][0] == 100.02 and d._gre.sent == []
    ctx.loop.now = 100.02
    del ctx.timers.armed[key]                                            # the queue drops the entry it fires
    fire()
    assert d._gre.sent == [(GreHeader(99, 0, ack=6).encode(), ("127.0.0.1", 0))]
    assert ctx.timers.armed == {} and not entry.ack_armed


def test_delayed_ack_not_sent_when_the_ack_went_out_piggybacked():
    ctx = FakeCtx(config())
    d, entry = driver_with_call(ctx, peer="127.0.0.1")
    d._gre = FakeGre()
    _drain_with(d, [ip_gre(1234, seq=1, src="127.0.0.1")])
    (deadline, fire), = ctx.timers.armed.values()
    entry.call.window.header(10)                                         # our next data packet carries the ack
    ctx.loop.now = deadline
    ctx.timers.armed.clear()
    fire()
    assert d._gre.sent == [] and ctx.timers.armed == {}


def test_authentication_against_local_users():
    """Through the shared glue (engine/ppp_session.py): dial-in allow/deny/policy against the default deny-all
    policy, as on L2TP (a `policy` user no longer gets in over PPTP: decision 0080)."""
    from rrasctl.config.model import Config, User
    from rrasctl.engine.ppp_session import LockoutStore, PppSession
    from rrasctl.protocols.ppp.auth import AuthMethod

    cfg = Config(users={n: User(n, password=f"sealed-{n}", dial_in=d)
                        for n, d in (("alice", "allow"), ("bob", "deny"), ("carol", "policy"))})
    ctx = FakeCtx(cfg)
    ctx.lockout = LockoutStore(None, wall=lambda: 1_700_000_000.0)
    ctx.admission = SimpleNamespace(classify=lambda protocol, port, use: None)   # the pool serves remote access
    ctx.secrets = {"sealed-alice": "pw-a", "sealed-carol": "pw-c"}
    for user, expect in (("nobody", ("password", None)), ("bob", ("external", False, 649)),
                         ("alice", ("password", "pw-a")), ("DOM\\carol", ("external", False, 649))):
        link = RecordingLink()
        link.config = SimpleNamespace(encryption=("basic", "strong", "strongest"))
        d, entry = driver_with_call(ctx, link)
        glue = PppSession(ctx, "pptp", entry.session, entry.peer)
        glue.link = link
        glue.handle(AuthRequested(AuthMethod.MSCHAP_V2, user), 0.0)
        assert link.calls == [expect], user
    assert ctx.refusals == [("no dial-in permission", 649, "bob", "198.51.100.7"),
                            ("access denied by policy", 649, "carol", "198.51.100.7")]


def test_admission_refusal_answers_busy_and_touches_nothing_else():
    ctx = FakeCtx(config())
    ctx.sessions = SimpleNamespace(add=lambda s: (_ for _ in ()).throw(AssertionError("no session for a refusal")))
    assert ctx.admission.try_admit(Protocol.PPTP, Use.INBOUND).port == 0     # the web edition's one call
    d = PptpDriver()
    d.ctx = ctx
    core = PptpControl(ControlConfig(Role.PAC))
    core.start(0.0)
    core.receive(m.StartControlConnectionRequest().encode(), 0.0)
    events = core.receive(m.OutgoingCallRequest(call_id=77).encode(), 0.0)
    core.take_output()
    t = _Tunnel(core, "198.51.100.8")
    d._call_requested(t, events[0], 0.0)
    (reply,) = [m.decode(x) for x in core.take_output()]
    assert (reply.peer_call_id, reply.result) == (77, m.OcrpResult.BUSY)
    assert ctx.refusals == [("admission", 4, 676, "198.51.100.8")]
    assert ctx.counters.refused.as_dict() == {"edition limit reached": 1}
    assert d._calls == {}


def test_withdrawn_call_request_is_not_admitted():
    ctx = FakeCtx(config())
    d = PptpDriver()
    d.ctx = ctx
    core = PptpControl(ControlConfig(Role.PAC))
    core.start(0.0)
    core.receive(m.StartControlConnectionRequest().encode(), 0.0)
    events = core.receive(m.OutgoingCallRequest(call_id=5).encode() + m.CallClearRequest(call_id=5).encode(), 0.0)
    assert isinstance(events[0], CallRequested)
    d._call_requested(_Tunnel(core, "198.51.100.9"), events[0], 0.0)
    assert ctx.admission.in_use(Protocol.PPTP) == 0 and ctx.refusals == []
