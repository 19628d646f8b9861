"""MS-CHAP v1 (RFC 2433) and v2 (RFC 2759) computations, MPPE key derivation (RFC 3079, RFC 3078 §7.3),
and the MS-CHAP Success/Failure message texts. Pure functions over bytes; the names follow the RFCs.

Passwords are `str` (hashed as UTF-16LE, RFC 2759 §8.3; see the RFC 2759 §9.3 misprint in
tests/vectors/README.md). Nothing here keeps a secret after returning.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, modes

try:  # cryptography >= 43 moved the old ciphers to `decrepit`
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import ARC4, TripleDES  # type: ignore

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ppp.auth.md4 import md4

# RFC 2759 §8.7
MAGIC1 = b"Magic server to client signing constant"
MAGIC2 = b"Pad to make it do more than one iteration"
# RFC 3079 §3.4 and §3.3
MASTER_MAGIC = b"This is the MPPE Master Key"
CLIENT_SEND_MAGIC = b"On the client side, this is the send key; on the server side, it is the receive key."
SERVER_SEND_MAGIC = b"On the client side, this is the receive key; on the server side, it is the send key."
# RFC 3078 §7.3 / RFC 3079 §3.3
SHA_PAD1 = bytes(40)
SHA_PAD2 = b"\xf2" * 40
# RFC 2433 A.3 (the LM "magic" plaintext)
LM_MAGIC = b"KGS!@#$%"


# ---------------------------------------------------------------- primitives

def _des_key(key7: bytes) -> bytes:
    """Expand 7 octets to an 8-octet DES key with odd parity (RFC 2759 §9.3)."""
    bits = int.from_bytes(key7, "big")
    out = bytearray(8)
    for i in range(8):
        b = ((bits >> (49 - 7 * i)) & 0x7F) << 1
        out[i] = b | (bin(b).count("1") % 2 == 0)
    return bytes(out)


def des_encrypt(clear8: bytes, key7: bytes) -> bytes:
    """DesEncrypt (RFC 2759 §8.6): single DES, done as TripleDES with K1 = K2 = K3."""
    key = _des_key(key7)
    enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return enc.update(clear8) + enc.finalize()


def rc4(key: bytes, data: bytes) -> bytes:
    enc = Cipher(ARC4(key), None).encryptor()
    return enc.update(data)


def _sha1(*parts: bytes) -> bytes:
    h = hashlib.sha1()
    for part in parts:
        h.update(part)
    return h.digest()


def password_utf16(password: str) -> bytes:
    return password.encode("utf-16-le")


# ---------------------------------------------------------------- RFC 2433 / 2759

def nt_password_hash(password: str) -> bytes:
    """NtPasswordHash (RFC 2759 §8.3): MD4 of the UTF-16LE password."""
    return md4(password_utf16(password))


def hash_nt_password_hash(password_hash: bytes) -> bytes:
    """HashNtPasswordHash (RFC 2759 §8.4)."""
    return md4(password_hash)


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """ChallengeResponse (RFC 2759 §8.5): three DES blocks under the zero-padded 21-octet hash."""
    z = password_hash + bytes(21 - len(password_hash))
    return des_encrypt(challenge, z[0:7]) + des_encrypt(challenge, z[7:14]) + des_encrypt(challenge, z[14:21])


def strip_domain(user_name: str) -> str:
    """The user name without a `DOMAIN\\` prefix, as ChallengeHash uses it (pppd and Windows do this)."""
    return user_name.rsplit("\\", 1)[-1]


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, user_name: str | bytes) -> bytes:
    """ChallengeHash (RFC 2759 §8.2): first 8 octets of SHA1(peer ‖ authenticator ‖ user name)."""
    if isinstance(user_name, str):
        user_name = user_name.encode("utf-8")
    user_name = bytes(user_name).rsplit(b"\\", 1)[-1]
    return _sha1(peer_challenge, authenticator_challenge, user_name)[:8]


def generate_nt_response(authenticator_challenge: bytes, peer_challenge: bytes, user_name: str | bytes,
                         password: str) -> bytes:
    """GenerateNTResponse (RFC 2759 §8.1): the 24-octet NT-Response."""
    challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name)
    return challenge_response(challenge, nt_password_hash(password))


def generate_authenticator_response(password: str, nt_response: bytes, peer_challenge: bytes,
                                    authenticator_challenge: bytes, user_name: str | bytes) -> str:
    """GenerateAuthenticatorResponse (RFC 2759 §8.7): "S=" and 40 upper-case hex digits."""
    return authenticator_response_from_hash(hash_nt_password_hash(nt_password_hash(password)), nt_response,
                                            peer_challenge, authenticator_challenge, user_name)


def authenticator_response_from_hash(password_hash_hash: bytes, nt_response: bytes, peer_challenge: bytes,
                                     authenticator_challenge: bytes, user_name: str | bytes) -> str:
    """GenerateAuthenticatorResponse from PasswordHashHash (what a RADIUS server or NT hash store holds)."""
    digest = _sha1(password_hash_hash, nt_response, MAGIC1)
    challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name)
    return "S=" + _sha1(digest, challenge, MAGIC2).hex().upper()


def check_authenticator_response(password: str, nt_response: bytes, peer_challenge: bytes,
                                 authenticator_challenge: bytes, user_name: str | bytes,
                                 received: str | bytes) -> bool:
    """CheckAuthenticatorResponse (RFC 2759 §8.8); `received` is the "S=..." text (case-insensitive hex)."""
    if isinstance(received, (bytes, bytearray, memoryview)):
        received = bytes(received).decode("ascii", "replace")
    expected = generate_authenticator_response(password, nt_response, peer_challenge, authenticator_challenge,
                                               user_name)
    return len(received) == 42 and received[:2] == "S=" and received[2:].upper() == expected[2:]


def lm_password_hash(password: str) -> bytes:
    """LmPasswordHash (RFC 2433 A.2): upper-cased OEM password, 14 octets, two DES of "KGS!@#$%"."""
    pw = password.upper().encode("latin-1", "replace")[:14]
    pw += bytes(14 - len(pw))
    return des_encrypt(LM_MAGIC, pw[:7]) + des_encrypt(LM_MAGIC, pw[7:])


def nt_challenge_response(challenge: bytes, password: str) -> bytes:
    """NtChallengeResponse (RFC 2433 A.5): the MS-CHAP v1 24-octet NT response."""
    return challenge_response(challenge, nt_password_hash(password))


def lm_challenge_response(challenge: bytes, password: str) -> bytes:
    """LmChallengeResponse (RFC 2433 A.1)."""
    return challenge_response(challenge, lm_password_hash(password))


# ---------------------------------------------------------------- RFC 3079 / RFC 3078 §7.3

def get_master_key(password_hash_hash: bytes, nt_response: bytes) -> bytes:
    """GetMasterKey (RFC 3079 §3.4): 16 octets."""
    return _sha1(password_hash_hash, nt_response, MASTER_MAGIC)[:16]


def get_asymmetric_start_key(master_key: bytes, length: int, is_send: bool, is_server: bool) -> bytes:
    """GetAsymmetricStartKey (RFC 3079 §3.4): the direction's master key, `length` 8 or 16 octets."""
    if is_send:
        magic = SERVER_SEND_MAGIC if is_server else CLIENT_SEND_MAGIC
    else:
        magic = CLIENT_SEND_MAGIC if is_server else SERVER_SEND_MAGIC
    return _sha1(master_key, SHA_PAD1, magic, SHA_PAD2)[:length]


