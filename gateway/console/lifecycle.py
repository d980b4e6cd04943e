"""What the console does with the record lifecycle: the record page's panel and the officers' actions.

Every action is one of the lifecycle operations of ``gateway.lifecycle`` (or
the retention service for legal holds), which sign what must be signed and
append the ledger event; like every service, these take the caller's Session
and never commit. Errors are GatewayErrors; the page shows them to the officer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar, cast

from sqlalchemy.orm import Session

from gateway.console import repository
from gateway.console.errors import ActionRefused, FormInvalid, PageNotFound
from gateway.console.lifecycle_views import (
    LifecycleActions,
    LifecyclePanel,
    OnwardTarget,
    body_of,
    contest_note,
    lifecycle_badges,
    onward_receipt,
    retraction_note,
)
from gateway.console.schemas import ActionForm, OfficerPrincipal, Role
from gateway.errors import GatewayError
from gateway.lifecycle import repository as lifecycle_records
from gateway.lifecycle.dissemination import dissemination, laggards
from gateway.lifecycle.issuing import Issuer, Operation, issue
from gateway.lifecycle.onward import consent_for, forward_onward
from gateway.lifecycle.operations import (
    DISCREPANCY_REPORT,
    DISCREPANCY_RESPONSE,
    ONWARD_CONSENT,
    ONWARD_REQUEST,
    RETRACTION,
)
from gateway.lifecycle.read_model import Dissemination, Laggard
from gateway.lifecycle.schemas import (
    ConsentDecision,
    ConsentRequest,
    DiscrepancyAnswer,
    DiscrepancyCategoryCode,
    DiscrepancyOutcomeCode,
    DiscrepancyRequest,
    OnwardRequest,
    RetractionReasonCode,
    RetractionRequest,
)
from gateway.node import Node
from gateway.records import repository as records
from gateway.records.kinds import SUBSTANTIVE_TYPES
from gateway.records.lifecycle_bodies import DiscrepancyCategory, DiscrepancyOutcome, RetractionReason
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.views import lifecycle_view
from gateway.terms.sharing import forbidden_handling

SUBSTANTIVE: Final = SUBSTANTIVE_TYPES
RETRACTION_REASONS: Final = tuple(r.value for r in RetractionReason)
DISCREPANCY_CATEGORIES: Final = tuple(c.value for c in DiscrepancyCategory)
MAX_TEXT: Final = 2000
MAX_HOLD_REASON: Final = 500
# The ``done`` notices of the record page after each action.
DONE: Final = (
    "retracted",
    "reported",
    "onward_requested",
    "granted",
    "refused",
    "answered",
    "forwarded",
    "held",
    "released",
)


# -- the record page -------------------------------------------------------------------


def _body_present(stored: StoredRecord) -> bool:
    return stored.body_deleted_at is None and stored.retracted_by is None


def _purposes(node: Node, stored: StoredRecord) -> tuple[str, ...]:
    current = node.terms.current(node.now()) if node.terms is not None else None
    known = [stored.purpose or ""] + [str(p) for f in (current.terms.flows if current else []) for p in f.purposes]
    return tuple(dict.fromkeys(p for p in known if p))


def _actions(session: Session, node: Node, stored: StoredRecord) -> LifecycleActions:
    if stored.verification != "valid" or stored.record_id is None:
        return LifecycleActions()
    own, held = stored.direction == "out", stored.direction == "in"
    substantive = stored.record_type in SUBSTANTIVE
    live = _body_present(stored)
    shareable = held and substantive and live and stored.handling not in forbidden_handling(node)
    asked: tuple[str, ...] = ()
    targets: list[OnwardTarget] = []
    if shareable:
        holding = {node.party, stored.originator_party, *stored.recipients.split(",")}
        asked = tuple(p for p in sorted(node.bundle.parties) if p not in holding)
        targets = _onward_targets(session, node, stored)
    outcomes: tuple[str, ...] = ()
    if held and stored.record_type == RecordType.DISCREPANCY_REPORT.value and stored.status != "answered":
        outcomes = _outcomes(lifecycle_records.valid_copy(session, "out", stored.refers_to or ""))
    return LifecycleActions(
        retract=own and substantive and stored.retracted_by is None,
        report=held and substantive and live and stored.contested_by is None,
        request_onward=tuple(p for p in asked if p not in {t.third_party for t in targets}),
        purposes=_purposes(node, stored) if asked else (),
        answer_request=held
        and stored.record_type == RecordType.ONWARD_SHARING_REQUEST.value
        and stored.status != "answered",
        answer_report=outcomes,
        share_onward=tuple(targets),
        hold=stored.legal_hold_at is None and stored.body_deleted_at is None,
        release=stored.legal_hold_at is not None,
    )


def _onward_targets(session: Session, node: Node, held: StoredRecord) -> list[OnwardTarget]:
    """The third parties the originator consented to for this node, with the forward's delivery status."""
    consents = lifecycle_records.about(session, "in", [held.record_id or ""], [RecordType.ONWARD_SHARING_CONSENT.value])
    targets = []
    for third_party in dict.fromkeys(c.third_party for c in consents if c.third_party):
        consent = consent_for(session, held, third_party, node.party)
        if consent is not None:
            delivery = lifecycle_records.delivery_to(session, held.pk, third_party)
            targets.append(OnwardTarget(third_party, consent.record_id, delivery.status if delivery else None))
    return targets


