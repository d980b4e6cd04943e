"""Appending audit events to the ledger, in the caller's transaction.

An entry's leaf input is the RFC 8785 JSON of its stored fields (see
:func:`entry_bytes`), so ``gateway audit verify`` and any partner can recompute
its leaf hash from the row alone. The Merkle tree (RFC 9162) grows with every
append in the same transaction: the entry, the completed subtrees and the new
head ``(size, root)`` commit together with the change the event records, or
not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.ledger import repository, store
from gateway.ledger.events import AuditEvent
from gateway.ledger.merkle import leaf_hash
from gateway.ledger.models import LedgerEntry
from gateway.trust.canonical import canonicalize

ACTOR_MAX = 128
SUBJECT_MAX = 128


def entry_bytes(index: int, event: str, actor: str, subject: str, at: datetime, detail_sha256: str) -> bytes:
    """Return the leaf input of an entry: the RFC 8785 JSON of its fields.

    ``at`` is written as ``datetime.isoformat()`` of the UTC time, e.g.
    ``2026-11-25T18:30:30.204274+00:00`` (no fraction when it is zero).
    """
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


def entry_document(entry: LedgerEntry) -> dict[str, Any]:
    """Return the JSON object whose RFC 8785 form is the entry's leaf input."""
    return {
        "index": entry.index,
        "event": entry.event,
        "actor": entry.actor,
        "subject": entry.subject,
        "at": entry.at.astimezone(UTC).isoformat(),
        "detail_sha256": entry.detail_sha256,
    }


def entry_leaf_hash(entry: LedgerEntry) -> bytes:
    """Return the leaf hash recomputed from the entry's fields (not its stored ``leaf_hash``)."""
    return fields_leaf_hash(entry.index, entry.event, entry.actor, entry.subject, entry.at, entry.detail_sha256)


def fields_leaf_hash(index: int, event: str, actor: str, subject: str, at: datetime, detail_sha256: str) -> bytes:
    """Return the leaf hash of an entry with these fields (``at`` in any time zone)."""
    return leaf_hash(entry_bytes(index, event, actor, subject, at.astimezone(UTC), detail_sha256))


def detail_digest(detail: Mapping[str, Any] | None) -> str:
    """Return the hex SHA-256 of the RFC 8785 JSON of ``detail`` (``{}`` when None)."""
    return hashlib.sha256(canonicalize(dict(detail or {}))).hexdigest()


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
    ids and digests, not personal data. ``actor`` and ``subject`` are cut to
    128 characters and ``at`` is stored in UTC; the leaf hash covers the
    stored values.

    Raises:
        LedgerStoreError: the stored tree is damaged (see ``gateway audit verify``).
    """
    size, root = repository.lock_head(session)
    at = at.astimezone(UTC)
    actor, subject = actor[:ACTOR_MAX], subject[:SUBJECT_MAX]
    digest = detail_digest(detail)
    leaf = leaf_hash(entry_bytes(size, event.value, actor, subject, at, digest))
    tree, nodes = store.open_for_append(session, size, root)
    tree.append_leaf_hash(leaf)
    entry = {
        "index": size,
        "event": event.value,
        "actor": actor,
        "subject": subject,
        "at": at,
        "detail_sha256": digest,
        "leaf_hash": leaf,
    }
    root = store.remember(session, tree, nodes)
    repository.write_append(session, entry, nodes.take_writes(), tree.size, root)
    return size


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One event for ``append_events`` (the same fields as ``append_event``)."""

    event: AuditEvent
    actor: str
    subject: str
    at: datetime
    detail: Mapping[str, Any] | None = None


def append_events(session: Session, events: Sequence[PendingEvent]) -> list[int]:
    """Append several events as consecutive leaves; return their indexes.

    Same guarantees as ``append_event`` (same transaction, same leaves), but
    the entries, nodes and head go to the database in three statements for
    the whole sequence: a batch of 500 received records costs one round trip
    per table instead of one per record.

    Raises:
        LedgerStoreError: the stored tree is damaged (see ``gateway audit verify``).
    """
    if not events:
        return []
    size, root = repository.lock_head(session)
    tree, nodes = store.open_for_append(session, size, root)
    entries: list[dict[str, object]] = []
    for pending in events:
        index = tree.size
        at = pending.at.astimezone(UTC)
        actor, subject = pending.actor[:ACTOR_MAX], pending.subject[:SUBJECT_MAX]
        digest = detail_digest(pending.detail)
        leaf = leaf_hash(entry_bytes(index, pending.event.value, actor, subject, at, digest))
        tree.append_leaf_hash(leaf)
        entries.append(
            {
                "index": index,
                "event": pending.event.value,
                "actor": actor,
                "subject": subject,
                "at": at,
                "detail_sha256": digest,
                "leaf_hash": leaf,
            }
        )
    root = store.remember(session, tree, nodes)
    repository.write_appends(session, entries, nodes.take_writes(), tree.size, root)
    return [int(str(entry["index"])) for entry in entries]
