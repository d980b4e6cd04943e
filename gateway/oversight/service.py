"""The oversight report: what this node exchanged, refused, corrected, deleted and showed in a period.

The report holds counts only, keyed by party codes, record types and reason
codes. Names, dates of birth, documents, person refs, officer or client
identifiers and free text never enter it: the queries do not select them, and
every code read from a row or a partner's receipt passes ``_code`` first.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from gateway.errors import InputError
from gateway.ledger.events import AuditEvent
from gateway.oversight import repository
from gateway.records.at_rest import report_facts
from gateway.records.models import StoredRecord
from gateway.records.signing import parse_rfc3339
from gateway.records.states import DeliveryStatus

DELIVERY_STATUSES = tuple(DeliveryStatus)
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# Which time decides whether something falls in the period; every format prints these.
PERIOD_BASIS: tuple[tuple[str, str], ...] = (
    ("period", "half-open [from, to), UTC"),
    ("records sent / received, rejections, notices", "time the record was stored at this node (stored_at)"),
    ("delivery and receipt status", "as of the time the report was generated"),
    (
        "corrections and retractions",
        "issued or received in the period (stored_at); application time runs from the instruction's created_at "
        "to the applied_at of the matching application acknowledgement, whenever it arrived",
    ),
    ("deletions", "time the body was deleted (body_deleted_at = time of the records:body:deleted ledger event)"),
    ("legal holds, access", "time of the ledger event (records:hold:placed / released, records:record:viewed)"),
    ("dead deliveries", "time of the delivery's last attempt (last_attempt_at)"),
    ("onward forwards", "time the forward was queued (delivery created_at)"),
    ("console sign-ins", "time of the ledger event (console:officer:signed_in)"),
    (
        "suspect records",
        "time the standing check flagged the record (records:record:suspected), whenever it was received: "
        "its signing key was revoked for compromise since before its receipt (docs/evidence.md)",
    ),
)


class ReportingNode(Protocol):
    """What the report needs of a node: its party and its clock (``gateway.node.Node`` fits)."""

    @property
    def party(self) -> str: ...

    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class SentCount:
    """Deliveries of this node's records of one type to one recipient, by current status."""

    recipient: str
    record_type: str
    delivered: int = 0
    pending: int = 0
    rejected: int = 0
    dead: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.pending + self.rejected + self.dead + self.cancelled


@dataclass(frozen=True, slots=True)
class ReceivedCount:
    sender: str
    record_type: str
    accepted: int
    rejected: int


@dataclass(frozen=True, slots=True)
class RejectionCount:
    """``direction`` "in": received records this node rejected; "out": this node's records a partner rejected."""

    direction: str
    party: str
    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class InstructionsIssued:
    """Corrections or retractions this node issued to one recipient, and how fast that recipient applied them."""

    record_type: str
    recipient: str
    issued: int
    applied: int
    not_held: int
    pending: int
    median_hours: float | None
    max_hours: float | None


@dataclass(frozen=True, slots=True)
class InstructionsReceived:
    """Corrections or retractions received from one originator, and what this node did with them."""

    record_type: str
    originator: str
    received: int
    applied: int
    not_held: int
    unacknowledged: int


@dataclass(frozen=True, slots=True)
class DeletionCount:
    """Record bodies deleted; ``direction`` "out" for this node's own records, "in" for received copies."""

    reason: str
    direction: str
    count: int


@dataclass(frozen=True, slots=True)
class AccessCount:
    actor_kind: str
    views: int
    distinct_records: int


@dataclass(frozen=True, slots=True)
class SignInCount:
    """Console sign-ins by method: ``oidc`` (the agency's provider) or ``password_totp`` (break-glass)."""

    method: str
    count: int


@dataclass(frozen=True, slots=True)
class PartyCount:
    party: str
    count: int


@dataclass(frozen=True, slots=True)
class NoticeCount:
    """Onward-sharing and discrepancy records and deletion notices, sent to or received from one party."""

    notice: str
    direction: str
    party: str
    count: int


@dataclass(frozen=True, slots=True)
class SuspectCount:
    """Records found suspect in the period; ``direction`` "out" for this node's own records, "in" for received."""

    direction: str
    originator: str
    record_type: str
    count: int


