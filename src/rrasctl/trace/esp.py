"""ESP decryption for `trace decode --esp-sa FILE`: Wireshark's `esp_sa` table, and the engine's own EspSa.

The file is Wireshark's ESP SA table (the `esp_sa` file of a profile: Edit → Preferences → Protocols → ESP →
ESP SAs), one SA per line, eight quoted, comma-separated fields; `#` starts a comment:

    "IPv4","190.0.0.1","190.0.0.2","110","AES-CBC [RFC3602]","aescbcencryption","HMAC-SHA-1-96 [RFC2404]","hmacsha1authenticati"
     protocol, source, destination, SPI, encryption, encryption key, authentication, authentication key

- addresses: exact, or with `*` wildcards (`*`, `190.0.0.*`); SPI: decimal, `0x` hex or `*`;
- keys: `0x` followed by hex digits, or the key's ASCII text (as Wireshark reads them); an AES-GCM key ends with its
  4-octet salt (RFC 4106 §8.1); the AES-CBC/GCM key size follows from the key's length;
- encryption: NULL, TripleDES-CBC, DES-CBC, AES-CBC, AES-GCM (16-octet ICV); authentication: NULL, HMAC-SHA-1-96,
  HMAC-MD5-96, HMAC-SHA-256-96, HMAC-SHA-256-128, and "ANY n bit authentication [no checking]" (the ICV is cut off,
  not checked). Wireshark's other algorithms (AES-CTR, CAST5, Blowfish, Twofish, SHA-384/512, RIPEMD) are rejected
  with the line number, since the engine never negotiates them.

Frames are opened by `protocols.ipsec.esp.EspSa` with the anti-replay check off (a capture may hold a frame twice).
Parsing errors raise `EspSaFileError` (a ProtocolError) naming the line; keys never appear in messages.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import ipaddress
from dataclasses import dataclass, field

from typing import Any, Callable

from rrasctl.protocols.base import Malformed, ProtocolError
from rrasctl.protocols.ipsec.suites import EncAlg, EspSuite, IntegAlg

_ENC_BY_KEYWORD = (("aes-gcm", EncAlg.AES_GCM_16), ("aes-cbc", EncAlg.AES_CBC), ("tripledes", EncAlg.DES3_CBC),
                   ("3des", EncAlg.DES3_CBC), ("des-cbc", EncAlg.DES_CBC), ("null", EncAlg.NULL))
_INTEG_BY_KEYWORD = (("hmac-sha-1-96", IntegAlg.HMAC_SHA1_96), ("hmac-md5-96", IntegAlg.HMAC_MD5_96),
                     ("hmac-sha-256-96", IntegAlg.HMAC_SHA2_256_96), ("hmac-sha-256-128", IntegAlg.HMAC_SHA2_256_128),
                     ("null", IntegAlg.NONE))
_BY_PARTS = {(s.enc, s.enc_key_len, s.integ): s for s in EspSuite}


class EspSaFileError(ProtocolError):
    """The esp_sa file does not parse; the message names the line (and never a key)."""


@dataclass(frozen=True)
class SaEntry:
    """One line of the esp_sa file, resolved to a suite and its keymat (encryption key ‖ salt ‖ integrity key)."""

    line: int
    src: str
    dst: str
    spi: int | None              # None: any SPI
    suite: EspSuite
    keymat: bytes = field(repr=False)
    unchecked_icv: int = 0       # "ANY n bit authentication [no checking]": octets cut off, not verified

    def matches(self, src: str, dst: str, spi: int) -> bool:
        return (self.spi is None or self.spi == spi) and _match(self.src, src) and _match(self.dst, dst)


def _match(pattern: str, address: str) -> bool:
    if pattern == "*":
        return True
    if "*" in pattern:
        return fnmatch.fnmatchcase(address, pattern)
    return pattern == address


def _fields(line: str, number: int) -> list[str]:
    out, pos = [], 0
    text = line.strip()
    while pos < len(text):
        if text[pos] != '"':
            raise EspSaFileError(f"esp_sa line {number}: expected a quoted field")
        end = text.find('"', pos + 1)
        if end < 0:
            raise EspSaFileError(f"esp_sa line {number}: unterminated quoted field")
        out.append(text[pos + 1:end])
        pos = end + 1
        if pos < len(text):
            if text[pos] != ",":
                raise EspSaFileError(f"esp_sa line {number}: expected a comma between fields")
            pos += 1
    return out


def _key(text: str, number: int, what: str) -> bytes:
    if text.lower().startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise EspSaFileError(f"esp_sa line {number}: the {what} key is not hex after 0x") from None
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise EspSaFileError(f"esp_sa line {number}: the {what} key is not ASCII") from None


def _address(text: str, number: int) -> str:
    if "*" in text:
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise EspSaFileError(f"esp_sa line {number}: {text!r} is not an IP address") from None


def _entry(fields: list[str], number: int) -> SaEntry:
    if len(fields) < 8:
        raise EspSaFileError(f"esp_sa line {number}: {len(fields)} fields, expected 8")
    _proto, src, dst, spi_text, enc_name, enc_key_text, auth_name, auth_key_text = fields[:8]
    if spi_text == "*":
        spi = None
    else:
        try:
            spi = int(spi_text, 16) if spi_text.lower().startswith("0x") else int(spi_text)
        except ValueError:
            raise EspSaFileError(f"esp_sa line {number}: SPI {spi_text!r} is not a number") from None
    low = enc_name.lower()
    enc = next((alg for word, alg in _ENC_BY_KEYWORD if word in low), None)
    if enc is None or (enc is EncAlg.AES_GCM_16 and ("8 octet" in low or "12 octet" in low)):
        raise EspSaFileError(f"esp_sa line {number}: encryption {enc_name!r} is not supported")
    enc_key = _key(enc_key_text, number, "encryption")
    low = auth_name.lower()
    unchecked = 0
    if low.startswith("any ") and "bit" in low:
        try:
            unchecked = int(low.split()[1]) // 8
        except ValueError:
            raise EspSaFileError(f"esp_sa line {number}: authentication {auth_name!r} is not supported") from None
        integ = IntegAlg.NONE
    else:
        integ = next((alg for word, alg in _INTEG_BY_KEYWORD if word in low), None)
        if integ is None:
            raise EspSaFileError(f"esp_sa line {number}: authentication {auth_name!r} is not supported")
    auth_key = _key(auth_key_text, number, "authentication") if integ is not IntegAlg.NONE else b""
    key_len = len(enc_key) - (4 if enc is EncAlg.AES_GCM_16 else 0)
    suite = _BY_PARTS.get((enc, key_len, integ))
    if suite is None:
        raise EspSaFileError(f"esp_sa line {number}: a {len(enc_key)}-octet key does not fit {enc_name!r}")
    if len(auth_key) != suite.auth_key_len:
        raise EspSaFileError(f"esp_sa line {number}: the authentication key is {len(auth_key)} octets, "
                             f"{auth_name!r} needs {suite.auth_key_len}")
    return SaEntry(number, _address(src, number), _address(dst, number), spi, suite, enc_key + auth_key, unchecked)


def parse_esp_sa(text: str) -> list[SaEntry]:
    """Every SA line of an esp_sa file, in order (the first matching line wins, as in Wireshark)."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        entries.append(_entry(_fields(stripped, number), number))
    return entries


