"""An established ISAKMP SA: its keys, its cipher, and the IV of every exchange that runs under it.

Quick Mode and Informational messages are built and opened here (RFC 2409 §5.5, §5.7, Appendix B): the body is
HASH followed by the other payloads, encrypted under the phase-1 key with the exchange's IV, which starts as
hash(last phase-1 ciphertext block | M-ID) and then follows the last ciphertext block of each message of that
exchange. `open` does not move an IV; the caller commits the new one once the message's HASH verified, so a forged
or garbled message cannot desynchronise an exchange.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Callable

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.ipsec.ike import keys
from rrasctl.protocols.ipsec.ike.constants import ExchangeType, Flags
from rrasctl.protocols.ipsec.ike.natt import NatState, NattVersion, PeerCaps
from rrasctl.protocols.ipsec.ike.payloads import (Chain, HashPayload, Message, Payload, decode_chain, encode_chain,
                                                  encode_message)
from rrasctl.protocols.ipsec.ike.policy import Phase1Suite


@dataclass(eq=False)
class IsakmpSa:
    ispi: bytes
    rspi: bytes
    initiator: bool
    suite: Phase1Suite
    keys: keys.Phase1Keys = field(repr=False)
    last_block: bytes = field(repr=False)       # the last ciphertext block of main mode (RFC 2409 App. B)
    established_at: float
    lifetime_s: int
    peer_id: str
    nat: NatState
    natt: NattVersion | None
    floated: bool
    caps: PeerCaps
    rekey_at: float | None = None
    deleted: bool = False
    ivs: dict[int, bytes] = field(default_factory=dict, repr=False)
    cipher: keys.IsakmpCipher = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cipher = keys.IsakmpCipher(self.suite.encryption, self.keys.enc_key)

    @property
    def cookies(self) -> bytes:
        return self.ispi + self.rspi

    @property
    def hash_alg(self) -> int:
        return self.suite.hash

    @property
    def expires_at(self) -> float:
        return self.established_at + self.lifetime_s

    def iv(self, message_id: int) -> bytes:
        iv = self.ivs.get(message_id)
        if iv is None:
            iv = keys.exchange_iv(self.hash_alg, self.last_block, message_id, self.cipher.block)
        return iv

    # -- building ------------------------------------------------------------------------------------------
    def seal(self, exchange: int, message_id: int, rest: list[Payload], hash_of: Callable[[bytes], bytes],
             *, keep_iv: bool = True) -> bytes:
        """HASH(hash_of(the encoded rest)) + rest, encrypted; the exchange's IV moves on (unless one-shot)."""
        _first, rest_bytes = encode_chain(rest)
        first, body = encode_chain([HashPayload(hash_of(rest_bytes)), *rest])
        ct, last = self.cipher.encrypt(self.iv(message_id), body)
        if keep_iv:
            self.ivs[message_id] = last
        return encode_message(self.ispi, self.rspi, exchange, message_id, Flags.ENCRYPTION, first, ct)

    def informational(self, message_id: int, payloads: list[Payload]) -> bytes:
        """A protected Informational (RFC 2409 §5.7): HASH(1) = prf(SKEYID_a, M-ID | N/D)."""
        a, alg = self.keys.skeyid_a, self.hash_alg
        return self.seal(ExchangeType.INFORMATIONAL, message_id, payloads,
                         lambda rest: keys.qm_hash1(alg, a, message_id, rest), keep_iv=False)

    # -- opening -------------------------------------------------------------------------------------------
    def open(self, message: Message) -> tuple[Chain, bytes]:
        """(the decrypted chain, the IV that follows this message). The HASH payload must come first."""
        h = message.header
        if not h.encrypted:
            raise Malformed("unencrypted message on an established SA")
        plain, last = self.cipher.decrypt(self.iv(h.message_id), message.ciphertext)
        chain = decode_chain(h.next_payload, plain, padded=True)
        if not chain.payloads or not isinstance(chain.payloads[0], HashPayload):
            raise Malformed("protected message without HASH first")
        return chain, last

    def verify_informational(self, message_id: int, chain: Chain) -> None:
        expected = keys.qm_hash1(self.hash_alg, self.keys.skeyid_a, message_id, chain.after(0))
        if not equal(expected, chain.payloads[0].data):
            raise Malformed("informational HASH(1) does not verify")


def equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two hash values."""
    return hmac.compare_digest(a, b)
