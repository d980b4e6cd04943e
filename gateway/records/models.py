"""ORM classes of the records domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, UTCDateTime, enum_type
from gateway.records.schemas import RecordType
from gateway.records.states import DeliveryStatus, Direction, RecordStatus, Verification


class StoredRecord(Base):
    """One signed record, outgoing (signed here) or incoming (received from a partner).

    The JWS is the record; the other columns are copies of envelope fields kept
    for querying. Incoming records that fail verification are kept too (for
    audit) with ``verification = 'invalid'`` and are never shown as valid.
    """

    __tablename__ = "records"
    __table_args__ = (
        # Idempotency is per sender: bytes relayed by the wrong peer (and rejected)
        # must not pre-empt the originator's own delivery of the same record.
        UniqueConstraint("direction", "jws_sha256", "peer_party"),
        # A record is identified by its originator and its id (ids are minted by the
        # originating node). Only valid records claim theirs, so a forged copy cannot
        # block the real one, and another originator's use of an id cannot either.
        UniqueConstraint("originator_party", "accepted_record_id"),
        Index("ix_records_direction_stored", "direction", "pk"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str | None] = mapped_column(String(36), index=True)
    accepted_record_id: Mapped[str | None] = mapped_column(String(36), index=True)  # receive lookup
    direction: Mapped[Direction] = mapped_column(enum_type(Direction, "direction", 3))
    record_type: Mapped[RecordType | None] = mapped_column(enum_type(RecordType, "record_type", 40))
    originator_party: Mapped[str | None] = mapped_column(String(2))
    peer_party: Mapped[str | None] = mapped_column(String(2))  # mTLS peer for "in"
    recipients: Mapped[str] = mapped_column(String(20), default="")
    purpose: Mapped[str | None] = mapped_column(String(64))
    handling: Mapped[str | None] = mapped_column(String(2))
    terms_id: Mapped[str | None] = mapped_column(String(64))
    terms_version: Mapped[int | None] = mapped_column(Integer)
    offence_category: Mapped[str | None] = mapped_column(String(40))
    flight_number: Mapped[str | None] = mapped_column(String(64))
    supersedes: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)  # retention scans
    review_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # The signed JWS, sealed at rest (gateway/vault/): the column holds the
    # sealed form and ``body_key`` names its data key in the key store; a row
    # older than migration 0011 still holds the JWS in the clear (body_key NULL).
    # Read and write it through ``jws`` (gateway/records/at_rest.py).
    sealed_jws: Mapped[str] = mapped_column("jws", Text)
    body_key: Mapped[str | None] = mapped_column(String(36))
    # The body fields the oversight report counts, kept clear so it needs no key (at_rest.REPORT_FACTS).
    body_facts: Mapped[str | None] = mapped_column(String(200))
    jws_sha256: Mapped[str] = mapped_column(String(64), index=True)  # receive lookup
    verification: Mapped[Verification] = mapped_column(enum_type(Verification, "verification", 8))
    verification_reason: Mapped[str | None] = mapped_column(String(64))
    verification_detail: Mapped[str | None] = mapped_column(String(500))
    signer_kid: Mapped[str | None] = mapped_column(String(64))
    signer_subject: Mapped[str | None] = mapped_column(String(300))
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64))

    # incoming only: the signed receipt this node answered with
    receipt_jws: Mapped[str | None] = mapped_column(Text)
    ledger_index: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[RecordStatus] = mapped_column(enum_type(RecordStatus, "status", 20), default=RecordStatus.NEW)
    # outgoing only: the partner whose acknowledgement set ``status`` (the latest to answer)
    answered_by: Mapped[str | None] = mapped_column(String(2))

    # lifecycle: what later records did to this one (see gateway/lifecycle/)
    refers_to: Mapped[str | None] = mapped_column(String(36), index=True)  # record a lifecycle record is about
    third_party: Mapped[str | None] = mapped_column(String(2))  # onward sharing: the party asked for
    superseded_by: Mapped[str | None] = mapped_column(String(36))
    retracted_by: Mapped[str | None] = mapped_column(String(36))
    contested_by: Mapped[str | None] = mapped_column(String(36))  # open discrepancy report
    received_via: Mapped[str | None] = mapped_column(String(8))  # "onward" for a consented forward
    onward_consent_jws: Mapped[str | None] = mapped_column(Text)
    # Body deletion (retraction, retention) empties ``jws`` and keeps the signed
    # envelope without its body, so the digest and the audit trail stay.
    envelope_json: Mapped[str | None] = mapped_column(Text)
    body_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    body_deleted_reason: Mapped[str | None] = mapped_column(String(16))  # retraction | retention
    legal_hold_reason: Mapped[str | None] = mapped_column(String(500))
    legal_hold_by: Mapped[str | None] = mapped_column(String(100))
    legal_hold_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def jws(self) -> str:
        """The signed JWS ("" once its body was deleted or its data key destroyed).

        Raises BodyTamperedError when the sealed body fails its GCM tag.
        """
        from gateway.records.at_rest import read_jws  # the one decrypting accessor

        return read_jws(self)

    @jws.setter
    def jws(self, value: str) -> None:
        from gateway.records.at_rest import write_jws

        write_jws(self, value)


class IdempotencyKey(Base):
    """An agency client's Idempotency-Key and the record it created."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    record_pk: Mapped[int] = mapped_column(ForeignKey("records.pk"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):
    """One record to one recipient: the transactional-outbox row the exchange worker drives.

    Mapped here, with the record's row it belongs to, because the record's
    read model filters and shows its deliveries; only exchange builds and
    updates these rows (``gateway.exchange.outgoing``, ``gateway.exchange.worker``).

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
