"""PPP authentication: PAP (RFC 1334), CHAP-MD5 (RFC 1994), MS-CHAP v1 (RFC 2433), MS-CHAP v2 (RFC 2759),
and the MPPE master keys they yield (RFC 3079). Sans-I/O cores for both roles (DESIGN.md §3).

Use from the link (`link.py`):

    core = new_authenticator(AuthMethod.MSCHAP_V2, AuthenticatorConfig(name="rras"), rng=rng)
    core = new_peer(AuthMethod.MSCHAP_V2, PeerConfig(user="alice", password=secret), rng=rng)
    events = core.start(now)                     # when the link enters the Authenticate phase
    events = core.receive(info_field, now)       # PPP information field of protocol core.protocol
    events = core.handle_timer(now)              # at core.next_timer()
    for payload in core.take_output(): send(core.protocol, payload)

- The LCP Authentication-Protocol option: `method.option_data` (b"\\xc0\\x23", b"\\xc2\\x23\\x05",
  b"\\xc2\\x23\\x80", b"\\xc2\\x23\\x81"); `AuthMethod.from_option_data(value)` maps back (None = unknown).
- Authenticator: emits `AuthRequested(method, user, challenge, response)` and waits in
  `AuthState.WAIT_DECISION`; the owner then calls `answer_password(password | None, now)` (verify here;
  None = unknown user -> 691) or `answer_external(accepted, error=, message=, keys=, authenticator_response=,
  now=)`. Both return events and queue the Success/Failure packet.
- Events: `AuthSucceeded(method, user, keys)` (keys: `MppeKeys` for MS-CHAP, this side's view, else None);
  `AuthFailed(method, user, error, reason, retry)`: retry True means an MS-CHAP retry follows (not final).
  The peer fails (error 0, "authenticator response did not verify") if MS-CHAP v2's S= is wrong.
- Timers: the authenticator retransmits its Challenge (or MS-CHAP Failure R=1) every `restart_s` up to
  `max_transmits`, the PAP peer its Authenticate-Request, the CHAP peer its Response; a side that hears nothing
  for that long fails with error 0 and a timeout reason. A packet received before start() starts the core.
- `core.state` (AuthState), `core.stats` (Counters of malformed/dropped packets), `core.done`.
- MPPE data path: `rrasctl.protocols.ppp.mppe` (MppeEncryptor/MppeDecryptor built from MppeKeys).
"""

from rrasctl.protocols.ppp.auth.common import (
    CHAP_PROTOCOL,
    EAP_PROTOCOL,
    PAP_PROTOCOL,
    AuthenticatorConfig,
    AuthFailed,
    AuthMethod,
    AuthRequested,
    AuthRole,
    AuthState,
    AuthSucceeded,
    MppeKeys,
    MsChapError,
    PeerConfig,
    STRENGTH_ORDER,
    strongest_first,
)
from rrasctl.protocols.ppp.auth.core import AuthCore, AuthenticatorCore, PeerCore
from rrasctl.protocols.base import Rng, default_rng


def new_authenticator(method: AuthMethod, config: AuthenticatorConfig | None = None, *,
                      rng: Rng = default_rng) -> AuthenticatorCore:
    """The authenticator core for `method` (PAP, CHAP-MD5, MS-CHAP v1/v2)."""
    config = config or AuthenticatorConfig()
    if method is AuthMethod.PAP:
        from rrasctl.protocols.ppp.auth.pap import PapAuthenticator
        return PapAuthenticator(config, rng=rng)
    if method in (AuthMethod.CHAP_MD5, AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2):
        from rrasctl.protocols.ppp.auth.chap import ChapAuthenticator
        return ChapAuthenticator(method, config, rng=rng)
    raise ValueError(f"no authenticator for {method.value}")


def new_peer(method: AuthMethod, config: PeerConfig, *, rng: Rng = default_rng) -> PeerCore:
    """The peer core for `method`."""
    if method is AuthMethod.PAP:
        from rrasctl.protocols.ppp.auth.pap import PapPeer
        return PapPeer(config, rng=rng)
    if method in (AuthMethod.CHAP_MD5, AuthMethod.MSCHAP_V1, AuthMethod.MSCHAP_V2):
        from rrasctl.protocols.ppp.auth.chap import ChapPeer
        return ChapPeer(method, config, rng=rng)
    raise ValueError(f"no peer for {method.value}")


__all__ = [
    "CHAP_PROTOCOL", "EAP_PROTOCOL", "PAP_PROTOCOL", "AuthCore", "AuthFailed", "AuthMethod", "AuthRequested",
    "AuthRole", "AuthState", "AuthSucceeded", "AuthenticatorConfig", "AuthenticatorCore", "MppeKeys",
    "MsChapError", "PeerConfig", "PeerCore", "STRENGTH_ORDER", "new_authenticator", "new_peer",
    "strongest_first",
]
