"""Every SQL statement of the console: officers, sessions, attempts, and the review queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from gateway.console.models import ConsoleAction, ConsoleSession, LoginAttempt, Officer
from gateway.db import is_postgres
from gateway.exchange.models import Delivery
from gateway.records.models import StoredRecord

# -- officers, sessions, login attempts -----------------------------------------


def add(session: Session, row: Officer | ConsoleSession | LoginAttempt | ConsoleAction) -> None:
    session.add(row)
    session.flush()


def officer_by_username(session: Session, username: str) -> Officer | None:
    return session.scalars(select(Officer).where(Officer.username == username)).one_or_none()


def officer_for_update(session: Session, officer_pk: int) -> Officer | None:
    """Return the officer row, locked on PostgreSQL so concurrent logins count failures once."""
    stmt = select(Officer).where(Officer.pk == officer_pk)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def list_officers(session: Session) -> Sequence[Officer]:
    return session.scalars(select(Officer).order_by(Officer.username)).all()


def session_with_officer(session: Session, token_sha256: str) -> tuple[ConsoleSession, Officer] | None:
    row = session.execute(
        select(ConsoleSession, Officer)
        .join(Officer, Officer.pk == ConsoleSession.officer_pk)
        .where(ConsoleSession.token_sha256 == token_sha256)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def delete_session(session: Session, token_sha256: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_sha256 == token_sha256))


def delete_sessions_of(session: Session, officer_pk: int, *, keep: str | None = None) -> None:
    """Delete the officer's sessions (all, or all but ``keep``)."""
    stmt = delete(ConsoleSession).where(ConsoleSession.officer_pk == officer_pk)
    if keep is not None:
        stmt = stmt.where(ConsoleSession.token_sha256 != keep)
    session.execute(stmt)


def delete_stale_sessions(session: Session, officer_pk: int, idle_before: datetime, now: datetime) -> None:
    """Drop the officer's sessions that expired or went idle (keeps the table small)."""
    session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.officer_pk == officer_pk,
            (ConsoleSession.expires_at <= now) | (ConsoleSession.last_seen_at <= idle_before),
        )
    )


def recent_attempts(session: Session, username: str, limit: int) -> Sequence[LoginAttempt]:
    return session.scalars(
        select(LoginAttempt).where(LoginAttempt.username == username).order_by(LoginAttempt.pk.desc()).limit(limit)
    ).all()


# -- the inbox ----------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilter:
    record_type: str | None = None
    partner: str | None = None
    offence_category: str | None = None
    status: str | None = None  # new | acknowledged | queried | rejected | invalid
    received_from: date | None = None
    received_until: date | None = None  # inclusive
    search: str | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _inbox_conditions(flt: InboxFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [StoredRecord.direction == "in"]
    if flt.record_type:
        conditions.append(StoredRecord.record_type == flt.record_type)
    if flt.partner:
        conditions.append((StoredRecord.originator_party == flt.partner) | (StoredRecord.peer_party == flt.partner))
    if flt.offence_category:
        conditions.append(StoredRecord.offence_category == flt.offence_category)
    if flt.status == "invalid":
        conditions.append(StoredRecord.verification == "invalid")
    elif flt.status:
        conditions += [StoredRecord.verification == "valid", StoredRecord.status == flt.status]
    if flt.received_from:
        conditions.append(StoredRecord.stored_at >= _day_start(flt.received_from))
    if flt.received_until:
        end = _day_start(flt.received_until + timedelta(days=1))
        conditions.append(StoredRecord.stored_at < end)
    if flt.search:
        needle = flt.search.strip()
        conditions.append(
            StoredRecord.record_id.startswith(needle.lower(), autoescape=True)
            | StoredRecord.flight_number.contains(needle.upper(), autoescape=True)
        )
    return conditions


def inbox_page(session: Session, flt: InboxFilter, offset: int, limit: int) -> tuple[Sequence[StoredRecord], int]:
    """Return one page of received records matching ``flt`` (newest first) and the total."""
    conditions = _inbox_conditions(flt)
    total = session.scalar(select(func.count()).select_from(StoredRecord).where(*conditions))
    rows = session.scalars(
        select(StoredRecord).where(*conditions).order_by(StoredRecord.pk.desc()).offset(offset).limit(limit)
    ).all()
    return rows, int(total or 0)


def needing_action(session: Session) -> dict[str, int]:
    """Return, per record type, how many valid received records nobody has answered yet."""
    rows = session.execute(
        select(StoredRecord.record_type, func.count())
        .where(
            StoredRecord.direction == "in",
            StoredRecord.verification == "valid",
            StoredRecord.status == "new",
            StoredRecord.record_type != "acknowledgement",
        )
        .group_by(StoredRecord.record_type)
    ).all()
    return {str(record_type): int(count) for record_type, count in rows}


def invalid_received(session: Session) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(StoredRecord)
        .where(StoredRecord.direction == "in", StoredRecord.verification == "invalid")
    )
    return int(count or 0)


# -- the outbox ---------------------------------------------------------------------


def outbox_page(
    session: Session, delivery_status: str | None, offset: int, limit: int
) -> tuple[Sequence[StoredRecord], int]:
    """Return one page of records signed here (newest first) and the total."""
    conditions: list[ColumnElement[bool]] = [StoredRecord.direction == "out"]
    if delivery_status:
        conditions.append(
            select(Delivery.pk)
            .where(Delivery.record_pk == StoredRecord.pk, Delivery.status == delivery_status)
            .exists()
        )
    total = session.scalar(select(func.count()).select_from(StoredRecord).where(*conditions))
    rows = session.scalars(
        select(StoredRecord).where(*conditions).order_by(StoredRecord.pk.desc()).offset(offset).limit(limit)
    ).all()
    return rows, int(total or 0)


def deliveries_for(session: Session, record_pks: Sequence[int]) -> dict[int, list[Delivery]]:
    """Return the deliveries of each record, by record pk, ordered by recipient."""
    result: dict[int, list[Delivery]] = {pk: [] for pk in record_pks}
    if not record_pks:
        return result
    rows = session.scalars(
        select(Delivery).where(Delivery.record_pk.in_(record_pks)).order_by(Delivery.record_pk, Delivery.recipient)
    ).all()
    for delivery in rows:
        result[delivery.record_pk].append(delivery)
    return result


# -- answers --------------------------------------------------------------------------


def actions_on(session: Session, record_pk: int) -> Sequence[tuple[ConsoleAction, Officer, StoredRecord]]:
    """Return the officers' answers to a received record with who answered and the ack record."""
    rows = session.execute(
        select(ConsoleAction, Officer, StoredRecord)
        .join(Officer, Officer.pk == ConsoleAction.officer_pk)
        .join(StoredRecord, StoredRecord.pk == ConsoleAction.acknowledgement_pk)
        .where(ConsoleAction.record_pk == record_pk)
        .order_by(ConsoleAction.pk)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def acknowledgements_received_after(session: Session, record_pk: int, limit: int) -> Sequence[StoredRecord]:
    """Return valid acknowledgements received after the record ``record_pk`` was stored."""
    return session.scalars(
        select(StoredRecord)
        .where(
            StoredRecord.direction == "in",
            StoredRecord.verification == "valid",
            StoredRecord.record_type == "acknowledgement",
            StoredRecord.pk > record_pk,
        )
        .order_by(StoredRecord.pk)
        .limit(limit)
    ).all()