def _outcomes(reported: StoredRecord | None) -> tuple[str, ...]:
    """The answers a discrepancy report may get: corrected / retracted only once that was done."""
    if reported is None:
        return ()
    outcomes = [DiscrepancyOutcome.CONFIRMED_CORRECT.value]
    if reported.superseded_by is not None:
        outcomes.append(DiscrepancyOutcome.CORRECTED.value)
    if reported.retracted_by is not None:
        outcomes.append(DiscrepancyOutcome.RETRACTED.value)
    return tuple(outcomes)


def _dissemination(session: Session, node: Node, stored: StoredRecord) -> Dissemination | None:
    if stored.direction != "out" or stored.verification != "valid" or stored.record_type not in SUBSTANTIVE:
        return None
    try:
        return dissemination(session, node, stored.record_id or "")
    except GatewayError:  # not (or no longer) tracked here: the page shows the deliveries instead
        return None


def _mentioned(stored: StoredRecord, spread: Dissemination | None) -> set[str]:
    """Every record id the page links to: later records, the lifecycle body's ids, the dissemination's."""
    ids = {stored.superseded_by, stored.retracted_by, stored.contested_by, stored.refers_to, stored.supersedes}
    ids |= {str(v) for k, v in body_of(stored).items() if k.endswith("_record_id") and v}
    for holder in spread.holders if spread is not None else []:
        ids |= {holder.holds, holder.route.consent, holder.deletion_notice}
        for version in holder.versions:
            ids.add(version.record_id)
            ids.add(version.application.acknowledgement_id if version.application is not None else None)
    return {i for i in ids if i}


def lifecycle_panel(session: Session, node: Node, stored: StoredRecord) -> LifecyclePanel:
    """Return what the record page shows about ``stored``'s lifecycle and the actions it allows."""
    now = node.now()
    spread = _dissemination(session, node, stored)
    # Records a page names are the same originator's (versions, its instructions) or this node's own.
    held = repository.valid_by_record_id(session, _mentioned(stored, spread), [stored.originator_party, node.party])
    return LifecyclePanel(
        state=lifecycle_view(stored, now),
        badges=lifecycle_badges(stored, now),
        review_due=stored.review_due,
        expires_at=stored.expires_at,
        retraction=retraction_note(stored, held.get(stored.retracted_by or "")),
        contest=contest_note(stored, held.get(stored.contested_by or "")),
        onward=onward_receipt(stored),
        dissemination=spread,
        actions=_actions(session, node, stored),
        links={record_id: row.pk for record_id, row in held.items()},
    )


# -- the actions -----------------------------------------------------------------------


