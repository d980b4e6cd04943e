"""Valid when received: a document proven to exist at a time, judged later (trust.longterm, docs/evidence.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.jws import RECORD_TYP, sign_compact
from gateway.trust.keys import SigningKey, generate_private_key, load_certificates, load_private_key
from gateway.trust.longterm import Standing, judge_revocation, revocation_entry, verify_at_proven_time
from gateway.trust.pki import PartyFiles, init_party, issue_certificate, make_crl
from gateway.trust.pki import revocation_entry as crl_entry

# The signing certificate's first day: a day after the test CA (made now, valid ten years) began.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
RECEIVED = T0 + timedelta(days=10)  # the proven time of receipt


@dataclass
class Signed:
    files: PartyFiles
    ca: x509.Certificate
    cert: x509.Certificate
    jws: str

    def bundle(
        self, *entries: x509.RevokedCertificate, ca_entries: tuple[x509.RevokedCertificate, ...] = ()
    ) -> TrustBundle:
        ca_key = load_private_key(self.files.ca_key)
        crl = make_crl(self.ca, ca_key, list(entries), now=RECEIVED + timedelta(days=400), number=2)
        return TrustBundle({"PA": PartyTrust("PA", (self.ca,), (crl,))})


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Signed:
    files = init_party("PA", tmp_path_factory.mktemp("longterm") / "pa")
    ca = load_certificates(files.ca_cert)[0]
    key = generate_private_key()
    # A one-year signing certificate that began at T0.
    cert = issue_certificate("PA", "signing", key, ca, load_private_key(files.ca_key), not_before=T0, days=365)
    jws = sign_compact(canonicalize({"originator": {"party": "PA"}, "n": 1}), SigningKey(key, (cert,)), RECORD_TYP)
    return Signed(files, ca, cert, jws)


def judge(
    signed: Signed, bundle: TrustBundle, *, now: datetime, proven_at: datetime = RECEIVED, jws: str | None = None
) -> Any:
    return verify_at_proven_time(
        jws or signed.jws,
        bundle=bundle,
        proven_at=proven_at,
        now=now,
        typ=RECORD_TYP,
        parse=lambda value: value,
        claimed_party=lambda value: value["originator"]["party"],
    )


def test_a_document_whose_certificate_is_still_valid_is_valid(signed: Signed) -> None:
    verdict = judge(signed, signed.bundle(), now=RECEIVED + timedelta(days=30))
    assert (verdict.standing, verdict.reason) == (Standing.VALID, "valid now and when received")
    assert verdict.acceptable


def test_after_the_certificate_expired_it_stays_valid_when_received(signed: Signed) -> None:
    later = T0 + timedelta(days=365 * 3)
    verdict = judge(signed, signed.bundle(), now=later)
    assert verdict.standing is Standing.VALID_WHEN_RECEIVED
    assert verdict.reason.startswith(f"valid when received on {RECEIVED.isoformat()}; today: ")
    assert "expired" in verdict.reason
    assert verdict.acceptable


@pytest.mark.parametrize(
    "reason",
    [x509.ReasonFlags.superseded, x509.ReasonFlags.cessation_of_operation, x509.ReasonFlags.affiliation_changed],
)
def test_a_retirement_after_receipt_keeps_it_valid_when_received(signed: Signed, reason: x509.ReasonFlags) -> None:
    entry = crl_entry(signed.cert.serial_number, RECEIVED + timedelta(days=1), reason)
    verdict = judge(signed, signed.bundle(entry), now=RECEIVED + timedelta(days=2))
    assert verdict.standing is Standing.VALID_WHEN_RECEIVED
    assert f"({reason.name}) after it was received on {RECEIVED.isoformat()}" in verdict.reason
    assert verdict.revocation is not None
    assert verdict.revocation.reason is reason


def test_a_revocation_at_or_before_receipt_makes_it_invalid_whatever_the_reason(signed: Signed) -> None:
    for when in (RECEIVED, RECEIVED - timedelta(seconds=1)):
        entry = crl_entry(signed.cert.serial_number, when, x509.ReasonFlags.superseded)
        verdict = judge(signed, signed.bundle(entry), now=RECEIVED + timedelta(days=2))
        assert verdict.standing is Standing.INVALID
        assert f"(superseded), at or before it was received on {RECEIVED.isoformat()}" in verdict.reason
        assert not verdict.acceptable


def test_key_compromise_with_an_invalidity_date_before_receipt_is_suspect(signed: Signed) -> None:
    entry = crl_entry(
        signed.cert.serial_number,
        RECEIVED + timedelta(days=20),
        x509.ReasonFlags.key_compromise,
        RECEIVED - timedelta(days=1),
    )
    verdict = judge(signed, signed.bundle(entry), now=RECEIVED + timedelta(days=30))
    assert verdict.standing is Standing.SUSPECT
    assert "for key_compromise; the key is held compromised since" in verdict.reason
    assert not verdict.acceptable


def test_key_compromise_at_exactly_the_receipt_time_is_suspect_and_after_it_is_not(signed: Signed) -> None:
    at_receipt = crl_entry(
        signed.cert.serial_number, RECEIVED + timedelta(days=20), x509.ReasonFlags.key_compromise, RECEIVED
    )
    assert judge(signed, signed.bundle(at_receipt), now=RECEIVED + timedelta(days=30)).standing is Standing.SUSPECT
    after = crl_entry(
        signed.cert.serial_number,
        RECEIVED + timedelta(days=20),
        x509.ReasonFlags.key_compromise,
        RECEIVED + timedelta(seconds=1),
    )
    verdict = judge(signed, signed.bundle(after), now=RECEIVED + timedelta(days=30))
    assert verdict.standing is Standing.VALID_WHEN_RECEIVED
    assert "after it was received" in verdict.reason


def test_key_compromise_without_an_invalidity_date_is_suspect(signed: Signed) -> None:
    entry = crl_entry(signed.cert.serial_number, RECEIVED + timedelta(days=20), x509.ReasonFlags.key_compromise)
    verdict = judge(signed, signed.bundle(entry), now=RECEIVED + timedelta(days=30))
    assert verdict.standing is Standing.SUSPECT
    assert "with no invalidity date" in verdict.reason


@pytest.mark.parametrize("reason", [None, x509.ReasonFlags.privilege_withdrawn, x509.ReasonFlags.certificate_hold])
def test_other_reasons_after_receipt_are_suspect(signed: Signed, reason: x509.ReasonFlags | None) -> None:
    entry = crl_entry(signed.cert.serial_number, RECEIVED + timedelta(days=5), reason)
    verdict = judge(signed, signed.bundle(entry), now=RECEIVED + timedelta(days=30))
    assert verdict.standing is Standing.SUSPECT
    assert (
        "only superseded, cessationOfOperation and affiliationChanged keep earlier signatures valid" in verdict.reason
    )


def test_a_receipt_time_outside_the_certificate_validity_is_invalid(signed: Signed) -> None:
    for proven_at in (T0 - timedelta(days=1), T0 + timedelta(days=366)):
        verdict = judge(signed, signed.bundle(), now=T0 + timedelta(days=400), proven_at=proven_at)
        assert verdict.standing is Standing.INVALID
        assert verdict.reason.startswith("not valid when received: ")
        assert verdict.error is not None
        assert verdict.error.step == "4-certificate-validity"


def test_a_changed_signature_is_invalid_however_old(signed: Signed) -> None:
    head, payload, signature = signed.jws.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    verdict = judge(signed, signed.bundle(), now=RECEIVED, jws=forged)
    assert verdict.standing is Standing.INVALID
    assert verdict.error is not None
    assert verdict.error.step == "7-signature"


def test_the_worst_link_decides(signed: Signed) -> None:
    retired = revocation_entry(
        crl_entry(signed.cert.serial_number, RECEIVED + timedelta(days=1), x509.ReasonFlags.superseded), "leaf", 1
    )
    compromised = revocation_entry(
        crl_entry(2, RECEIVED + timedelta(days=1), x509.ReasonFlags.ca_compromise, RECEIVED - timedelta(days=3)),
        "ca",
        2,
    )
    assert judge_revocation(retired, RECEIVED)[0] is Standing.VALID_WHEN_RECEIVED
    assert judge_revocation(compromised, RECEIVED)[0] is Standing.SUSPECT
    assert compromised.invalidity_date == RECEIVED - timedelta(days=3)


def test_pki_revoke_keeps_earlier_entries_with_their_reasons(tmp_path: Path) -> None:
    from gateway.trust.pki import issue_from_dir, revoke_in_dir

    files = init_party("PA", tmp_path / "pa")
    first = issue_from_dir(files.root, "signing", tmp_path / "a.pem", tmp_path / "a.key")
    issue_from_dir(files.root, "signing", tmp_path / "b.pem", tmp_path / "b.key")
    revoke_in_dir(files.root, tmp_path / "a.pem", reason=x509.ReasonFlags.key_compromise, invalidity_date=RECEIVED)
    crl = revoke_in_dir(files.root, tmp_path / "b.pem", reason=x509.ReasonFlags.superseded)
    kept = revocation_entry(crl.get_revoked_certificate_by_serial_number(first.serial_number), "a", 1)  # type: ignore[arg-type]
    assert (kept.reason, kept.invalidity_date) == (x509.ReasonFlags.key_compromise, RECEIVED)
    assert len(list(crl)) == 2
