"""Shared pieces of every lifecycle operation: finding the record, its holders, the draft envelope."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gateway.errors import GatewayError
from gateway.exchange.outgoing import Submission, submit_draft
from gateway.lifecycle import repository
from gateway.lifecycle.errors import NotHeldError, NotOriginatorError, RecordWithdrawnError
from gateway.node import Node
from gateway.records.documents import envelope_of, signed_document
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.signing import rfc3339

log = logging.getLogger("gateway.lifecycle")


def own_record(session: Session, record_id: str) -> StoredRecord:
    """Return this node's own (outgoing) copy of ``record_id``.

    Raises NotOriginatorError when the node only received it, NotHeldError when
    it holds no valid copy at all.
    """
    own = repository.valid_copy(session, "out", record_id)
    if own is not None:
        return own
    received = repository.valid_copies(session, "in", record_id)
    if received:
        parties = ", ".join(sorted({row.originator_party or "?" for row in received}))
        raise NotOriginatorError(
            f"record {record_id} originates from {parties}; only its originator may do this",
            hint="ask the originator (e.g. with a discrepancy report)",
        )
    raise NotHeldError(f"no valid record {record_id} at this node")


def received_record(session: Session, record_id: str, originator: str | None = None) -> StoredRecord:
    """Return the valid copy of ``record_id`` (from ``originator``) this node received.

    Raises NotHeldError, RecordIdAmbiguousError (held from several originators, none named).
    """
    held = repository.valid_copy(session, "in", record_id, originator)
    if held is None:
        hint = "this node is its originator" if repository.valid_copy(session, "out", record_id) else None
        raise NotHeldError(f"no valid received record {record_id} at this node", hint=hint)
    return held


def find_own(session: Session, record_id: str, originator: str | None = None) -> StoredRecord:
    """``own_record`` as an operation's finder: this node is the originator, so none is named."""
    return own_record(session, record_id)


def require_body(stored: StoredRecord) -> dict[str, Any]:
    """Return the signed document of ``stored``; raises RecordWithdrawnError when retracted or deleted."""
    document = signed_document(stored) if stored.retracted_by is None else None
    if document is None:
        raise RecordWithdrawnError(f"record {stored.record_id} was retracted or its body deleted")
    return document


def holders(session: Session, own: StoredRecord) -> list[str]:
    """Every party that was sent ``own``: its recipients, then the third parties it consented to."""
    parties = [p for p in own.recipients.split(",") if p]
    for consent in repository.about(session, "out", [own.record_id or ""], [RecordType.ONWARD_SHARING_CONSENT.value]):
        body = (signed_document(consent) or {}).get("body") or {}
        if body.get("decision") == "granted" and body.get("third_party") not in parties:
            parties.append(str(body["third_party"]))
    return parties


def lineage(session: Session, direction: str, row: StoredRecord) -> list[StoredRecord]:
    """``row`` with every version it supersedes and every correction that supersedes it, oldest first."""
    found: dict[int, StoredRecord] = {row.pk: row}
    back, forward = row, row
    for _ in range(100):  # a chain of corrections is short; the bound guards against a loop
        previous = (
            repository.valid_copy(session, direction, back.supersedes, back.originator_party)
            if back.supersedes
            else None
        )
        if previous is None or previous.pk in found:
            break
        found[previous.pk] = back = previous
    for _ in range(100):
        later = (
            repository.valid_copy(session, direction, forward.superseded_by, forward.originator_party)
            if forward.superseded_by
            else None
        )
        if later is None or later.pk in found:
            break
        found[later.pk] = forward = later
    return sorted(found.values(), key=lambda r: r.pk)


def notice_expiry(node: Node, record_type: RecordType, now: datetime) -> datetime:
    """How long a lifecycle notice is kept: the terms' retention for its type (a year if silent)."""
    current = node.terms.current(now) if node.terms is not None else None
    days = current.terms.retention_days(record_type, None) if current is not None else None
    return now + timedelta(days=days or 365)


def draft_about(
    node: Node,
    reference: StoredRecord,
    record_type: RecordType,
    recipients: list[str],
    body: dict[str, Any],
    *,
    officer_ref: str,
    agency: str,
    expires_at: datetime | None = None,
    review_due: datetime | None = None,
    supersedes: str | None = None,
) -> dict[str, Any]:
    """Return the draft of a lifecycle record about ``reference`` (its purpose, basis and handling)."""
    envelope = envelope_of(reference) or {}
    now = node.now()
    expires = expires_at or notice_expiry(node, record_type, now)
    review = min(max(review_due or expires, now + timedelta(seconds=1)), expires)
    draft: dict[str, Any] = {
        "record_type": record_type.value,
        "originator": {"party": node.party, "agency": agency, "officer_ref": officer_ref},
        "recipients": recipients,
        "purpose": envelope.get("purpose", reference.purpose),
        "legal_basis": envelope.get("legal_basis", "MOU"),
        "handling": envelope.get("handling", reference.handling),
        "expires_at": rfc3339(expires),
        "review_due": rfc3339(review),
        "body": body,
    }
    if supersedes is not None:
        draft["supersedes"] = supersedes
    return draft


def submit(session: Session, node: Node, draft: dict[str, Any], *, actor: str) -> Submission:
    """Sign, store and queue a lifecycle draft (the caller checked who may issue it)."""
    return submit_draft(session, node, draft, actor=actor, lifecycle=True)


def submit_automatic(session: Session, node: Node, draft: dict[str, Any], *, actor: str) -> Submission | None:
    """Submit a notice the node sends on its own (application acknowledgement, deletion notice).

    A notice the terms refuse is logged, not raised: it must not undo the
    receipt or the deletion it reports.
    """
    try:
        return submit(session, node, draft, actor=actor)
    except GatewayError as exc:
        log.error("could not send %s to %s: %s", draft["record_type"], draft["recipients"], exc.cli_message())
        return None
