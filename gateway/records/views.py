"""Shaping stored records for API responses (no HTTP here, no SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.exchange.models import Delivery
from gateway.records.models import StoredRecord
from gateway.records.signing import rfc3339
from gateway.trust.canonical import parse_strict
from gateway.trust.jws import b64url_decode


def _time(value: Any) -> str | None:
    return rfc3339(value) if value is not None else None


def record_summary(stored: StoredRecord) -> dict[str, Any]:
    return {
        "record_id": stored.record_id,
        "direction": stored.direction,
        "record_type": stored.record_type,
        "originator_party": stored.originator_party,
        "peer_party": stored.peer_party,
        "recipients": [p for p in stored.recipients.split(",") if p],
        "purpose": stored.purpose,
        "handling": stored.handling,
        "terms": {"id": stored.terms_id, "version": stored.terms_version},
        "flight_number": stored.flight_number,
        "offence_category": stored.offence_category,
        "created_at": _time(stored.created_at),
        "stored_at": _time(stored.stored_at),
        "review_due": _time(stored.review_due),
        "verification": stored.verification,
        "status": stored.status,
        "url": f"/v1/records/{stored.record_id}",
    }


def payload_of(stored: StoredRecord) -> dict[str, Any] | None:
    """Return the signed document of a stored record (verified when it was stored)."""
    if stored.verification != "valid":
        return None
    document = parse_strict(b64url_decode(stored.jws.split(".")[1]))
    return document if isinstance(document, dict) else None


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.pk,
        "recipient": delivery.recipient,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": _time(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "last_error": delivery.last_error,
        "delivered_at": _time(delivery.delivered_at),
        "receipt": (
            {
                "jws": delivery.receipt_jws,
                "verdict": delivery.receipt_verdict,
                "reason_code": delivery.receipt_reason,
                "ledger_index": delivery.receipt_ledger_index,
            }
            if delivery.receipt_jws
            else None
        ),
    }


def record_detail(stored: StoredRecord, deliveries: Sequence[Delivery]) -> dict[str, Any]:
    document = payload_of(stored)
    return {
        **record_summary(stored),
        "envelope": {k: v for k, v in document.items() if k != "body"} if document else None,
        "body": document.get("body") if document else None,
        "jws": stored.jws,
        "jws_sha256": stored.jws_sha256,
        "verification": {
            "result": stored.verification,
            "reason_code": stored.verification_reason,
            "detail": stored.verification_detail,
            "signer_kid": stored.signer_kid,
            "signer_subject": stored.signer_subject,
            "signer_fingerprint_sha256": stored.signer_fingerprint,
        },
        "receipt_issued": (
            {"jws": stored.receipt_jws, "ledger_index": stored.ledger_index} if stored.direction == "in" else None
        ),
        "deliveries": [delivery_view(d) for d in deliveries],
    }
