"""The SQL that metrics read at scrape time (short, indexed, read-only)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.exchange.models import Delivery
from gateway.records.states import QUEUE_STATUSES

# Only the open ends of the outbox (QUEUE_STATUSES): these counts stay small and use ix_deliveries_due.


def delivery_queue(session: Session) -> list[tuple[str, str, int]]:
    """Return ``(recipient, status, count)`` for pending and dead deliveries."""
    rows = session.execute(
        select(Delivery.recipient, Delivery.status, func.count())
        .where(Delivery.status.in_(QUEUE_STATUSES))
        .group_by(Delivery.recipient, Delivery.status)
    ).all()
    return [(str(recipient), str(status), int(count)) for recipient, status, count in rows]
