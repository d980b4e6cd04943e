"""Suspect records: the standing check that finds them, and the notices to the officers who reviewed them.

A record turns suspect when a CRL this node holds revokes a link of its
signing chain for keyCompromise (or another reason that does not retire a key)
with an invalidity date before the record's proven receipt (trust.longterm).
That happens when a trust update or a CRL arrives, long after officers read
and answered the record. The standing check judges every stored record that
can be judged and, for each one found suspect for the first time, appends a
``records:record:suspected`` ledger event: the oversight report counts those
events, and every officer whose ``viewed`` or ``acknowledged`` event precedes
it sees a notice on the console inbox until they dismiss it (a
``console:notice:dismissed`` event). docs/evidence.md, "Suspect records".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.evidence import repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.records import repository as records
from gateway.records.signing import rfc3339
from gateway.records.standing import record_standing
from gateway.trust.bundle import TrustBundle
from gateway.trust.longterm import RETIRED, Standing, revocation_entry
from gateway.vault.errors import BodyTamperedError

BATCH_SIZE = 200
OFFICER_PREFIX = "officer:"


@dataclass(frozen=True, slots=True)
class SuspectFound:
    """A record the check flagged, and the officers (usernames) who reviewed it before."""

    record_id: str
    originator: str | None
    reason: str
    reviewers: tuple[str, ...]


@dataclass(slots=True)
class StandingCheck:
    """What one pass (or one batch of it) judged and found."""

    judged: int = 0
    found: list[SuspectFound] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # record ids whose sealed body failed its tag
    last_pk: int = 0
    exhausted: bool = True

    def merge(self, batch: StandingCheck) -> None:
        self.judged += batch.judged
        self.found += batch.found
        self.unreadable += batch.unreadable
        self.last_pk, self.exhausted = batch.last_pk, batch.exhausted

    @property
    def notices(self) -> int:
        """Officer notices the flags raised (one per officer per record)."""
        return sum(len(found.reviewers) for found in self.found)


def doubted_parties(bundle: TrustBundle) -> frozenset[str]:
    """Return the parties whose CRLs list a certificate for a reason that can leave a record suspect.

    Only superseded, cessationOfOperation and affiliationChanged never do. A
    record's chain is judged with its signer's party entry only, and the
    signer's party is the record's originator: records of other parties need
    no judging, and a bundle naming no such party needs no pass at all.
    """
    return frozenset(
        code
        for code, trust in bundle.parties.items()
        if any(
            revocation_entry(entry, "", entry.serial_number).reason not in RETIRED
            for crl in trust.crls
            for entry in crl
        )
    )


def flag_suspects(
    session: Session,
    bundle: TrustBundle,
    now: datetime,
    *,
    actor: str,
    parties: frozenset[str] | None = None,
    after_pk: int = 0,
    limit: int = BATCH_SIZE,
) -> StandingCheck:
    """Judge up to ``limit`` stored records after ``after_pk``; flag each newly suspect one in the ledger.

    Only records originated by ``parties`` are judged (default: ``doubted_parties(bundle)``).
    Records already flagged are not judged again. Returns the batch's
    StandingCheck (``exhausted`` when no record is left). Raises
    VaultUnavailableError when the session cannot open sealed bodies.
    """
    originators = doubted_parties(bundle) if parties is None else parties
    rows = repository.judgeable_records(session, originators, after_pk, limit)
    check = StandingCheck(last_pk=rows[-1].pk if rows else after_pk, exhausted=len(rows) < limit)
    already = repository.flagged(session, [row.record_id for row in rows if row.record_id])
    for stored in rows:
        record_id = stored.record_id or ""
        if record_id in already:
            continue
        try:
            verdict = record_standing(stored, records.deliveries_of(session, stored.pk), bundle, now)
        except BodyTamperedError:
            check.unreadable.append(record_id)
            continue
        if verdict is None:
            continue
        check.judged += 1
        if verdict.standing is not Standing.SUSPECT:
            continue
        link = verdict.revocation
        index = append_event(
            session,
            AuditEvent.RECORD_SUSPECTED,
            actor=actor,
            subject=record_id,
            at=now,
            detail={
                "originator": stored.originator_party,
                "received_at": rfc3339(verdict.proven_at),
                "revoked_serial": f"{link.serial:x}" if link else None,
                "revocation_reason": link.reason.name if link else None,
                "invalidity_date": rfc3339(link.invalidity_date) if link and link.invalidity_date else None,
            },
        )
        already.add(record_id)
        told = tuple(a.removeprefix(OFFICER_PREFIX) for a in repository.reviewers(session, record_id, index))
        check.found.append(SuspectFound(record_id, stored.originator_party, verdict.reason, told))
    return check


@dataclass(frozen=True, slots=True)
class SuspectNotice:
    """A record this officer reviewed that was later found suspect."""

    record_id: str
    found_at: datetime


def suspect_notices(session: Session, officer_actor: str) -> list[SuspectNotice]:
    """Return the open suspect notices of an officer (ledger actor ``officer:<username>``), newest first."""
    return [SuspectNotice(row.record_id, row.found_at) for row in repository.open_notices(session, officer_actor)]


def dismiss_suspect_notice(session: Session, officer_actor: str, record_id: str, now: datetime) -> bool:
    """Dismiss the officer's open notice about ``record_id``; returns False when there was none (nothing logged)."""
    if not any(row.record_id == record_id for row in repository.open_notices(session, officer_actor, limit=1000)):
        return False
    append_event(session, AuditEvent.SUSPECT_NOTICE_DISMISSED, actor=officer_actor, subject=record_id, at=now)
    return True
