# ruff: noqa: F811 - each test takes the "signed" fixture imported from test_longterm
"""Exact verdicts of trust.longterm that surviving mutmut mutants showed untested.

Each verdict carries the proven time, the time of judgement, its reason word
for word, the verification result (when the signature verified) and the error
or revocation that decided it.
"""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import CertificateExpiredError, RevocationUnknownError
from gateway.trust.longterm import Standing, without_crls
from gateway.trust.pki import revocation_entry as crl_entry
from tests.trust.test_longterm import RECEIVED, T0, Signed, judge, signed  # noqa: F401 - the fixture

PAYLOAD = {"originator": {"party": "PA"}, "n": 1}


def test_a_valid_verdict_carries_times_reason_and_result(signed: Signed) -> None:
    now = RECEIVED + timedelta(days=30)
    verdict = judge(signed, signed.bundle(), now=now)
    assert (verdict.standing, verdict.proven_at, verdict.now, verdict.reason) == (
        Standing.VALID,
        RECEIVED,
        now,
        "valid now and when received",
    )
    assert verdict.verified is not None
    assert verdict.verified.payload == PAYLOAD
    assert (verdict.revocation, verdict.error) == (None, None)


def test_a_verdict_after_expiry_carries_times_reason_and_result(signed: Signed) -> None:
    now = T0 + timedelta(days=400)
    verdict = judge(signed, signed.bundle(), now=now)
    assert (verdict.standing, verdict.proven_at, verdict.now) == (Standing.VALID_WHEN_RECEIVED, RECEIVED, now)
    assert verdict.reason.startswith(f"valid when received on {RECEIVED.isoformat()}; today: ")
    assert verdict.verified is not None
    assert verdict.verified.payload == PAYLOAD


def test_a_document_not_valid_when_received_carries_the_error(signed: Signed) -> None:
    proven_at, now = T0 - timedelta(days=1), RECEIVED + timedelta(days=1)
    verdict = judge(signed, signed.bundle(), now=now, proven_at=proven_at)
    assert (verdict.standing, verdict.proven_at, verdict.now, verdict.verified) == (
        Standing.INVALID,
        proven_at,
        now,
        None,
    )
    assert isinstance(verdict.error, CertificateExpiredError)
    assert verdict.reason == f"not valid when received: {verdict.error.title}: {verdict.error.detail}"


def test_a_revocation_before_receipt_is_named_in_the_verdict(signed: Signed) -> None:
    revoked_at, now = RECEIVED - timedelta(days=1), RECEIVED + timedelta(days=2)
    verdict = judge(signed, signed.bundle(crl_entry(signed.cert.serial_number, revoked_at)), now=now)
    assert (verdict.standing, verdict.proven_at, verdict.now) == (Standing.INVALID, RECEIVED, now)
    assert verdict.verified is not None
    revocation = verdict.revocation
    assert revocation is not None
    assert (revocation.subject, revocation.serial, revocation.reason, revocation.revoked_at) == (
        signed.cert.subject.rfc4514_string(),
        signed.cert.serial_number,
        x509.ReasonFlags.unspecified,
        revoked_at,
    )
    assert revocation.invalidity_date is None
    assert verdict.reason == (
        f"{revocation.subject} (serial {revocation.serial:x}) was revoked on {revoked_at.isoformat()} "
        f"(unspecified), at or before it was received on {RECEIVED.isoformat()}"
    )


def test_an_unusable_crl_makes_the_verdict_invalid_with_its_error(signed: Signed) -> None:
    ca_key = load_pem_private_key(signed.files.ca_key.read_bytes(), None)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(signed.ca.subject)
        .last_update(RECEIVED)
        .next_update(RECEIVED + timedelta(days=400))
        .add_extension(x509.DeltaCRLIndicator(1), critical=True)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    now = RECEIVED + timedelta(days=2)
    verdict = judge(signed, TrustBundle({"PA": PartyTrust("PA", (signed.ca,), (crl,))}), now=now)
    assert (verdict.standing, verdict.proven_at, verdict.now) == (Standing.INVALID, RECEIVED, now)
    assert isinstance(verdict.error, RevocationUnknownError)
    assert verdict.reason == verdict.error.detail
    assert verdict.verified is not None


def test_without_crls_keeps_each_party_its_cas_and_sequence(signed: Signed) -> None:
    bundle = TrustBundle({"PA": PartyTrust("PA", (signed.ca,), signed.bundle().parties["PA"].crls, 6)})
    assert without_crls(bundle).parties == {"PA": PartyTrust("PA", (signed.ca,), (), 6)}
