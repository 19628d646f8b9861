"""PppLink: one PPP link, both roles, sans-I/O (DESIGN.md §3, §4).

The owner (a PPTP call, an L2TP session) feeds whole PPP frames and the time; the link answers with events and
queues frames. Phases follow RFC 1661 §3.2 with pppd's gates:

    Dead --open()--> Establish (LCP) --LCP opened--> Authenticate (LCP + the agreed auth protocol)
         --auth ok--> Network (LCP, auth, IPCP, CCP; IP data) --close()/failure--> Terminate --> Dead

Owner's loop (the engine drivers do exactly this)::

    link = PppLink(PppConfig(role=Role.AUTHENTICATOR, methods=(AuthMethod.MSCHAP_V2,),
                             encryption=("strongest",), local_address=..., peer_address=...), rng=os.urandom)
    link.open(now)                                    # lower layer up: LCP starts
    for event in link.receive(frame, now):            # or link.handle_timer(now) at link.next_timer()
        if isinstance(event, AuthRequested):          # authenticator: look the user up, then ...
            more = link.answer_password(password_or_None, now)  # ... or answer_external(accepted, now=..., keys=...)
            # commands return the events they cause (here AuthSucceeded/AuthFailed, maybe LinkDown): handle them too
        elif isinstance(event, NetworkUp): ...        # addresses, DNS, encryption, auth method
        elif isinstance(event, LinkDown): ...         # event.cause (protocols/causes.py), event.detail
    for out in link.take_output(): send(out)          # whole PPP frames, in order

Data path (allocation-light, no events): ``ip = link.open_data(frame)`` returns the IP packet of an IP or MPPE frame,
or None -- then give the same frame to ``receive(frame, now)``: it handles control frames, and for a data frame that
open_data dropped (counted in ``stats``) it only flushes pending work (an MPPE resync's CCP Reset-Request); it never
decrypts twice. ``frame = link.seal_data(ip)`` returns the PPP frame to send, or None when the network phase is not
up or the policy forbids clear data.

Events are facts: the auth events come from the auth cores (``rrasctl.protocols.ppp.auth``) unchanged;
`NetworkUp` once, when IPCP and CCP have settled (a later IPCP/CCP renegotiation pauses data, ``network_up``, without
new events); `LinkDown(cause, detail, error)` once, at the end: a typed `Cause` (NO_ANSWER when the peer never
answered LCP, AUTH_FAILED with the error number of a failed authentication, ENCRYPTION_MISMATCH, LINK_LOST after
unanswered echoes, PEER_DISCONNECTED / PEER_ABORTED when the peer terminates, or the cause given to ``close``) and
a detail for people.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address
from typing import Any

from rrasctl.protocols.base import CoreMisuse, Counters, Event, Malformed, Rng
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.ppp.auth import (AuthenticatorConfig, AuthFailed, AuthMethod, AuthRequested,
                                        AuthSucceeded, MppeKeys, PeerConfig, new_authenticator, new_peer)
from rrasctl.protocols.ppp.ccp import CcpLayer, CcpPolicy, ResetRequested
from rrasctl.protocols.ppp.frame import Code, PppProtocol, build_frame, split_frame
from rrasctl.protocols.ppp.fsm import LayerDown, LayerFailed, LayerFinished, LayerUp, Negotiator, State
from rrasctl.protocols.ppp.ipcp import IpcpLayer, IpcpPolicy, clash_reason
from rrasctl.protocols.ppp.lcp import LCP_RXR_CODES, EchoReplied, LcpLayer, LcpPolicy, ProtocolRejected
from rrasctl.protocols.ppp.ipv6cp import Ipv6cpLayer, Ipv6cpPolicy
from rrasctl.protocols.ppp.linkdata import DataPath
from rrasctl.protocols.ppp.linkconfig import (ENCRYPTION_LEVELS, Ipv6Up, LinkDown, NetworkUp, Phase,
                                              PppConfig, Role)
from rrasctl.protocols.wire import U16

__all__ = [
    "Role", "Phase", "PppConfig", "PppLink", "NetworkUp", "Ipv6Up", "LinkDown", "AuthRequested",
    "AuthSucceeded",
    "AuthFailed", "ENCRYPTION_LEVELS", "MppeKeys", "AuthMethod",
]

_LCP, _IPCP, _CCP, _CHAP = PppProtocol.LCP, PppProtocol.IPCP, PppProtocol.CCP, PppProtocol.CHAP
_IPV6CP = PppProtocol.IPV6CP
_DATA_PROTOCOLS = (PppProtocol.IP, PppProtocol.MPPE, PppProtocol.IPV6)


class PppLink(DataPath):
    """One PPP link (both roles). See the module docstring for the owner's loop.

    Commands (`open`, `close`, `lower_down`, `answer_password`, `answer_external`, `assign_address`) return the
    events they cause (often none): an `answer_*` returns the `AuthSucceeded`/`AuthFailed` it decides, a `close`
    before LCP ever started returns `LinkDown` at once. Their packets go to `take_output()` like all others.
    """

    def __init__(self, config: PppConfig, *, rng: Rng = os.urandom) -> None:
        try:
            levels = {ENCRYPTION_LEVELS[level] for level in config.encryption}
        except KeyError as exc:
            raise CoreMisuse(f"unknown encryption level {exc.args[0]!r}") from None
        if not levels:
            raise CoreMisuse("no encryption level allowed")
        self.config = config
        self.stats = Counters()
        self.phase = Phase.DEAD
        self._rng = rng
        self._out: list[bytes] = []
        self.clear_allowed = 0 in levels
        self._mppe_lengths = frozenset(levels - {0})
        authenticator = config.role is Role.AUTHENTICATOR
        self._authenticator = authenticator
        timers = dict(restart_s=config.restart_s, max_configure=config.max_configure,
                      max_terminate=config.max_terminate, max_failure=config.max_failure, sink=self._send_control)
        self.lcp_layer = LcpLayer(LcpPolicy(authenticator, tuple(config.methods), config.mru, rng))
        self.lcp = Negotiator(_LCP, self.lcp_layer, rxr_codes=LCP_RXR_CODES, **timers)
        self.lcp_layer.negotiator = self.lcp
        self.ipcp_layer = IpcpLayer(IpcpPolicy(authenticator, config.local_address, config.peer_address,
                                               tuple(config.dns), tuple(config.nbns),
                                               frozenset(config.own_addresses)))
        self.ipcp = Negotiator(_IPCP, self.ipcp_layer, **timers)
        self.ipv6cp_layer = Ipv6cpLayer(Ipv6cpPolicy(rng))
        self.ipv6cp = Negotiator(_IPV6CP, self.ipv6cp_layer, **timers)
        self.ipv6_up = False
        self.ccp_layer = CcpLayer(CcpPolicy(self._mppe_lengths, config.mppe_stateless))
        self.ccp = Negotiator(_CCP, self.ccp_layer, **timers)
        self.ccp_layer.negotiator = self.ccp
        self._ccp_active = False          # CCP started for this network phase
        self._ccp_gave_up = False         # CCP finished without MPPE and clear data is allowed
        self._auth: Any = None            # the auth core (H3) of the agreed method
        self._auth_deadline: float | None = None
        self._auth_error = 0              # E= of the last failed attempt (kept across an MS-CHAP retry)
        self._last_challenge: bytes | None = None
        self._old_challenges: set[bytes] = set()
        self._nudge_not_before = 0.0
        self.auth_method: AuthMethod | None = None
        self.user = config.user if not authenticator else ""
        self._keys: MppeKeys | None = None
        self._encryptor: Any = None
        self._decryptor: Any = None
        self.encryption = "none"
        self.local_ip: IPv4Address | None = None
        self.peer_ip: IPv4Address | None = None
        self.dns: tuple[IPv4Address, ...] = ()
        self.nbns: tuple[IPv4Address, ...] = ()
        self.network_up = False           # data may flow (False again while an NCP renegotiates)
        self._announced = False           # NetworkUp emitted (once per link)
        self._down = False
        self._end: tuple[Cause, str, int] | None = None   # (cause, detail, error): the first reason to end wins
        self._refused_ccp = False         # we Protocol-Rejected the peer's CCP (our policy allows no encryption)
        self._lcp_was_opened = False
        self._echo_deadline: float | None = None
        self._echo_pending = 0
        self._ip_head = build_frame(PppProtocol.IP, b"")
        self._mppe_head = build_frame(PppProtocol.MPPE, b"")
        self._ipv6_head = build_frame(PppProtocol.IPV6, b"")
        self.packets_in = self.packets_out = self.bytes_in = self.bytes_out = 0

    # -- read-only state ----------------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        """LCP's automaton state."""
        return self.lcp.state

    def all_stats(self) -> dict[str, int]:
        """Every drop/malformed counter of the link and its layers, keys prefixed by layer (for engine status)."""
        total = Counters(self.stats)
        parts = [("lcp", self.lcp), ("ipcp", self.ipcp), ("ccp", self.ccp), ("ipv6cp", self.ipv6cp)]
        if self._auth is not None:
            parts.append(("auth", self._auth))
        for name, layer in parts:
            for reason, n in layer.stats.items():
                total[f"{name}: {reason}"] += n
        return total.as_dict()

    @property
    def down(self) -> bool:
        """True once `LinkDown` was emitted."""
        return self._down

    # -- output -------------------------------------------------------------------------------------------------
    def _send_control(self, protocol: int, payload: bytes) -> None:
        if not self._down:
            self._out.append(build_frame(protocol, payload))

    def take_output(self) -> list[bytes]:
        """PPP frames to send, in order (drains)."""
        out, self._out = self._out, []
        return out

    def next_timer(self) -> float | None:
        """The earliest deadline, or None."""
        if self._down:
            return None
        deadlines = [self.lcp.deadline, self.ipcp.deadline, self.ccp.deadline, self.ipv6cp.deadline,
                     self._echo_deadline,
                     self._auth_deadline, self._auth.next_timer() if self._auth is not None else None]
        live = [d for d in deadlines if d is not None]
        return min(live) if live else None

    # -- commands -----------------------------------------------------------------------------------------------
    def open(self, now: float) -> list[Event]:
        """The lower layer (PPTP call / L2TP session) is up: start LCP (Open + Up)."""
        if self._down:
            raise CoreMisuse("open() on a link that went down: make a new PppLink")
        if self.phase is not Phase.DEAD:
            return []
        self.phase = Phase.ESTABLISH
        return self._dispatch(self.lcp.open(now) + self.lcp.up(now), now)

    def close(self, cause: Cause, now: float, detail: str = "", error: int = 0) -> list[Event]:
        """Close: LCP Terminate-Request, then `LinkDown(cause)` on Terminate-Ack or timeout."""
        if self._down:
            return []
        self._set_end(cause, detail, error)
        if self.lcp.state in (State.INITIAL, State.STARTING, State.CLOSED, State.STOPPED):
            return self._finish(now)
        self._stop_network(now)
        self.phase = Phase.TERMINATE
        return self._dispatch(self.lcp.close(now), now)

    def lower_down(self, now: float, cause: Cause = Cause.LOWER_LAYER_DOWN, detail: str = "") -> list[Event]:
        """The lower layer went away: no more output; `LinkDown(cause)` (LOWER_LAYER_DOWN by default) unless
        already down."""
        if self._down:
            return []
        self._set_end(cause, detail)
        self._out.clear()                  # nowhere to send it any more
        self._stop_network(now)
        self.lcp.down(now)
        return self._finish(now)

    def answer_password(self, password: str | None, now: float) -> list[Event]:
        """Answer an `AuthRequested`: the user's clear password (verified locally), or None (unknown user: 691)."""
        if self._auth is None or not hasattr(self._auth, "answer_password"):
            raise CoreMisuse("answer_password() without a pending AuthRequested")
        return self._auth_events(self._auth.answer_password(password, now), now)

    def verify_password(self, password: str) -> bool:
        """Whether the pending `AuthRequested` was made with PASSWORD, without deciding (the owner checks the
        credentials first, then lockout and policy, then answers: SPEC §4)."""
        if self._auth is None or not hasattr(self._auth, "verify_password"):
            raise CoreMisuse("verify_password() without a pending AuthRequested")
        return self._auth.verify_password(password)

    def answer_external(self, accepted: bool, *, now: float, **kw: Any) -> list[Event]:
        """Answer an `AuthRequested` from outside (RADIUS): keyword arguments go to the auth core unchanged
        (error=691, message="", keys=MppeKeys, authenticator_response=...)."""
        if self._auth is None or not hasattr(self._auth, "answer_external"):
            raise CoreMisuse("answer_external() without a pending AuthRequested")
        return self._auth_events(self._auth.answer_external(accepted, now=now, **kw), now)

    def assign_address(self, peer_address: IPv4Address, now: float) -> list[Event]:
        """AUTHENTICATOR with ``peer_address=None``: the address to give the peer (IPCP starts once known)."""
        if not self._authenticator:
            raise CoreMisuse("assign_address() is for the authenticator")
        self.ipcp_layer.neg.allow.peer_address = IPv4Address(peer_address)
        if self.phase is Phase.NETWORK and self.ipcp.state is State.INITIAL:
            return self._dispatch(self.ipcp.open(now) + self.ipcp.up(now), now)
        return []

    # -- inputs -------------------------------------------------------------------------------------------------
    def receive(self, frame: bytes | memoryview, now: float) -> list[Event]:
        """One whole PPP frame (FF 03 optional, PFC accepted). Never raises because of the peer."""
        if self._down:
            self.stats.count("frame after link down")
            return []
        try:
            protocol, info = split_frame(frame)
        except Malformed as exc:
            self.stats.count(exc.reason)
            return []
        if protocol in _DATA_PROTOCOLS:
            self._repeat_reset(now)        # open_data already handled (and counted) this frame
            if self._ccp_restart:
                self._ccp_restart = False
                self._garbage = 0
                self.stats.count("CCP restarted: MPPE out of sync")
                return self._dispatch(self.ccp.down(now) + self.ccp.up(now), now)
            return []
        if protocol == _LCP:
            if self.phase is Phase.DEAD:
                self.stats.count("frame while dead")
                return []
            if len(info) >= 1 and info[0] == Code.TERMINATE_REQUEST:
                return self._peer_terminates(info, now)
            return self._dispatch(self.lcp.receive(info, now), now)
        phase = self.phase
        if phase is Phase.AUTHENTICATE or phase is Phase.NETWORK:
            if self._auth is not None and protocol == self._auth.protocol:
                if not self._authenticator and protocol == _CHAP and len(info) >= 1 and info[0] == 1:
                    challenge = bytes(info)
                    if challenge in self._old_challenges:
                        self.stats.count("stale CHAP challenge")     # from before LCP renegotiated
                        return []
                    self._last_challenge = challenge
                return self._auth_events(self._auth.receive(info, now), now)
        if phase is Phase.AUTHENTICATE and protocol in (_IPCP, _CCP):
            return self._nudge_auth(now)
        if phase is Phase.NETWORK:
            if protocol == _IPCP:
                events = self._dispatch(self.ipcp.receive(info, now), now)
                clash = self.ipcp_layer.clash
                if clash is not None and not self._down:      # our Nak is out: two routers on one address pool
                    events += self.close(Cause.ADDRESS_CLASH, now, clash_reason(clash))
                return events
            if protocol == _IPV6CP and self.config.ipv6:
                return self._dispatch(self.ipv6cp.receive(info, now), now)
            if protocol == _CCP and self._mppe_lengths:
                if not self._ccp_active:
                    self.stats.count("CCP before keys")
                    return []
                return self._dispatch(self.ccp.receive(info, now), now)
            self._protocol_reject(protocol, info)
            return []
        self.stats.count(f"{protocol:#06x} in {phase.value} phase")
        return []

    def _peer_terminates(self, info: memoryview, now: float) -> list[Event]:
        """LCP Terminate-Request. While still negotiating, RFC 1661 would ack and keep sending Configure-Requests
        until Max-Configure (pppd does); a peer that says goodbye during establishment means it, so we close too."""
        if self._end is None:
            if self.phase is Phase.AUTHENTICATE and self._auth_error:
                self._set_end(Cause.AUTH_FAILED, f"authentication failed ({self._auth_error})", self._auth_error)
            elif not self._lcp_was_opened and "refused_auth" in self.lcp_layer.neg.scratch:
                # we Naked the only authentication methods it offered and it gave up: no common method
                offered = self.lcp_layer.neg.scratch["refused_auth"]
                self._set_end(Cause.NO_COMMON_AUTH, f"no common authentication method (peer asked for {offered})")
            elif self._refused_ccp and not self.packets_in:
                # we rejected its CCP (our policy allows no encryption) and it hung up before sending any data:
                # it requires encryption (its side reports the same cause)
                self._set_end(Cause.ENCRYPTION_MISMATCH, "peer terminated after we refused its encryption (CCP)")
            elif self._announced:
                self._set_end(Cause.PEER_DISCONNECTED, "peer terminated")
            else:
                self._set_end(Cause.PEER_ABORTED, f"peer terminated in the {self.phase.value} phase")
        negotiating = self.lcp.state in (State.REQ_SENT, State.ACK_RCVD, State.ACK_SENT)
        if self.lcp.state is State.OPENED:
            self.phase = Phase.TERMINATE
        events = self._dispatch(self.lcp.receive(info, now), now)
        if negotiating and not self._down:
            cause, detail, error = self._end or (Cause.PEER_ABORTED, "", 0)
            events += self.close(cause, now, detail, error)
        return events

    def _nudge_auth(self, now: float) -> list[Event]:
        """The authenticator already talks IPCP/CCP, so it sent a CHAP Success we never got (RFC 1994 has the
        peer wait, and pppd waits until its timeout). Replaying the last Challenge to our CHAP core makes it resend
        its Response, which the authenticator answers with the same Success again. Once per restart period."""
        self.stats.count("NCP packet during authentication")
        if (self._authenticator or self._last_challenge is None or self._auth is None
                or now < self._nudge_not_before):
            return []
        self._nudge_not_before = now + self.config.restart_s
        self.stats.count("CHAP response resent")
        return self._auth_events(self._auth.receive(self._last_challenge, now), now)

    def _protocol_reject(self, protocol: int, info: memoryview) -> None:
        """RFC 1661 §5.7: the rejected protocol, then as much of the information field as fits the MRU."""
        if self.lcp.state is not State.OPENED:
            return
        self.stats.count("protocol rejected")
        if protocol == _CCP:
            self._refused_ccp = True         # the peer wants encryption our policy does not allow
        room = max(0, self.config.mru - 4 - 2)
        self.lcp.send(Code.PROTOCOL_REJECT, self.lcp.new_id(), U16.pack(protocol) + bytes(info[:room]))

    def handle_timer(self, now: float) -> list[Event]:
        """Run every deadline at or before ``now``."""
        events: list[Event] = []
        if self._down:
            return events
        for negotiator in (self.lcp, self.ipcp, self.ccp, self.ipv6cp):
            if negotiator.deadline is not None and negotiator.deadline <= now:
                events += self._dispatch(negotiator.handle_timer(now), now)
                if self._down:
                    return events
        auth = self._auth
        if auth is not None and auth.next_timer() is not None and auth.next_timer() <= now:
            events += self._auth_events(auth.handle_timer(now), now)
        if self._auth_deadline is not None and self._auth_deadline <= now and not self._down:
            self._auth_deadline = None
            events += self.close(Cause.AUTH_TIMEOUT, now, "authentication timed out")
        if self._echo_deadline is not None and self._echo_deadline <= now and not self._down:
            events += self._echo(now)
        return events

    # -- keepalive ----------------------------------------------------------------------------------------------
    def _echo(self, now: float) -> list[Event]:
        if self._echo_pending >= self.config.echo_failures:
            self._echo_deadline = None
            return self.close(Cause.LINK_LOST, now, "echo timeout")
        self._echo_pending += 1
        self.lcp_layer.echo_request(self.lcp.new_id())
        self._echo_deadline = now + self.config.echo_interval_s
        return []

    # -- layer events -------------------------------------------------------------------------------------------
    def _dispatch(self, events: list[Event], now: float) -> list[Event]:
        """Turn the negotiators' internal events into phase changes; return the public ones."""
        public: list[Event] = []
        for event in events:
            if isinstance(event, LayerUp):
                public += self._layer_up(event.protocol, now)
            elif isinstance(event, LayerDown):
                self._layer_down(event.protocol, now)
            elif isinstance(event, LayerFinished):
                public += self._layer_finished(event.protocol, now)
            elif isinstance(event, LayerFailed):
                self.stats.count(f"{PppProtocol(event.protocol).name} failed")
                if event.protocol == _LCP:
                    self._set_end(event.cause or Cause.NEGOTIATION_FAILED, event.reason)
                    self.phase = Phase.TERMINATE
                elif event.protocol == _IPCP:
                    self._set_end(event.cause or Cause.NCP_FAILED, event.reason)
                elif event.protocol == _CCP and not self.clear_allowed:
                    self._set_end(event.cause or Cause.ENCRYPTION_MISMATCH, event.reason)
            elif isinstance(event, EchoReplied):
                self._echo_pending = 0
            elif isinstance(event, ProtocolRejected):
                public += self._protocol_rejected(event.protocol, now)
            elif isinstance(event, ResetRequested):
                if self._encryptor is not None:
                    self._encryptor.reset()
            if self._down:
                break
        return public

    def _layer_up(self, protocol: int, now: float) -> list[Event]:
        if protocol == _LCP:
            self._lcp_was_opened = True
            peer = self.lcp_layer.neg.peer_got
            pfc, acfc = bool(peer.get("pfc")), bool(peer.get("acfc"))
            self._ip_head = build_frame(PppProtocol.IP, b"", acfc=acfc, pfc=pfc)
            self._mppe_head = build_frame(PppProtocol.MPPE, b"", acfc=acfc, pfc=pfc)
            self._ipv6_head = build_frame(PppProtocol.IPV6, b"", acfc=acfc, pfc=pfc)
            if self.config.echo_interval_s > 0:
                self._echo_pending = 0
                self._echo_deadline = now + self.config.echo_interval_s
            method = self.lcp_layer.auth_method
            if method is None:
                if self._authenticator and self.config.methods:
                    return self.close(Cause.NO_COMMON_AUTH, now, "peer refused to authenticate")
                return self._enter_network(now)
            return self._start_auth(method, now)
        if protocol == _IPCP:
            self.local_ip, self.peer_ip, self.dns, self.nbns = self.ipcp_layer.result()
            return self._check_network_up(now)
        if protocol == _IPV6CP:
            self.ipv6_up = True
            return [Ipv6Up(*self.ipv6cp_layer.result())]
        if protocol == _CCP:
            (send_len, send_sl), (recv_len, recv_sl) = self.ccp_layer.directions()
            keys = self._keys
            if not send_len or not recv_len or keys is None:
                return self._ccp_without_mppe("peer refused encryption", now)
            from rrasctl.protocols.ppp.mppe import MppeDecryptor, MppeEncryptor
            self._encryptor = MppeEncryptor(keys.send, bits=send_len, stateless=send_sl)
            self._decryptor = MppeDecryptor(keys.recv, bits=recv_len, stateless=recv_sl)
            self.encryption = f"mppe-{min(send_len, recv_len)}"
            return self._check_network_up(now)
        return []

    def _layer_down(self, protocol: int, now: float) -> None:
        if protocol == _LCP:
            self._echo_deadline = None
            self._stop_network(now)
            self._end_auth()
            if self.phase is not Phase.TERMINATE:
                self.phase = Phase.ESTABLISH
        elif protocol == _IPCP:
            self.network_up = False
        elif protocol == _IPV6CP:
            self.ipv6_up = False
        elif protocol == _CCP:
            self._encryptor = self._decryptor = None
            self.encryption = "none"
            self.network_up = False          # no clear data while MPPE renegotiates, even if "none" is allowed

    def _layer_finished(self, protocol: int, now: float) -> list[Event]:
        if protocol == _LCP:
            if self._end is None:
                if self._lcp_was_opened:
                    self._set_end(Cause.LINK_LOST, "peer stopped answering LCP")
                else:
                    self._set_end(Cause.NO_ANSWER, "peer did not answer LCP")
            return self._finish(now)
        if self.phase is not Phase.NETWORK:
            return []
        if protocol == _IPCP:
            return self.close(Cause.NCP_FAILED, now, self.ipcp.failure_reason or "peer did not complete IPCP")
        if protocol == _CCP:
            return self._ccp_without_mppe(self.ccp.failure_reason or "peer did not answer CCP", now)
        return []

    def _ccp_without_mppe(self, reason: str, now: float) -> list[Event]:
        if not self.clear_allowed:
            return self.close(Cause.ENCRYPTION_MISMATCH, now, reason)
        self._ccp_gave_up = True
        self._encryptor = self._decryptor = None
        self.encryption = "none"
        return self._check_network_up(now)

    def _protocol_rejected(self, protocol: int, now: float) -> list[Event]:
        if protocol == _IPCP:
            self._set_end(Cause.NCP_FAILED, "peer rejected IPCP")
            return self._dispatch(self.ipcp.rejected(now), now)
        if protocol == _CCP:
            self.ccp.failure_reason = self.ccp.failure_reason or "peer refused encryption"
            return self._dispatch(self.ccp.rejected(now), now)
        if protocol == _IPV6CP:
            return self._dispatch(self.ipv6cp.rejected(now), now)
        return []

    # -- phases -------------------------------------------------------------------------------------------------
    def _start_auth(self, method: AuthMethod, now: float) -> list[Event]:
        self.phase = Phase.AUTHENTICATE
        self.auth_method = method
        config = self.config
        if self._authenticator:
            core = new_authenticator(method, AuthenticatorConfig(name=config.hostname, restart_s=config.restart_s,
                                                                 max_transmits=config.max_configure),
                                     rng=self._rng)
        else:
            core = new_peer(method, PeerConfig(user=config.user, password=config.password,
                                               restart_s=config.restart_s, max_transmits=config.max_configure),
                            rng=self._rng)
        self._auth = core
        self._auth_deadline = now + config.auth_timeout_s
        return self._auth_events(core.start(now), now)

    def _end_auth(self) -> None:
        """LCP went down: this authentication is over; its late packets must not reach the next one."""
        if self._last_challenge is not None:
            self._old_challenges.add(self._last_challenge)
            if len(self._old_challenges) > 16:
                self._old_challenges.pop()
        self._last_challenge = None
        self._auth = None
        self._auth_deadline = None

    def _auth_events(self, events: list[Event], now: float) -> list[Event]:
        auth = self._auth
        for payload in auth.take_output():
            self._send_control(auth.protocol, payload)
        public: list[Event] = []
        for event in events:
            public.append(event)
            if isinstance(event, AuthRequested):
                self.user = event.user
            elif isinstance(event, AuthSucceeded):
                self.user = event.user or self.user
                self._keys = event.keys
                self._auth_deadline = None
                if self.phase is Phase.AUTHENTICATE:
                    public += self._enter_network(now)
            elif isinstance(event, AuthFailed):
                self.user = event.user or self.user
                self._auth_error = event.error
                if not event.retry:
                    self._auth_deadline = None
                    if event.error:
                        public += self.close(Cause.AUTH_FAILED, now, f"authentication failed ({event.error})",
                                             event.error)
                    else:                   # no answer within the auth core's retransmissions
                        public += self.close(Cause.AUTH_TIMEOUT, now, event.reason)
            if self._down:
                break
        return public

    def _enter_network(self, now: float) -> list[Event]:
        self.phase = Phase.NETWORK
        self._ccp_gave_up = False
        events: list[Event] = []
        if self._mppe_lengths:
            if self._keys is not None:
                self._ccp_active = True
                events += self._dispatch(self.ccp.open(now) + self.ccp.up(now), now)
            elif not self.clear_allowed:
                method = self.auth_method.value if self.auth_method else "no authentication"
                return events + self.close(Cause.ENCRYPTION_MISMATCH, now,
                                           f"encryption required but {method} yields no MPPE keys")
            else:
                self._ccp_gave_up = True
        if self._down:
            return events
        if not self._authenticator or self.ipcp_layer.neg.allow.peer_address is not None:
            events += self._dispatch(self.ipcp.open(now) + self.ipcp.up(now), now)
        if self.config.ipv6 and not self._down:
            events += self._dispatch(self.ipv6cp.open(now) + self.ipv6cp.up(now), now)
        return events

    def _check_network_up(self, now: float) -> list[Event]:
        if self.network_up or self._down or self.ipcp.state is not State.OPENED:
            return []
        if self._mppe_lengths and self._encryptor is None and not self._ccp_gave_up:
            return []                       # CCP still negotiating
        if self._encryptor is None and not self.clear_allowed:
            return []
        self.network_up = True
        if self._announced:
            return []                       # an NCP renegotiated: data flows again, the owner already knows
        self._announced = True
        auth = self.auth_method.value if self.auth_method is not None else ""
        return [NetworkUp(self.local_ip, self.peer_ip, self.dns, self.nbns, self.encryption, auth)]

    def _stop_network(self, now: float) -> None:
        self.network_up = False
        self._encryptor = self._decryptor = None
        self.ipv6_up = False
        for negotiator in (self.ipcp, self.ccp, self.ipv6cp):
            if negotiator.state is not State.INITIAL:
                negotiator.down(now)
                negotiator.close(now)
        self._ccp_active = False
        self._auth_deadline = None

    def _finish(self, now: float) -> list[Event]:
        self._stop_network(now)
        self.phase = Phase.DEAD
        self._down = True
        self._echo_deadline = None
        self._auth_deadline = None
        self._auth = None
        cause, detail, error = self._end or (Cause.LOWER_LAYER_DOWN, "link closed", 0)
        return [LinkDown(cause, detail, error)]

    def _set_end(self, cause: Cause, detail: str = "", error: int = 0) -> None:
        """Remember why the link ends; the first reason given wins."""
        if self._end is None:
            self._end = (cause, detail, error)
