"""A node's database filled row by row with a known January 2026, personal data included.

Every figure the report should show for January is written down in
``EXPECTED_*`` next to the rows that make it; rows just outside the period
(31 December, 1 February) must not count.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gateway.exchange.models import Delivery
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.records.models import StoredRecord

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)
GENERATED = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)

# What must never leave the database.
PERSONAL = (
    "Sujeto Ficticio",
    "Ficticio",
    "1985-03-14",
    "AZ7584806",
    "PERS-77",
    "maria.gonzalez",
    "cl-7f3a9",
    "wrong date of birth",
    "court order 12/2026",
)
SUBJECT = {
    "family_names": "Ficticio",
    "given_names": "Sujeto Ficticio",
    "date_of_birth": "1985-03-14",
    "travel_document": {"type": "passport", "number": "AZ7584806"},
}


@dataclass(frozen=True)
class FixedNode:
    party: str = "PA"

    def now(self) -> datetime:
        return GENERATED


def at(day: int, hour: int = 12, month: int = 1) -> datetime:
    year = 2025 if month == 12 else 2026
    return datetime(year, month, day, hour, tzinfo=UTC)


def fake_jws(document: dict[str, Any]) -> str:
    """A compact JWS shape around ``document`` (the report reads payloads, it verifies nothing)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    return f"{b64(b'{}')}.{b64(json.dumps(document).encode())}.{b64(b'sig')}"


def add_record(
    session: Session,
    *,
    direction: str,
    record_type: str | None,
    stored_at: datetime,
    recipients: str = "",
    originator: str = "PA",
    peer: str | None = None,
    valid: bool = True,
    reason: str | None = None,
    body: dict[str, Any] | None = None,
    refers_to: str | None = None,
) -> StoredRecord:
    record_id = str(uuid.uuid4())
    jws = fake_jws({"record_id": record_id, "record_type": record_type, "body": body or {"subject": SUBJECT}})
    row = StoredRecord(
        record_id=record_id,
        accepted_record_id=record_id if valid else None,
        direction=direction,
        record_type=record_type,
        originator_party=originator,
        peer_party=peer,
        recipients=recipients,
        created_at=stored_at,
        stored_at=stored_at,
        refers_to=refers_to,
        jws=jws,
        jws_sha256=uuid.uuid4().hex + uuid.uuid4().hex,
        verification="valid" if valid else "invalid",
        verification_reason=reason,
        verification_detail=None if valid else "refused the record about Sujeto Ficticio (PERS-77)",
        status="new" if valid else "rejected",
    )
    session.add(row)
    session.flush()
    return row


def add_delivery(
    session: Session,
    record: StoredRecord,
    recipient: str,
    status: str,
    *,
    reason: str | None = None,
    last_attempt: datetime | None = None,
    consent: StoredRecord | None = None,
) -> Delivery:
    created = record.stored_at
    delivery = Delivery(
        record_pk=record.pk,
        recipient=recipient,
        status=status,
        attempts=1,
        created_at=created,
        next_attempt_at=created,
        deadline_at=created + timedelta(days=1),
        last_attempt_at=last_attempt or created,
        receipt_reason=reason,
        last_error="HTTP 503 about PERS-77" if status == "dead" else None,
        consent_record_pk=consent.pk if consent is not None else None,
    )
    session.add(delivery)
    session.flush()
    return delivery


def ack(instruction: StoredRecord, party: str, outcome: str, hours: float) -> dict[str, Any]:
    assert instruction.created_at is not None
    applied = instruction.created_at + timedelta(hours=hours)
    return {
        "instruction_record_id": instruction.record_id,
        "instruction_type": instruction.record_type,
        "outcome": outcome,
        "applied_at": applied.isoformat().replace("+00:00", "Z"),
        "body_deleted": False,
    }