@dataclass(frozen=True, slots=True)
class OversightReport:
    party: str
    start: datetime
    end: datetime
    generated_at: datetime
    sent: tuple[SentCount, ...]
    received: tuple[ReceivedCount, ...]
    rejections: tuple[RejectionCount, ...]
    corrections_issued: int  # distinct records; each went to one or more recipients
    retractions_issued: int
    instructions_issued: tuple[InstructionsIssued, ...]
    instructions_received: tuple[InstructionsReceived, ...]
    deletions: tuple[DeletionCount, ...]
    legal_holds_placed: int
    legal_holds_released: int
    access: tuple[AccessCount, ...]
    records_viewed: int  # distinct records viewed by anyone (not the sum over actor kinds)
    dead_deliveries: tuple[PartyCount, ...]
    notices: tuple[NoticeCount, ...]
    sign_ins: tuple[SignInCount, ...] = ()
    suspects: tuple[SuspectCount, ...] = ()

    @property
    def views(self) -> int:
        return sum(a.views for a in self.access)

    @property
    def suspect_records(self) -> int:
        return sum(s.count for s in self.suspects)


def _code(value: str | None) -> str:
    """Return ``value`` if it looks like a code (party, type, reason), else a placeholder; never free text."""
    if value is None or value == "":
        return "unspecified"
    return value if _CODE.match(value) else "other"


def _body(row: StoredRecord) -> dict[str, Any]:
    # The few body fields the report counts are kept clear: the report opens no sealed body.
    return report_facts(row)


def _parties(row: StoredRecord) -> list[str]:
    return [p for p in row.recipients.split(",") if p]


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise InputError(f"{name} must carry a time zone (UTC)")
    return moment.astimezone(UTC)


def build_report(session: Session, node: ReportingNode, start: datetime, end: datetime) -> OversightReport:
    """Return the oversight report of ``node`` for the period ``[start, end)``.

    Raises InputError when a bound has no time zone or ``start`` is not before ``end``.
    """
    start, end = _aware(start, "the start"), _aware(end, "the end")
    if start >= end:
        raise InputError("the period is empty: its start must be before its end")
    issued = repository.instructions(session, "out", start, end)
    return OversightReport(
        party=node.party,
        start=start,
        end=end,
        generated_at=node.now().astimezone(UTC).replace(microsecond=0),
        sent=_sent(session, start, end),
        received=_received(session, start, end),
        rejections=_rejections(session, start, end),
        corrections_issued=sum(1 for i in issued if i.record_type == "correction"),
        retractions_issued=sum(1 for i in issued if i.record_type == "retraction"),
        instructions_issued=_instructions_issued(session, issued),
        instructions_received=_instructions_received(session, start, end),
        deletions=tuple(
            DeletionCount(_code(reason), direction, count)
            for reason, direction, count in sorted(
                repository.body_deletions(session, start, end), key=lambda r: (str(r[0]), r[1])
            )
        ),
        legal_holds_placed=repository.event_count(session, AuditEvent.LEGAL_HOLD_PLACED, start, end),
        legal_holds_released=repository.event_count(session, AuditEvent.LEGAL_HOLD_RELEASED, start, end),
        access=tuple(
            AccessCount(kind, views, distinct)
            for kind, views, distinct in sorted(repository.views_by_actor_kind(session, start, end))
        ),
        records_viewed=repository.distinct_records_viewed(session, start, end),
        dead_deliveries=tuple(
            PartyCount(_code(party), count) for party, count in sorted(repository.dead_deliveries(session, start, end))
        ),
        notices=_notices(session, start, end),
        sign_ins=tuple(SignInCount(m, n) for m, n in sorted(repository.sign_ins_by_method(session, start, end))),
        suspects=tuple(
            SuspectCount(direction, originator, kind, count)
            for direction, originator, kind, count in sorted(
                (d, _code(o), _code(t), n) for d, o, t, n in repository.suspects_found(session, start, end)
            )
        ),
    )


def _sent(session: Session, start: datetime, end: datetime) -> tuple[SentCount, ...]:
    by_key: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for recipient, record_type, status, count in repository.deliveries_by_status(session, start, end):
        # A delivery being sent right now is still pending.
        by_key[(_code(recipient), _code(record_type))][status if status in DELIVERY_STATUSES else "pending"] += count
    return tuple(SentCount(recipient, kind, **counts) for (recipient, kind), counts in sorted(by_key.items()))


