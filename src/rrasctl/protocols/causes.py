"""Why a call ended or was refused: one enum for every tunnel type and both sides (DESIGN.md §2, docs/decisions/0081).

Cores put a `Cause` on the events that end something (`LinkDown`, PPTP `CallCleared`/`ControlClosed`, L2TP
`SessionClosed`/`TunnelClosed`), the engine carries it to refusal and accounting records, and `router/causes.py` holds
the one table from cause to the Windows error number and the operator's text. Nothing anywhere looks inside a reason
string to find out what happened: the free-text `detail` next to a cause is for people only.

Values are stable snake_case keys: they appear in JSON (`connections refusals`, accounting `cause`), in metrics labels
and in journal fields.
"""

from __future__ import annotations

import enum


class Cause(enum.Enum):
    """A call-end or refusal cause. Grouped by when it happens; each maps to exactly one Windows error."""

    # -- reaching the peer (the dialling side) --------------------------------------------------------------------
    NAME_RESOLUTION = "name_resolution"          # the destination's name did not resolve
    NO_LOCAL_PORT = "no_local_port"              # our own pool (or its flags) leaves no port for this dial-out
    NO_ANSWER = "no_answer"                      # the peer did not answer (TCP, SCCRQ, OCRQ, LCP timeouts)
    CONNECTION_REFUSED = "connection_refused"    # the peer actively refused (TCP reset, ICMP unreachable)
    PEER_BUSY = "peer_busy"                      # the peer answered "busy" / lack of resources / do not accept
    TUNNEL_REFUSED = "tunnel_refused"            # the peer refused the tunnel or call for another reason
    TUNNEL_AUTH_FAILED = "tunnel_auth_failed"    # L2TP tunnel authentication (shared secret) failed

    # -- admission on the answering side (tunnel level) -----------------------------------------------------------
    PROTOCOL_DISABLED = "protocol_disabled"      # the protocol's pool has 0 ports
    NO_FREE_PORT = "no_free_port"                # every port of the pool is in use
    EDITION_CAP = "edition_cap"                  # the edition's concurrent-connection cap is reached
    SETUP_LIMIT = "setup_limit"                  # too many calls still being set up (per source or in all)

    # -- authentication and authorization --------------------------------------------------------------------------
    AUTH_FAILED = "auth_failed"                  # wrong user name or password (never says which)
    DIAL_IN_DENIED = "dial_in_denied"            # the user's dial-in permission is deny
    POLICY_DENIED = "policy_denied"              # the remote access policies deny (or none matched)
    PORT_USE_NOT_ALLOWED = "port_use_not_allowed"  # the port's flags do not serve this kind of caller
    ACCOUNT_LOCKED = "account_locked"            # remote access account lockout
    METHOD_NOT_ALLOWED = "method_not_allowed"    # the matching profile does not allow the authentication method
    NO_COMMON_AUTH = "no_common_auth"            # LCP found no authentication method both sides allow
    AUTH_TIMEOUT = "auth_timeout"                # the authentication phase did not finish in time
    SECRET_UNAVAILABLE = "secret_unavailable"    # the stored password cannot be opened (key file missing/replaced)

    # -- the network phase -----------------------------------------------------------------------------------------
    ENCRYPTION_MISMATCH = "encryption_mismatch"  # the required data encryption could not be agreed
    NCP_FAILED = "ncp_failed"                    # IPCP did not complete (no address, address refused)
    ADDRESS_CLASH = "address_clash"        # the peer claims an address this host already holds
    NEGOTIATION_FAILED = "negotiation_failed"    # LCP options never converged

    # -- the end of an established (or establishing) connection ----------------------------------------------------
    PEER_ABORTED = "peer_aborted"                # the peer hung up before the connection was complete
    PEER_DISCONNECTED = "peer_disconnected"      # the peer hung up an established connection
    LINK_LOST = "link_lost"                      # keepalives (LCP echo, PPTP echo, L2TP hello) went unanswered
    LOWER_LAYER_DOWN = "lower_layer_down"        # the control connection or tunnel under the call went away
    PROTOCOL_ERROR = "protocol_error"            # the peer broke the protocol (framing lost, bad message)
    ADMIN_DISCONNECT = "admin_disconnect"        # an operator ended it (connections/demand-dial disconnect, --force)
    CONFIG_CHANGED = "config_changed"            # a reload took away its permission or its interface
    IDLE_TIMEOUT = "idle_timeout"                # no traffic for the configured idle time
    SESSION_TIMEOUT = "session_timeout"          # the profile's maximum session time passed
    ENGINE_STOPPED = "engine_stopped"            # the engine is shutting down
    INTERNAL_ERROR = "internal_error"            # a bug on our side (logged with its traceback)

    @property
    def key(self) -> str:
        return self.value


__all__ = ["Cause"]
