"""IPCP (RFC 1332) with the name server options of RFC 1877.

- 3 IP-Address: the authenticator asks for its own address and assigns the peer's: it acks the assigned address
  and Naks anything else with it. The peer asks for its configured address or 0.0.0.0 and takes the Nak (RFC 1332
  §3.3); it acks any non-zero address the authenticator asks for, unless it is one of the peer's own addresses
  (``own_addresses``: two routers on one pool): that one is Naked with 0.0.0.0 and recorded in ``clash`` for the
  link, which ends with `Cause.ADDRESS_CLASH`; an assigned address we already hold fails IPCP the same way.
  An authenticator Naked on its own address fails with `Cause.ADDRESS_CLASH`. A Reject of the peer's 0.0.0.0
  request (an authenticator past Max-Failure) leaves it without an address: IPCP fails with "server assigned no
  address".
- 129/131 primary/secondary DNS, 130/132 primary/secondary NBNS (RFC 1877 §1): the authenticator Naks a request
  with the configured server (0.0.0.0 in, the address out) and rejects the option when none is configured; the
  peer asks with 0.0.0.0 and takes what the Nak gives.
- 2 IP-Compression-Protocol (Van Jacobson) and anything else: rejected.

The IPV6CP interface identifier negotiation (RFC 5072) is not implemented: a peer's IPV6CP is Protocol-Rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from rrasctl.protocols.ppp.fsm import NegotiationFailed
from rrasctl.protocols.causes import Cause
from rrasctl.protocols.ppp.options import ACK, IPV4, REJECT, Nak, Negotiation, OptionLayer, OptionSpec

__all__ = ["IPCP_OPTIONS", "IpcpPolicy", "IpcpLayer", "ZERO", "clash_reason"]

ZERO = IPv4Address(0)


@dataclass
class IpcpPolicy:
    authenticator: bool
    local_address: IPv4Address | None      # ours: authenticator's own; peer's wish (None: ask 0.0.0.0)
    peer_address: IPv4Address | None       # authenticator: what we assign
    dns: tuple[IPv4Address, ...] = ()
    nbns: tuple[IPv4Address, ...] = ()
    own_addresses: frozenset[IPv4Address] = frozenset()   # peer: this host's addresses (clash detection)


def _our_address(neg: Negotiation) -> IPv4Address | None:
    policy = neg.allow
    if policy.authenticator:
        return policy.local_address
    return policy.local_address or ZERO


def _judge_address(value: IPv4Address, neg: Negotiation) -> Any:
    policy = neg.allow
    if policy.authenticator:
        assigned = policy.peer_address
        if assigned is None:
            return REJECT
        return ACK if value == assigned else Nak(assigned)
    if value == ZERO:
        return REJECT
    if value in policy.own_addresses:
        neg.scratch["clash"] = value            # the link ends once this Nak is out
        return Nak(ZERO)
    return ACK


def _nak_address(ours: IPv4Address | None, suggested: IPv4Address, neg: Negotiation) -> IPv4Address:
    if neg.allow.authenticator:
        raise NegotiationFailed(f"peer refused our address {ours}", Cause.ADDRESS_CLASH)
    if suggested == ZERO:
        raise NegotiationFailed("server offered no address")
    if suggested in neg.allow.own_addresses:
        raise NegotiationFailed(clash_reason(suggested, assigned=True), Cause.ADDRESS_CLASH)
    return suggested


def clash_reason(address: IPv4Address, *, assigned: bool = False) -> str:
    """The operator's text for an address clash (reason of the LinkDown)."""
    what = "the address the remote server assigned us" if assigned else "the remote server's address"
    return f"{what}, {address}, is already an address of this host: the two sides share an address pool"


def _reject_address(neg: Negotiation) -> None:
    if not neg.allow.authenticator and neg.allow.local_address is None:
        raise NegotiationFailed("server assigned no address")      # we asked 0.0.0.0: nothing left to use


def _server_option(kind: str, index: int) -> OptionSpec:
    def ours(neg: Negotiation) -> IPv4Address | None:
        return None if neg.allow.authenticator else ZERO

    def judge(value: IPv4Address, neg: Negotiation) -> Any:
        policy = neg.allow
        if not policy.authenticator:
            return REJECT
        servers = getattr(policy, kind)
        if index >= len(servers):
            return REJECT
        return ACK if value == servers[index] else Nak(servers[index])

    def on_nak(mine: Any, suggested: IPv4Address, neg: Negotiation) -> IPv4Address:
        return suggested

    names = {("dns", 0): "primary-dns", ("dns", 1): "secondary-dns",
             ("nbns", 0): "primary-nbns", ("nbns", 1): "secondary-nbns"}
    types = {("dns", 0): 129, ("nbns", 0): 130, ("dns", 1): 131, ("nbns", 1): 132}
    return OptionSpec(types[kind, index], names[kind, index], IPV4, ours=ours, judge=judge, on_nak=on_nak)


IPCP_OPTIONS = (
    OptionSpec(3, "ip-address", IPV4, ours=_our_address, judge=_judge_address, on_nak=_nak_address,
               on_reject=_reject_address),
    _server_option("dns", 0),
    _server_option("nbns", 0),
    _server_option("dns", 1),
    _server_option("nbns", 1),
)


class IpcpLayer(OptionLayer):
    def __init__(self, policy: IpcpPolicy) -> None:
        super().__init__(IPCP_OPTIONS, policy)

    @property
    def clash(self) -> IPv4Address | None:
        """PEER: the authenticator's own address when it is one of ours (we Naked it; the link must end)."""
        return self.neg.scratch.get("clash")

    def result(self) -> tuple[IPv4Address, IPv4Address, tuple[IPv4Address, ...], tuple[IPv4Address, ...]]:
        """(local_ip, peer_ip, dns, nbns) once opened."""
        neg, policy = self.neg, self.neg.allow
        local = neg.got.get("ip-address") or policy.local_address or ZERO
        if policy.authenticator:
            peer = neg.peer_got.get("ip-address") or policy.peer_address or ZERO
            return local, peer, tuple(policy.dns[:2]), tuple(policy.nbns[:2])
        peer = neg.peer_got.get("ip-address") or ZERO
        dns = tuple(a for a in (neg.got.get("primary-dns"), neg.got.get("secondary-dns")) if a and a != ZERO)
        nbns = tuple(a for a in (neg.got.get("primary-nbns"), neg.got.get("secondary-nbns")) if a and a != ZERO)
        return local, peer, dns, nbns
