"""Types shared by every authentication core: methods, events, MPPE master keys, configs, states.

Nothing here imports `cryptography`; the cores and `mschap.py` do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

from rrasctl.protocols.base import Event

PAP_PROTOCOL = 0xC023
CHAP_PROTOCOL = 0xC223
EAP_PROTOCOL = 0xC227


class AuthMethod(Enum):
    """PPP authentication methods, with their LCP Authentication-Protocol option data (RFC 1661 §6.2).

    `option_data` is the option's value after type and length: the protocol number, then the CHAP
    algorithm (RFC 1994 §3: 5 = MD5; RFC 2433: 0x80 = MS-CHAP; RFC 2759: 0x81 = MS-CHAP-V2).
    """

    PAP = "pap"
    CHAP_MD5 = "chap"
    MSCHAP_V1 = "ms-chap"
    MSCHAP_V2 = "ms-chap-v2"
    EAP_TLS = "eap-tls"          # reserved: no core yet

    @property
    def protocol(self) -> int:
        """The PPP protocol number that carries this method's packets."""
        return _PROTOCOL[self]

    @property
    def algorithm(self) -> int | None:
        """The CHAP algorithm octet, or None for PAP and EAP."""
        return _ALGORITHM[self]

    @property
    def option_data(self) -> bytes:
        """LCP option 3 value: 2-byte protocol (+ 1-byte CHAP algorithm)."""
        algo = self.algorithm
        data = self.protocol.to_bytes(2, "big")
        return data if algo is None else data + bytes((algo,))

    @classmethod
    def from_option_data(cls, data: bytes) -> "AuthMethod | None":
        """The method an LCP Authentication-Protocol value names, or None if we do not know it."""
        data = bytes(data)
        for method in cls:
            if method.option_data == data:
                return method
        return None


_PROTOCOL = {AuthMethod.PAP: PAP_PROTOCOL, AuthMethod.CHAP_MD5: CHAP_PROTOCOL,
             AuthMethod.MSCHAP_V1: CHAP_PROTOCOL, AuthMethod.MSCHAP_V2: CHAP_PROTOCOL,
             AuthMethod.EAP_TLS: EAP_PROTOCOL}
_ALGORITHM = {AuthMethod.PAP: None, AuthMethod.CHAP_MD5: 5, AuthMethod.MSCHAP_V1: 0x80,
              AuthMethod.MSCHAP_V2: 0x81, AuthMethod.EAP_TLS: None}

#: SPEC §4: strongest first, as RRAS asks (EAP-TLS, MS-CHAP v2, MS-CHAP, CHAP, PAP); config.model.METHODS is the
#: same list weakest first, and a test keeps the two in step.
STRENGTH_ORDER = (AuthMethod.EAP_TLS, AuthMethod.MSCHAP_V2, AuthMethod.MSCHAP_V1, AuthMethod.CHAP_MD5, AuthMethod.PAP)


def strongest_first(methods) -> tuple[AuthMethod, ...]:
    """METHODS without repeats, strongest first, whatever order they were listed in."""
    return tuple(sorted(dict.fromkeys(methods), key=STRENGTH_ORDER.index))


class MsChapError(IntEnum):
    """MS-CHAP Failure `E=` codes (RFC 2433 §3.2.1, RFC 2759 §6)."""

    RESTRICTED_LOGON_HOURS = 646
    ACCT_DISABLED = 647
    PASSWD_EXPIRED = 648
    NO_DIALIN_PERMISSION = 649
    AUTHENTICATION_FAILURE = 691
    CHANGING_PASSWORD = 709


@dataclass(frozen=True, slots=True)
class MppeKeys:
    """MPPE master keys (16 octets each) for one side of the link.

    `send` encrypts what this side sends, `recv` decrypts what it receives. The authenticator's `send`
    is the peer's `recv`. From MS-CHAP v2 these are RFC 3079 §3.3 MasterSendKey/MasterReceiveKey; from
    MS-CHAP v1 both are the RFC 3079 §2 start key; RADIUS MS-MPPE-Send/Recv-Key and EAP-TLS supply them
    externally. `mppe.py` derives the per-length session keys (40/56-bit keys use the first 8 octets).
    """

    send: bytes = field(repr=False)
    recv: bytes = field(repr=False)

    def swapped(self) -> "MppeKeys":
        """The other side's view: send and receive exchanged."""
        return MppeKeys(self.recv, self.send)


class AuthRole(Enum):
    AUTHENTICATOR = "authenticator"
    PEER = "peer"


class AuthState(Enum):
    """Where an authentication core stands."""

    INITIAL = "initial"            # start() not called yet
    STARTED = "started"            # exchanging packets with the other side
    WAIT_DECISION = "wait-decision"  # authenticator: AuthRequested emitted, answer_* not called yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AuthRequested(Event):
    """The authenticator received credentials and needs a decision (answer_password / answer_external).

    `challenge` is what we sent (CHAP: the challenge value; PAP: empty); `response` is what the peer sent
    (PAP: the password bytes; CHAP-MD5: the 16-octet hash; MS-CHAP v1: the 49-octet response; v2: the
    49-octet response: peer challenge, reserved, NT-Response, flags). Never logged (repr hides it).
    """

    method: AuthMethod
    user: str
    challenge: bytes = field(default=b"", repr=False)
    response: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class AuthSucceeded(Event):
    """Authentication succeeded; `keys` are this side's MPPE master keys (MS-CHAP or external), else None."""

    method: AuthMethod
    user: str
    keys: MppeKeys | None = None


@dataclass(frozen=True, slots=True)
class AuthFailed(Event):
    """An attempt failed. `retry` True: not final, a new attempt follows (MS-CHAP R=1); False: final.

    `error` is the MS-CHAP E= code (691 wrong credentials/unknown user, 646..649) for every method, or 0
    for a timeout; `reason` is a sentence an operator understands.
    """

    method: AuthMethod
    user: str
    error: int
    reason: str
    retry: bool = False


@dataclass(frozen=True, slots=True)
class AuthenticatorConfig:
    """Authenticator knobs. `name` is our CHAP Name field; `max_retries` the extra attempts MS-CHAP
    allows after a failure (R=1, new challenge); `restart_s`/`max_transmits` the challenge retransmission
    (RFC 1994 §4.1); PAP waits `restart_s * max_transmits` for a request."""

    name: str = "rrasctl"
    restart_s: float = 3.0
    max_transmits: int = 10
    max_retries: int = 2
    failure_message: str = "Authentication failed"


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """Peer knobs. `password` may be a `str` or any object with `.reveal() -> str` (a Secret); it is never
    shown by repr. `max_retries`: how many MS-CHAP R=1 retries the peer answers (same password)."""

    user: str
    password: object = field(repr=False)
    restart_s: float = 3.0
    max_transmits: int = 10
    max_retries: int = 0


def reveal(password: object) -> str:
    """The plain text of a `str` or of a Secret-like object."""
    if isinstance(password, str):
        return password
    reveal_fn = getattr(password, "reveal", None)
    if reveal_fn is None:
        raise TypeError("password must be a str or have reveal()")
    return reveal_fn()
