"""jws._sign: keys in memory are signed with cryptography directly, a token's key through joserfc (65aba40).

The mutation run after 65aba40 showed the direct paths untested as such: a
mutant sending every key to joserfc's algorithm object still made valid
signatures. Each test builds the prepared signer itself, so the path taken is
the one asserted.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwa import JWSAlgModel

from gateway.trust import jws
from gateway.trust.keys import JoseKey

DATA = b"eyJhbGciOiJFUzI1NiJ9.eyJ0eXAiOiJ0ZXN0In0"


class RecordingAlgorithm:
    """Stands in for joserfc's algorithm object: records what it was asked to sign."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, Any]] = []

    def sign(self, data: bytes, key: Any) -> bytes:
        self.calls.append((data, key))
        return b"signed by the token"


def signer(private: object) -> tuple[jws._Signer, RecordingAlgorithm, JoseKey]:
    algorithm = RecordingAlgorithm()
    key = cast(JoseKey, object())
    return jws._Signer("header", cast(JWSAlgModel, algorithm), key, private), algorithm, key


def test_an_ec_key_in_memory_signs_r_and_s_of_32_bytes_each_directly() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    prepared, algorithm, _ = signer(private)
    for _ in range(8):  # r or s below 2**248 now and then: both are still 32 bytes
        signature = jws._sign(prepared, DATA)
        assert len(signature) == 64
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        private.public_key().verify(encode_dss_signature(r, s), DATA, ec.ECDSA(hashes.SHA256()))
    assert algorithm.calls == []


def test_an_ed25519_key_in_memory_signs_directly() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    prepared, algorithm, _ = signer(private)
    signature = jws._sign(prepared, DATA)
    private.public_key().verify(signature, DATA)
    assert algorithm.calls == []


@pytest.mark.parametrize("data", [DATA, b"other"])
def test_a_key_not_in_memory_signs_through_the_algorithm_object(data: bytes) -> None:
    prepared, algorithm, key = signer(None)
    assert jws._sign(prepared, data) == b"signed by the token"
    assert algorithm.calls == [(data, key)]
