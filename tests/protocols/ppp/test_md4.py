"""MD4 (pure Python) against RFC 1320 A.5, plus block-boundary lengths against an independent MD4."""

from __future__ import annotations

import json

import pytest

from support import VECTORS
from rrasctl.protocols.ppp.auth.md4 import md4

MD4_VECTORS = json.loads((VECTORS / "md4.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", MD4_VECTORS, ids=lambda v: v["message"][:16] or "empty")
def test_rfc1320_suite(vector):
    assert md4(bytes.fromhex(vector["message_hex"])).hex() == vector["digest"]


def test_accepts_bytearray_and_memoryview():
    assert md4(bytearray(b"abc")) == md4(memoryview(b"abc")) == bytes.fromhex("a448017aaf21d8525fc10ae87aa6729d")


# `openssl dgst -md4 -provider legacy -provider default` of "a" * n: every padding boundary.
BOUNDARIES = {
    55: "c889c81dd86c4d2e025778944ea02881", 56: "d5f9a9e9257077a5f08b0b92f348b0ad",
    63: "7ea3da77432d44c323671097d1348fc8", 64: "52f5076fabd22680234a3fa9f9dc5732",
    65: "330e377bf231f3cacfecc2c182fe7e5b", 119: "e65dd227ccef97fa1d34d70189120f76",
    120: "b03ddbd470b47c013e0c7ab2ddd763db", 128: "cb4a20a561558e29460190c91dced59f",
    1000: "5f1bf26a8067c9159b91f1440f7c9e8a",
}


@pytest.mark.parametrize("n", sorted(BOUNDARIES))
def test_padding_boundaries_match_openssl_legacy_md4(n):
    assert md4(b"a" * n).hex() == BOUNDARIES[n]
