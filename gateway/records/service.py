"""Records domain operations: the row of a record, and finding the one record an id names.

Submitting a draft (sign, store, queue deliveries) is exchange's
(``gateway.exchange.outgoing``); it builds the row with ``outgoing_row``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy.orm import Session

from gateway.node import Node
from gateway.records import repository
from gateway.records.bodies import CriminalNetworkFlag, RemovalConfirmation, RemovalManifest
from gateway.records.errors import (
    RecordIdAmbiguousError,
    RecordNotFoundError,
)
from gateway.records.kinds import kind_of
from gateway.records.models import StoredRecord
from gateway.records.schemas import Record, RecordType
from gateway.records.signing import SignedRecord, VerifiedRecord
from gateway.records.states import Direction, RecordStatus, Verification


def refers_to(record: Record) -> str | None:
    """The record id ``record`` is about (the body field its kind names, else what it supersedes), or None."""
    refers_field = kind_of(record.record_type).refers_by
    value = getattr(record.body, refers_field) if refers_field else record.supersedes
    return str(value) if value else None


def record_columns(record: Record) -> dict[str, Any]:
    """Return the queryable copies of envelope fields for a StoredRecord row."""
    offence: str | None = None
    flight: str | None = None
    body: Any = record.body
    if record.record_type is RecordType.CORRECTION:
        body = record.body.replacement.body
    if isinstance(body, CriminalNetworkFlag):
        offence = str(body.offence_category)
    elif isinstance(body, RemovalManifest):
        flight = body.flight.flight_number
    elif isinstance(body, RemovalConfirmation):
        flight = body.flight_number
    return {
        "record_id": str(record.record_id),
        "record_type": record.record_type.value,
        "originator_party": record.originator.party,
        "recipients": ",".join(record.recipients),
        "purpose": record.purpose,
        "handling": record.handling.value,
        "terms_id": record.terms.id,
        "terms_version": record.terms.version,
        "offence_category": offence,
        "flight_number": flight,
        "supersedes": str(record.supersedes) if record.supersedes else None,
        "refers_to": refers_to(record),
        "third_party": getattr(record.body, "third_party", None),
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "review_due": record.review_due,
    }


def outgoing_row(node: Node, signed: SignedRecord, now: datetime) -> StoredRecord:
    """Return the row of a record this node signed (not yet added to a session)."""
    return StoredRecord(
        **record_columns(signed.record),
        accepted_record_id=str(signed.record.record_id),
        direction=Direction.OUT,
        peer_party=None,
        stored_at=now,
        jws=signed.jws,
        jws_sha256=signed.jws_sha256,
        verification=Verification.VALID,
        signer_kid=node.signing_key.kid,
        signer_subject=node.signing_key.certificate.subject.rfc4514_string(),
        signer_fingerprint=node.signing_key.certificate.fingerprint(hashes.SHA256()).hex(),
        status=RecordStatus.SENT,
    )


def resolve_record(
    session: Session, record_id: str, originator: str | None = None, *, direction: str | None = None
) -> StoredRecord:
    """Return the one valid record ``record_id`` of ``originator`` (of any, when only one holds it).

    A record is identified by its originator and its id: with the id alone,
    the answer is never picked among several originators. ``direction``
    narrows to outgoing or incoming records. Raises RecordNotFoundError,
    RecordIdAmbiguousError (several originators and none named).
    """
    copies = [c for c in repository.accepted_copies(session, record_id, originator) if direction in (None, c.direction)]
    if not copies:
        whose = f" from {originator}" if originator else ""
        raise RecordNotFoundError(f"no record {record_id}{whose} at this node")
    if len(copies) > 1:
        raise RecordIdAmbiguousError(record_id, (c.originator_party or "?" for c in copies))
    return copies[0]


def received_columns(
    verified: VerifiedRecord | None,
    *,
    record_id: str | None,
    accepted: bool,
    raw: bytes,
    digest: str,
    peer_party: str,
    now: datetime,
    reason_code: str | None,
    reason: str | None,
    columns: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the row of a record received from ``peer_party`` (without receipt and ledger index).

    A record that failed verification (``verified`` None, or not ``accepted``)
    is stored too, for audit, and never counts as valid. ``columns`` is
    ``record_columns(verified.payload)`` when the caller already has it.
    """
    if verified is not None:
        columns = columns if columns is not None else record_columns(verified.payload)
    else:
        columns = {"record_id": record_id}
    signer = (
        {
            "signer_kid": verified.kid,
            "signer_subject": verified.signer_subject[:300],
            "signer_fingerprint": verified.signer_fingerprint,
        }
        if verified is not None
        else {}
    )
    return {
        **columns,
        **signer,
        "accepted_record_id": record_id if accepted else None,
        "direction": Direction.IN,
        "peer_party": peer_party,
        "stored_at": now,
        "jws": raw.decode("ascii"),
        "jws_sha256": digest,
        "verification": Verification.VALID if accepted else Verification.INVALID,
        "verification_reason": reason_code,
        "verification_detail": (reason or "")[:500] or None,
        "status": RecordStatus.NEW if accepted else RecordStatus.FAILED_VERIFICATION,
    }


def received_row(columns: Mapping[str, Any]) -> StoredRecord:
    """Return a row built from ``received_columns`` (not yet added to a session)."""
    return StoredRecord(**columns)
