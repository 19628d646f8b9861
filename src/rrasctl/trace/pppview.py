"""PPP frames of one link, decoded for `trace decode`: LCP, PAP, CHAP/MS-CHAP, EAP, CBCP, IPCP, CCP, MPPE, IP.

`PppTrace` follows one PPP link (a PPTP call or an L2TP session, both directions) through a capture. Frames are split
with the engine's `protocols.ppp.frame`; MS-CHAP texts, NT-Responses, authenticator responses and MPPE keys come from
`protocols.ppp.auth.mschap`; MPPE frames are decrypted by `protocols.ppp.mppe.MppeDecryptor`. With a password it:

- verifies each CHAP-MD5, MS-CHAP v1 and MS-CHAP v2 Response (fields `verification`: "verified" / "NOT verified") and
  each MS-CHAP v2 Success's authenticator response (`authenticator_response`);
- derives the MPPE master keys of both directions once a response verifies, builds one decryptor per direction as
  CCP's agreed MPPE option says (40/56/128 bits, stateless or stateful), and decrypts MPPE frames, reporting the inner
  protocol. A wrong password verifies nothing, so no keys and no decryption.

Nothing here prints the password or a key.
"""

from __future__ import annotations

import hmac
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ppp.frame import Code, ControlPacket, split_frame
from rrasctl.trace.layers import ip_summary

LCP, PAP, CHAP, EAP, IPCP, IPV6CP, CCP = 0xC021, 0xC023, 0xC223, 0xC227, 0x8021, 0x8057, 0x80FD
MPPE, IP, IPV6 = 0x00FD, 0x0021, 0x0057
SEEN_MPPE_MAX = 64   # how far back a repeated MPPE frame is recognised as a duplicate

PROTOCOL_LABEL = {LCP: "LCP", PAP: "PAP", CHAP: "CHAP", EAP: "EAP", IPCP: "IPCP", IPV6CP: "IPV6CP", CCP: "CCP",
                  MPPE: "MPPE", IP: "IP", IPV6: "IPv6", 0xC025: "LQR", 0x8281: "MPLSCP", 0xC029: "CBCP"}

CODE_NAMES = {c.value: c.name.replace("_", "-").title() for c in Code}
CHAP_CODES = {1: "Challenge", 2: "Response", 3: "Success", 4: "Failure"}
PAP_CODES = {1: "Authenticate-Request", 2: "Authenticate-Ack", 3: "Authenticate-Nak"}
EAP_CODES = {1: "Request", 2: "Response", 3: "Success", 4: "Failure"}
EAP_TYPES = {1: "Identity", 2: "Notification", 3: "Nak", 4: "MD5-Challenge", 13: "TLS", 25: "PEAP", 26: "MS-CHAP-V2"}
CONTROL_CODES = {LCP: range(1, 14), IPCP: range(1, 8), IPV6CP: range(1, 8), CCP: (1, 2, 3, 4, 5, 6, 7, 14, 15)}
OPTION_CODES = (1, 2, 3, 4)

AUTH_NAMES = {b"\xc0\x23": "pap", b"\xc2\x23\x05": "chap", b"\xc2\x23\x80": "ms-chap",
              b"\xc2\x23\x81": "ms-chap-v2", b"\xc2\x27": "eap"}
# Names of options the engine does not negotiate (its tables are protocols/ppp/{lcp,ipcp,ccp}.py): display only.
OTHER_OPTION_NAMES = {
    LCP: {4: "quality-protocol", 13: "callback", 17: "mrru", 18: "short-sequence", 19: "endpoint-discriminator",
          23: "link-discriminator"},
    IPCP: {2: "ip-compression"},
    IPV6CP: {1: "interface-identifier"},
    CCP: {0: "oui", 1: "predictor1", 17: "stac", 21: "deflate-draft", 24: "deflate", 26: "deflate"},
}


def _option_specs() -> dict[int, dict[int, Any]]:
    from rrasctl.protocols.ppp.ccp import CCP_OPTIONS
    from rrasctl.protocols.ppp.ipcp import IPCP_OPTIONS
    from rrasctl.protocols.ppp.lcp import LCP_OPTIONS

    return {protocol: {spec.type: spec for spec in table}
            for protocol, table in ((LCP, LCP_OPTIONS), (IPCP, IPCP_OPTIONS), (CCP, CCP_OPTIONS))}


_SPECS: dict[int, dict[int, Any]] = {}


