"""Exact behaviour of signed trust updates (bundle_update.py) that surviving mutmut mutants showed untested.

Every CA of an update is checked for a CRL rollback (not only those before the
first CA without a held CRL), each refusal names what is wrong word for word,
and combining entries keeps the highest sequence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from gateway.trust.bundle import BUNDLE_FORMAT, PartyTrust, TrustBundle, party_entry
from gateway.trust.bundle_update import (
    TrustUpdate,
    apply_trust_update,
    combine_entries,
    verify_trust_update,
)
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import CRLRollbackError, PKIError, SchemaViolationError
from gateway.trust.jws import TRUST_UPDATE_TYP, sign_compact
from tests.support.pki import TestPKI
from tests.trust import minting

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def crl(ca: minting.Authority, *, number: int | None, this_update: datetime = T0) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(this_update)
        .next_update(this_update + timedelta(days=7))
    )
    if number is not None:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


# -- CRL rollback ----------------------------------------------------------------------------


def test_a_dropped_crl_is_refused_even_after_a_ca_without_a_held_crl() -> None:
    old, new = minting.root("PA"), minting.root("PA")
    held = PartyTrust("PA", (old.cert,), (crl(old, number=3),), 1)
    # The new CA comes first and has no CRL held; the old CA's CRL is dropped.
    update = TrustUpdate("PA", PartyTrust("PA", (new.cert, old.cert), (), 2), T0.isoformat())
    with pytest.raises(CRLRollbackError) as caught:
        apply_trust_update(TrustBundle({"PA": held}), update)
    assert caught.value.detail == (
        f"the update for PA drops the CRL of {old.cert.subject.rfc4514_string()} "
        f"(number 3, thisUpdate {T0.isoformat()}) held now"
    )


def test_an_older_unnumbered_crl_is_refused_with_its_dates() -> None:
    ca = minting.root("PA")
    later = T0 + timedelta(hours=2)
    held = PartyTrust("PA", (ca.cert,), (crl(ca, number=None, this_update=later),), 1)
    update = TrustUpdate("PA", PartyTrust("PA", (ca.cert,), (crl(ca, number=None),), 2), T0.isoformat())
    with pytest.raises(CRLRollbackError) as caught:
        apply_trust_update(TrustBundle({"PA": held}), update)
    assert caught.value.detail == (
        f"the update for PA carries a CRL of {ca.cert.subject.rfc4514_string()} (thisUpdate {T0.isoformat()}) "
        f"older than the one held (thisUpdate {later.isoformat()})"
    )


def test_a_newer_crl_after_a_ca_without_a_held_crl_is_adopted() -> None:
    old, new = minting.root("PA"), minting.root("PA")
    held = PartyTrust("PA", (old.cert,), (crl(old, number=3),), 1)
    offered = PartyTrust("PA", (new.cert, old.cert), (crl(old, number=4),), 2)
    adopted = apply_trust_update(TrustBundle({"PA": held}), TrustUpdate("PA", offered, T0.isoformat()))
    assert adopted.parties["PA"] is offered


# -- the signed document -----------------------------------------------------------------------


def signed_update(pki: TestPKI, document: Any) -> str:
    return sign_compact(canonicalize(document), pki.signing_key("PA"), TRUST_UPDATE_TYP)


def test_a_document_of_another_format_is_refused_exactly(pki: TestPKI) -> None:
    entry = party_entry(pki.bundle().parties["PA"])
    document = {"format": "mou-trust-bundle/0", "party": "PA", "issued_at": T0.isoformat(), **entry}
    with pytest.raises(SchemaViolationError) as caught:
        verify_trust_update(signed_update(pki, document), pki.bundle(), datetime.now(UTC))
    assert caught.value.detail == f"not a {BUNDLE_FORMAT} party entry"


def test_a_document_that_is_not_an_object_is_refused_exactly(pki: TestPKI) -> None:
    with pytest.raises(SchemaViolationError) as caught:
        verify_trust_update(signed_update(pki, [BUNDLE_FORMAT]), pki.bundle(), datetime.now(UTC))
    assert caught.value.detail == f"not a {BUNDLE_FORMAT} party entry"


def test_a_document_without_issued_at_is_refused_exactly(pki: TestPKI) -> None:
    entry = party_entry(pki.bundle().parties["PA"])
    document = {"format": BUNDLE_FORMAT, "party": "PA", **entry}
    with pytest.raises(SchemaViolationError) as caught:
        verify_trust_update(signed_update(pki, document), pki.bundle(), datetime.now(UTC))
    assert caught.value.detail == "issued_at missing"


def test_an_unreadable_entry_is_refused_with_the_bundle_reason(pki: TestPKI) -> None:
    document = {"format": BUNDLE_FORMAT, "party": "PA", "issued_at": T0.isoformat(), "cas": []}
    with pytest.raises(SchemaViolationError) as caught:
        verify_trust_update(signed_update(pki, document), pki.bundle(), datetime.now(UTC))
    assert caught.value.detail == "trust update: party PA has no CA certificate"


def test_a_verified_update_carries_party_entry_and_issue_time(pki: TestPKI) -> None:
    trust = pki.bundle().parties["PA"]
    document = {"format": BUNDLE_FORMAT, "party": "PA", "issued_at": T0.isoformat(), **party_entry(trust)}
    update = verify_trust_update(signed_update(pki, document), pki.bundle(), datetime.now(UTC))
    assert (update.party, update.issued_at, update.trust.cas, update.sequence) == (
        "PA",
        T0.isoformat(),
        trust.cas,
        trust.sequence,
    )


# -- combining entries ---------------------------------------------------------------------------


def test_combine_entries_keeps_every_ca_once_every_crl_and_the_highest_sequence() -> None:
    old, new = minting.root("PA"), minting.root("PA")
    old_crl, new_crl = crl(old, number=1), crl(new, number=1)
    combined = combine_entries(
        [PartyTrust("PA", (old.cert,), (old_crl,), 7), PartyTrust("PA", (old.cert, new.cert), (new_crl,), 3)]
    )
    assert combined == PartyTrust("PA", (old.cert, new.cert), (old_crl, new_crl), 7)


def test_combine_entries_of_two_parties_is_refused_exactly() -> None:
    pa, co = minting.root("PA"), minting.root("CO")
    with pytest.raises(PKIError) as caught:
        combine_entries([PartyTrust("PA", (pa.cert,)), PartyTrust("CO", (co.cert,))])
    assert caught.value.detail == "entries of several parties given: ['CO', 'PA']"
