"""Deleting a record's body while keeping its envelope, digest and audit trail.

The signed JWS contains the body, so it is emptied; the envelope (every field
but ``body``) is kept as JSON next to the JWS digest, which still matches the
receipts and ledger entries issued for the original bytes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.records.models import StoredRecord
from gateway.trust.canonical import parse_strict
from gateway.trust.jws import b64url_decode


def signed_document(stored: StoredRecord) -> dict[str, Any] | None:
    """Return the signed payload of a row whose body is still present, else None."""
    if not stored.jws:
        return None
    try:
        document = parse_strict(b64url_decode(stored.jws.split(".")[1]))
    except Exception:  # noqa: BLE001 - an unreadable payload has no envelope to keep
        return None
    return document if isinstance(document, dict) else None


def effective_type(stored: StoredRecord) -> str | None:
    """The record type a stored row stands for: a correction stands for the type it replaces."""
    if stored.record_type != "correction":
        return stored.record_type
    replacement = ((signed_document(stored) or {}).get("body") or {}).get("replacement") or {}
    value = replacement.get("record_type")
    return str(value) if value else None


def envelope_of(stored: StoredRecord) -> dict[str, Any] | None:
    """Return the record's envelope (no body), before or after its body was deleted."""
    if stored.envelope_json is not None:
        kept = json.loads(stored.envelope_json)
        return kept if isinstance(kept, dict) else None
    document = signed_document(stored)
    return {k: v for k, v in document.items() if k != "body"} if document else None


def delete_body(session: Session, stored: StoredRecord, *, reason: str, actor: str, now: datetime) -> bool:
    """Delete the body of ``stored`` (reason ``retraction`` or ``retention``) unless it is on legal hold.

    Returns True when the body was deleted now, False when it was already gone
    or a legal hold keeps it. Appends ``records:body:deleted`` to the ledger.
    """
    if stored.body_deleted_at is not None or stored.legal_hold_at is not None:
        return False
    envelope = envelope_of(stored)
    stored.envelope_json = json.dumps(envelope, sort_keys=True) if envelope is not None else None
    stored.jws = ""
    stored.body_deleted_at = now
    stored.body_deleted_reason = reason
    append_event(
        session,
        AuditEvent.BODY_DELETED,
        actor=actor,
        subject=stored.record_id or f"jws:{stored.jws_sha256}",
        at=now,
        detail={"reason": reason, "jws_sha256": stored.jws_sha256, "direction": stored.direction},
    )
    return True