def format_option(protocol: int, otype: int, value: bytes) -> str:
    """``name=value`` with the engine's option codecs (LCP/IPCP/CCP tables); other options by name, value in hex."""
    if not _SPECS:
        _SPECS.update(_option_specs())
    spec = _SPECS.get(protocol, {}).get(otype)
    if protocol == LCP and otype == 13:                 # Callback (RFC 1570): operation 6 asks for CBCP
        from rrasctl.trace.cbcp import format_lcp_callback

        return format_lcp_callback(value)
    if spec is None:
        name = OTHER_OPTION_NAMES.get(protocol, {}).get(otype, f"option-{otype}")
        return f"{name}={value.hex()}" if value else name
    try:
        decoded = spec.codec.decode(value)
    except Malformed:
        return f"{spec.name}=bad:{value.hex()}"
    if spec.codec.name == "empty":
        return spec.name
    if protocol == LCP and otype == 3:
        from rrasctl.protocols.ppp.auth import AuthMethod

        method = AuthMethod.from_option_data(value)
        name = AUTH_NAMES.get(value) or (method.value if method else value.hex())   # plain EAP is not EAP-TLS
        return f"{spec.name}={name}"
    if protocol == CCP and otype == 18:
        from rrasctl.protocols.ppp.ccp import describe_bits

        return f"{spec.name}={describe_bits(decoded).replace(' ', '+')}"
    if protocol == LCP and otype in (2, 5):
        return f"{spec.name}=0x{decoded:08x}"
    if isinstance(decoded, (bytes, bytearray)):
        return f"{spec.name}={bytes(decoded).hex()}"
    return f"{spec.name}={decoded}"


def parse_options(data: bytes) -> list[tuple[int, bytes]]:
    """Type-length-value options (RFC 1661 §6), split by the engine's `protocols.ppp.options`."""
    from rrasctl.protocols.ppp.options import parse_options as parse

    return parse(data)


@dataclass
class Decoded:
    """What one PPP frame says: a row's protocol, message and fields, and the decrypted frame if any."""

    protocol: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    decrypted: bytes | None = None      # the clear PPP frame (FF 03 + protocol + info) for --write-pcap
    error: str | None = None


@dataclass
class _Pending:
    challenge: bytes | None = None      # the authenticator's current challenge (Challenge, or an MS-CHAP C= retry)
    challenge_id: int | None = None
    algorithm: str | None = None        # from LCP's agreed auth option: chap / ms-chap / ms-chap-v2
    user: str = ""
    peer_challenge: bytes = b""
    nt_response: bytes = b""
    method: str | None = None           # what the last Response was


@dataclass
class Stats:
    verified: int = 0
    not_verified: int = 0
    decrypted: int = 0
    undecrypted: int = 0
    malformed: int = 0


