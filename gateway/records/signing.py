"""Turning a record draft into a signed record, and verifying signed records.

``sign_draft`` and ``verify_record`` are pure (no database, no web), so the
offline CLI, the agency API and the partner API share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from uuid6 import uuid7

from gateway.records.schemas import Record, parse_record, record_json
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize, sha256_hex
from gateway.trust.errors import RecordExpiredError, SchemaViolationError
from gateway.trust.jws import RECORD_TYP, ParsedJWS, sign_compact
from gateway.trust.keys import SigningKey
from gateway.trust.longterm import LongTermVerdict, Standing, verify_at_proven_time
from gateway.trust.verify import Verified, verify_compact

VerifiedRecord = Verified[Record]


def rfc3339(moment: datetime) -> str:
    """Return ``moment`` as RFC 3339 UTC with a ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_rfc3339(value: str) -> datetime:
    """Return the UTC datetime of an RFC 3339 string (``Z`` or an offset); raises ValueError."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def complete_draft(draft: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Return ``draft`` with ``record_id`` (UUIDv7), ``created_at`` and ``schema_version`` filled.

    Values already present are kept, so re-signing a completed draft is stable.
    """
    document = dict(draft)
    document.setdefault("record_id", str(uuid7()))
    document.setdefault("created_at", rfc3339(now))
    document.setdefault("schema_version", 1)
    return document


def build_record(draft: Mapping[str, Any], now: datetime) -> Record:
    """Return the validated record for ``draft``; raises SchemaViolationError with a summary."""
    try:
        return parse_record(complete_draft(draft, now))
    except ValueError as exc:
        raise SchemaViolationError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class SignedRecord:
    record: Record
    jws: str
    payload: bytes

    @property
    def jws_sha256(self) -> str:
        return sha256_hex(self.jws.encode("ascii"))


def sign_record(record: Record, key: SigningKey) -> SignedRecord:
    """Return the compact JWS of ``record`` (payload = its RFC 8785 canonical JSON)."""
    payload = canonicalize(record_json(record))
    return SignedRecord(record, sign_compact(payload, key, RECORD_TYP), payload)


def _parse_payload(document: Any) -> Record:
    try:
        return parse_record(document)
    except ValueError as exc:
        raise SchemaViolationError(str(exc)) from exc


def verify_record(
    value: str | bytes,
    bundle: TrustBundle,
    at: datetime,
    *,
    allow_expired: bool = False,
    parsed: ParsedJWS | None = None,
) -> VerifiedRecord:
    """Verify a record JWS at time ``at``; returns the frozen VerifiedRecord.

    Raises the TrustError of the first failing step; RecordExpiredError when the
    record's ``expires_at`` has passed (unless ``allow_expired``, used to show
    old records to an auditor).
    """
    verified = verify_compact(
        value,
        bundle=bundle,
        at=at,
        typ=RECORD_TYP,
        parse=_parse_payload,
        claimed_party=lambda record: record.originator.party,
        parsed=parsed,
    )
    if not allow_expired and verified.payload.expires_at < at:
        raise RecordExpiredError(f"record expired at {rfc3339(verified.payload.expires_at)}")
    return verified


def judge_record(
    value: str | bytes, bundle: TrustBundle, proven_at: datetime, now: datetime
) -> LongTermVerdict[Record]:
    """Return whether a record proven to exist at ``proven_at`` (its receipt) was valid then, judged at ``now``.

    The rules are trust.longterm's (docs/evidence.md); a record already past its
    ``expires_at`` when it was received is invalid.
    """
    verdict = verify_at_proven_time(
        value,
        bundle=bundle,
        proven_at=proven_at,
        now=now,
        typ=RECORD_TYP,
        parse=_parse_payload,
        claimed_party=lambda record: record.originator.party,
    )
    if verdict.verified is not None and verdict.verified.payload.expires_at < proven_at:
        expired = RecordExpiredError(f"record expired at {rfc3339(verdict.verified.payload.expires_at)}")
        return replace(
            verdict, standing=Standing.INVALID, reason=f"not valid when received: {expired.detail}", error=expired
        )
    return verdict