def get_new_key_from_sha(start_key: bytes, session_key: bytes, length: int) -> bytes:
    """GetNewKeyFromSHA (RFC 3078 §7.3, RFC 3079 §3.3 Get_Key)."""
    return _sha1(start_key[:length], SHA_PAD1, session_key[:length], SHA_PAD2)[:length]


def reduce_key(key: bytes, bits: int) -> bytes:
    """RFC 3078 §7.1/§7.3: 40-bit keys start d1 26 9e, 56-bit keys start d1; 128-bit keys are unchanged."""
    if bits == 40:
        return b"\xd1\x26\x9e" + key[3:8]
    if bits == 56:
        return b"\xd1" + key[1:8]
    if bits == 128:
        return key[:16]
    raise ValueError(f"MPPE key length {bits} is not 40, 56 or 128")


def key_octets(bits: int) -> int:
    return 16 if bits == 128 else 8


def initial_session_key(master_key: bytes, bits: int) -> bytes:
    """The first MPPE session key of a direction (RFC 3079 §3.5 step 3/4): GetNewKeyFromSHA(master,
    master) reduced to `bits`. `master_key` is that direction's 16-octet (or 8-octet) start key."""
    n = key_octets(bits)
    return reduce_key(get_new_key_from_sha(master_key[:n], master_key[:n], n), bits)


def change_key(master_key: bytes, current_key: bytes, bits: int) -> bytes:
    """ChangeKey (RFC 3078 §7.3): interim = GetNewKeyFromSHA(start, current); new = RC4(interim, interim)."""
    n = key_octets(bits)
    interim = get_new_key_from_sha(master_key[:n], current_key, n)
    return reduce_key(rc4(interim, interim), bits)