@dataclass(frozen=True, slots=True)
class Decrypted:
    """The outcome for one ESP frame: `opened` (payload, next header, seq) or the reason it did not open."""

    entry: SaEntry | None
    payload: bytes | None = None
    next_header: int | None = None
    icv: str = "none"            # "verified", "not checked", "none" (the suite has no integrity)
    error: str | None = None     # "no SA", or the drop reason ("bad icv", "bad padding", ...)


@dataclass
class EspStats:
    decrypted: int = 0
    not_decrypted: int = 0
    no_sa: int = 0
    icv_verified: int = 0


class EspKeyring:
    """The SAs of an esp_sa file, each opened with a receive-only EspSa built on first use."""

    def __init__(self, entries: list[SaEntry]) -> None:
        self.entries = entries
        self.stats = EspStats()
        self._sas: dict[tuple[int, int], object] = {}

    @classmethod
    def from_text(cls, text: str) -> "EspKeyring":
        return cls(parse_esp_sa(text))

    def lookup(self, src: str, dst: str, spi: int) -> SaEntry | None:
        return next((e for e in self.entries if e.matches(src, dst, spi)), None)

    def decrypt(self, src: str, dst: str, packet: bytes) -> Decrypted:
        from rrasctl.protocols.ipsec.esp import EspSa

        if len(packet) < 8:
            return Decrypted(None, error="short")
        spi = int.from_bytes(packet[:4], "big")
        entry = self.lookup(src, dst, spi)
        if entry is None:
            self.stats.no_sa += 1
            return Decrypted(None, error="no SA")
        sa = self._sas.get((entry.line, spi))
        if sa is None:
            sa = self._sas[(entry.line, spi)] = EspSa(spi, entry.suite, entry.keymat, replay_window=0,
                                                      rng=lambda n: bytes(n))
        if entry.unchecked_icv:
            packet = packet[:-entry.unchecked_icv] if len(packet) > entry.unchecked_icv else b""
        before = dict(sa.stats)
        opened = sa.open(packet)
        if opened is None:
            self.stats.not_decrypted += 1
            reason = next((k for k, v in sa.stats.items() if v != before.get(k, 0)), "dropped")
            return Decrypted(entry, error=reason)
        self.stats.decrypted += 1
        icv = "verified" if entry.suite.has_integrity else "not checked" if entry.unchecked_icv else "none"
        if icv == "verified":
            self.stats.icv_verified += 1
        return Decrypted(entry, opened.payload, opened.next_header, icv)


