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
