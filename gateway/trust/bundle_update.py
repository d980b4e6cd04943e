"""Signed trust-bundle updates: how a party publishes new CAs and CRLs to its partners.

A party signs its own bundle entry (CA certificates and CRLs) with its
record-signing key. A partner accepts the update only when the signature
verifies against the trust it *already* holds for that party, so a new CA is
introduced under the authority of the old one and a stranger cannot slip one
in. Used for CA rotation and for distributing CRLs after a revocation.

A party not yet in the bundle cannot sign its own first entry (nothing held
speaks for it): a party already in the federation *admits* it with a signed
admission (``sign_admission``, typ ``mou-trust-admission+jws``) carrying the
newcomer's entry; partners verify it against the sponsor's trust and adopt it
with ``admit_party`` (a party held already is refused, a CA of another party
too). Admission only makes the newcomer's certificates verifiable: none of its
flows is live until every party signed the terms amendment that admits it
(gateway.terms.registry). Later changes to its entry are its own trust updates.

Adopting an update is monotonic and exclusive (``apply_trust_update``):

1. its ``sequence`` must be above the one held for the party (an equal
   sequence with the very same CAs and CRLs is the update already held:
   nothing changes); otherwise TrustUpdateRollbackError;
2. none of its CAs (by SPKI SHA-256) may belong to another party in the
   bundle; otherwise CAClaimedByOtherPartyError;
3. for each of its CAs that has a CRL held, it must carry a CRL of that CA
   that is not older (crls.is_older); otherwise CRLRollbackError.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.trust.bundle import (
    BUNDLE_FORMAT,
    PartyTrust,
    TrustBundle,
    parse_party_entry,
    party_entry,
    spki_sha256,
)
from gateway.trust.canonical import canonicalize
from gateway.trust.crls import crl_number, is_older, newest_signed_by
from gateway.trust.errors import (
    AdmissionError,
    CAClaimedByOtherPartyError,
    CRLRollbackError,
    PKIError,
    SchemaViolationError,
    TrustUpdateRollbackError,
)
from gateway.trust.jws import TRUST_ADMISSION_TYP, TRUST_UPDATE_TYP, sign_compact
from gateway.trust.keys import SigningKey
from gateway.trust.verify import verify_compact


@dataclass(frozen=True)
class TrustUpdate:
    """A verified update: the party's new entry and when it was issued."""

    party: str
    trust: PartyTrust
    issued_at: str

    @property
    def sequence(self) -> int:
        return self.trust.sequence


def sign_trust_update(trust: PartyTrust, key: SigningKey, issued_at: datetime) -> str:
    """Return ``trust`` (one party's CAs, CRLs and sequence) as a compact JWS signed by that party."""
    document = {
        "format": BUNDLE_FORMAT,
        "party": trust.party,
        "issued_at": issued_at.isoformat(),
        **party_entry(trust),
    }
    return sign_compact(canonicalize(document), key, TRUST_UPDATE_TYP)


def _parse(document: Any) -> TrustUpdate:
    if not isinstance(document, dict) or document.get("format") != BUNDLE_FORMAT:
        raise SchemaViolationError(f"not a {BUNDLE_FORMAT} party entry")
    party, issued_at = document.get("party"), document.get("issued_at")
    if not isinstance(issued_at, str):
        raise SchemaViolationError("issued_at missing")
    try:
        trust = parse_party_entry(party, document, "trust update")
    except PKIError as exc:
        raise SchemaViolationError(exc.detail) from exc
    return TrustUpdate(trust.party, trust, issued_at)


def verify_trust_update(value: str | bytes, bundle: TrustBundle, at: datetime) -> TrustUpdate:
    """Verify an update against the trust already held; return it.

    Raises the TrustError of the failing step; PartyMismatchError when the
    signer is not the party whose entry it is.
    """
    return verify_compact(
        value, bundle=bundle, at=at, typ=TRUST_UPDATE_TYP, parse=_parse, claimed_party=lambda u: u.party
    ).payload


def combine_entries(entries: list[PartyTrust]) -> PartyTrust:
    """Return one party's entry holding every CA and CRL of ``entries`` (old and new CA during a rotation).

    Its sequence is the highest of the entries'.
    """
    parties = {entry.party for entry in entries}
    if len(parties) != 1:
        raise PKIError(f"entries of several parties given: {sorted(parties)}")
    cas = tuple({ca.fingerprint(hashes.SHA256()): ca for entry in entries for ca in entry.cas}.values())
    crls = tuple(crl for entry in entries for crl in entry.crls)
    return PartyTrust(parties.pop(), cas, crls, max(entry.sequence for entry in entries))


def with_sequence(trust: PartyTrust, sequence: int) -> PartyTrust:
    """Return ``trust`` carrying ``sequence`` (what `gateway pki publish` signs)."""
    return replace(trust, sequence=sequence)


def _same_entry(a: PartyTrust, b: PartyTrust) -> bool:
    # Order in the file does not matter; the DER bytes do.
    return (
        a.sequence == b.sequence
        and {ca.public_bytes(Encoding.DER) for ca in a.cas} == {ca.public_bytes(Encoding.DER) for ca in b.cas}
        and {crl.public_bytes(Encoding.DER) for crl in a.crls} == {crl.public_bytes(Encoding.DER) for crl in b.crls}
    )


