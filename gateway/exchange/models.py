"""ORM classes of the exchange domain: the outbox of deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, UTCDateTime, enum_type
from gateway.records.states import DeliveryStatus


class Delivery(Base):
    """One record to one recipient: the transactional-outbox row the worker drives.

    ``lease_until`` makes claims crash-safe: a worker killed mid-delivery simply
    lets its lease lapse, and the next worker re-sends the same JWS bytes, which
    the receiver answers idempotently with the same receipt.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("record_pk", "recipient"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_pk: Mapped[int] = mapped_column(ForeignKey("records.pk"), index=True)
    recipient: Mapped[str] = mapped_column(String(2))
    status: Mapped[DeliveryStatus] = mapped_column(enum_type(DeliveryStatus, "status", 10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    receipt_jws: Mapped[str | None] = mapped_column(Text)
    receipt_verdict: Mapped[str | None] = mapped_column(String(10))
    receipt_reason: Mapped[str | None] = mapped_column(String(64))
    receipt_ledger_index: Mapped[int | None] = mapped_column(Integer)
    # An onward forward of a received record travels with the originator's consent.
    consent_record_pk: Mapped[int | None] = mapped_column(ForeignKey("records.pk"))
