"""PAP (RFC 1334 §2): Authenticate-Request / Ack / Nak, authenticator and peer cores.

The peer retransmits its Authenticate-Request every `restart_s` up to `max_transmits` (RFC 1334 §2.2.1);
the authenticator answers a retransmitted request with the same Ack/Nak it already sent.
"""

from __future__ import annotations

import hmac
from enum import IntEnum

from rrasctl.protocols.base import CoreMisuse, Event, Rng, default_rng
from rrasctl.protocols.ppp.auth.common import (
    AuthenticatorConfig,
    AuthMethod,
    AuthRequested,
    AuthState,
    AuthSucceeded,
    MppeKeys,
    PeerConfig,
    reveal,
)
from rrasctl.protocols.ppp.auth.core import AuthenticatorCore, PeerCore, decode_packet
from rrasctl.protocols.wire import Reader


class PapCode(IntEnum):
    """RFC 1334 §2.2."""

    AUTHENTICATE_REQUEST = 1
    AUTHENTICATE_ACK = 2
    AUTHENTICATE_NAK = 3


def encode_request(peer_id: bytes, password: bytes) -> bytes:
    if len(peer_id) > 255 or len(password) > 255:
        raise CoreMisuse("PAP peer-id and password are at most 255 octets")
    return bytes((len(peer_id),)) + peer_id + bytes((len(password),)) + password


def decode_request(data: bytes) -> tuple[bytes, bytes]:
    """(peer_id, password) of an Authenticate-Request's data; trailing octets are a violation."""
    r = Reader(data, "pap request")
    peer_id = r.take(r.u8())
    password = r.take(r.u8())
    r.expect_end()
    return peer_id, password


def encode_message(text: str) -> bytes:
    msg = text.encode("utf-8")[:255]
    return bytes((len(msg),)) + msg


def decode_message(data: bytes) -> str:
    """The Msg of an Ack/Nak; a lying Msg-Length is tolerated (the message is informational)."""
    if not data:
        return ""
    return bytes(data[1:1 + data[0]]).decode("utf-8", "replace")


class PapAuthenticator(AuthenticatorCore):
    """Waits for the peer's Authenticate-Request, asks the owner, answers Ack or Nak."""

    def __init__(self, config: AuthenticatorConfig | None = None, *, rng: Rng = default_rng) -> None:
        super().__init__(AuthMethod.PAP, rng=rng)
        self.config = config or AuthenticatorConfig()
        self._ident: int | None = None
        self._password = b""
        self._reply: bytes | None = None

    def _start(self, now: float) -> list[Event]:
        self._deadline = now + self.config.restart_s * self.config.max_transmits
        return []

    def _timeout(self, now: float) -> list[Event]:
        if self.state is AuthState.STARTED:
            return self._fail(0, "peer sent no PAP Authenticate-Request")
        return []

    def _receive(self, payload: bytes | memoryview, now: float) -> list[Event]:
        code, ident, data = decode_packet(payload, "pap packet")
        if code != PapCode.AUTHENTICATE_REQUEST:
            self.stats.count("pap: unexpected code")
            return []
        peer_id, password = decode_request(data)
        if self.state is AuthState.STARTED:
            self._ident = ident
            self._password = password
            self.user = peer_id.decode("utf-8", "replace")
            self.state = AuthState.WAIT_DECISION
            self._deadline = None
            return [AuthRequested(self.method, self.user, b"", password)]
        if self.done and ident == self._ident and self._reply is not None:
            self._out.append(self._reply)            # the peer lost our Ack/Nak
            return []
        self.stats.count("pap: duplicate request")
        return []

    def _check_waiting(self) -> None:
        if self.state is not AuthState.WAIT_DECISION:
            raise CoreMisuse("no PAP request is waiting for a decision")

    def verify_password(self, password: str) -> bool:
        """Whether PASSWORD is the one the peer sent (decides nothing; SPEC §4: credentials before policy)."""
        self._check_waiting()
        return hmac.compare_digest(password.encode("utf-8"), self._password)

    def answer_password(self, password: str | None, now: float) -> list[Event]:
        self._check_waiting()
        ok = password is not None and hmac.compare_digest(password.encode("utf-8"), self._password)
        return self._decide(ok, 691, "")

    def answer_external(self, accepted: bool, *, error: int = 691, message: str = "",
                        keys: MppeKeys | None = None, authenticator_response: bytes | str | None = None,
                        now: float) -> list[Event]:
        self._check_waiting()
        return self._decide(accepted, error, message)

    def _decide(self, ok: bool, error: int, message: str) -> list[Event]:
        self._password = b""
        assert self._ident is not None
        if ok:
            self._send(PapCode.AUTHENTICATE_ACK, self._ident, encode_message(message))
            self._reply = self._out[-1]
            self.state = AuthState.SUCCEEDED
            return [AuthSucceeded(self.method, self.user, None)]
        self._send(PapCode.AUTHENTICATE_NAK, self._ident,
                   encode_message(message or self.config.failure_message))
        self._reply = self._out[-1]
        return self._fail(error, failure_reason(error))


def failure_reason(error: int) -> str:
    """A sentence for an operator, from an MS-CHAP style error code."""
    return {
        691: "authentication failed (691): wrong user name or password",
        646: "authentication failed (646): logon hours restriction",
        647: "authentication failed (647): account disabled",
        648: "authentication failed (648): password expired",
        649: "authentication failed (649): no dial-in permission",
        709: "authentication failed (709): password change required",
    }.get(error, f"authentication failed ({error})")


class PapPeer(PeerCore):
    """Sends Authenticate-Request and retransmits it until Ack/Nak or `max_transmits`."""

    def __init__(self, config: PeerConfig, *, rng: Rng = default_rng) -> None:
        super().__init__(AuthMethod.PAP, rng=rng)
        self.config = config
        self.user = config.user
        self._ident = 0
        self._request = b""
        self._transmits = 0

    def _start(self, now: float) -> list[Event]:
        self._ident = self._rng(1)[0]
        data = encode_request(self.config.user.encode("utf-8"), reveal(self.config.password).encode("utf-8"))
        self._send(PapCode.AUTHENTICATE_REQUEST, self._ident, data)
        self._request = self._out[-1]
        self._transmits = 1
        self._deadline = now + self.config.restart_s
        return []

    def _timeout(self, now: float) -> list[Event]:
        if self.state is not AuthState.STARTED:
            return []
        if self._transmits >= self.config.max_transmits:
            self._request = b""
            return self._fail(0, "authenticator did not answer the PAP request")
        self._out.append(self._request)
        self._transmits += 1
        self._deadline = now + self.config.restart_s
        return []

    def _receive(self, payload: bytes | memoryview, now: float) -> list[Event]:
        code, ident, data = decode_packet(payload, "pap packet")
        if code not in (PapCode.AUTHENTICATE_ACK, PapCode.AUTHENTICATE_NAK):
            self.stats.count("pap: unexpected code")
            return []
        if self.state is not AuthState.STARTED or ident != self._ident:
            self.stats.count("pap: reply id mismatch")
            return []
        self._request = b""
        message = decode_message(data)
        if code == PapCode.AUTHENTICATE_ACK:
            self.state = AuthState.SUCCEEDED
            self._deadline = None
            return [AuthSucceeded(self.method, self.user, None)]
        reason = "authentication failed (691): the authenticator refused the PAP request"
        return self._fail(691, reason + (f": {message}" if message else ""))