def _check_sequence(held: PartyTrust, update: TrustUpdate) -> None:
    if update.sequence < held.sequence:
        raise TrustUpdateRollbackError(
            f"the update for {update.party} has sequence {update.sequence}, older than the "
            f"sequence {held.sequence} already held; adopting it would undo later changes"
        )
    if update.sequence == held.sequence:
        raise TrustUpdateRollbackError(
            f"the update for {update.party} has sequence {update.sequence}, the one already held, "
            "but different CAs or CRLs; a changed entry needs a higher sequence"
        )


def _check_exclusive(bundle: TrustBundle, update: TrustUpdate) -> None:
    owners = {spki_sha256(ca): trust.party for trust in bundle.parties.values() for ca in trust.cas}
    for ca in update.trust.cas:
        owner = owners.get(spki_sha256(ca), update.party)
        if owner != update.party:
            raise CAClaimedByOtherPartyError(
                f"the update from {update.party} lists CA {ca.subject.rfc4514_string()} "
                f"(SPKI SHA-256 {spki_sha256(ca)}), which belongs to {owner}"
            )


def _describe(crl: x509.CertificateRevocationList) -> str:
    number = crl_number(crl)
    shown = f"number {number}, " if number is not None else ""
    return f"{shown}thisUpdate {crl.last_update_utc.isoformat()}"


def _check_crls(held: PartyTrust, update: TrustUpdate) -> None:
    for ca in update.trust.cas:
        current = newest_signed_by(ca, held.crls)
        if current is None:
            continue
        offered = newest_signed_by(ca, update.trust.crls)
        issuer = ca.subject.rfc4514_string()
        if offered is None:
            raise CRLRollbackError(
                f"the update for {update.party} drops the CRL of {issuer} ({_describe(current)}) held now"
            )
        if is_older(offered, current):
            raise CRLRollbackError(
                f"the update for {update.party} carries a CRL of {issuer} ({_describe(offered)}) "
                f"older than the one held ({_describe(current)})"
            )


def apply_trust_update(bundle: TrustBundle, update: TrustUpdate) -> TrustBundle:
    """Return a new bundle with the party's entry replaced by a verified update.

    Returns ``bundle`` itself when it already holds exactly this update (same
    sequence, CAs and CRLs). Raises TrustUpdateRollbackError (sequence not
    above the held one), CAClaimedByOtherPartyError (a CA of another party) or
    CRLRollbackError (an older CRL, or none, where one is held).
    """
    held = bundle.party(update.party)
    if held is not None:
        if _same_entry(held, update.trust):
            return bundle
        _check_sequence(held, update)
    _check_exclusive(bundle, update)
    if held is not None:
        _check_crls(held, update)
    return TrustBundle({**bundle.parties, update.party: update.trust})


# -- admission of a new party ------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    """A verified admission: ``sponsor`` (a party held) vouches for ``party``'s first entry."""

    sponsor: str
    party: str
    trust: PartyTrust
    issued_at: str


def sign_admission(trust: PartyTrust, sponsor: str, key: SigningKey, issued_at: datetime) -> str:
    """Return the newcomer's entry ``trust`` as a compact JWS signed by ``sponsor``'s record-signing key."""
    document = {
        "format": BUNDLE_FORMAT,
        "sponsor": sponsor,
        "party": trust.party,
        "issued_at": issued_at.isoformat(),
        **party_entry(trust),
    }
    return sign_compact(canonicalize(document), key, TRUST_ADMISSION_TYP)


def _parse_admission(document: Any) -> Admission:
    if not isinstance(document, dict) or document.get("format") != BUNDLE_FORMAT:
        raise SchemaViolationError(f"not a {BUNDLE_FORMAT} admission")
    sponsor, issued_at = document.get("sponsor"), document.get("issued_at")
    if not isinstance(sponsor, str) or not isinstance(issued_at, str):
        raise SchemaViolationError("sponsor or issued_at missing")
    try:
        trust = parse_party_entry(document.get("party"), document, "admission")
    except PKIError as exc:
        raise SchemaViolationError(exc.detail) from exc
    return Admission(sponsor, trust.party, trust, issued_at)


def verify_admission(value: str | bytes, bundle: TrustBundle, at: datetime) -> Admission:
    """Verify an admission against the sponsor's trust already held; return it.

    Raises the TrustError of the failing step; PartyMismatchError when the
    signer is not the sponsor it names; AdmissionError when a party admits itself.
    """
    admission = verify_compact(
        value, bundle=bundle, at=at, typ=TRUST_ADMISSION_TYP, parse=_parse_admission, claimed_party=lambda a: a.sponsor
    ).payload
    if admission.party == admission.sponsor:
        raise AdmissionError(f"{admission.sponsor} cannot admit itself")
    return admission


def admit_party(bundle: TrustBundle, admission: Admission) -> TrustBundle:
    """Return a new bundle holding the admitted party's entry.

    Returns ``bundle`` itself when it holds exactly this entry already. Raises
    AdmissionError when the party is held with another entry (only the party's
    own trust updates change it) and CAClaimedByOtherPartyError when a CA of
    the entry belongs to another party.
    """
    held = bundle.party(admission.party)
    if held is not None:
        if _same_entry(held, admission.trust):
            return bundle
        raise AdmissionError(
            f"{admission.party} is already a party; its entry changes only through its own signed trust updates",
            hint=f"adopt {admission.party}'s trust update instead (`gateway pki fetch {admission.party}`)",
        )
    _check_exclusive(bundle, TrustUpdate(admission.party, admission.trust, admission.issued_at))
    return TrustBundle({**bundle.parties, admission.party: admission.trust})
