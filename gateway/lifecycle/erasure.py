"""Deleting a record's body while keeping its envelope, digest and audit trail.

The signed JWS contains the body, so it is emptied and its data key destroyed
in the key store (crypto-shredding: earlier database backups can no longer
open it); the envelope (every field
but ``body``) is kept as JSON next to the JWS digest, which still matches the
receipts and ledger entries issued for the original bytes.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.records.at_rest import body_keys, session_vault
from gateway.records.documents import envelope_of
from gateway.records.models import StoredRecord


def delete_body(session: Session, stored: StoredRecord, *, reason: str, actor: str, now: datetime) -> bool:
    """Delete the body of ``stored`` (reason ``retraction`` or ``retention``) unless it is on legal hold.

    Returns True when the body was deleted now, False when it was already gone
    or a legal hold keeps it. Appends ``records:body:deleted`` to the ledger.
    """
    if stored.body_deleted_at is not None or stored.legal_hold_at is not None:
        return False
    envelope = envelope_of(stored)
    stored.envelope_json = json.dumps(envelope, sort_keys=True) if envelope is not None else None
    # Crypto-shredding: the data key goes first (the key store commits at once),
    # so every backup of the records database holds this body only as ciphertext
    # no key opens any more. Should this transaction then roll back, the body
    # stays unreadable and the next retention pass or retraction retry deletes it.
    vault = session_vault(session)
    if vault is not None:
        vault.shred(body_keys(stored))
    stored.jws = ""
    stored.body_key = None
    stored.body_facts = None
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
