"""Every SQL statement of the API clients domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.clients.models import AccessToken, ApiClient


def add_client(session: Session, client: ApiClient) -> None:
    session.add(client)
    session.flush()


def get_client(session: Session, client_id: str) -> ApiClient | None:
    return session.get(ApiClient, client_id)


def list_clients(session: Session) -> Sequence[ApiClient]:
    stmt = select(ApiClient).order_by(ApiClient.created_at, ApiClient.client_id)
    return session.scalars(stmt).all()


def add_token(session: Session, token: AccessToken) -> None:
    session.add(token)
    session.flush()


def find_token(session: Session, token_sha256: str) -> tuple[AccessToken, ApiClient] | None:
    """Return the token row with the row of its client, or None when unknown."""
    row = session.execute(
        select(AccessToken, ApiClient)
        .join(ApiClient, ApiClient.client_id == AccessToken.client_id)
        .where(AccessToken.token_sha256 == token_sha256)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def delete_expired_tokens(session: Session, client_id: str, now: datetime) -> int:
    """Delete the client's tokens that expired at or before ``now``; return how many."""
    result = session.execute(
        delete(AccessToken)
        .where(AccessToken.client_id == client_id, AccessToken.expires_at <= now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