def decrypted_row(keys: EspKeyring, ctx: Any, ip: Any, data: bytes, fields: dict[str, Any], encap: bool,
                  udp_row: Callable[[Any, Any, Any], Any]) -> Any:
    """The row for one ESP frame when keys were given (called by `Dissector._esp`).

    Decrypted: the row of what the ESP payload carries, decoded by the dissector's own paths (`udp_row`: L2TP and
    the PPP inside, IKE...), ICMP/ICMPv6 and TCP summarised; its `tunnel` starts with "esp spi=... seq=..." and its
    fields gain `esp_icv` ("verified", "not checked", "none"). Not decrypted: the ESP row, with `decryption` saying
    why ("no SA", "bad icv", "bad padding", ...).
    """
    from rrasctl.trace import layers

    result = keys.decrypt(ip.src, ip.dst, data)
    plain_message = "UDP-encapsulated" if encap else ""
    if result.payload is None:
        message = plain_message if result.error == "no SA" else f"not decrypted ({result.error})"
        return ctx.row("ESP", message, {**fields, "decryption": result.error})
    esp_tunnel = f"esp spi={fields['spi']} seq={fields['seq']}" + (" udp-encap" if encap else "")
    ctx.tunnel = esp_tunnel
    inner = layers.IpPacket(ip.version, ip.src, ip.dst, result.next_header, result.payload)
    nh = result.next_header
    name = layers.IP_PROTOCOL_NAMES.get(nh, f"IP proto {nh}")
    try:
        if nh == layers.IPPROTO_UDP:
            row = udp_row(ctx, inner, layers.decode_udp(result.payload))
        elif nh == layers.IPPROTO_TCP:
            tcp = layers.decode_tcp(result.payload)
            row = ctx.row("TCP", f"{tcp.sport} → {tcp.dport} [{tcp.flag_names}]", {"length": len(tcp.payload)})
        elif nh in (layers.IPPROTO_ICMP, layers.IPPROTO_ICMPV6) and len(result.payload) >= 4:
            types = layers.ICMP_TYPES if nh == layers.IPPROTO_ICMP else layers.ICMPV6_TYPES
            kind, code = result.payload[0], result.payload[1]
            fields_icmp: dict[str, Any] = {"type": kind, "code": code}
            if kind in (0, 8, 128, 129) and len(result.payload) >= 8:
                fields_icmp["id"] = int.from_bytes(result.payload[4:6], "big")
                fields_icmp["seq"] = int.from_bytes(result.payload[6:8], "big")
            row = ctx.row(name, types.get(kind, f"type {kind}"), fields_icmp)
        else:
            row = ctx.row(name, "", {"length": len(result.payload)})
    except Malformed as exc:
        row = ctx.row(name, "malformed", error=exc.reason)
    tunnel = esp_tunnel if row.tunnel in ("", esp_tunnel) else f"{esp_tunnel} {row.tunnel}"
    return dataclasses.replace(row, tunnel=tunnel, fields={**row.fields, "esp_icv": result.icv})


__all__ = ["Decrypted", "EspKeyring", "EspSaFileError", "EspStats", "SaEntry", "decrypted_row", "parse_esp_sa"]
