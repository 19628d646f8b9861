"""What an L2TP peer's result codes mean for us (RFC 2661 §4.4.2): StopCCN and CDN results as typed causes."""

from __future__ import annotations

from rrasctl.protocols.causes import Cause
from rrasctl.protocols.l2tp.avp import CdnResult, GeneralError, ResultCode, StopCcnResult


def result_text(rc: ResultCode | None) -> str:
    if rc is None:
        return "no result code"
    text = f"result {rc.result}"
    if rc.error is not None:
        text += f" error {rc.error}"
    if rc.message:
        text += f" ({rc.message[:80]})"
    return text


def stopccn_cause(result: int, error: int | None, *, established: bool, have_secret: bool) -> Cause:
    """What a StopCCN from the peer means for us (RFC 2661 §4.4.2 result codes).

    Result 4 "not authorized": with a tunnel secret configured, the peer rejected our tunnel authentication;
    without one it is how rrasctl's own servers refuse plain L2TP when encryption is required (decision 0070), so
    the dialling side reports the same encryption error as the server records."""
    if result == StopCcnResult.GENERAL_ERROR and error == GeneralError.NO_RESOURCES:
        return Cause.PEER_BUSY
    if result == StopCcnResult.NOT_AUTHORIZED:
        return Cause.TUNNEL_AUTH_FAILED if have_secret else Cause.ENCRYPTION_MISMATCH
    if result == StopCcnResult.FSM_ERROR:
        return Cause.PROTOCOL_ERROR
    if result in (StopCcnResult.CLEAR, StopCcnResult.SHUTTING_DOWN):
        return Cause.PEER_DISCONNECTED if established else Cause.TUNNEL_REFUSED
    return Cause.PEER_DISCONNECTED if established else Cause.TUNNEL_REFUSED


def cdn_cause(result: int, *, established: bool) -> Cause:
    """What a CDN from the peer means for the session it clears."""
    if result in (CdnResult.TEMPORARY_LACK, CdnResult.PERMANENT_LACK, CdnResult.BUSY):
        return Cause.PEER_BUSY
    if established:            # "loss of carrier" included: the LAC's caller hung up, for us the peer did
        return Cause.PEER_DISCONNECTED
    return Cause.PEER_ABORTED if result in (CdnResult.ADMIN, CdnResult.LOST_CARRIER) else Cause.TUNNEL_REFUSED
