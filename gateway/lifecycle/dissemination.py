"""The dissemination ledger: every party a record went to, which version each holds, who lags.

Computed from what the node already keeps — deliveries and their signed
receipts, the consents it gave, and the application acknowledgements and
deletion notices partners signed — so it can never disagree with them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from gateway.exchange.models import Delivery
from gateway.lifecycle import repository
from gateway.lifecycle.drafts import holders, lineage, own_record
from gateway.lifecycle.read_model import (
    Application,
    Dissemination,
    Holder,
    HolderState,
    Laggard,
    Route,
    VersionDelivery,
)
from gateway.node import Node
from gateway.records.documents import signed_document
from gateway.records.kinds import INSTRUCTION_TYPES
from gateway.records.models import StoredRecord
from gateway.records.states import DeliveryStatus


def _body(row: StoredRecord) -> dict[str, Any]:
    body = (signed_document(row) or {}).get("body")
    return body if isinstance(body, dict) else {}


def _cancelled(delivery: Delivery | None) -> bool:
    return delivery is not None and delivery.status == DeliveryStatus.CANCELLED


def applications(session: Session, instruction_ids: list[str]) -> dict[tuple[str, str], Application]:
    """Return (instruction id, party) → the application that party acknowledged."""
    found: dict[tuple[str, str], Application] = {}
    for ack in repository.about(session, "in", instruction_ids, ["application_acknowledgement"]):
        body = _body(ack)
        key = (ack.refers_to or "", ack.originator_party or "")
        found[key] = Application(
            outcome=str(body.get("outcome", "applied")),
            applied_at=_text(body.get("applied_at")),
            acknowledgement_id=ack.record_id,
        )
    return found


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def dissemination(session: Session, node: Node, record_id: str) -> Dissemination:
    """Return, for this node's record ``record_id``, every holder and what it holds.

    Raises NotOriginatorError / NotHeldError (only the originator tracks dissemination).
    """
    own = own_record(session, record_id)
    versions = lineage(session, "out", own)
    ids = [v.record_id or "" for v in versions]
    retractions = list(repository.about(session, "out", ids, ["retraction"]))
    instructions = [v for v in versions if v.record_type == "correction"] + retractions
    applied = applications(session, [i.record_id or "" for i in instructions])
    deletions = {n.originator_party: n for n in repository.about(session, "in", ids, ["deletion_notice"])}
    deliveries = {
        (d.record_pk, d.recipient): d for d in repository.deliveries_of(session, [r.pk for r in versions + retractions])
    }
    onward = _onward_routes(session, ids)
    deadline = timedelta(hours=node.settings.lifecycle_apply_deadline_hours)
    now = node.now()
    parties: list[str] = []
    for version in versions:
        parties += [p for p in holders(session, version) if p not in parties]
    rows = []
    for party in parties:
        version_rows = []
        holds: str | None = None
        lagging = False
        for version in versions + retractions:
            delivery = deliveries.get((version.pk, party))
            application = applied.get((version.record_id or "", party))
            late = (
                version.record_type in INSTRUCTION_TYPES
                and application is None
                and not _cancelled(delivery)
                and version.created_at is not None
                and version.created_at + deadline < now
            )
            lagging = lagging or late
            version_rows.append(
                VersionDelivery(
                    record_id=version.record_id,
                    record_type=version.record_type,
                    delivery=delivery.status if delivery is not None else None,
                    delivered_at=delivery.delivered_at if delivery is not None else None,
                    application=application,
                    lagging=late,
                )
            )
            delivered = delivery is not None and delivery.status == "delivered"
            if version.record_type != "retraction" and (
                delivered or (application and application.outcome == "applied")
            ):
                holds = version.record_id
        # A retraction the party acknowledged (applied, or nothing held) settles it; until then the
        # party still holds the withdrawn body, so it is pending however current its version is.
        retracted = any((r.record_id or "", party) in applied for r in retractions)
        notice = deletions.get(party)
        state = (
            HolderState.RETRACTED
            if retracted
            else HolderState.PENDING
            if retractions
            else HolderState.DELETED
            if notice is not None
            else HolderState.CURRENT
            if holds == versions[-1].record_id
            else HolderState.OUTDATED
            if holds is not None
            else HolderState.PENDING
        )
        rows.append(
            Holder(
                party=party,
                route=onward.get(party, Route(route="direct")),
                holds=holds,
                state=state,
                lagging=lagging,
                deletion_notice=notice.record_id if notice is not None else None,
                versions=version_rows,
            )
        )
    return Dissemination(
        record_id=record_id,
        current_version=versions[-1].record_id,
        retracted_by=own.retracted_by,
        contested_by=own.contested_by,
        holders=rows,
    )


def _onward_routes(session: Session, ids: list[str]) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for consent in repository.about(session, "out", ids, ["onward_sharing_consent"]):
        body = _body(consent)
        if body.get("decision") == "granted":
            routes[str(body.get("third_party"))] = Route(
                route="onward", via=_text(body.get("requester")), consent=consent.record_id
            )
    return routes


def laggards(session: Session, node: Node) -> list[Laggard]:
    """Every (correction or retraction, recipient) not acknowledged as applied within the deadline."""
    deadline = timedelta(hours=node.settings.lifecycle_apply_deadline_hours)
    now = node.now()
    instructions = repository.instructions_since(session, now - deadline)
    applied = applications(session, [i.record_id or "" for i in instructions])
    late = []
    for instruction in instructions:
        for party in [p for p in instruction.recipients.split(",") if p]:
            if (instruction.record_id or "", party) in applied:
                continue
            delivery = repository.delivery_to(session, instruction.pk, party)
            if _cancelled(delivery):
                continue  # a later retraction withdrew it before it went out: nothing to apply
            issued = instruction.created_at or now
            late.append(
                Laggard(
                    instruction_id=instruction.record_id,
                    instruction_type=instruction.record_type,
                    record_id=instruction.refers_to,
                    party=party,
                    issued_at=issued,
                    delivery=delivery.status if delivery is not None else None,
                    hours_overdue=round((now - issued - deadline).total_seconds() / 3600, 1),
                )
            )
    return late
