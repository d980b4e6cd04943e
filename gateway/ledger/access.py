"""Reading a record is an audited access: the ledger records who viewed which record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.records.models import StoredRecord
from gateway.records.service import resolve_record


def get_record(
    session: Session, record_id: str, originator: str | None = None, *, actor: str, now: datetime
) -> StoredRecord:
    """Return the valid stored record ``record_id`` (of ``originator``) and log the access.

    Raises RecordNotFoundError, RecordIdAmbiguousError.
    """
    stored = resolve_record(session, record_id, originator)
    detail = {"originator": stored.originator_party}
    append_event(session, AuditEvent.RECORD_VIEWED, actor=actor, subject=record_id, at=now, detail=detail)
    return stored
