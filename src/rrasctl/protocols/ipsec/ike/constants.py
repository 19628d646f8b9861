"""IKEv1 wire constants, named as in the RFCs (ISAKMP RFC 2408, IKE RFC 2409, IPsec DOI RFC 2407, NAT-T RFC 3947,
DPD RFC 3706). Values only: no behaviour lives here."""

from __future__ import annotations

from enum import IntEnum, IntFlag

ISAKMP_VERSION = 0x10          # major 1, minor 0 (RFC 2408 §3.1)
IKE_PORT, NATT_PORT = 500, 4500
NON_ESP_MARKER = b"\0\0\0\0"   # RFC 3948 §2.2: precedes IKE on port 4500
DOI_IPSEC = 1                  # RFC 2407 §4.2
SIT_IDENTITY_ONLY = 1          # RFC 2407 §4.6.1
HEADER_LEN = 28


class PayloadType(IntEnum):
    """RFC 2408 §3.1 Next Payload; NAT-T payloads RFC 3947 §3 and draft-ietf-ipsec-nat-t-ike-02/03 (130, 131)."""
    NONE = 0
    SA = 1
    PROPOSAL = 2
    TRANSFORM = 3
    KE = 4
    ID = 5
    CERT = 6
    CR = 7
    HASH = 8
    SIG = 9
    NONCE = 10
    NOTIFY = 11
    DELETE = 12
    VENDOR_ID = 13
    NAT_D = 20
    NAT_OA = 21
    NAT_D_DRAFT = 130
    NAT_OA_DRAFT = 131
    FRAGMENT = 132             # Cisco/Microsoft IKE fragmentation (decoded as opaque)


class ExchangeType(IntEnum):
    """RFC 2408 §3.1 Exchange Type; Quick Mode RFC 2409 §5.5; Transaction (Mode Config) draft-dukes-ike-mode-cfg."""
    NONE = 0
    BASE = 1
    IDENTITY_PROTECTION = 2    # Main Mode
    AUTHENTICATION_ONLY = 3
    AGGRESSIVE = 4
    INFORMATIONAL = 5
    TRANSACTION = 6
    QUICK_MODE = 32
    NEW_GROUP_MODE = 33


class Flags(IntFlag):
    """RFC 2408 §3.1 Flags."""
    NONE = 0
    ENCRYPTION = 1
    COMMIT = 2
    AUTHENTICATION_ONLY = 4


class ProtocolId(IntEnum):
    """RFC 2407 §4.4.1 IPsec Security Protocol Identifiers."""
    ISAKMP = 1
    AH = 2
    ESP = 3
    IPCOMP = 4


class Phase1Attribute(IntEnum):
    """RFC 2409 Appendix A, Attribute Classes (phase 1 transform attributes)."""
    ENCRYPTION_ALGORITHM = 1
    HASH_ALGORITHM = 2
    AUTHENTICATION_METHOD = 3
    GROUP_DESCRIPTION = 4
    GROUP_TYPE = 5
    GROUP_PRIME = 6
    GROUP_GENERATOR_ONE = 7
    GROUP_GENERATOR_TWO = 8
    GROUP_CURVE_A = 9
    GROUP_CURVE_B = 10
    LIFE_TYPE = 11
    LIFE_DURATION = 12
    PRF = 13
    KEY_LENGTH = 14
    FIELD_SIZE = 15
    GROUP_ORDER = 16


class EncryptionAlgorithm(IntEnum):
    """RFC 2409 Appendix A; AES-CBC from RFC 3602 §5 (IANA "IPSEC Encryption Algorithm" 7)."""
    DES_CBC = 1
    IDEA_CBC = 2
    BLOWFISH_CBC = 3
    RC5_R16_B64_CBC = 4
    TRIPLE_DES_CBC = 5
    CAST_CBC = 6
    AES_CBC = 7


class HashAlgorithm(IntEnum):
    """RFC 2409 Appendix A; SHA-2 values from RFC 4868 §3 (IANA)."""
    MD5 = 1
    SHA1 = 2
    TIGER = 3
    SHA2_256 = 4
    SHA2_384 = 5
    SHA2_512 = 6


class AuthMethod(IntEnum):
    """RFC 2409 Appendix A Authentication Method (the XAUTH hybrid values 64221.. and 65001.. are not handled)."""
    PRE_SHARED_KEY = 1
    DSS_SIGNATURES = 2
    RSA_SIGNATURES = 3
    RSA_ENCRYPTION = 4
    REVISED_RSA_ENCRYPTION = 5


class LifeType(IntEnum):
    """RFC 2409 Appendix A / RFC 2407 §4.5: the unit of the Life Duration that follows."""
    SECONDS = 1
    KILOBYTES = 2


