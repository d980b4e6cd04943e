"""CRL order and freshness (gateway/trust/crls.py), at the library level.

tests/observability/test_crl_freshness.py checks what /readyz shows; these pin
each rule of the module: CRL number before thisUpdate, only validly signed CRLs
as the yardstick, the newest CRL per (party, issuer), and stale strictly after
nextUpdate. CRLs are built here with ``cryptography`` so each field is chosen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.crls import CRLFreshness, crl_freshness, crl_number, is_older, newest_signed_by
from gateway.trust.errors import CertificateRevokedError
from gateway.trust.revocation import check_revocation
from tests.trust import minting

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def crl(
    ca: minting.Authority,
    *,
    this_update: datetime = T0,
    next_update: datetime | None = None,
    number: int | None = 1,
    signer: ec.EllipticCurvePrivateKey | None = None,
) -> x509.CertificateRevocationList:
    """A CRL naming ``ca`` as issuer, signed by ``signer`` (default: ``ca``'s key)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(this_update)
        .next_update(next_update or this_update + timedelta(days=7))
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    return builder.sign(signer or ca.key, hashes.SHA256())


@pytest.fixture(scope="module")
def ca() -> minting.Authority:
    return minting.root("PA")


# -- crl_number -----------------------------------------------------------------------


def test_crl_number_reads_the_extension(ca: minting.Authority) -> None:
    assert crl_number(crl(ca, number=42)) == 42
    assert crl_number(crl(ca, number=0)) == 0


def test_crl_number_is_none_without_the_extension(ca: minting.Authority) -> None:
    assert crl_number(crl(ca, number=None)) is None


# -- is_older ---------------------------------------------------------------------------


def test_the_crl_number_orders_before_this_update(ca: minting.Authority) -> None:
    # Number 2 issued earlier than number 1 is still the newer one (RFC 5280 §5.2.3).
    low_late = crl(ca, number=1, this_update=T0 + timedelta(hours=1))
    high_early = crl(ca, number=2, this_update=T0)
    assert is_older(low_late, high_early) is True
    assert is_older(high_early, low_late) is False


def test_equal_numbers_fall_back_to_this_update(ca: minting.Authority) -> None:
    early, late = crl(ca, number=5, this_update=T0), crl(ca, number=5, this_update=T0 + timedelta(seconds=1))
    assert is_older(early, late) is True
    assert is_older(late, early) is False


@pytest.mark.parametrize(("first", "second"), [(None, 3), (3, None), (None, None)])
def test_a_missing_number_falls_back_to_this_update(
    ca: minting.Authority, first: int | None, second: int | None
) -> None:
    # The later CRL carries the lower number where it has one: only thisUpdate may decide.
    early = crl(ca, number=first if first is None else 9, this_update=T0)
    late = crl(ca, number=second if second is None else 1, this_update=T0 + timedelta(seconds=1))
    assert is_older(early, late) is True
    assert is_older(late, early) is False


def test_a_crl_is_not_older_than_itself(ca: minting.Authority) -> None:
    same = crl(ca, number=3)
    assert is_older(same, same) is False
    unnumbered = crl(ca, number=None)
    assert is_older(unnumbered, unnumbered) is False


# -- newest_signed_by --------------------------------------------------------------------


def test_newest_signed_by_picks_the_highest_number(ca: minting.Authority) -> None:
    crls = [crl(ca, number=n, this_update=T0 + timedelta(minutes=10 - n)) for n in (2, 7, 4)]
    assert newest_signed_by(ca.cert, crls) is crls[1]
    assert newest_signed_by(ca.cert, list(reversed(crls))) is crls[1]


def test_newest_signed_by_ignores_a_forged_crl_with_a_huge_number(ca: minting.Authority) -> None:
    real = crl(ca, number=3)
    forged = crl(ca, number=10**9, signer=ec.generate_private_key(ec.SECP256R1()))
    assert newest_signed_by(ca.cert, [real, forged]) is real
    assert newest_signed_by(ca.cert, [forged, real]) is real
    assert newest_signed_by(ca.cert, [forged]) is None


def test_newest_signed_by_ignores_another_issuers_crl(ca: minting.Authority) -> None:
    other = minting.root("PA")
    real = crl(ca, number=3)
    theirs = crl(other, number=50)
    assert newest_signed_by(ca.cert, [real, theirs]) is real
    assert newest_signed_by(ca.cert, [theirs]) is None


def test_newest_signed_by_of_nothing_is_none(ca: minting.Authority) -> None:
    assert newest_signed_by(ca.cert, []) is None


# -- CRLFreshness.describe ---------------------------------------------------------------


def test_describe_a_fresh_crl() -> None:
    entry = CRLFreshness("CO", "CN=CO root", T0, T0 + timedelta(days=7), 4, stale=False)
    assert entry.describe() == "CO CRL of CN=CO root fresh until 2026-01-08T12:00:00+00:00"


def test_describe_a_stale_crl() -> None:
    entry = CRLFreshness("US", "CN=US root", T0, T0 + timedelta(days=7), None, stale=True)
    assert entry.describe() == "US CRL of CN=US root stale since 2026-01-08T12:00:00+00:00"


def test_describe_a_crl_without_next_update() -> None:
    entry = CRLFreshness("PA", "CN=PA root", T0, None, 1, stale=False)
    assert entry.describe() == "PA CRL of CN=PA root fresh until never"


# -- crl_freshness -----------------------------------------------------------------------


def test_crl_freshness_reports_the_newest_crl_of_each_party_and_issuer() -> None:
    pa, co = minting.root("PA"), minting.root("CO")
    pa_old = crl(pa, number=1, this_update=T0, next_update=T0 + timedelta(days=1))
    pa_new = crl(pa, number=2, this_update=T0 + timedelta(days=1), next_update=T0 + timedelta(days=8))
    co_only = crl(co, number=None, this_update=T0, next_update=T0 + timedelta(days=2))
    bundle = TrustBundle(
        {
            "PA": PartyTrust("PA", (pa.cert,), (pa_new, pa_old)),
            "CO": PartyTrust("CO", (co.cert,), (co_only,)),
        }
    )

    report = crl_freshness(bundle, at=T0 + timedelta(days=3))

    assert report == [
        CRLFreshness(
            party="CO",
            issuer=co.cert.subject.rfc4514_string(),
            this_update=T0,
            next_update=T0 + timedelta(days=2),
            number=None,
            stale=True,
        ),
        CRLFreshness(
            party="PA",
            issuer=pa.cert.subject.rfc4514_string(),
            this_update=T0 + timedelta(days=1),
            next_update=T0 + timedelta(days=8),
            number=2,
            stale=False,
        ),
    ]


def test_crl_freshness_keeps_the_newer_crl_whichever_comes_first() -> None:
    pa = minting.root("PA")
    old, new = crl(pa, number=1), crl(pa, number=2, this_update=T0 + timedelta(hours=1))
    for order in ((old, new), (new, old)):
        bundle = TrustBundle({"PA": PartyTrust("PA", (pa.cert,), order)})
        assert [entry.number for entry in crl_freshness(bundle, at=T0)] == [2]


def test_crl_freshness_separates_two_issuers_of_one_party() -> None:
    root = minting.root("PA", path_length=1)
    sub = root.sub_ca("PA issuing CA")
    bundle = TrustBundle({"PA": PartyTrust("PA", (root.cert,), (crl(root, number=1), crl(sub, number=9)))})
    report = crl_freshness(bundle, at=T0)
    assert sorted((entry.issuer, entry.number) for entry in report) == sorted(
        [(root.cert.subject.rfc4514_string(), 1), (sub.cert.subject.rfc4514_string(), 9)]
    )


def test_a_crl_is_stale_only_after_its_next_update() -> None:
    pa = minting.root("PA")
    due = T0 + timedelta(days=7)
    bundle = TrustBundle({"PA": PartyTrust("PA", (pa.cert,), (crl(pa, next_update=due),))})
    assert [entry.stale for entry in crl_freshness(bundle, at=due - timedelta(seconds=1))] == [False]
    assert [entry.stale for entry in crl_freshness(bundle, at=due)] == [False]
    assert [entry.stale for entry in crl_freshness(bundle, at=due + timedelta(seconds=1))] == [True]


def test_crl_freshness_of_a_bundle_without_crls_is_empty() -> None:
    pa = minting.root("PA")
    assert crl_freshness(TrustBundle({"PA": PartyTrust("PA", (pa.cert,))}), at=T0) == []


# -- the CRL revocation checks read ------------------------------------------------------


def test_revocation_reads_the_crl_with_the_highest_number_not_the_latest_this_update() -> None:
    # The CA's clock ran an hour ahead when it issued CRL 1, and it revoked the leaf in CRL 2.
    # Adoption (bundle_update) calls CRL 2 the newest; so must the revocation check.
    pa = minting.root("PA")
    leaf = pa.issue(minting.name("PA", "PA signer"), ec.generate_private_key(ec.SECP256R1()).public_key())
    revoking = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pa.cert.subject)
        .last_update(T0)
        .next_update(T0 + timedelta(days=7))
        .add_extension(x509.CRLNumber(2), critical=False)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(leaf.serial_number).revocation_date(T0).build()
        )
        .sign(pa.key, hashes.SHA256())
    )
    ahead = crl(pa, number=1, this_update=T0 + timedelta(hours=1))
    trust = PartyTrust("PA", (pa.cert,), (ahead, revoking))

    assert trust.crl_for(pa.cert) is revoking
    with pytest.raises(CertificateRevokedError, match=f"serial {leaf.serial_number:x}\\) was revoked"):
        check_revocation((leaf, pa.cert), "PA", TrustBundle({"PA": trust}))


def test_revocation_ignores_a_crl_not_signed_by_the_issuer() -> None:
    pa = minting.root("PA")
    forged = crl(pa, number=99, signer=ec.generate_private_key(ec.SECP256R1()))
    assert PartyTrust("PA", (pa.cert,), (forged,)).crl_for(pa.cert) is None
