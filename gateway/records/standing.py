"""A stored record's standing today: valid, valid when received, suspect or invalid (docs/evidence.md).

The proven time is the signed receipt's ``received_at``: this node's own
receipt for a record it received, the earliest ``accepted`` partner receipt for
one it sent (receipts were verified when they arrived). The record is then
judged by trust.longterm with the node's current trust bundle and CRLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from gateway.records.models import Delivery, StoredRecord
from gateway.records.schemas import Record
from gateway.records.signing import judge_record, parse_rfc3339
from gateway.records.states import Direction, Verification
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.jws import RECEIPT_TYP, parse_compact
from gateway.trust.longterm import LongTermVerdict, Standing
from gateway.trust.verify import check_canonical


def _received_at(receipt_jws: str) -> datetime | None:
    try:
        document = check_canonical(parse_compact(receipt_jws, expected_typ=RECEIPT_TYP).payload)
        if document.get("verdict") != "accepted":
            return None
        return parse_rfc3339(str(document["received_at"]))
    except (TrustError, KeyError, ValueError, AttributeError):
        return None


def proven_time(stored: StoredRecord, deliveries: Iterable[Delivery]) -> datetime | None:
    """Return when the record is proven to have been received, or None without an accepted receipt."""
    if stored.direction == Direction.IN:
        return _received_at(stored.receipt_jws) if stored.receipt_jws else None
    times = [t for d in deliveries if d.receipt_jws and (t := _received_at(d.receipt_jws)) is not None]
    return min(times, default=None)


def record_standing(
    stored: StoredRecord, deliveries: Sequence[Delivery], bundle: TrustBundle, now: datetime
) -> LongTermVerdict[Record] | None:
    """Return the record's standing judged ``now``; None when it cannot be judged.

    None: it failed verification when it arrived, its body (JWS) was deleted,
    or no accepted receipt proves when it was received yet.
    """
    if stored.verification != Verification.VALID or not stored.jws:
        return None
    at = proven_time(stored, deliveries)
    if at is None:
        return None
    return judge_record(stored.jws, bundle, at, now)


def count_standings(
    records: Iterable[tuple[StoredRecord, Sequence[Delivery]]], bundle: TrustBundle, now: datetime
) -> dict[Standing, int]:
    """Return how many of ``records`` stand as each Standing (records that cannot be judged are left out)."""
    counts = dict.fromkeys(Standing, 0)
    for stored, deliveries in records:
        verdict = record_standing(stored, deliveries, bundle, now)
        if verdict is not None:
            counts[verdict.standing] += 1
    return counts
