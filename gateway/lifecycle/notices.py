"""Signed deletion notices: telling the other holders of a record that its body was deleted.

Who is told is up to the terms in force (``deletion_notices``): a holder of a
received record tells its originator, an originator tells the parties it sent
the record to. The notice names the deleted record and the digest of its JWS,
which every party's receipts and ledger still carry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.errors import GatewayError
from gateway.lifecycle.drafts import draft_about, holders, submit
from gateway.node import Node
from gateway.records.lifecycle_bodies import DeletionGround
from gateway.records.models import StoredRecord
from gateway.records.schemas import RecordType
from gateway.records.signing import rfc3339

log = logging.getLogger("gateway.lifecycle.notices")


@dataclass(frozen=True)
class NoticeOutcome:
    """What came of telling the other holders about one deletion."""

    notice_record_id: str | None = None
    recipients: list[str] = field(default_factory=list)
    error: str | None = None


def deletion_notice_recipients(session: Session, node: Node, row: StoredRecord, now: datetime) -> list[str] | None:
    """Return the parties the terms in force say must be told that ``row``'s body was deleted.

    Returns None when no terms are in force (then nobody can be told).
    """
    current = node.terms.current(now) if node.terms is not None else None
    if current is None:
        return None
    rules = current.terms.deletion_notices
    if row.direction == "in":
        wanted = [row.originator_party or ""] if rules.recipients_notify_originator else []
    else:
        wanted = holders(session, row) if rules.originator_notifies_recipients else []
    return [party for party in wanted if party and party != node.party]


def send_deletion_notice(
    session: Session, node: Node, row: StoredRecord, *, ground: DeletionGround, actor: str, now: datetime
) -> NoticeOutcome:
    """Sign and queue the deletion notice the terms require for ``row`` (whose body was just deleted).

    Returns the notice sent (no id when the terms require none) or the reason
    none could be sent. Never raises a GatewayError: like the automatic
    notices of drafts.submit_automatic, a notice the terms refuse must not undo
    the deletion it reports; unlike it, the reason is returned for the report.
    """
    recipients = deletion_notice_recipients(session, node, row, now)
    if recipients is None:
        return NoticeOutcome(error=f"no terms in force: no deletion notice sent for {row.record_id}")
    if not recipients:
        return NoticeOutcome()
    body = {
        "deleted_record_id": row.record_id,
        "deleted_jws_sha256": row.jws_sha256,
        "ground": ground.value,
        "deleted_at": rfc3339(now),
    }
    draft = draft_about(
        node,
        row,
        RecordType.DELETION_NOTICE,
        recipients,
        body,
        officer_ref="gateway:retention",
        agency=node.settings.agency,
    )
    try:
        submission = submit(session, node, draft, actor=actor)
    except GatewayError as exc:
        log.error("could not send a deletion notice for %s to %s: %s", row.record_id, recipients, exc.cli_message())
        return NoticeOutcome(recipients=recipients, error=f"deletion notice for {row.record_id}: {exc.cli_message()}")
    return NoticeOutcome(submission.record.record_id, recipients)