def _record(session: Session, record_pk: int) -> tuple[StoredRecord, str]:
    """Return the record ``record_pk`` and its id; raises PageNotFound, ActionRefused (invalid record)."""
    stored = records.by_pk(session, record_pk)
    if stored is None:
        raise PageNotFound(f"no record {record_pk} at this node")
    if stored.verification != "valid" or stored.accepted_record_id is None:
        raise ActionRefused("this record is INVALID (it failed verification); nothing can be done with it")
    return stored, stored.accepted_record_id


def _text(value: str, what: str, *, required: bool, limit: int = MAX_TEXT) -> str | None:
    text = value.strip()
    if required and not text:
        raise FormInvalid(f"{what} is required")
    if len(text) > limit:
        raise FormInvalid(f"{what} is longer than {limit} characters")
    return text or None


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise FormInvalid(f"choose {what}: {', '.join(allowed)}")
    return value


Args = TypeVar("Args")
Parse = Callable[[Node, ActionForm], Args]
Complete = Callable[[Session, StoredRecord, Args], Args]


@dataclass(frozen=True)
class OfficerAction:
    """One action of the record page's lifecycle panel: who may take it, what it does, the notice after."""

    role: Role
    run: Callable[[Session, Node, OfficerPrincipal, int, ActionForm], object]
    done: Callable[[ActionForm], str]


def _issuing(
    operation: Operation[Args],
    parse: Parse[Args],
    done: str | Callable[[ActionForm], str],
    complete: Complete[Args] | None = None,
) -> OfficerAction:
    """The console action of a lifecycle operation: check the form, find the record, issue.

    The form is checked first (FormInvalid), then the record (PageNotFound,
    ActionRefused), then ``complete`` fills in what the record decides; the
    operation raises the rest. Issued in the node's agency, by the officer.
    """

    def run(session: Session, node: Node, officer: OfficerPrincipal, record_pk: int, form: ActionForm) -> None:
        args = parse(node, form)
        stored, record_id = _record(session, record_pk)
        if complete is not None:
            args = complete(session, stored, args)
        # the page's record, never another originator's under its id
        originator = stored.originator_party if operation.names_originator else None
        issuer = Issuer(officer.actor, officer.officer_ref, node.settings.agency)
        issue(session, node, operation, record_id, args, issuer, originator=originator)

    return OfficerAction(Role(operation.role), run, done if callable(done) else lambda form: done)


def _retraction(node: Node, form: ActionForm) -> RetractionRequest:
    reason = _choice(form.reason, RETRACTION_REASONS, "a reason")
    comment = _text(form.comment, "the comment", required=False)
    return RetractionRequest.model_construct(reason=cast(RetractionReasonCode, reason), comment=comment)


def _report(node: Node, form: ActionForm) -> DiscrepancyRequest:
    category = _choice(form.category, DISCREPANCY_CATEGORIES, "a category")
    details = _text(form.details, "the details", required=True)
    person = _text(form.person_ref, "the person reference", required=False, limit=64)
    return DiscrepancyRequest.model_construct(
        category=cast(DiscrepancyCategoryCode, category), person_ref=person, details=details or ""
    )


def _onward_request(node: Node, form: ActionForm) -> OnwardRequest:
    party = _choice(form.third_party, sorted(node.bundle.parties), "a third party")
    text = _text(form.justification, "the justification", required=True)
    return OnwardRequest.model_construct(third_party=party, purpose=form.purpose.strip(), justification=text or "")


def _consent(node: Node, form: ActionForm) -> ConsentRequest:
    decision = _choice(form.decision, ("granted", "refused"), "granted or refused")
    text = _text(form.comment, "the reason of a refusal", required=decision == "refused")
    return ConsentRequest.model_construct(decision=cast(ConsentDecision, decision), comment=text)


def _report_answer(node: Node, form: ActionForm) -> DiscrepancyAnswer:
    outcome = _choice(form.outcome, tuple(o.value for o in DiscrepancyOutcome), "an outcome")
    text = _text(form.comment, "the comment", required=True)
    return DiscrepancyAnswer.model_construct(
        outcome=cast(DiscrepancyOutcomeCode, outcome), follow_up_record_id=None, comment=text or ""
    )


