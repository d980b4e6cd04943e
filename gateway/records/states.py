"""The states a stored record and its deliveries go through, one value per meaning.

Stored as strings with a CHECK constraint (see ``gateway.db.enum_column``), so
a value outside these sets never reaches the database, and compared as
strings where that reads better (a ``StrEnum`` equals its value).
"""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    OUT = "out"  # signed here
    IN = "in"  # received from a partner


class Verification(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # kept for audit, never shown as a valid record


class RecordStatus(StrEnum):
    """Where a record stands in the business exchange.

    An incoming record starts ``new`` until this agency answers it
    (acknowledged, queried or rejected by an officer or client); one that
    failed verification or the terms is ``failed_verification`` from the
    start and is never answered. An outgoing record is ``sent`` until a
    partner answers it; the answering partner is kept in ``answered_by``.
    A discrepancy report or onward-sharing request is ``answered`` once this
    node answered it.
    """

    NEW = "new"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    QUERIED = "queried"
    REJECTED = "rejected"
    FAILED_VERIFICATION = "failed_verification"
    ANSWERED = "answered"


class Decision(StrEnum):
    """An acknowledgement's decision, as signed in its body."""

    ACCEPT = "accept"
    QUERY = "query"
    REJECT = "reject"


STATUS_BY_DECISION: dict[Decision, RecordStatus] = {
    Decision.ACCEPT: RecordStatus.ACKNOWLEDGED,
    Decision.QUERY: RecordStatus.QUERIED,
    Decision.REJECT: RecordStatus.REJECTED,
}

# Received records an officer or client may still answer.
ANSWERABLE_STATUSES = frozenset({RecordStatus.NEW, RecordStatus.QUERIED})


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due or leased by a worker
    DELIVERED = "delivered"  # the recipient's receipt says accepted
    REJECTED = "rejected"  # the recipient's receipt says rejected
    DEAD = "dead"  # the deadline passed; `gateway deliveries retry` revives it
    CANCELLED = "cancelled"  # withdrawn before it left (a retraction overtook it)


# Deliveries still waiting for a worker or for people (queue metrics).
QUEUE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.DEAD)