class PppTrace:
    """One PPP link across a capture: both directions, told apart by the sender's label."""

    def __init__(self, password: str | None, stats: Stats) -> None:
        self._password = password
        self.stats = stats
        self.authenticator: str | None = None
        self.first_sender: str | None = None
        self._auth = _Pending()
        self._keys: dict[str, bytes] | None = None      # "server"/"client" -> the master key of what that side sends
        self._mppe_bits: int | None = None
        self._decryptors: dict[str, Any] = {}
        # the last MPPE frames seen (sender, bytes) -> clear text, to spot frames the capture holds twice
        self._seen_mppe: OrderedDict[tuple[str, bytes], bytes | None] = OrderedDict()

    # ------------------------------------------------------------------ entry point
    def decode(self, frame: bytes, sender: str) -> Decoded:
        if self.first_sender is None:
            self.first_sender = sender
        try:
            protocol, info = split_frame(frame)
            return self._decode(protocol, bytes(info), sender)
        except Malformed as exc:
            self.stats.malformed += 1
            return Decoded("PPP", "malformed", error=exc.reason)

    def outbound(self, sender: str) -> bool:
        """Direction for PPP_WITH_DIR: 1 (sent) for what the authenticator (server side) sent."""
        ref = self.authenticator or self.first_sender
        return sender == ref

    def _decode(self, protocol: int, info: bytes, sender: str) -> Decoded:
        if protocol in CONTROL_CODES:
            return self._control(protocol, info, sender)
        if protocol == CHAP:
            return self._chap(info, sender)
        if protocol == PAP:
            return self._pap(info)
        if protocol == EAP:
            return self._eap(info)
        if protocol == MPPE:
            return self._mppe(info, sender)
        if protocol == 0xC029:                          # Microsoft's Callback Control Protocol (trace/cbcp.py)
            from rrasctl.trace.cbcp import decode as decode_cbcp

            return Decoded("CBCP", *decode_cbcp(info))
        if protocol in (IP, IPV6):
            return Decoded("IP" if protocol == IP else "IPv6", ip_summary(info))
        return Decoded(PROTOCOL_LABEL.get(protocol, f"PPP 0x{protocol:04x}"), "data", {"length": len(info)})

    # ------------------------------------------------------------------ LCP / IPCP / IPV6CP / CCP
    def _control(self, protocol: int, info: bytes, sender: str) -> Decoded:
        pkt = ControlPacket.decode(info)
        label = PROTOCOL_LABEL[protocol]
        if pkt.code not in CONTROL_CODES[protocol]:
            return Decoded(label, f"code {pkt.code}", {"id": pkt.id, "length": len(pkt.data)})
        fields: dict[str, Any] = {"id": pkt.id}
        if pkt.code in OPTION_CODES:
            opts = parse_options(pkt.data)
            fields["options"] = " ".join(format_option(protocol, t, v) for t, v in opts)
            self._note_options(protocol, pkt.code, opts)
        elif pkt.code in (5, 6):  # Terminate-Request/Ack: data is free text
            if pkt.data:
                fields["data"] = _text_or_hex(pkt.data)
        elif pkt.code == 7:  # Code-Reject: the rejected packet
            if pkt.data:
                fields["rejected_code"] = pkt.data[0]
        elif pkt.code == 8:
            if len(pkt.data) < 2:
                raise Malformed("short protocol-reject")
            fields["rejected_protocol"] = f"0x{pkt.data[0] << 8 | pkt.data[1]:04x}"
        elif pkt.code in (9, 10, 11, 12, 13):
            if len(pkt.data) < 4:
                raise Malformed("short LCP magic number")
            fields["magic"] = "0x" + pkt.data[:4].hex()
            if pkt.code == 12 and len(pkt.data) > 4:
                fields["message"] = _text_or_hex(pkt.data[4:])
        return Decoded(label, CODE_NAMES[pkt.code], fields)

    def _note_options(self, protocol: int, code: int, opts: list[tuple[int, bytes]]) -> None:
        if code != Code.CONFIGURE_ACK:
            return
        for otype, value in opts:
            if protocol == LCP and otype == 3:
                self._auth.algorithm = AUTH_NAMES.get(value)
            elif protocol == CCP and otype == 18 and len(value) == 4:
                self._mppe_bits = struct.unpack("!I", value)[0]
                self._decryptors.clear()

    # ------------------------------------------------------------------ PAP / EAP
    def _pap(self, info: bytes) -> Decoded:
        code, ident, data = _auth_header(info)
        fields: dict[str, Any] = {"id": ident}
        from rrasctl.protocols.ppp.auth import pap

        if code == 1:
            user, password = pap.decode_request(data)
            fields["user"] = user.decode("utf-8", "replace")
            fields["password"] = "(hidden)"                     # in clear on the wire, never in our output
            if self._password is not None:
                ok = hmac.compare_digest(password, self._password.encode("utf-8"))
                fields["verification"] = "verified" if ok else "NOT verified"
                if ok:
                    self.stats.verified += 1
                else:
                    self.stats.not_verified += 1
        elif code in (2, 3):
            fields["message"] = pap.decode_message(data)
        return Decoded("PAP", PAP_CODES.get(code, f"code {code}"), fields)

    def _eap(self, info: bytes) -> Decoded:
        code, ident, data = _auth_header(info)
        fields: dict[str, Any] = {"id": ident}
        if code in (1, 2) and data:
            fields["type"] = EAP_TYPES.get(data[0], str(data[0]))
            if data[0] == 1:
                fields["identity"] = data[1:].decode("utf-8", "replace")
        return Decoded("EAP", EAP_CODES.get(code, f"code {code}"), fields)

    # ------------------------------------------------------------------ CHAP, MS-CHAP v1/v2
    def _chap(self, info: bytes, sender: str) -> Decoded:
        from rrasctl.protocols.ppp.auth import chap, mschap

        code, ident, data = _auth_header(info)
        a = self._auth
        fields: dict[str, Any] = {"id": ident}
        label = {"ms-chap": "MS-CHAP", "ms-chap-v2": "MS-CHAP-V2"}.get(a.algorithm or "", "CHAP")
        if code in (1, 2):
            value, raw_name = chap.decode_value_name(data, "chap " + CHAP_CODES[code].lower())
            name = raw_name.decode("utf-8", "replace")
            if code == 1:
                self.authenticator = sender
                a.challenge, a.challenge_id = value, ident
                fields.update(name=name, challenge=value.hex())
            else:
                if len(value) == 49 and label == "CHAP":  # LCP not seen: the challenge size tells v1 from v2
                    a.algorithm = "ms-chap-v2" if len(a.challenge or b"") == 16 else "ms-chap"
                    label = "MS-CHAP-V2" if a.algorithm == "ms-chap-v2" else "MS-CHAP"
                if label != "CHAP" and len(value) != 49:
                    raise Malformed("ms-chap response value is not 49 octets")
                a.user = name
                fields["user"] = name
                if label == "MS-CHAP-V2":
                    a.peer_challenge, a.nt_response, _flags = chap.split_v2_response(value)
                    a.method = "ms-chap-v2"
                    fields.update(peer_challenge=a.peer_challenge.hex(), nt_response=a.nt_response.hex())
                elif label == "MS-CHAP":   # RFC 2433 §3: LM-Response (24), NT-Response (24), use-NT flag
                    a.method, a.nt_response = "ms-chap", value[24:48]
                    fields.update(nt_response=value[24:48].hex(), use_nt=bool(value[48]))
                    if not value[48]:
                        fields["lm_response"] = value[:24].hex()
                else:
                    a.method = "chap"
                    fields["response"] = value.hex()
                self._verify_response(ident, value, fields)
        elif code == 3:
            text = data.decode("utf-8", "replace")
            if label == "MS-CHAP-V2" or (a.method == "ms-chap-v2" and text.startswith("S=")):
                label = "MS-CHAP-V2"
                auth_response, message = mschap.parse_success_v2(data)
                fields.update(authenticator_response=auth_response, message=message)
                self._verify_success(auth_response, fields)
            else:
                fields["message"] = text
        elif code == 4:
            text = data.decode("utf-8", "replace")
            if label.startswith("MS-CHAP") or text.startswith("E="):
                label = label if label.startswith("MS-CHAP") else "MS-CHAP"
                failure = mschap.parse_failure(data)
                fields.update(error=failure.error, retry=failure.retry)
                if failure.challenge is not None:
                    fields["challenge"] = failure.challenge.hex()
                    a.challenge = failure.challenge      # the retry's Response answers this one
                    if len(failure.challenge) == 16 and a.algorithm is None:
                        a.algorithm, label = "ms-chap-v2", "MS-CHAP-V2"
                if failure.version is not None:
                    fields["version"] = failure.version
                if failure.message:
                    fields["message"] = failure.message
                self.authenticator = sender
            else:
                fields["message"] = text
        else:
            return Decoded(label, f"code {code}", fields)
        if "verification" in fields:                # first after id/user: the long hex fields come last
            head = {k: fields.pop(k) for k in ("id", "user", "verification") if k in fields}
            fields = {**head, **fields}
        return Decoded(label, CHAP_CODES[code], fields)

    def _verify_response(self, ident: int, value: bytes, fields: dict[str, Any]) -> None:
        from rrasctl.protocols.ppp.auth import mschap

        a, password = self._auth, self._password
        if password is None:
            return
        if a.challenge is None:
            fields["verification"] = "no challenge seen"
            return
        if len(a.challenge) != {"ms-chap-v2": 16, "ms-chap": 8}.get(a.method or "", len(a.challenge)):
            fields["verification"] = "challenge of the wrong size"
            return
        if a.method == "ms-chap-v2":
            ok = mschap.generate_nt_response(a.challenge, a.peer_challenge, a.user, password) == a.nt_response
        elif a.method == "ms-chap" and value[48]:
            ok = mschap.nt_challenge_response(a.challenge, password) == a.nt_response
        elif a.method == "ms-chap":
            ok = mschap.lm_challenge_response(a.challenge, password) == value[:24]
        else:
            from rrasctl.protocols.ppp.auth.chap import chap_md5_response

            ok = chap_md5_response(ident, password.encode("utf-8"), a.challenge) == value
        fields["verification"] = "verified" if ok else "NOT verified"
        if ok:
            self.stats.verified += 1
            self._derive_keys()
        else:
            self.stats.not_verified += 1

    def _verify_success(self, auth_response: str, fields: dict[str, Any]) -> None:
        from rrasctl.protocols.ppp.auth import mschap

        a, password = self._auth, self._password
        if password is None or a.challenge is None or not a.nt_response:
            return
        ok = mschap.check_authenticator_response(password, a.nt_response, a.peer_challenge, a.challenge, a.user,
                                                 auth_response)
        fields["verification"] = "verified" if ok else "NOT verified"
        if ok:
            self.stats.verified += 1
        else:
            self.stats.not_verified += 1

    def _derive_keys(self) -> None:
        from rrasctl.protocols.ppp.auth import mschap

        a, password = self._auth, self._password
        assert password is not None
        if a.method not in ("ms-chap", "ms-chap-v2") or self.authenticator is None:
            return
        hash_hash = mschap.hash_nt_password_hash(mschap.nt_password_hash(password))
        if a.method == "ms-chap-v2":
            server = mschap.mschap_v2_master_keys(hash_hash, a.nt_response, is_server=True)
        else:
            server = mschap.mschap_v1_master_keys(hash_hash, a.challenge or b"")
        # The authenticator (server) sends with server.send; the peer sends with server.recv.
        self._keys = {"server": server.send, "client": server.recv}
        self._decryptors.clear()

    # ------------------------------------------------------------------ MPPE
    def _mppe(self, info: bytes, sender: str) -> Decoded:
        if len(info) < 2:
            raise Malformed("short MPPE header")
        head = struct.unpack_from("!H", info)[0]
        ccount = head & 0x0FFF
        flags = "".join(n for b, n in ((0x8000, "A"), (0x4000, "B"), (0x2000, "C"), (0x1000, "D")) if head & b)
        fields: dict[str, Any] = {"ccount": ccount, "flags": flags or "-", "length": len(info) - 2}
        if not head & 0x1000:
            return Decoded("MPPC", "compressed (not encrypted)", fields)
        if (sender, info) in self._seen_mppe:
            fields["duplicate"] = True          # the capture holds this frame twice
        plain = self._decrypt(info, sender)
        if plain is None:
            self.stats.undecrypted += 1
            if sender in self._decryptors:        # keys known, but the decryptor dropped it
                stateless = bool((self._mppe_bits or 0) & 0x01000000)
                fields["reason"] = ("dropped by the decryptor" if stateless else
                                    "stateful MPPE out of sync after a missing frame: waits for a flushed (A) frame")
                return Decoded("MPPE", "not decrypted", fields)
            return Decoded("MPPE", "encrypted", fields)
        self.stats.decrypted += 1
        protocol, inner = split_frame(plain)
        fields["inner"] = PROTOCOL_LABEL.get(protocol, f"0x{protocol:04x}")
        summary = ip_summary(bytes(inner)) if protocol in (IP, IPV6) else f"{len(inner)} bytes"
        clear = b"\xff\x03" + struct.pack("!H", protocol) + bytes(inner)
        return Decoded("MPPE", f"decrypted: {summary}", fields, decrypted=clear)

    def _decrypt(self, info: bytes, sender: str) -> bytes | None:
        if self._keys is None or self._mppe_bits is None:
            return None
        key = (sender, info)
        if key in self._seen_mppe:     # a duplicated frame (the capture saw it twice): same clear text
            return self._seen_mppe[key]
        dec = self._decryptors.get(sender)
        if dec is None:
            from rrasctl.protocols.ppp.mppe import MppeDecryptor

            bits = self._mppe_bits
            length = 128 if bits & 0x40 else 56 if bits & 0x80 else 40
            master = self._keys["server" if sender == self.authenticator else "client"]
            try:
                dec = MppeDecryptor(master, bits=length, stateless=bool(bits & 0x01000000))
            except NotImplementedError:  # pragma: no cover - only while mppe.py is a stub
                return None
            self._decryptors[sender] = dec
        plain = dec.decrypt(info)
        self._seen_mppe[key] = plain
        if len(self._seen_mppe) > SEEN_MPPE_MAX:
            self._seen_mppe.popitem(last=False)
        return plain


def _auth_header(info: bytes) -> tuple[int, int, bytes]:
    pkt = ControlPacket.decode(info)
    return pkt.code, pkt.id, pkt.data


def _text_or_hex(data: bytes) -> str:
    """Printable ASCII as text, anything else as hex (peers put binary in Terminate and Identification data)."""
    if all(0x20 <= c < 0x7F for c in data):
        return data.decode("ascii")
    return "0x" + data.hex()
