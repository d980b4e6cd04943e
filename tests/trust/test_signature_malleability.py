"""One content, one JWS: a high-S ECDSA twin of a valid signature is refused (signature_malleable).

For every ECDSA signature (r, s) over a message, (r, n - s) verifies as well. A
partner (or anyone on the path) could turn one signed record into a second token
with another digest: another "submission" of the same attested content. The
gateway signs only low-S (s <= n/2) and refuses high-S with its own reason code,
over the API as a signed ``rejected`` receipt.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.exchange.receipts import verify_receipt
from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust.errors import BadSignatureError, NonCanonicalSignatureError
from gateway.trust.jws import (
    CHECKPOINT_TYP,
    RECEIPT_TYP,
    RECORD_TYP,
    TERMS_SIGNATURE_TYP,
    TRUST_UPDATE_TYP,
    es256_is_high_s,
    es256_low_s,
    parse_compact,
    sign_compact,
    verify_signature,
)
from gateway.trust.keys import SigningKey
from tests.support.databases import BACKEND_PARAMS, DatabaseFactory, factory_for
from tests.support.exchange import (
    example_draft,
    partner_client,
    party_certificate,
    post_jws,
    record_rows,
    sha256_hex,
    start_node,
    stop_node,
)
from tests.support.nodes import RunningNode
from tests.support.pki import TestPKI
from tests.trust import forge

HALF_ORDER = forge.P256_ORDER // 2


def with_signature(token: str, signature: bytes) -> str:
    raw_header, raw_payload, _ = token.split(".")
    return f"{raw_header}.{raw_payload}.{forge.b64url(signature)}"


def high_s_twin(token: str) -> str:
    """Return ``token`` with its ES256 signature replaced by the other valid one, (r, n - s)."""
    return with_signature(token, forge.flip_s(forge.split(token)[2]))


def s_of(token: str) -> int:
    return int.from_bytes(forge.split(token)[2][32:], "big")


def pa_flag(pki: TestPKI) -> str:
    draft = example_draft("criminal_network_flag", recipients=["CO"])
    return sign_record(build_record(draft, datetime.now(UTC)), pki.signing_key("PA")).jws


# -- the library -----------------------------------------------------------------


def test_high_s_twin_verifies_mathematically_but_is_refused(pki: TestPKI) -> None:
    moment = datetime.now(UTC)
    token = pa_flag(pki)
    twin = high_s_twin(token)
    assert s_of(token) <= HALF_ORDER < s_of(twin)
    assert s_of(token) + s_of(twin) == forge.P256_ORDER
    public = pki.signing_key("PA").certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    # The independent check (cryptography alone) accepts both: the twin is a real signature.
    for candidate in (token, twin):
        raw_header, raw_payload, _ = candidate.split(".")
        signature = forge.split(candidate)[2]
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public.verify(der, f"{raw_header}.{raw_payload}".encode(), ec.ECDSA(hashes.SHA256()))

    assert verify_record(token, pki.bundle(), moment).jws == token
    with pytest.raises(NonCanonicalSignatureError, match=r"s > n/2") as caught:
        verify_record(twin, pki.bundle(), moment)
    assert (caught.value.reason, caught.value.slug, caught.value.step) == (
        "signature_malleable",
        "non-canonical-signature",
        "7-signature",
    )
    with pytest.raises(NonCanonicalSignatureError):
        verify_signature(parse_compact(twin, RECORD_TYP), public, "ES256")


def test_a_high_s_forgery_built_with_cryptography_alone_is_refused(pki: TestPKI) -> None:
    moment = datetime.now(UTC)
    key = pki.signing_key("PA")
    header = {"alg": "ES256", "kid": key.kid, "typ": RECORD_TYP, "x5c": forge.x5c(list(key.chain))}
    payload = sign_record(build_record(forge.example_draft("criminal_network_flag"), moment), key).payload
    assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)
    low = forge.compact(header, payload, forge.es256_signer(key.private_key))
    high = forge.compact(header, payload, forge.es256_signer(key.private_key, high_s=True))
    assert verify_record(low, pki.bundle(), moment).payload_bytes == payload
    with pytest.raises(NonCanonicalSignatureError):
        verify_record(high, pki.bundle(), moment)


def test_a_broken_high_s_signature_is_a_bad_signature_not_a_malleable_one(pki: TestPKI) -> None:
    # Only a signature that verifies is called malleable; a forgery stays bad_signature.
    moment = datetime.now(UTC)
    token = high_s_twin(pa_flag(pki))
    signature = bytearray(forge.split(token)[2])
    signature[5] ^= 0x40  # in r
    with pytest.raises(BadSignatureError) as caught:
        verify_record(with_signature(token, bytes(signature)), pki.bundle(), moment)
    assert type(caught.value) is BadSignatureError
    assert caught.value.reason == "bad_signature"


def test_low_s_normalisation_helpers() -> None:
    r = (7).to_bytes(32, "big")
    for s in (1, HALF_ORDER, HALF_ORDER + 1, forge.P256_ORDER - 1):
        signature = r + s.to_bytes(32, "big")
        low = es256_low_s(signature)
        assert low[:32] == r
        assert int.from_bytes(low[32:], "big") == min(s, forge.P256_ORDER - s)
        assert es256_is_high_s(signature) is (s > HALF_ORDER)
        assert not es256_is_high_s(low)
    # Anything but a 64-byte r||s is left alone (it fails verification on its own).
    for other in (b"", b"\xff" * 63, b"\xff" * 65):
        assert es256_low_s(other) == other
        assert not es256_is_high_s(other)


@pytest.fixture(scope="module")
def es256_key(pki: TestPKI) -> SigningKey:
    key = pki.signing_key("CO")
    assert key.algorithm == "ES256"
    return key


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payload=st.binary(min_size=1, max_size=256),
    typ=st.sampled_from([RECORD_TYP, RECEIPT_TYP, CHECKPOINT_TYP, TERMS_SIGNATURE_TYP, TRUST_UPDATE_TYP]),
)
def test_the_signer_never_emits_a_high_s_signature(es256_key: SigningKey, payload: bytes, typ: str) -> None:
    # OpenSSL gives s > n/2 for about half of the signatures: 400 examples without
    # one high S would happen by chance with probability 2**-400.
    token = sign_compact(payload, es256_key, typ)
    signature = forge.split(token)[2]
    assert len(signature) == 64
    assert int.from_bytes(signature[32:], "big") <= HALF_ORDER
    verify_signature(parse_compact(token, typ), es256_key.certificate.public_key(), "ES256")  # type: ignore[arg-type]


# -- over the partner API ----------------------------------------------------------


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def co(
    request: pytest.FixtureRequest,
    pki: TestPKI,
    database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningNode]:
    """CO's node (no worker) on a fresh database of each backend."""
    factory = factory_for(request.param, database_factories, tmp_path_factory)
    running = start_node(pki, "CO", factory.fresh_url(), tmp_path_factory.mktemp("malleability"))
    yield running
    stop_node(running)


def test_high_s_copy_over_the_partner_api_gets_a_signed_rejection(
    pki: TestPKI, co: RunningNode, tmp_path: Path
) -> None:
    genuine = pa_flag(pki)
    twin = high_s_twin(genuine)
    before = record_rows(co.node)
    with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
        refused = post_jws(client, twin)
        # The genuine token is still taken: the twin did not use up its record id.
        taken = post_jws(client, genuine)

    assert refused.status_code == 201, refused.text
    assert refused.headers["x-receipt-verdict"] == "rejected"
    receipt = verify_receipt(
        refused.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(twin)
    ).payload
    assert (receipt.verdict.value, receipt.reason_code) == ("rejected", "signature_malleable")
    assert receipt.sender == "PA"

    assert taken.status_code == 201, taken.text
    accepted = verify_receipt(
        taken.text, pki.bundle(), datetime.now(UTC), receiver="CO", jws_sha256=sha256_hex(genuine)
    ).payload
    assert (accepted.verdict.value, accepted.reason_code) == ("accepted", None)
    assert record_rows(co.node) == before + 2  # the refused twin is kept for audit