class Phase2Attribute(IntEnum):
    """RFC 2407 §4.5 IPsec Security Association Attributes."""
    SA_LIFE_TYPE = 1
    SA_LIFE_DURATION = 2
    GROUP_DESCRIPTION = 3
    ENCAPSULATION_MODE = 4
    AUTHENTICATION_ALGORITHM = 5
    KEY_LENGTH = 6
    KEY_ROUNDS = 7
    COMPRESS_DICTIONARY_SIZE = 8
    COMPRESS_PRIVATE_ALGORITHM = 9


class EspTransform(IntEnum):
    """RFC 2407 §4.4.4 IPsec ESP Transform Identifiers; AES-CBC RFC 3602, AES-GCM RFC 4106 §8.1."""
    DES_IV64 = 1
    DES = 2
    TRIPLE_DES = 3
    RC5 = 4
    IDEA = 5
    CAST = 6
    BLOWFISH = 7
    TRIPLE_IDEA = 8
    DES_IV32 = 9
    RC4 = 10
    NULL = 11
    AES_CBC = 12
    AES_CTR = 13
    AES_CCM_8 = 14
    AES_CCM_12 = 15
    AES_CCM_16 = 16
    AES_GCM_8 = 18
    AES_GCM_12 = 19
    AES_GCM_16 = 20
    NULL_AUTH_AES_GMAC = 23


class AuthAlgorithm(IntEnum):
    """RFC 2407 §4.5 Authentication Algorithm; SHA-2 values RFC 4868 §3."""
    HMAC_MD5 = 1
    HMAC_SHA1 = 2
    DES_MAC = 3
    KPDK = 4
    HMAC_SHA2_256 = 5
    HMAC_SHA2_384 = 6
    HMAC_SHA2_512 = 7
    HMAC_RIPEMD = 8
    AES_XCBC_MAC = 9


class EncapsulationMode(IntEnum):
    """RFC 2407 §4.5 (1, 2); RFC 3947 §5.1 (3, 4); draft-ietf-ipsec-nat-t-ike-02/03 (61443, 61444)."""
    TUNNEL = 1
    TRANSPORT = 2
    UDP_TUNNEL = 3
    UDP_TRANSPORT = 4
    UDP_TUNNEL_DRAFT = 61443
    UDP_TRANSPORT_DRAFT = 61444


class IdType(IntEnum):
    """RFC 2407 §4.6.2.1 Identification Type Values."""
    IPV4_ADDR = 1
    FQDN = 2
    USER_FQDN = 3
    IPV4_ADDR_SUBNET = 4
    IPV6_ADDR = 5
    IPV6_ADDR_SUBNET = 6
    IPV4_ADDR_RANGE = 7
    IPV6_ADDR_RANGE = 8
    DER_ASN1_DN = 9
    DER_ASN1_GN = 10
    KEY_ID = 11


class NotifyType(IntEnum):
    """RFC 2408 §3.14.1 Notify Message Types (errors 1-30, status 16384); RFC 2407 §4.6.3 (24576-24578);
    RFC 3706 §5 DPD (36136, 36137)."""
    INVALID_PAYLOAD_TYPE = 1
    DOI_NOT_SUPPORTED = 2
    SITUATION_NOT_SUPPORTED = 3
    INVALID_COOKIE = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_MINOR_VERSION = 6
    INVALID_EXCHANGE_TYPE = 7
    INVALID_FLAGS = 8
    INVALID_MESSAGE_ID = 9
    INVALID_PROTOCOL_ID = 10
    INVALID_SPI = 11
    INVALID_TRANSFORM_ID = 12
    ATTRIBUTES_NOT_SUPPORTED = 13
    NO_PROPOSAL_CHOSEN = 14
    BAD_PROPOSAL_SYNTAX = 15
    PAYLOAD_MALFORMED = 16
    INVALID_KEY_INFORMATION = 17
    INVALID_ID_INFORMATION = 18
    INVALID_CERT_ENCODING = 19
    INVALID_CERTIFICATE = 20
    CERT_TYPE_UNSUPPORTED = 21
    INVALID_CERT_AUTHORITY = 22
    INVALID_HASH_INFORMATION = 23
    AUTHENTICATION_FAILED = 24
    INVALID_SIGNATURE = 25
    ADDRESS_NOTIFICATION = 26
    NOTIFY_SA_LIFETIME = 27
    CERTIFICATE_UNAVAILABLE = 28
    UNSUPPORTED_EXCHANGE_TYPE = 29
    UNEQUAL_PAYLOAD_LENGTHS = 30
    CONNECTED = 16384
    RESPONDER_LIFETIME = 24576
    REPLAY_STATUS = 24577
    INITIAL_CONTACT = 24578
    R_U_THERE = 36136
    R_U_THERE_ACK = 36137


def name_of(enum_type: type[IntEnum], value: int) -> str:
    """The RFC name of a value, or its number when the enum does not know it (for traces)."""
    try:
        return enum_type(value).name
    except ValueError:
        return str(value)
