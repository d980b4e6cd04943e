"""Every SQL statement of the console: officers, sessions, attempts, and the review queries."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from gateway.console.models import ConsoleAction, ConsoleSession, LoginAttempt, Officer
from gateway.db import is_postgres
from gateway.exchange.models import Delivery
from gateway.records.kinds import kind_of
from gateway.records.models import StoredRecord
from gateway.records.repository import lifecycle_condition
from gateway.records.schemas import RecordType

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


def _from(remote_addr: str | None) -> ColumnElement[bool]:
    return LoginAttempt.remote_addr.is_(None) if remote_addr is None else LoginAttempt.remote_addr == remote_addr


def pair_attempts(
    session: Session, username: str, remote_addr: str | None, since: datetime, limit: int
) -> Sequence[tuple[datetime, str]]:
    """Return (at, reason) of the account's attempts from ``remote_addr`` and its unlocks, newest first."""
    rows = session.execute(
        select(LoginAttempt.at, LoginAttempt.reason)
        .where(
            LoginAttempt.username == username,
            LoginAttempt.at > since,
            or_(_from(remote_addr), LoginAttempt.reason == "unlocked"),
        )
        .order_by(LoginAttempt.pk.desc())
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def source_failures(
    session: Session, remote_addr: str | None, reasons: Collection[str], since: datetime, limit: int
) -> Sequence[datetime]:
    """Return when ``remote_addr`` failed (one of ``reasons``) since ``since``, newest first."""
    return session.scalars(
        select(LoginAttempt.at)
        .where(_from(remote_addr), LoginAttempt.at > since, LoginAttempt.reason.in_(reasons))
        .order_by(LoginAttempt.pk.desc())
        .limit(limit)
    ).all()


def recent_attempts(session: Session, username: str, limit: int) -> Sequence[LoginAttempt]:
    return session.scalars(
        select(LoginAttempt).where(LoginAttempt.username == username).order_by(LoginAttempt.pk.desc()).limit(limit)
    ).all()


# -- the inbox ----------------------------------------------------------------------


# Received types an officer answers; the other lifecycle notices are applied by the gateway itself.
ACTIONABLE_TYPES = tuple(t.value for t in RecordType if kind_of(t).officer_answers)


def needing_action(session: Session) -> dict[str, int]:
    """Return, per actionable record type, how many valid received records nobody has answered yet.

    Retracted records and records whose body was deleted need no answer any more.
    """
    rows = session.execute(
        select(StoredRecord.record_type, func.count())
        .where(
            StoredRecord.direction == "in",
            StoredRecord.verification == "valid",
            StoredRecord.status == "new",
            StoredRecord.record_type.in_(ACTIONABLE_TYPES),
            StoredRecord.retracted_by.is_(None),
            StoredRecord.body_deleted_at.is_(None),
        )
        .group_by(StoredRecord.record_type)
    ).all()
    return {str(record_type): int(count) for record_type, count in rows}


def count_in_state(session: Session, direction: str, state: str, now: datetime) -> int:
    """Return how many valid records of ``direction`` are in lifecycle ``state`` at ``now``."""
    count = session.scalar(
        select(func.count())
        .select_from(StoredRecord)
        .where(
            StoredRecord.direction == direction,
            StoredRecord.verification == "valid",
            lifecycle_condition(state, now),
        )
    )
    return int(count or 0)


def in_state(session: Session, state: str, now: datetime, limit: int) -> Sequence[StoredRecord]:
    """Return valid records (both directions) in lifecycle ``state`` at ``now``, newest first."""
    return session.scalars(
        select(StoredRecord)
        .where(StoredRecord.verification == "valid", lifecycle_condition(state, now))
        .order_by(StoredRecord.pk.desc())
        .limit(limit)
    ).all()


def valid_by_record_id(
    session: Session, record_ids: Collection[str], originators: Sequence[str | None]
) -> dict[str, StoredRecord]:
    """Return the valid copies held here of ``record_ids``, by record id.

    A record is identified by its originator and its id, and a received id may
    be held from several originators: the copy of the first of ``originators``
    that holds one is taken; an id held only by others, several times, is left
    out (no link beats a link to another originator's record).
    """
    wanted = sorted({r for r in record_ids if r})
    if not wanted:
        return {}
    rows = session.scalars(
        select(StoredRecord).where(StoredRecord.accepted_record_id.in_(wanted)).order_by(StoredRecord.pk)
    ).all()
    by_id: dict[str, list[StoredRecord]] = {}
    for row in rows:
        by_id.setdefault(row.accepted_record_id or "", []).append(row)
    chosen: dict[str, StoredRecord] = {}
    for record_id, copies in by_id.items():
        preferred = [row for party in originators for row in copies if row.originator_party == party]
        if preferred or len(copies) == 1:
            chosen[record_id] = (preferred or copies)[0]
    return chosen


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
