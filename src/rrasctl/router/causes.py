"""The one table from a call-end or refusal cause to the Windows error and the operator's text (docs/decisions/0081).

Both sides of a connection use it: the answering engine records the Windows error its refusal makes the client
show, and the dialling engine reports the same number for what it saw on the wire (`demand-dial connect`, `status`,
the log). Each Windows error number is defined once, in `WindowsError`; each cause maps to exactly one of them.

    info = explain(Cause.AUTH_FAILED)        # Explained(cause, windows_error=691, text="...")
    str(info)                                # "the user name or password is not valid (error 691)"

The numbers are raserror.h's (600-877) and winerror.h's demand-dial range (917-924); RRAS keeps no published
mapping from its refusals to client errors, so where a number is a judgement the decision record says so.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rrasctl.protocols.causes import Cause


class WindowsError(enum.IntEnum):
    """The RAS errors rrasctl reports, with the text a Windows client shows (shortened where long)."""

    PORT_DISCONNECTED = 619
    DISCONNECTION = 628
    REMOTE_DISCONNECTION = 629
    USER_DISCONNECTION = 631
    PORT_NOT_AVAILABLE = 633
    UNKNOWN = 635
    ACCT_DISABLED = 647
    NO_DIALIN_PERMISSION = 649
    FROM_DEVICE = 651
    LINE_BUSY = 676
    AUTHENTICATION_FAILURE = 691
    PPP_TIMEOUT = 718
    PPP_NOT_CONVERGING = 732
    PPP_CP_REJECTED = 733
    NO_LOCAL_ENCRYPTION = 741
    AUTOMATIC_VPN_FAILED = 800
    VPN_DISCONNECT = 807
    NAME_NOT_RESOLVED = 868
    PEER_REFUSED_AUTH = 919

    @property
    def text(self) -> str:
        return _TEXTS[self]


_TEXTS: dict[WindowsError, str] = {
    WindowsError.PORT_DISCONNECTED: "The port is disconnected.",
    WindowsError.DISCONNECTION: "The connection was closed by the remote computer before it was complete.",
    WindowsError.REMOTE_DISCONNECTION: "The connection was closed by the remote computer.",
    WindowsError.USER_DISCONNECTION: "The connection was closed by the user or an administrator.",
    WindowsError.PORT_NOT_AVAILABLE: "The port is already in use or is not configured for dial-out.",
    WindowsError.UNKNOWN: "An unknown error occurred.",
    WindowsError.ACCT_DISABLED: "The account is disabled.",
    WindowsError.NO_DIALIN_PERMISSION: "The account does not have permission to dial in.",
    WindowsError.FROM_DEVICE: "The connecting device reported an error.",
    WindowsError.LINE_BUSY: "The line is busy.",
    WindowsError.AUTHENTICATION_FAILURE: "The user name or password is not valid.",
    WindowsError.PPP_TIMEOUT: "The remote computer did not respond in a timely manner.",
    WindowsError.PPP_NOT_CONVERGING: "The two computers could not agree on PPP control protocols.",
    WindowsError.PPP_CP_REJECTED: "The PPP control protocol for this network protocol is not available.",
    WindowsError.NO_LOCAL_ENCRYPTION: "The required data encryption type is not supported.",
    WindowsError.AUTOMATIC_VPN_FAILED: "The VPN connection could not be established: the server did not answer.",
    WindowsError.VPN_DISCONNECT: "The network connection to the VPN server was interrupted.",
    WindowsError.NAME_NOT_RESOLVED: "The name of the remote access server did not resolve.",
    WindowsError.PEER_REFUSED_AUTH: "The remote computer refused the authentication protocol.",
}

W = WindowsError

# cause -> (Windows error, what happened, in words for an operator)
TABLE: dict[Cause, tuple[WindowsError, str]] = {
    Cause.NAME_RESOLUTION: (W.NAME_NOT_RESOLVED, "the destination's name did not resolve"),
    Cause.NO_LOCAL_PORT: (W.PORT_NOT_AVAILABLE, "no port of this router's pool is free for demand-dial routing"),
    Cause.NO_ANSWER: (W.AUTOMATIC_VPN_FAILED, "the remote computer did not respond"),
    Cause.CONNECTION_REFUSED: (W.AUTOMATIC_VPN_FAILED, "the remote computer refused the connection"),
    Cause.PEER_BUSY: (W.LINE_BUSY, "the remote server has no free port (busy)"),
    Cause.TUNNEL_REFUSED: (W.FROM_DEVICE, "the remote server refused the tunnel"),
    Cause.TUNNEL_AUTH_FAILED: (W.AUTHENTICATION_FAILURE, "L2TP tunnel authentication failed (tunnel secrets differ)"),
    Cause.PROTOCOL_DISABLED: (W.LINE_BUSY, "the protocol has no ports"),
    Cause.NO_FREE_PORT: (W.LINE_BUSY, "every port of the pool is in use"),
    Cause.EDITION_CAP: (W.LINE_BUSY, "the edition's limit of concurrent connections is reached"),
    Cause.SETUP_LIMIT: (W.LINE_BUSY, "too many calls are being set up"),
    Cause.AUTH_FAILED: (W.AUTHENTICATION_FAILURE, "the user name or password is not valid"),
    Cause.DIAL_IN_DENIED: (W.NO_DIALIN_PERMISSION, "the account does not have permission to dial in"),
    Cause.POLICY_DENIED: (W.NO_DIALIN_PERMISSION, "the remote access policies deny the connection"),
    Cause.PORT_USE_NOT_ALLOWED: (W.NO_DIALIN_PERMISSION, "the port does not serve this kind of connection"),
    Cause.ACCOUNT_LOCKED: (W.ACCT_DISABLED, "the account is locked out after repeated failures"),
    Cause.METHOD_NOT_ALLOWED: (W.PEER_REFUSED_AUTH, "the authentication method is not allowed"),
    Cause.NO_COMMON_AUTH: (W.PEER_REFUSED_AUTH, "the two sides allow no common authentication method"),
    Cause.AUTH_TIMEOUT: (W.PPP_TIMEOUT, "authentication did not finish in time"),
    Cause.SECRET_UNAVAILABLE: (W.AUTHENTICATION_FAILURE,
                               "the stored password cannot be opened (the key file is missing or was replaced)"),
    Cause.ENCRYPTION_MISMATCH: (W.NO_LOCAL_ENCRYPTION, "the two sides could not agree on the required encryption"),
    Cause.NCP_FAILED: (W.PPP_CP_REJECTED, "IP address negotiation (IPCP) failed"),
    Cause.ADDRESS_CLASH: (W.PPP_CP_REJECTED, "the remote end's tunnel address is one of this host's own"),
    Cause.NEGOTIATION_FAILED: (W.PPP_NOT_CONVERGING, "the two sides could not agree on PPP options"),
    Cause.PEER_ABORTED: (W.DISCONNECTION, "the remote computer hung up before the connection was complete"),
    Cause.PEER_DISCONNECTED: (W.REMOTE_DISCONNECTION, "the remote computer hung up"),
    Cause.LINK_LOST: (W.VPN_DISCONNECT, "the remote computer stopped answering keepalives"),
    Cause.LOWER_LAYER_DOWN: (W.PORT_DISCONNECTED, "the tunnel under the connection went away"),
    Cause.PROTOCOL_ERROR: (W.FROM_DEVICE, "the remote computer broke the protocol"),
    Cause.ADMIN_DISCONNECT: (W.USER_DISCONNECTION, "disconnected by the administrator"),
    Cause.CONFIG_CHANGED: (W.USER_DISCONNECTION, "no longer allowed by the configuration"),
    Cause.IDLE_TIMEOUT: (W.USER_DISCONNECTION, "idle for longer than the idle timeout"),
    Cause.SESSION_TIMEOUT: (W.USER_DISCONNECTION, "the maximum session time passed"),
    Cause.ENGINE_STOPPED: (W.USER_DISCONNECTION, "the engine stopped"),
    Cause.INTERNAL_ERROR: (W.UNKNOWN, "an internal error ended the connection"),
}

# What a dialling side concludes from the error number the answering side put in its PPP failure packet (MS-CHAP
# E=, our own PAP/CHAP messages). Where several causes share a number, the one a client can name.
_PREFERRED = (Cause.AUTH_FAILED, Cause.DIAL_IN_DENIED, Cause.ACCOUNT_LOCKED, Cause.ENCRYPTION_MISMATCH,
              Cause.METHOD_NOT_ALLOWED, Cause.NCP_FAILED, Cause.PEER_BUSY)
_BY_NUMBER: dict[int, Cause] = {int(TABLE[c][0]): c for c in _PREFERRED}
for _cause, (_err, _text) in TABLE.items():
    _BY_NUMBER.setdefault(int(_err), _cause)


@dataclass(frozen=True, slots=True)
class Explained:
    cause: Cause
    windows_error: WindowsError
    text: str                   # what happened, for the operator, detail included
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.text} (error {int(self.windows_error)})"

    def as_dict(self) -> dict[str, object]:
        return {"cause": self.cause.value, "windows_error": int(self.windows_error), "text": self.text}


def windows_error(cause: Cause) -> WindowsError:
    return TABLE[cause][0]


def explain(cause: Cause, detail: str = "") -> Explained:
    """The Windows error and the operator's sentence for CAUSE; DETAIL (one clause, no error number) is appended
    after a colon when it adds something."""
    err, text = TABLE[cause]
    if detail and detail != text:
        text = f"{text}: {detail}"
    return Explained(cause, err, text, detail)


def cause_for_error(number: int | None, default: Cause = Cause.AUTH_FAILED) -> Cause:
    """The cause a dialling side reports for the error number the answering side sent (691 -> AUTH_FAILED,
    649 -> DIAL_IN_DENIED, 647 -> ACCOUNT_LOCKED, 741 -> ENCRYPTION_MISMATCH ...); DEFAULT when unknown or 0."""
    if not number:
        return default
    return _BY_NUMBER.get(int(number), default)


_AUTHENTICATION = frozenset({
    Cause.AUTH_FAILED, Cause.DIAL_IN_DENIED, Cause.POLICY_DENIED, Cause.PORT_USE_NOT_ALLOWED, Cause.ACCOUNT_LOCKED,
    Cause.METHOD_NOT_ALLOWED, Cause.NO_COMMON_AUTH, Cause.SECRET_UNAVAILABLE, Cause.TUNNEL_AUTH_FAILED,
})


def unreachability(cause: Cause) -> str:
    """The demand-dial interface's unreachability reason (`demand-dial status`, RRAS's fUnReachabilityReasons
    names): OUT_OF_RESOURCES when no local port was free, AUTHENTICATION_FAILURE for refused credentials, else
    CONNECTION_FAILURE."""
    if cause is Cause.NO_LOCAL_PORT:
        return "OUT_OF_RESOURCES"
    if cause in _AUTHENTICATION:
        return "AUTHENTICATION_FAILURE"
    return "CONNECTION_FAILURE"


__all__ = ["Cause", "Explained", "TABLE", "WindowsError", "cause_for_error", "explain", "unreachability",
           "windows_error"]
