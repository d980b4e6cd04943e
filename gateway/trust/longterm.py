"""Validity at a proven time: was a signed document valid when it was received?

A record is evidence long after its signing certificate expired or was
replaced. What counts is whether the signature was valid at a time that is
*proven* (the signed receipt's ``received_at``, bounded above by a witnessed
ledger checkpoint), judged with the revocation information known now. The rules
(docs/evidence.md, "Valid when received"), after ETSI EN 319 102-1 §5.6.2.4
(past signature validation: a proof of existence before the revocation keeps a
signature valid) and RFC 5280 §5.3.2 (invalidity date: since when a key is
known or suspected to be compromised):

1. the document verifies (every step of trust.verify) at ``proven_at`` with
   revocation left aside: chain to a bundle CA, every link in its validity
   period then, key usage, signature, payload, party;
2. for every link of the chain, its issuer's current CRL is read:
   - not listed → fine;
   - revoked at or before ``proven_at`` (any reason) → invalid;
   - revoked later for superseded, cessationOfOperation or affiliationChanged
     → fine: the key was retired, not broken;
   - keyCompromise, cACompromise or aACompromise with an invalidity date
     after ``proven_at`` → fine: the compromise began after the proof;
     with an invalidity date at or before ``proven_at``, or none (the
     compromise could be older than the proof) → suspect;
   - any other reason (unspecified, privilegeWithdrawn, certificateHold)
     after ``proven_at`` → suspect: nothing says the key stayed safe.

The verdict is ``valid`` when the document also verifies now, else
``valid_when_received``, ``suspect`` or ``invalid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any, Final, Generic, TypeVar

from cryptography import x509

from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.revocation import check_crl_usable
from gateway.trust.verify import Verified, verify_compact

P = TypeVar("P")

RETIRED: Final = frozenset(
    {x509.ReasonFlags.superseded, x509.ReasonFlags.cessation_of_operation, x509.ReasonFlags.affiliation_changed}
)
COMPROMISED: Final = frozenset(
    {x509.ReasonFlags.key_compromise, x509.ReasonFlags.ca_compromise, x509.ReasonFlags.aa_compromise}
)


class Standing(StrEnum):
    """What a stored signed document is worth today."""

    VALID = "valid"  # verifies now as it did when received
    VALID_WHEN_RECEIVED = "valid_when_received"  # its certificate expired or was retired since
    SUSPECT = "suspect"  # its key may have been compromised before the proven time
    INVALID = "invalid"  # it did not verify at the proven time


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revoked link of a chain, as its issuer's CRL lists it."""

    subject: str
    serial: int
    reason: x509.ReasonFlags
    revoked_at: datetime
    invalidity_date: datetime | None


@dataclass(frozen=True, slots=True)
class LongTermVerdict(Generic[P]):
    """The standing of a document at ``proven_at`` judged ``now``, and why."""

    standing: Standing
    proven_at: datetime
    now: datetime
    reason: str
    verified: Verified[P] | None = None
    revocation: Revocation | None = None
    error: TrustError | None = None

    @property
    def acceptable(self) -> bool:
        """True for valid and valid when received."""
        return self.standing in (Standing.VALID, Standing.VALID_WHEN_RECEIVED)


def revocation_entry(entry: x509.RevokedCertificate, subject: str, serial: int) -> Revocation:
    """Return the reason (unspecified when absent) and invalidity date of a CRL entry."""
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        reason = x509.ReasonFlags.unspecified
    try:
        invalidity: datetime | None = entry.extensions.get_extension_for_class(
            x509.InvalidityDate
        ).value.invalidity_date_utc
    except x509.ExtensionNotFound:
        invalidity = None
    return Revocation(subject, serial, reason, entry.revocation_date_utc, invalidity)


def without_crls(bundle: TrustBundle) -> TrustBundle:
    """Return ``bundle``'s CAs without CRLs (revocation is judged separately, by date and reason)."""
    return TrustBundle(
        {code: PartyTrust(code, trust.cas, (), trust.sequence) for code, trust in bundle.parties.items()}
    )


