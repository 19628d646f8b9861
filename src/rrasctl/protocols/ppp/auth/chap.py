"""CHAP (RFC 1994) with the MD5 (5), MS-CHAP (0x80, RFC 2433) and MS-CHAP-V2 (0x81, RFC 2759) algorithms:
authenticator and peer cores sharing one packet codec.

- The authenticator retransmits its Challenge every `restart_s` (same identifier and value, as pppd),
  at most `max_transmits` times. A retransmitted Response gets the Success/Failure it already got.
- MS-CHAP retry (RFC 2759 §6, RFC 2433 §3.2.1): after a wrong password the authenticator may send
  Failure "E=691 R=1 C=<new challenge>" (at most `max_retries` times); the peer answers with a new Response
  whose identifier is the Failure's plus one (as the Windows capture in tests/data/captures shows). The
  authenticator retransmits that Failure like a Challenge (Windows RAS does, every 2 s).
- The peer repeats its Response every `restart_s` (at most `max_transmits` times) until Success or Failure,
  so a lost Success costs one restart period, not the whole authentication.
- The MS-CHAP v2 peer checks the authenticator response "S=..." in Success and fails when it is wrong.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import IntEnum

from rrasctl.protocols.base import CoreMisuse, Event, Malformed, Rng, default_rng
from rrasctl.protocols.ppp.auth import mschap
from rrasctl.protocols.ppp.auth.common import (
    AuthenticatorConfig,
    AuthFailed,
    AuthMethod,
    AuthRequested,
    AuthState,
    AuthSucceeded,
    MppeKeys,
    PeerConfig,
    reveal,
)
from rrasctl.protocols.ppp.auth.core import AuthenticatorCore, PeerCore, decode_packet
from rrasctl.protocols.ppp.auth.pap import failure_reason
from rrasctl.protocols.wire import Reader


class ChapCode(IntEnum):
    """RFC 1994 §4; 5/6 are MS-CHAP v1 Change-Password (RFC 2433), 7 MS-CHAP v2 Change-Password (RFC 2759)."""

    CHALLENGE = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4
    CHANGE_PASSWORD_V1 = 5
    CHANGE_PASSWORD_V1_2 = 6
    CHANGE_PASSWORD_V2 = 7


CHALLENGE_SIZE = {AuthMethod.CHAP_MD5: 16, AuthMethod.MSCHAP_V1: 8, AuthMethod.MSCHAP_V2: 16}
RESPONSE_SIZE = {AuthMethod.CHAP_MD5: 16, AuthMethod.MSCHAP_V1: 49, AuthMethod.MSCHAP_V2: 49}
FAILURE_VERSION = {AuthMethod.MSCHAP_V1: 2, AuthMethod.MSCHAP_V2: 3}
MSCHAP = (AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2)


def encode_value_name(value: bytes, name: bytes) -> bytes:
    """Challenge/Response data: Value-Size, Value, Name (RFC 1994 §4.1)."""
    if not 0 < len(value) <= 255:
        raise CoreMisuse("CHAP value must be 1..255 octets")
    return bytes((len(value),)) + value + name


def decode_value_name(data: bytes, what: str) -> tuple[bytes, bytes]:
    r = Reader(data, what)
    size = r.u8()
    if size == 0:
        raise Malformed(f"{what}: empty value")
    value = r.take(size)
    return value, r.rest()


def chap_md5_response(ident: int, secret: bytes, challenge: bytes) -> bytes:
    """RFC 1994 §2: MD5(Identifier ‖ secret ‖ Challenge)."""
    return hashlib.md5(bytes((ident & 0xFF,)) + secret + challenge).digest()


def split_v2_response(value: bytes) -> tuple[bytes, bytes, int]:
    """MS-CHAP v2 Response value (RFC 2759 §4): (peer challenge, NT-Response, flags)."""
    return value[:16], value[24:48], value[48]


class ChapAuthenticator(AuthenticatorCore):
    """Sends the Challenge, asks the owner about the Response, sends Success or Failure."""

    def __init__(self, method: AuthMethod, config: AuthenticatorConfig | None = None, *,
                 rng: Rng = default_rng) -> None:
        if method not in CHALLENGE_SIZE:
            raise CoreMisuse(f"{method.value} is not a CHAP method")
        super().__init__(method, rng=rng)
        self.config = config or AuthenticatorConfig()
        self._ident = 0                    # the identifier the next Response must carry
        self._challenge = b""
        self._packet = b""                 # Challenge or Failure(R=1), retransmitted on the timer
        self._transmits = 0
        self._retries_left = self.config.max_retries if method in MSCHAP else 0
        self._response = b""
        self._name = b""
        self._reply = b""                  # last Success/Failure, for retransmitted Responses
        self._reply_ident: int | None = None

    def _new_challenge(self) -> bytes:
        return self._rng(CHALLENGE_SIZE[self.method])

    def _start(self, now: float) -> list[Event]:
        self._ident = self._rng(1)[0]
        self._challenge = self._new_challenge()
        self._send(ChapCode.CHALLENGE, self._ident,
                   encode_value_name(self._challenge, self.config.name.encode("utf-8")))
        self._arm(now)
        return []

    def _arm(self, now: float) -> None:
        self._packet = self._out[-1]
        self._transmits = 1
        self._deadline = now + self.config.restart_s

    def _timeout(self, now: float) -> list[Event]:
        if self.state is not AuthState.STARTED:
            return []
        if self._transmits >= self.config.max_transmits:
            return self._fail(0, "peer did not answer the CHAP challenge")
        self._out.append(self._packet)
        self._transmits += 1
        self._deadline = now + self.config.restart_s
        return []

    def _receive(self, payload: bytes | memoryview, now: float) -> list[Event]:
        code, ident, data = decode_packet(payload, "chap packet")
        if code != ChapCode.RESPONSE:
            self.stats.count("chap: unexpected code")
            return []
        if self.state is AuthState.STARTED and ident == self._ident:
            value, name = decode_value_name(data, "chap response")
            if len(value) != RESPONSE_SIZE[self.method]:
                raise Malformed("chap response: bad value size")
            self._response, self._name = value, name
            self.user = name.decode("utf-8", "replace")
            self.state = AuthState.WAIT_DECISION
            self._deadline = None
            return [AuthRequested(self.method, self.user, self._challenge, value)]
        if self.state is AuthState.WAIT_DECISION and ident == self._ident:
            self.stats.count("chap: response repeated while deciding")
            return []
        if ident == self._reply_ident:
            self._out.append(self._reply)            # the peer lost our Success/Failure
            return []
        self.stats.count("chap: response id mismatch")
        return []

    # -- decisions ---------------------------------------------------------------------------------
    def _check_waiting(self) -> None:
        if self.state is not AuthState.WAIT_DECISION:
            raise CoreMisuse("no CHAP response is waiting for a decision")

    def verify_password(self, password: str) -> bool:
        """Whether PASSWORD is the one the waiting response was made with (decides nothing: the owner then answers
        with `answer_password` or `answer_external`; SPEC §4: credentials before policy)."""
        self._check_waiting()
        return self._check(password)[0]

    def answer_password(self, password: str | None, now: float) -> list[Event]:
        self._check_waiting()
        if password is None:
            return self._decide(False, 691, "", None, None, now)
        ok, keys, auth_response = self._check(password)
        return self._decide(ok, 691, "", keys, auth_response, now)

    def _check(self, password: str) -> tuple[bool, MppeKeys | None, bytes | None]:
        method, value, challenge = self.method, self._response, self._challenge
        keys = auth_response = None
        if method is AuthMethod.CHAP_MD5:
            ok = hmac.compare_digest(chap_md5_response(self._ident, password.encode("utf-8"), challenge), value)
        elif method is AuthMethod.MSCHAP_V1:
            # RFC 2433 §3.1: flag 1 = use the NT response; LM-only responses are refused (LM is broken).
            ok = value[48] == 1 and hmac.compare_digest(mschap.nt_challenge_response(challenge, password),
                                                        value[24:48])
            if ok:
                keys = mschap.mschap_v1_master_keys(
                    mschap.hash_nt_password_hash(mschap.nt_password_hash(password)), challenge)
        else:
            peer_challenge, nt_response, _flags = split_v2_response(value)
            expected = mschap.generate_nt_response(challenge, peer_challenge, self._name, password)
            ok = hmac.compare_digest(expected, nt_response)
            if ok:
                hash_hash = mschap.hash_nt_password_hash(mschap.nt_password_hash(password))
                auth_response = mschap.authenticator_response_from_hash(hash_hash, nt_response, peer_challenge,
                                                                        challenge, self._name).encode()
                keys = mschap.mschap_v2_master_keys(hash_hash, nt_response, is_server=True)
        return ok, keys, auth_response

    def answer_external(self, accepted: bool, *, error: int = 691, message: str = "",
                        keys: MppeKeys | None = None, authenticator_response: bytes | str | None = None,
                        now: float) -> list[Event]:
        self._check_waiting()
        if isinstance(authenticator_response, str):
            authenticator_response = authenticator_response.encode("ascii")
        if accepted and self.method is AuthMethod.MSCHAP_V2:
            if authenticator_response is None or len(authenticator_response) != 42:
                raise CoreMisuse("MS-CHAP v2 success needs the 42-octet authenticator response S=...")
        return self._decide(accepted, error, message, keys, authenticator_response, now)

    def _decide(self, ok: bool, error: int, message: str, keys: MppeKeys | None,
                auth_response: bytes | None, now: float) -> list[Event]:
        self._response = b""
        ident = self._reply_ident = self._ident
        if ok:
            if self.method is AuthMethod.MSCHAP_V2:
                assert auth_response is not None
                text = bytes(auth_response) + b" M=" + (message or "Access granted").encode("utf-8")
            else:
                text = (message or "Access granted").encode("utf-8")
            self._send(ChapCode.SUCCESS, ident, text)
            self._reply = self._out[-1]
            self.state = AuthState.SUCCEEDED
            return [AuthSucceeded(self.method, self.user, keys)]
        if self.method not in MSCHAP:
            self._send(ChapCode.FAILURE, ident, (message or self.config.failure_message).encode("utf-8"))
            self._reply = self._out[-1]
            return self._fail(error, failure_reason(error))
        retry = error == 691 and self._retries_left > 0
        challenge = self._new_challenge() if retry else self._challenge
        text = mschap.FailureMessage(
            error, retry, challenge, FAILURE_VERSION[self.method],
            (message or self.config.failure_message) if self.method is AuthMethod.MSCHAP_V2 else "").encode()
        self._send(ChapCode.FAILURE, ident, text)
        self._reply = self._out[-1]
        if not retry:
            return self._fail(error, failure_reason(error))
        self._retries_left -= 1
        self._ident = (ident + 1) & 0xFF
        self._challenge = challenge
        self.state = AuthState.STARTED
        self._arm(now)
        return [AuthFailed(self.method, self.user, error, failure_reason(error), True)]


class ChapPeer(PeerCore):
    """Answers the Challenge, then takes Success (checking MS-CHAP v2's S=) or Failure (maybe a retry)."""

    def __init__(self, method: AuthMethod, config: PeerConfig, *, rng: Rng = default_rng) -> None:
        if method not in CHALLENGE_SIZE:
            raise CoreMisuse(f"{method.value} is not a CHAP method")
        super().__init__(method, rng=rng)
        self.config = config
        self.user = config.user
        self._name = config.user.encode("utf-8")
        self._ident: int | None = None      # identifier of the Challenge we answered
        self._challenge = b""
        self._peer_challenge = b""
        self._nt_response = b""
        self._response_packet = b""
        self._retries_left = config.max_retries if method in MSCHAP else 0
        self._transmits = 0

    def _start(self, now: float) -> list[Event]:
        self._deadline = now + self.config.restart_s * self.config.max_transmits
        return []

    def _timeout(self, now: float) -> list[Event]:
        if self.state is not AuthState.STARTED:
            return []
        if self._ident is None:
            return self._fail(0, "authenticator sent no CHAP challenge")
        if self._transmits >= self.config.max_transmits or not self._response_packet:
            return self._fail(0, "authenticator did not answer the CHAP response")
        # Success/Failure lost? RFC 1994 §4.1 has the authenticator answer a repeated Response again.
        self._out.append(self._response_packet)
        self._transmits += 1
        self._deadline = now + self.config.restart_s
        return []

    def _respond(self, ident: int, challenge: bytes, now: float) -> None:
        password = reveal(self.config.password)
        if self.method is AuthMethod.CHAP_MD5:
            value = chap_md5_response(ident, password.encode("utf-8"), challenge)
        elif self.method is AuthMethod.MSCHAP_V1:
            value = bytes(24) + mschap.nt_challenge_response(challenge, password) + b"\x01"
        else:
            self._peer_challenge = self._rng(16)
            self._nt_response = mschap.generate_nt_response(challenge, self._peer_challenge, self._name, password)
            value = self._peer_challenge + bytes(8) + self._nt_response + b"\x00"
        self._ident, self._challenge = ident, challenge
        self._send(ChapCode.RESPONSE, ident, encode_value_name(value, self._name))
        self._response_packet = self._out[-1]
        self._transmits = 1
        self._deadline = now + self.config.restart_s

    def _receive(self, payload: bytes | memoryview, now: float) -> list[Event]:
        code, ident, data = decode_packet(payload, "chap packet")
        if code == ChapCode.CHALLENGE:
            return self._on_challenge(ident, data, now)
        if code not in (ChapCode.SUCCESS, ChapCode.FAILURE):
            self.stats.count("chap: unexpected code")
            return []
        if self.state is not AuthState.STARTED or ident != self._ident:
            self.stats.count("chap: reply id mismatch")
            return []
        if code == ChapCode.SUCCESS:
            return self._on_success(data)
        return self._on_failure(ident, data, now)

    def _on_challenge(self, ident: int, data: bytes, now: float) -> list[Event]:
        value, _name = decode_value_name(data, "chap challenge")
        if self.method is not AuthMethod.CHAP_MD5 and len(value) != CHALLENGE_SIZE[self.method]:
            raise Malformed("chap challenge: bad value size")
        if ident == self._ident and value == self._challenge and self._response_packet:
            self._out.append(self._response_packet)    # our Response was lost
            return []
        rechallenge = self.state is AuthState.SUCCEEDED and self.method is AuthMethod.CHAP_MD5
        if self.state is not AuthState.STARTED and not rechallenge:
            self.stats.count("chap: challenge after the end")
            return []
        self._respond(ident, value, now)
        if rechallenge:
            self._deadline = None                      # RFC 1994 §2 rechallenge: no new verdict awaited
        return []

    def _on_success(self, data: bytes) -> list[Event]:
        password = reveal(self.config.password)
        keys = None
        if self.method in MSCHAP:
            hash_hash = mschap.hash_nt_password_hash(mschap.nt_password_hash(password))
            if self.method is AuthMethod.MSCHAP_V1:
                keys = mschap.mschap_v1_master_keys(hash_hash, self._challenge)
            else:
                try:
                    received, _message = mschap.parse_success_v2(data)
                except Malformed:
                    received = ""
                expected = mschap.authenticator_response_from_hash(hash_hash, self._nt_response,
                                                                   self._peer_challenge, self._challenge,
                                                                   self._name)
                if not hmac.compare_digest(received.upper().encode(), expected.encode()):
                    return self._fail(0, "the authenticator's response did not verify "
                                         "(it does not know our password): refusing it")
                keys = mschap.mschap_v2_master_keys(hash_hash, self._nt_response, is_server=False)
        self.state = AuthState.SUCCEEDED
        self._deadline = None
        self._response_packet = b""
        return [AuthSucceeded(self.method, self.user, keys)]

    def _on_failure(self, ident: int, data: bytes, now: float) -> list[Event]:
        self._response_packet = b""
        if self.method not in MSCHAP:
            text = bytes(data).decode("utf-8", "replace")
            return self._fail(691, failure_reason(691) + (f": {text}" if text else ""))
        try:
            failure = mschap.parse_failure(data)
        except Malformed:
            return self._fail(691, failure_reason(691) + " (unreadable Failure message)")
        reason = failure_reason(failure.error) + (f": {failure.message}" if failure.message else "")
        challenge = failure.challenge
        if (failure.retry and self._retries_left > 0 and challenge is not None
                and len(challenge) == CHALLENGE_SIZE[self.method]):
            self._retries_left -= 1
            self._respond((ident + 1) & 0xFF, challenge, now)
            return [AuthFailed(self.method, self.user, failure.error, reason, True)]
        return self._fail(failure.error, reason)