def _follow_up(session: Session, report_row: StoredRecord, args: DiscrepancyAnswer) -> DiscrepancyAnswer:
    """Corrected / retracted name this node's follow-up; raises FormInvalid when it was not done yet."""
    reported = lifecycle_records.valid_copy(session, "out", report_row.refers_to or "")
    follow_up = None
    if args.outcome == DiscrepancyOutcome.CORRECTED.value:
        follow_up = reported.superseded_by if reported is not None else None
    elif args.outcome == DiscrepancyOutcome.RETRACTED.value:
        follow_up = reported.retracted_by if reported is not None else None
    if args.outcome != DiscrepancyOutcome.CONFIRMED_CORRECT.value and follow_up is None:
        raise FormInvalid(f"the reported record was not {args.outcome} yet; correct or retract it first")
    return args.model_copy(update={"follow_up_record_id": follow_up})


def share_onward(session: Session, node: Node, officer: OfficerPrincipal, record_pk: int, form: ActionForm) -> None:
    """Forward a received record to a third party the originator consented to. Raises GatewayError."""
    party = _choice(form.third_party, sorted(node.bundle.parties), "a third party")
    stored, record_id = _record(session, record_pk)
    forward_onward(session, node, record_id, originator=stored.originator_party, third_party=party, actor=officer.actor)


def place_hold(session: Session, node: Node, officer: OfficerPrincipal, record_pk: int, form: ActionForm) -> None:
    """Put the record on legal hold: retention will not delete its body. Raises GatewayError."""
    from gateway.retention.service import place_legal_hold  # written alongside; imported when used

    text = _text(form.reason, "the reason of a legal hold", required=True, limit=MAX_HOLD_REASON)
    _, record_id = _record(session, record_pk)
    place_legal_hold(session, node, record_id, reason=text or "", actor=officer.actor)


def release_hold(session: Session, node: Node, officer: OfficerPrincipal, record_pk: int, form: ActionForm) -> None:
    """Release the record's legal hold. Raises GatewayError."""
    from gateway.retention.service import release_legal_hold

    _, record_id = _record(session, record_pk)
    release_legal_hold(session, node, record_id, actor=officer.actor)


# The record page's lifecycle actions, by the last segment of their URL
# (POST /console/records/{pk}/{action}); each is one transaction.
ACTIONS: Final[dict[str, OfficerAction]] = {
    "retract": _issuing(RETRACTION, _retraction, "retracted"),
    "discrepancy": _issuing(DISCREPANCY_REPORT, _report, "reported"),
    "onward-request": _issuing(ONWARD_REQUEST, _onward_request, "onward_requested"),
    "consent": _issuing(ONWARD_CONSENT, _consent, lambda form: "granted" if form.decision == "granted" else "refused"),
    "discrepancy-answer": _issuing(DISCREPANCY_RESPONSE, _report_answer, "answered", _follow_up),
    "share-onward": OfficerAction(Role.REVIEWER, share_onward, lambda form: "forwarded"),
    "hold": OfficerAction(Role.ADMIN, place_hold, lambda form: "held"),
    "release": OfficerAction(Role.ADMIN, release_hold, lambda form: "released"),
}


# -- the lifecycle page ------------------------------------------------------------------


@dataclass(frozen=True)
class LifecyclePage:
    laggards: list[Laggard]
    links: dict[str, int]
    contested: Sequence[StoredRecord]
    held: Sequence[StoredRecord]
    review_due: Sequence[StoredRecord]
    deadline_hours: float


def lifecycle_page(session: Session, node: Node, limit: int = 100) -> LifecyclePage:
    """Return the overdue applications of corrections/retractions and the records needing attention."""
    now = node.now()
    late = laggards(session, node)
    mentioned = {i for row in late for i in (row.instruction_id, row.record_id) if i}
    held = repository.valid_by_record_id(session, mentioned, [node.party])  # laggards are of own records
    return LifecyclePage(
        laggards=late,
        links={record_id: row.pk for record_id, row in held.items()},
        contested=repository.in_state(session, "contested", now, limit),
        held=repository.in_state(session, "held", now, limit),
        review_due=repository.in_state(session, "review_due", now, limit),
        deadline_hours=node.settings.lifecycle_apply_deadline_hours,
    )