def judge_revocation(revocation: Revocation, proven_at: datetime) -> tuple[Standing, str]:
    """Return the standing a revoked link leaves a document proven at ``proven_at``, with the reason."""
    what = f"{revocation.subject} (serial {revocation.serial:x}) was revoked on {revocation.revoked_at.isoformat()}"
    reason = revocation.reason.name
    if revocation.revoked_at <= proven_at:
        return Standing.INVALID, f"{what} ({reason}), at or before it was received on {proven_at.isoformat()}"
    if revocation.reason in COMPROMISED:
        if revocation.invalidity_date is None:
            return (
                Standing.SUSPECT,
                f"{what} for {reason} with no invalidity date: the key may have been compromised before receipt",
            )
        if revocation.invalidity_date <= proven_at:
            return (
                Standing.SUSPECT,
                f"{what} for {reason}; the key is held compromised since {revocation.invalidity_date.isoformat()}, "
                f"before it was received on {proven_at.isoformat()}",
            )
        return (
            Standing.VALID_WHEN_RECEIVED,
            f"{what} for {reason}, compromised since {revocation.invalidity_date.isoformat()}, after it was received",
        )
    if revocation.reason in RETIRED:
        return Standing.VALID_WHEN_RECEIVED, f"{what} ({reason}) after it was received on {proven_at.isoformat()}"
    return (
        Standing.SUSPECT,
        f"{what} for {reason} after it was received; only superseded, cessationOfOperation and "
        "affiliationChanged keep earlier signatures valid",
    )


def _revocations(verified: Verified[Any], bundle: TrustBundle) -> list[Revocation]:
    trust = bundle.party(verified.signer_party)
    found: list[Revocation] = []
    if trust is None:
        return found
    for cert, issuer in pairwise(verified.chain):
        crl = trust.crl_for(issuer)
        if crl is None:
            continue
        check_crl_usable(crl, issuer)
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            found.append(revocation_entry(entry, cert.subject.rfc4514_string(), cert.serial_number))
    return found


_ORDER: Final = {Standing.INVALID: 0, Standing.SUSPECT: 1, Standing.VALID_WHEN_RECEIVED: 2, Standing.VALID: 3}


def verify_at_proven_time(
    value: str | bytes,
    *,
    bundle: TrustBundle,
    proven_at: datetime,
    now: datetime,
    typ: str,
    parse: Callable[[Any], P],
    claimed_party: Callable[[P], str],
) -> LongTermVerdict[P]:
    """Return the standing of a signed document proven to exist at ``proven_at``, judged at ``now``.

    Never raises a TrustError: a document that fails is ``invalid`` with the error attached.
    """
    # 1. every step of trust.verify at the proven time, revocation aside
    try:
        verified = verify_compact(
            value, bundle=without_crls(bundle), at=proven_at, typ=typ, parse=parse, claimed_party=claimed_party
        )
    except TrustError as exc:
        return LongTermVerdict(
            Standing.INVALID, proven_at, now, f"not valid when received: {exc.title}: {exc.detail}", error=exc
        )
    # 2. revocations of the chain, judged by date and reason
    try:
        revocations = _revocations(verified, bundle)
    except TrustError as exc:
        return LongTermVerdict(Standing.INVALID, proven_at, now, exc.detail, verified=verified, error=exc)
    worst: tuple[Standing, str, Revocation | None] = (Standing.VALID, "", None)
    for revocation in revocations:
        standing, reason = judge_revocation(revocation, proven_at)
        if _ORDER[standing] < _ORDER[worst[0]]:
            worst = (standing, reason, revocation)
    if worst[2] is not None:
        return LongTermVerdict(worst[0], proven_at, now, worst[1], verified=verified, revocation=worst[2])
    # 3. still valid now, or only when received (a certificate expired since)
    try:
        verify_compact(value, bundle=bundle, at=now, typ=typ, parse=parse, claimed_party=claimed_party)
    except TrustError as exc:
        return LongTermVerdict(
            Standing.VALID_WHEN_RECEIVED,
            proven_at,
            now,
            f"valid when received on {proven_at.isoformat()}; today: {exc.detail}",
            verified=verified,
        )
    return LongTermVerdict(Standing.VALID, proven_at, now, "valid now and when received", verified=verified)
