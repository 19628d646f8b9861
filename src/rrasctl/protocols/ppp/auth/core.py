"""The machinery every authentication core shares: output queue, one deadline, state, counters.

Subclasses implement `_start`, `_receive` (may raise Malformed) and `_timeout`. The sans-I/O contract is
DESIGN.md §3: payloads in and out are PPP information fields (code, id, length, data); the link adds and
strips the protocol number (`core.protocol`).
"""

from __future__ import annotations

from rrasctl.protocols.base import CoreMisuse, Counters, Event, Malformed, Rng, default_rng
from rrasctl.protocols.ppp.auth.common import AuthFailed, AuthMethod, AuthRole, AuthState, MppeKeys
from rrasctl.protocols.wire import U16, Reader


def encode_packet(code: int, ident: int, data: bytes = b"") -> bytes:
    """A PAP/CHAP packet: code, identifier, length, data (RFC 1334 §2.2, RFC 1994 §4)."""
    return bytes((code, ident & 0xFF)) + U16.pack(4 + len(data)) + data


def decode_packet(payload: bytes | memoryview, what: str) -> tuple[int, int, bytes]:
    """(code, identifier, data); padding past Length is ignored, a short packet raises Malformed."""
    r = Reader(payload, what)
    code, ident, length = r.u8(), r.u8(), r.u16()
    if length < 4 or length > len(payload):
        raise Malformed(f"{what}: bad length")
    return code, ident, r.take(length - 4)


class AuthCore:
    """Base of the PAP/CHAP cores (authenticator and peer)."""

    role: AuthRole
    method: AuthMethod

    def __init__(self, method: AuthMethod, *, rng: Rng = default_rng) -> None:
        self.method = method
        self.state = AuthState.INITIAL
        self.stats = Counters()
        self.user = ""
        self._rng = rng
        self._out: list[bytes] = []
        self._deadline: float | None = None

    # -- contract ----------------------------------------------------------------------------------
    @property
    def protocol(self) -> int:
        """The PPP protocol number of this core's packets (0xC023 PAP, 0xC223 CHAP)."""
        return self.method.protocol

    @property
    def done(self) -> bool:
        return self.state is AuthState.SUCCEEDED or self.state is AuthState.FAILED

    def start(self, now: float) -> list[Event]:
        """Begin: the authenticator sends its Challenge (CHAP) or waits (PAP); the peer sends its
        Authenticate-Request (PAP) or waits for a Challenge (CHAP)."""
        if self.state is not AuthState.INITIAL:
            raise CoreMisuse("start() called twice")
        self.state = AuthState.STARTED
        return self._start(now)

    def receive(self, payload: bytes | memoryview, now: float) -> list[Event]:
        """One PAP/CHAP packet (the PPP information field). Never raises because of the peer.

        A packet that arrives before start() starts the core first (the other side may be quicker)."""
        events = self.start(now) if self.state is AuthState.INITIAL else []
        try:
            return events + self._receive(payload, now)
        except Malformed as exc:
            self.stats.count(exc.reason)
            return events

    def handle_timer(self, now: float) -> list[Event]:
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        return self._timeout(now)

    def take_output(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_timer(self) -> float | None:
        return self._deadline

    # -- helpers -----------------------------------------------------------------------------------
    def _send(self, code: int, ident: int, data: bytes = b"") -> None:
        self._out.append(encode_packet(code, ident, data))

    def _fail(self, error: int, reason: str) -> list[Event]:
        self.state = AuthState.FAILED
        self._deadline = None
        return [AuthFailed(self.method, self.user, error, reason, False)]

    # -- subclass hooks ----------------------------------------------------------------------------
    def _start(self, now: float) -> list[Event]:
        raise NotImplementedError

    def _receive(self, payload: bytes | memoryview, now: float) -> list[Event]:
        raise NotImplementedError

    def _timeout(self, now: float) -> list[Event]:
        raise NotImplementedError


class AuthenticatorCore(AuthCore):
    """An authenticator never decides alone: it emits AuthRequested, then takes one of the answers.

    The answer_* commands return the events they cause (AuthSucceeded, or AuthFailed with retry True
    while MS-CHAP retries remain) and queue the Success/Failure packet (plus a new Challenge on retry)."""

    role = AuthRole.AUTHENTICATOR

    def answer_password(self, password: str | None, now: float) -> list[Event]:
        """Decide with the user's password held locally; None = unknown user (failure 691)."""
        raise NotImplementedError

    def answer_external(self, accepted: bool, *, error: int = 691, message: str = "",
                        keys: MppeKeys | None = None, authenticator_response: bytes | str | None = None,
                        now: float) -> list[Event]:
        """Decide with an outside verdict (RADIUS): MS-CHAP v2 needs `authenticator_response` ("S=...")
        on success, MS-CHAP `keys` to enable MPPE. `error`/`message` go into the Failure packet."""
        raise NotImplementedError


class PeerCore(AuthCore):
    role = AuthRole.PEER
