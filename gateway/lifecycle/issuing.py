"""Issuing a lifecycle record: one sequence, run for every operation declared in ``operations``.

Each operation is declared once as an ``Operation``: the record type it
issues, who may issue it (the agency API scope, the officer role, whether
only the record's issuing agency may), how the held row is found, the checks
and body (its ``plan``), the effect on the held rows, and the audit event.
``issue`` runs them in order::

    find the held row → plan (check, body, recipients) → draft → sign and queue
    → effect on the held rows → ledger event

in the caller's transaction (services never commit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

from gateway.exchange.outgoing import Submission
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.lifecycle.drafts import draft_about, submit
from gateway.node import Node
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType

Args = TypeVar("Args")


@dataclass(frozen=True)
class Issuer:
    """Who issues a lifecycle record: the ledger actor, the signing officer, the agency it is issued for."""

    actor: str
    officer_ref: str
    agency: str


@dataclass(frozen=True)
class Plan:
    """What one operation signs about which row, once its checks passed."""

    held: StoredRecord  # the row the operation was asked about
    about: StoredRecord  # the record whose purpose, legal basis and handling the draft takes
    recipients: list[str]
    body: dict[str, Any]
    subject: str  # the ledger event's subject
    detail: dict[str, Any] = field(default_factory=dict)  # the ledger detail, besides the issued record
    rows: tuple[StoredRecord, ...] = ()  # further rows the effect changes (every version a retraction withdraws)
    expires_at: datetime | None = None
    review_due: datetime | None = None
    supersedes: str | None = None
    envelope: dict[str, Any] = field(default_factory=dict)  # envelope fields taken as they are
    event: AuditEvent | None = None  # another event than the operation's (a refused consent)


def to_sender(
    held: StoredRecord,
    body: dict[str, Any],
    detail: dict[str, Any],
    *,
    about: StoredRecord | None = None,
    subject: str | None = None,
    event: AuditEvent | None = None,
) -> Plan:
    """Return the plan of a record addressed to the party that sent ``held`` (an answer, a report, a request).

    The draft takes its purpose and handling from ``about`` (``held`` by
    default); the ledger event is about ``subject`` (``held``'s id by default).
    """
    return Plan(
        held=held,
        about=about if about is not None else held,
        recipients=[held.originator_party or ""],
        body=body,
        subject=subject if subject is not None else held.record_id or "",
        detail=detail,
        event=event,
    )


Finder = Callable[[Session, str, str | None], StoredRecord]
Planner = Callable[[Session, Node, StoredRecord, Args], Plan]
Effect = Callable[[Session, Node, Plan, Args, str, str], None]


def no_effect(session: Session, node: Node, plan: Plan, args: object, issued: str, actor: str) -> None:
    """The effect of an operation that changes no held row (a request waits for its answer)."""


@dataclass(frozen=True)
class Operation(Generic[Args]):
    """One lifecycle operation, declared once; the API and the console serve it from this."""

    issues: RecordType
    find: Finder  # the held row: this node's own record, or a received one (raises NotHeldError, …)
    plan: Planner[Args]
    effect: Effect[Args]
    event: AuditEvent
    issued_as: str  # the ledger detail key naming the issued record
    scope: str = "records:write"  # the agency API scope it needs
    role: str = "reviewer"  # the console role it needs
    issuing_agency_only: bool = False  # only a client of the record's issuing agency (or admin) may issue it
    names_originator: bool = False  # about a received record: the caller may name its originator
    check: Callable[[Node, Args], None] | None = None  # checks of the arguments alone, before any row is read


def issue(
    session: Session,
    node: Node,
    operation: Operation[Args],
    record_id: str,
    args: Args,
    issuer: Issuer,
    *,
    originator: str | None = None,
) -> Submission:
    """Run ``operation`` on the record ``record_id`` (of ``originator``) in the caller's transaction.

    Returns the submission of the issued record. Raises the errors of the
    operation's ``check``, ``find`` and ``plan`` (NotHeldError, NotOriginatorError,
    WrongRecordTypeError, …) and of submit_draft; nothing is changed then.
    """
    if operation.check is not None:
        operation.check(node, args)
    held = operation.find(session, record_id, originator)
    plan = operation.plan(session, node, held, args)
    draft = draft_about(
        node,
        plan.about,
        operation.issues,
        plan.recipients,
        plan.body,
        officer_ref=issuer.officer_ref,
        agency=issuer.agency,
        expires_at=plan.expires_at,
        review_due=plan.review_due,
        supersedes=plan.supersedes,
    )
    submission = submit(session, node, {**draft, **plan.envelope}, actor=issuer.actor)
    issued = submission.record.record_id or ""
    operation.effect(session, node, plan, args, issued, issuer.actor)
    append_event(
        session,
        plan.event or operation.event,
        actor=issuer.actor,
        subject=plan.subject,
        at=node.now(),
        detail={operation.issued_as: submission.record.record_id, **plan.detail},
    )
    return submission
