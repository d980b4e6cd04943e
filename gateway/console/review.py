"""What the console pages do with records: list, view (a ledger access event), answer.

Like every service, these take the caller's Session and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from gateway.clients import repository as clients
from gateway.console import repository
from gateway.console.errors import ActionRefused, FormInvalid, PageNotFound
from gateway.console.lifecycle import SUBSTANTIVE, lifecycle_panel
from gateway.console.lifecycle_views import LifecyclePanel, lifecycle_badges
from gateway.console.models import ConsoleAction
from gateway.console.schemas import InboxQuery, OfficerPrincipal
from gateway.console.views import (
    AnswerView,
    RecordView,
    answer_view,
    claimed_document,
    ledger_subject,
    partner_answers,
    record_view,
)
from gateway.errors import GatewayError
from gateway.exchange import repository as outbox
from gateway.ledger import repository as ledger
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.ledger.service import append_event
from gateway.ledger.status import ledger_status
from gateway.lifecycle.acknowledgements import acknowledge
from gateway.node import Node
from gateway.records import repository as records
from gateway.records.models import Delivery, StoredRecord
from gateway.records.repository import RecordFilter
from gateway.records.states import ANSWERABLE_STATUSES, Decision, Direction, RecordStatus, Verification

PAGE_SIZE: Final = 25
DECISIONS: Final = tuple(d.value for d in Decision)
MAX_COMMENT_LENGTH: Final = 2000


@dataclass(frozen=True)
class InboxPage:
    rows: Sequence[StoredRecord]
    total: int
    page: int
    pages: int
    needing_action: dict[str, int]
    invalid: int
    dead_deliveries: int
    review_due: int = 0
    badges: dict[int, tuple[str, ...]] = field(default_factory=dict)  # record pk → lifecycle badges


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def inbox_filter(query: InboxQuery, now: datetime) -> RecordFilter:
    """The record filter of the inbox query: received records; "invalid" means failed verification."""
    status = None if query.status in (None, "invalid") else RecordStatus(query.status)
    return RecordFilter(
        direction=Direction.IN,
        record_type=query.record_type,
        partner=query.partner,
        offence_category=query.offence_category,
        status=status,
        verification=Verification.INVALID if query.status == "invalid" else None,
        since=_day_start(query.received_from) if query.received_from else None,
        until=_day_start(query.received_until + timedelta(days=1)) if query.received_until else None,
        search=query.search,
        lifecycle=query.lifecycle,
        now=now,
    )


def inbox(session: Session, query: InboxQuery, now: datetime) -> InboxPage:
    """Return one page of received records for ``query`` with the action counts and lifecycle badges."""
    rows, total = records.numbered_page(session, inbox_filter(query, now), (query.page - 1) * PAGE_SIZE, PAGE_SIZE)
    return InboxPage(
        rows=rows,
        total=total,
        page=query.page,
        pages=_pages(total),
        needing_action=repository.needing_action(session),
        invalid=repository.invalid_received(session),
        dead_deliveries=outbox.count_by_status(session).get("dead", 0),
        review_due=repository.count_in_state(session, "in", "review_due", now),
        badges={row.pk: lifecycle_badges(row, now) for row in rows},
    )


@dataclass(frozen=True)
class OutboxPage:
    rows: Sequence[tuple[StoredRecord, list[Delivery]]]
    total: int
    page: int
    pages: int
    counts: dict[str, int]
    dead: Sequence[tuple[Delivery, StoredRecord]]
    badges: dict[int, tuple[str, ...]] = field(default_factory=dict)  # record pk → lifecycle badges


def outbox_page(session: Session, delivery_status: str | None, page: int, now: datetime) -> OutboxPage:
    """Return one page of records signed here with their deliveries, and the dead deliveries."""
    rows, total = repository.outbox_page(session, delivery_status, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    deliveries = repository.deliveries_for(session, [r.pk for r in rows])
    return OutboxPage(
        rows=[(r, deliveries[r.pk]) for r in rows],
        total=total,
        page=page,
        pages=_pages(total),
        counts=outbox.count_by_status(session),
        dead=outbox.listing(session, "dead", 200),
        badges={row.pk: lifecycle_badges(row, now) for row in rows},
    )


@dataclass(frozen=True)
class RecordPage:
    view: RecordView
    timeline: Sequence[LedgerEntry]
    answers: Sequence[AnswerView]  # our officers' answers to a received record
    partner_answers: Sequence[AnswerView]  # partners' answers to a record we sent
    answerable: bool
    raw_claimed: str | None  # the unverified content of an invalid record, as text
    lifecycle: LifecyclePanel
    actor_names: dict[str, str] = field(default_factory=dict)  # ledger actor → how the timeline names it


def _viewed_since_sign_in(session: Session, officer: OfficerPrincipal, subject: str) -> bool:
    """Return whether this officer already viewed ``subject`` since their latest sign-in."""
    signed_in = ledger.latest_index(session, AuditEvent.OFFICER_SIGNED_IN.value, officer.actor)
    if signed_in is None:
        return False
    viewed = ledger.latest_index_for_subject(session, AuditEvent.RECORD_VIEWED.value, officer.actor, subject)
    return viewed is not None and viewed > signed_in


def _actor_names(session: Session, timeline: Sequence[LedgerEntry]) -> dict[str, str]:
    """Name API clients by the name they were given, not their opaque id (``client:agc_…``)."""
    names = {}
    for actor in {e.actor for e in timeline if e.actor.startswith("client:")}:
        client = clients.get_client(session, actor.removeprefix("client:"))
        if client is not None:
            names[actor] = f"{client.name} (API client)"
    return names


def view_record(session: Session, node: Node, officer: OfficerPrincipal, record_pk: int) -> RecordPage:
    """Return everything the record page shows, and log the view in the ledger.

    Raises PageNotFound.
    """
    stored = records.by_pk(session, record_pk)
    if stored is None:
        raise PageNotFound(f"no record {record_pk} at this node")
    subject = ledger_subject(stored)
    if not _viewed_since_sign_in(session, officer, subject):
        # An officer reloading a record, or coming back to it after an action,
        # is one view: the custody timeline is for who saw it, not how often.
        append_event(
            session,
            AuditEvent.RECORD_VIEWED,
            actor=officer.actor,
            subject=subject,
            at=node.now(),
            detail={"record_pk": stored.pk, "via": "console"},
        )
    timeline = ledger.entries_for_subject(session, subject)
    own_answers = [
        answer_view(action.decision, who.username, action.at, ack, records.deliveries_of(session, ack.pk))
        for action, who, ack in repository.actions_on(session, stored.pk)
    ]
    theirs = (
        partner_answers(stored, repository.acknowledgements_received_after(session, stored.pk, 500))
        if stored.direction == "out"
        else []
    )
    return RecordPage(
        view=record_view(stored, records.deliveries_of(session, stored.pk), node.bundle),
        timeline=timeline,
        actor_names=_actor_names(session, timeline),
        answers=own_answers,
        partner_answers=theirs,
        answerable=_refusal(stored) is None,
        raw_claimed=claimed_document(stored) if stored.verification != "valid" else None,
        lifecycle=lifecycle_panel(session, node, stored),
    )


def _refusal(stored: StoredRecord) -> str | None:
    """Return why the record cannot be answered, or None when it can."""
    if stored.direction != "in":
        return "only received records are answered"
    if stored.verification != "valid":
        return "this record is INVALID (it failed verification); it cannot be acknowledged"
    if stored.record_type == "acknowledgement":
        return "acknowledgements are not themselves acknowledged"
    if stored.record_type not in SUBSTANTIVE:
        return "lifecycle notices are answered with their own actions, not acknowledged"
    if stored.retracted_by is not None or stored.body_deleted_at is not None:
        return "this record was retracted or its body deleted; it can no longer be acknowledged"
    if stored.status not in ANSWERABLE_STATUSES:
        return f"this record was already answered ({stored.status})"
    return None


def answer_record(
    session: Session,
    node: Node,
    officer: OfficerPrincipal,
    record_pk: int,
    decision: str,
    comment: str,
) -> StoredRecord:
    """Sign and queue an acknowledgement (accept, query or reject) of a received record.

    Returns the acknowledgement record. Raises PageNotFound, FormInvalid (no
    such decision; a query or reject without its question or reason) and
    ActionRefused (invalid record, already answered, not a received record).
    """
    stored = records.by_pk(session, record_pk)
    if stored is None:
        raise PageNotFound(f"no record {record_pk} at this node")
    if decision not in DECISIONS:
        raise FormInvalid("choose accept, query or reject")
    text = comment.strip()
    if decision != "accept" and not text:
        raise FormInvalid("a query needs the question, a rejection the reason")
    if len(text) > MAX_COMMENT_LENGTH:
        raise FormInvalid(f"the comment is longer than {MAX_COMMENT_LENGTH} characters")
    refusal = _refusal(stored)
    if refusal is not None or stored.record_id is None:
        raise ActionRefused(refusal or "the record has no record id")
    try:
        submission = acknowledge(
            session,
            node,
            stored.record_id,
            originator=stored.originator_party,  # the page's record, never another originator's under its id
            decision=Decision(decision),
            comment=text or None,
            actor=officer.actor,
            officer_ref=officer.officer_ref,
            agency=node.settings.agency,
        )
    except GatewayError as exc:  # not acknowledgeable, refused by the terms, …
        raise ActionRefused(f"{exc.title}: {exc.detail}") from exc
    repository.add(
        session,
        ConsoleAction(
            record_pk=stored.pk,
            officer_pk=officer.officer_pk,
            decision=decision,
            acknowledgement_pk=submission.record.pk,
            at=node.now(),
        ),
    )
    return submission.record


@dataclass(frozen=True)
class LedgerPage:
    tree_size: int
    recent: Sequence[LedgerEntry]
    status: dict[str, Any] = field(default_factory=dict)


def ledger_page(session: Session, limit: int = 50) -> LedgerPage:
    """Return the ledger's tree size and its latest entries, newest first."""
    size = ledger.tree_size(session)
    recent = list(ledger.entries(session, max(0, size - limit), size))
    recent.reverse()
    return LedgerPage(size, recent, ledger_status(session))