def _received(session: Session, start: datetime, end: datetime) -> tuple[ReceivedCount, ...]:
    by_key: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for peer, record_type, verification, count in repository.received_by_verification(session, start, end):
        by_key[(_code(peer), _code(record_type))]["accepted" if verification == "valid" else "rejected"] += count
    return tuple(
        ReceivedCount(sender, kind, counts["accepted"], counts["rejected"])
        for (sender, kind), counts in sorted(by_key.items())
    )


def _rejections(session: Session, start: datetime, end: datetime) -> tuple[RejectionCount, ...]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for peer, reason, count in repository.incoming_rejections(session, start, end):
        counts[("in", _code(peer), _code(reason))] += count
    for recipient, reason, count in repository.outgoing_rejections(session, start, end):
        counts[("out", _code(recipient), _code(reason))] += count
    return tuple(RejectionCount(d, p, r, n) for (d, p, r), n in sorted(counts.items()))


def _applied_at(ack: StoredRecord) -> datetime | None:
    value = _body(ack).get("applied_at")
    if isinstance(value, str):
        try:
            return parse_rfc3339(value)
        except ValueError:
            pass
    return ack.created_at  # body deleted or unreadable: the acknowledgement was signed when it was applied


def _outcome(ack: StoredRecord) -> str:
    outcome = _body(ack).get("outcome", "applied")
    return "not_held" if outcome == "not_held" else "applied"


def _instructions_issued(session: Session, issued: Sequence[StoredRecord]) -> tuple[InstructionsIssued, ...]:
    acks = {
        (ack.refers_to, ack.originator_party): ack
        for ack in repository.applications(session, "in", [i.record_id or "" for i in issued])
    }
    tally: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    hours: dict[tuple[str, str], list[float]] = defaultdict(list)
    for instruction in issued:
        for party in _parties(instruction):
            key = (_code(instruction.record_type), _code(party))
            tally[key]["issued"] += 1
            ack = acks.get((instruction.record_id, party))
            if ack is None:
                tally[key]["pending"] += 1
                continue
            outcome = _outcome(ack)
            tally[key][outcome] += 1
            applied_at = _applied_at(ack)
            if outcome == "applied" and applied_at is not None and instruction.created_at is not None:
                # A partner clock slightly behind ours must not make a negative delay.
                hours[key].append(max(0.0, (applied_at - instruction.created_at).total_seconds() / 3600))
    return tuple(
        InstructionsIssued(
            record_type=kind,
            recipient=party,
            issued=counts["issued"],
            applied=counts["applied"],
            not_held=counts["not_held"],
            pending=counts["pending"],
            median_hours=statistics.median(hours[(kind, party)]) if hours[(kind, party)] else None,
            max_hours=max(hours[(kind, party)]) if hours[(kind, party)] else None,
        )
        for (kind, party), counts in sorted(tally.items())
    )


def _instructions_received(session: Session, start: datetime, end: datetime) -> tuple[InstructionsReceived, ...]:
    received = repository.instructions(session, "in", start, end)
    ours = {
        ack.refers_to: ack for ack in repository.applications(session, "out", [i.record_id or "" for i in received])
    }
    tally: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for instruction in received:
        key = (_code(instruction.record_type), _code(instruction.originator_party))
        tally[key]["received"] += 1
        ack = ours.get(instruction.record_id)
        tally[key][_outcome(ack) if ack is not None else "unacknowledged"] += 1
    return tuple(
        InstructionsReceived(kind, party, c["received"], c["applied"], c["not_held"], c["unacknowledged"])
        for (kind, party), c in sorted(tally.items())
    )


def _notice_name(row: StoredRecord) -> str:
    kind = _code(row.record_type)
    if kind == "onward_sharing_consent":
        decision = _body(row).get("decision")
        return f"{kind}_{decision}" if decision in ("granted", "refused") else kind
    return kind


def _counterparts(row: StoredRecord) -> Iterable[str]:
    return _parties(row) if row.direction == "out" else [row.originator_party or ""]


def _notices(session: Session, start: datetime, end: datetime) -> tuple[NoticeCount, ...]:
    counts: Counter[tuple[str, str, str]] = Counter()
    rows: Sequence[StoredRecord] = repository.notices(session, start, end)
    for row in rows:
        for party in _counterparts(row):
            counts[(_notice_name(row), row.direction, _code(party))] += 1
    for party, count in repository.onward_forwards(session, start, end):
        counts[("onward_forward", "out", _code(party))] += count
    return tuple(NoticeCount(n, d, p, c) for (n, d, p), c in sorted(counts.items()))