def get_start_key_v1(challenge: bytes, password_hash_hash: bytes) -> bytes:
    """Get_Start_Key (RFC 3079 §2.4): the MS-CHAP v1 128-bit start key, 16 octets."""
    return _sha1(password_hash_hash[:16], password_hash_hash[:16], challenge[:8])[:16]


def v1_lm_start_key(password: str) -> bytes:
    """RFC 3079 §2.1/2.2: the MS-CHAP v1 40/56-bit start key (first 8 octets of LmPasswordHash)."""
    return lm_password_hash(password)[:8]


def mschap_v2_master_keys(password_hash_hash: bytes, nt_response: bytes, *, is_server: bool):
    """The MppeKeys (16-octet MasterSendKey/MasterReceiveKey, RFC 3079 §3.3) of one side after MS-CHAP v2."""
    from rrasctl.protocols.ppp.auth.common import MppeKeys

    master = get_master_key(password_hash_hash, nt_response)
    return MppeKeys(send=get_asymmetric_start_key(master, 16, True, is_server),
                    recv=get_asymmetric_start_key(master, 16, False, is_server))


def mschap_v1_master_keys(password_hash_hash: bytes, challenge: bytes):
    """The MppeKeys after MS-CHAP v1: both directions use Get_Start_Key(challenge, hash hash) (RFC 3079 §2.4).

    40/56-bit keys take its first 8 octets, as pppd and the Linux kernel do (decision 0031), not the
    LM-hash key of RFC 3079 §2.1 (`v1_lm_start_key`, kept for the vectors)."""
    from rrasctl.protocols.ppp.auth.common import MppeKeys

    key = get_start_key_v1(challenge, password_hash_hash)
    return MppeKeys(send=key, recv=key)


# ---------------------------------------------------------------- Success / Failure message texts

@dataclass(frozen=True, slots=True)
class FailureMessage:
    """An MS-CHAP Failure text "E=691 R=1 C=<hex> V=3 M=<text>" (RFC 2433 §3.2.1, RFC 2759 §6)."""

    error: int
    retry: bool
    challenge: bytes | None = None
    version: int | None = None
    message: str = ""

    def encode(self) -> bytes:
        parts = [f"E={self.error}", f"R={int(self.retry)}"]
        if self.challenge is not None:
            parts.append("C=" + self.challenge.hex().upper())
        if self.version is not None:
            parts.append(f"V={self.version}")
        text = " ".join(parts)
        if self.message:
            text += " M=" + self.message
        return text.encode("utf-8")


_FAIL_FIELD = re.compile(r"([ERCVM])=")


def parse_failure(data: bytes) -> FailureMessage:
    """Parse a Failure text; E= is required, the others are optional; M= runs to the end (RFC 2759 §6)."""
    text = bytes(data).decode("utf-8", "replace")
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos >= len(text):
            break
        m = _FAIL_FIELD.match(text, pos)
        if m is None:
            raise Malformed("ms-chap failure: bad field")
        key = m.group(1)
        start = m.end()
        if key == "M":
            fields["M"] = text[start:]
            break
        end = text.find(" ", start)
        end = len(text) if end < 0 else end
        fields[key] = text[start:end]
        pos = end
    try:
        error = int(fields["E"])
        retry = fields.get("R", "0") == "1"
        challenge = bytes.fromhex(fields["C"]) if "C" in fields else None
        version = int(fields["V"]) if "V" in fields else None
    except (KeyError, ValueError):
        raise Malformed("ms-chap failure: bad E/R/C/V value") from None
    if error < 0 or error > 0xFFFFFFFF or (version is not None and version < 0):
        raise Malformed("ms-chap failure: bad E/R/C/V value")
    return FailureMessage(error, retry, challenge, version, fields.get("M", ""))


def parse_success_v2(data: bytes) -> tuple[str, str]:
    """Split an MS-CHAP v2 Success text "S=<40 hex> M=<msg>" into ("S=...", message) (RFC 2759 §5)."""
    text = bytes(data).decode("utf-8", "replace")
    if len(text) < 42 or not text.startswith("S="):
        raise Malformed("ms-chap-v2 success: no S= field")
    auth = text[:42]
    try:
        bytes.fromhex(auth[2:])
    except ValueError:
        raise Malformed("ms-chap-v2 success: bad S= field") from None
    rest = text[42:].lstrip(" ")
    return auth, rest[2:] if rest.startswith("M=") else rest
