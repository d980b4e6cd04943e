"""Signed trust-bundle updates: how a party publishes new CAs and CRLs to its partners.

A party signs its own bundle entry (CA certificates and CRLs) with its
record-signing key. A partner accepts the update only when the signature
verifies against the trust it *already* holds for that party, so a new CA is
introduced under the authority of the old one and a stranger cannot slip one
in. Used for CA rotation and for distributing CRLs after a revocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes

from gateway.trust.bundle import BUNDLE_FORMAT, PartyTrust, TrustBundle, parse_party_entry, party_entry
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import PKIError, SchemaViolationError
from gateway.trust.jws import TRUST_UPDATE_TYP, sign_compact
from gateway.trust.keys import SigningKey
from gateway.trust.verify import verify_compact


@dataclass(frozen=True)
class TrustUpdate:
    """A verified update: the party's new entry and when it was issued."""

    party: str
    trust: PartyTrust
    issued_at: str


def sign_trust_update(trust: PartyTrust, key: SigningKey, issued_at: datetime) -> str:
    """Return ``trust`` (one party's CAs and CRLs) as a compact JWS signed by that party."""
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
    """Return one party's entry holding every CA and CRL of ``entries`` (old and new CA during a rotation)."""
    parties = {entry.party for entry in entries}
    if len(parties) != 1:
        raise PKIError(f"entries of several parties given: {sorted(parties)}")
    cas = tuple({ca.fingerprint(hashes.SHA256()): ca for entry in entries for ca in entry.cas}.values())
    crls = tuple(crl for entry in entries for crl in entry.crls)
    return PartyTrust(parties.pop(), cas, crls)


def apply_trust_update(bundle: TrustBundle, update: TrustUpdate) -> TrustBundle:
    """Return a new bundle with the party's entry replaced by the update."""
    return TrustBundle({**bundle.parties, update.party: update.trust})
