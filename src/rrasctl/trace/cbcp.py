"""CBCP, the Microsoft Callback Control Protocol (PPP protocol 0xC029), for `trace decode` (Windows RRAS captures).

Byte layouts from draft-ietf-pppext-callback-cp-02 and Microsoft's [MS-CBCP] §2.2: the LCP Callback option (type 13,
RFC 1570 §2.3) with operation 6 asks for CBCP; after authentication the answerer sends a Callback-Request (code 1)
listing what it offers, the caller a Callback-Response (2) with its choice, the answerer a Callback-Ack (3) echoing
it. The header is LCP's (code, identifier, 16-bit length); the data is a list of Callback Configuration Options:
type (1 no callback, 2 callback to a user-specified number, 3 to an administrator-specified number, 4 to any of a
list of numbers), length (of the whole option), then for types 2-4 a callback delay in seconds and callback
addresses, each an address type (1 = PSTN/ISDN) and a NUL-terminated ASCII address.
"""

from __future__ import annotations

from typing import Any

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ppp.frame import ControlPacket

CBCP = 0xC029
CODES = {1: "Callback-Request", 2: "Callback-Response", 3: "Callback-Ack"}
TYPES = {1: "no-callback", 2: "user-specified", 3: "admin-specified", 4: "list"}
ADDRESS_TYPES = {1: "pstn-isdn"}
# RFC 1570 §2.3 Callback option operations (LCP option 13); 6 is Microsoft's "negotiate with CBCP"
LCP_CALLBACK_OPERATIONS = {0: "by-authentication", 1: "dialing-string", 2: "location-id", 3: "e164", 4: "x500",
                           6: "cbcp"}


def decode(info: bytes) -> tuple[str, dict[str, Any]]:
    """(message, fields) of one CBCP packet (the PPP information field); `Malformed` when it does not parse."""
    from rrasctl.protocols.ppp.options import parse_options

    pkt = ControlPacket.decode(info)
    fields: dict[str, Any] = {"id": pkt.id}
    if pkt.code not in CODES:
        fields["length"] = len(pkt.data)
        return f"code {pkt.code}", fields
    fields["options"] = "; ".join(describe_option(t, v) for t, v in parse_options(pkt.data)) or "none"
    return CODES[pkt.code], fields


def describe_option(otype: int, value: bytes) -> str:
    """`user-specified delay=5 address=pstn-isdn:5550100`: every field of one Callback Configuration Option."""
    name = TYPES.get(otype)
    if name is None:
        return f"type-{otype}" + (f"={value.hex()}" if value else "")
    if otype == 1:
        return name if not value else f"{name} extra={value.hex()}"
    if not value:
        return name                           # the delay is optional ([MS-CBCP] §2.2.3)
    parts = [name, f"delay={value[0]}"]
    pos = 1
    while pos < len(value):
        atype = value[pos]
        end = value.find(b"\0", pos + 1)
        if end < 0:
            raise Malformed("callback address without its terminating NUL")
        address = value[pos + 1:end].decode("ascii", "replace")
        parts.append(f"address={ADDRESS_TYPES.get(atype, f'type-{atype}')}:{address or chr(34) * 2}")
        pos = end + 1
    return " ".join(parts)


def format_lcp_callback(value: bytes) -> str:
    """LCP option 13 (RFC 1570 §2.3): `callback=cbcp`, or the operation and its message."""
    if not value:
        return "callback=bad:"
    operation = LCP_CALLBACK_OPERATIONS.get(value[0], f"operation-{value[0]}")
    message = value[1:]
    return f"callback={operation}" + (f":{message.decode('ascii', 'replace')}" if message else "")