def build_january(session: Session) -> None:
    """Write the rows of the known January (and a few just outside it)."""
    # Records sent: deliveries by recipient and current status.
    manifest = add_record(session, direction="out", record_type="removal_manifest", stored_at=at(5), recipients="CO,US")
    add_delivery(session, manifest, "CO", "delivered")
    add_delivery(session, manifest, "US", "rejected", reason="terms_unknown")
    for status in ("delivered", "pending"):
        flag = add_record(
            session, direction="out", record_type="criminal_network_flag", stored_at=at(10), recipients="CO"
        )
        add_delivery(session, flag, "CO", status)
    sending = add_record(
        session, direction="out", record_type="criminal_network_flag", stored_at=at(11), recipients="US"
    )
    add_delivery(session, sending, "US", "pending")  # a worker may be sending it: still pending
    for outside in (at(31, 23, month=12), datetime(2026, 2, 1, tzinfo=UTC)):
        flag = add_record(
            session, direction="out", record_type="criminal_network_flag", stored_at=outside, recipients="CO"
        )
        add_delivery(session, flag, "CO", "delivered")
    # A December record whose delivery died in January: a dead delivery, not a January record sent.
    old = add_record(session, direction="out", record_type="criminal_network_flag", stored_at=at(20, month=12))
    add_delivery(session, old, "CO", "dead", last_attempt=at(3))
    invalid_out = add_record(session, direction="out", record_type="removal_manifest", stored_at=at(6), valid=False)
    add_delivery(session, invalid_out, "CO", "delivered")  # never counted: not a valid record

    # Records received, accepted and rejected.
    add_record(session, direction="in", record_type="acknowledgement", stored_at=at(6), originator="CO", peer="CO")
    add_record(
        session, direction="in", record_type=None, stored_at=at(7), peer="CO", valid=False, reason="bad_signature"
    )
    add_record(
        session,
        direction="in",
        record_type="criminal_network_flag",
        stored_at=at(8),
        originator="US",
        peer="US",
        valid=False,
        reason="flow_not_allowed",
    )
    add_record(  # a reason that is not a code is never printed
        session,
        direction="in",
        record_type="criminal_network_flag",
        stored_at=at(8),
        originator="US",
        peer="US",
        valid=False,
        reason="Sujeto Ficticio is PERS-77",
    )
    add_record(session, direction="in", record_type="acknowledgement", stored_at=at(1, 0, month=2), peer="CO")

    # Corrections and retractions issued, and the partners' application acknowledgements.
    reason = {"reason": "wrong date of birth", "replacement": {"record_type": "criminal_network_flag", "body": {}}}
    first = add_record(
        session, direction="out", record_type="correction", stored_at=at(10), recipients="CO,US", body=reason
    )
    second = add_record(
        session, direction="out", record_type="correction", stored_at=at(12), recipients="CO", body=reason
    )
    retraction = add_record(session, direction="out", record_type="retraction", stored_at=at(15), recipients="CO")
    for instruction, party, outcome, hours in (
        (first, "CO", "applied", 2),
        (first, "US", "not_held", 1),
        (second, "CO", "applied", 4),
    ):
        add_record(
            session,
            direction="in",
            record_type="application_acknowledgement",
            stored_at=at(16),
            originator=party,
            peer=party,
            body=ack(instruction, party, outcome, hours),
            refers_to=instruction.record_id,
        )
    del retraction  # no acknowledgement yet: pending

    # Corrections and retractions received, and what this node did.
    theirs = add_record(session, direction="in", record_type="correction", stored_at=at(20), originator="CO", peer="CO")
    add_record(
        session,
        direction="out",
        record_type="application_acknowledgement",
        stored_at=at(20),
        recipients="CO",
        body=ack(theirs, "PA", "applied", 0),
        refers_to=theirs.record_id,
    )
    add_record(session, direction="in", record_type="retraction", stored_at=at(21), originator="US", peer="US")

    # Deletions of bodies (the reason is on the row).
    for direction, reason_code, when in (
        ("out", "retraction", at(16)),
        ("in", "retention", at(17)),
        ("in", "retention", at(2, month=2)),
    ):
        row = add_record(session, direction=direction, record_type="criminal_network_flag", stored_at=at(2), peer="CO")
        row.body_deleted_at, row.body_deleted_reason, row.jws = when, reason_code, ""
    held = add_record(session, direction="in", record_type="criminal_network_flag", stored_at=at(2), peer="CO")
    held.legal_hold_reason, held.legal_hold_by, held.legal_hold_at = "court order 12/2026", "maria.gonzalez", at(18)
    append_event(
        session, AuditEvent.LEGAL_HOLD_PLACED, actor="officer:maria.gonzalez", subject=held.record_id or "", at=at(18)
    )

    # Access: views by a client and an officer; one outside the period.
    subjects = [manifest.record_id or "", first.record_id or ""]
    for actor, subject, when in (
        ("client:cl-7f3a9", subjects[0], at(20)),
        ("client:cl-7f3a9", subjects[0], at(21)),
        ("client:cl-7f3a9", subjects[1], at(22)),
        ("officer:maria.gonzalez", subjects[1], at(23)),
        ("officer:maria.gonzalez", subjects[1], at(1, month=2)),
    ):
        append_event(session, AuditEvent.RECORD_VIEWED, actor=actor, subject=subject, at=when)

    # Onward sharing, discrepancies, deletion notices.
    request = add_record(
        session, direction="in", record_type="onward_sharing_request", stored_at=at(22), originator="CO", peer="CO"
    )
    del request
    granted = add_record(
        session,
        direction="out",
        record_type="onward_sharing_consent",
        stored_at=at(23),
        recipients="CO",
        body={"decision": "granted", "third_party": "US"},
    )
    add_record(
        session,
        direction="out",
        record_type="onward_sharing_consent",
        stored_at=at(23),
        recipients="US",
        body={"decision": "refused", "comment": "Sujeto Ficticio is a minor"},
    )
    add_record(
        session,
        direction="in",
        record_type="discrepancy_report",
        stored_at=at(24),
        originator="US",
        peer="US",
        body={"category": "identity_mismatch", "person_ref": "PERS-77", "details": "Sujeto Ficticio"},
    )
    add_record(session, direction="out", record_type="discrepancy_response", stored_at=at(25), recipients="US")
    add_record(session, direction="in", record_type="deletion_notice", stored_at=at(26), originator="CO", peer="CO")
    forwarded = add_record(
        session, direction="in", record_type="criminal_network_flag", stored_at=at(26), originator="CO", peer="CO"
    )
    forward = add_delivery(session, forwarded, "US", "delivered", consent=granted)
    forward.created_at = at(27)

    # Records the standing check found suspect (keyCompromise before receipt), whenever received;
    # one flagged in February, and one flag whose subject no record here holds, do not count.
    for subject, when in (
        (manifest.record_id, at(28)),
        (forwarded.record_id, at(29)),
        (sending.record_id, at(2, month=2)),
        ("0190f1f0-0000-7000-8000-00000000dead", at(29)),
    ):
        append_event(session, AuditEvent.RECORD_SUSPECTED, actor="standing-check", subject=subject or "", at=when)
    session.flush()
