"""verify_signature's own refusals, called directly (65aba40: cryptography instead of joserfc's checks).

Through verify_compact a key of the wrong type or curve, and an x5c that is not
a list of strings, are refused by earlier steps; verify_signature is public and
keeps joserfc's checks for its other callers. Each detail is asserted whole.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.trust.errors import BadSignatureError
from gateway.trust.jws import RECORD_TYP, parse_compact, sign_compact, verify_signature
from tests.support.pki import TestPKI as ThreePartyPKI  # alias: not a test class
from tests.trust import forge
from tests.trust.minting import flag_payload

PREFIX = "signature does not verify with the x5c key"


def refusal(token: str, public_key: Any, alg: Any = "ES256") -> str:
    with pytest.raises(BadSignatureError) as raised:
        verify_signature(parse_compact(token, RECORD_TYP), public_key, alg)
    return raised.value.detail


def signed(pki: ThreePartyPKI) -> str:
    return sign_compact(flag_payload(datetime.now(UTC)), pki.signing_key("PA"))


def test_es256_with_a_key_that_is_not_ec_is_invalid_key_type(pki: ThreePartyPKI) -> None:
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    assert refusal(signed(pki), other) == f"{PREFIX} (invalid_key_type)"


def test_es256_with_a_p384_key_is_invalid_key_curve(pki: ThreePartyPKI) -> None:
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert refusal(signed(pki), other) == f"{PREFIX} (invalid_key_curve)"


@pytest.mark.parametrize("length", [63, 65])
def test_an_es256_signature_not_of_64_bytes_is_bad_signature(pki: ThreePartyPKI, length: int) -> None:
    token = signed(pki)
    header, payload, signature = forge.split(token)
    resized = forge.compact(header, payload, lambda _: (signature * 2)[:length])
    assert refusal(resized, pki.signing_key("PA").certificate.public_key()) == f"{PREFIX} (bad_signature)"


@pytest.mark.parametrize("x5c", ["not a list", [1], ["entry", None]])
def test_an_x5c_that_is_not_a_list_of_strings_is_invalid_header_value(pki: ThreePartyPKI, x5c: object) -> None:
    token = signed(pki)
    header, payload, signature = forge.split(token)
    changed = forge.compact({**header, "x5c": x5c}, payload, lambda _: signature)
    assert refusal(changed, pki.signing_key("PA").certificate.public_key()) == f"{PREFIX} (invalid_header_value)"


def test_ed25519_with_a_key_that_is_not_ed25519_is_invalid_key_type(pki: ThreePartyPKI) -> None:
    token = signed(pki)
    header, payload, signature = forge.split(token)
    claimed = forge.compact({**header, "alg": "Ed25519"}, payload, lambda _: signature)
    key = pki.signing_key("PA").certificate.public_key()
    assert refusal(claimed, key, "Ed25519") == f"{PREFIX} (invalid_key_type)"


class FailingKey(ed25519.Ed25519PublicKey):
    """A key object whose verify fails with a ValueError (as a key held elsewhere might), not InvalidSignature."""

    def verify(self, signature: bytes, data: bytes) -> None:
        raise ValueError("the key could not be used")

    def public_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise NotImplementedError

    def public_bytes_raw(self) -> bytes:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __copy__(self) -> FailingKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> FailingKey:
        return self


def test_a_key_failing_with_value_error_is_a_bad_signature_naming_the_error(pki: ThreePartyPKI) -> None:
    token = signed(pki)
    header, payload, signature = forge.split(token)
    claimed = forge.compact({**header, "alg": "Ed25519"}, payload, lambda _: signature)
    assert refusal(claimed, FailingKey(), "Ed25519") == "signature does not verify: the key could not be used"
