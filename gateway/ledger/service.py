"""Appending audit events to the ledger, in the caller's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.ledger import repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.trust.canonical import canonicalize


def entry_bytes(index: int, event: str, actor: str, subject: str, at: datetime, detail_sha256: str) -> bytes:
    """Return the leaf input of an entry: the RFC 8785 JSON of its fields."""
    return canonicalize(
        {
            "index": index,
            "event": event,
            "actor": actor,
            "subject": subject,
            "at": at.isoformat(),
            "detail_sha256": detail_sha256,
        }
    )


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def append_event(
    session: Session,
    event: AuditEvent,
    *,
    actor: str,
    subject: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one event as the next leaf and return its index.

    Runs in the caller's transaction, so the event commits with the change it
    records or not at all. ``detail`` is hashed, never stored: the ledger holds
    ids and digests, not personal data.
    """
    head = repository.lock_head(session)
    index = head.size
    detail_sha256 = hashlib.sha256(canonicalize(dict(detail or {}))).hexdigest()
    data = entry_bytes(index, event.value, actor, subject, at, detail_sha256)
    repository.add_entry(
        session,
        LedgerEntry(
            index=index, event=event.value, actor=actor[:128], subject=subject[:128],
            at=at, detail_sha256=detail_sha256, leaf_hash=leaf_hash(data),
        ),
    )
    head.size = index + 1
    return index
