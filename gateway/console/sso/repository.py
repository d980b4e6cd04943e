"""Every SQL statement of SSO sign-in: pending flows, officers by provider identity, session methods."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.console.models import ConsoleSession, Officer, SsoFlow


def add_flow(session: Session, flow: SsoFlow) -> None:
    session.add(flow)
    session.flush()


def take_flow(session: Session, state_sha256: str) -> SsoFlow | None:
    """Return the pending flow of ``state_sha256`` and delete it (a state is used once), or None."""
    flow = session.get(SsoFlow, state_sha256)
    if flow is not None:
        session.delete(flow)
        session.flush()
    return flow


def delete_expired_flows(session: Session, now: datetime) -> None:
    session.execute(delete(SsoFlow).where(SsoFlow.expires_at <= now))


def officer_by_identity(session: Session, issuer: str, subject: str) -> Officer | None:
    return session.scalars(
        select(Officer).where(Officer.oidc_issuer == issuer, Officer.oidc_subject == subject)
    ).one_or_none()


def session_method(session: Session, token_sha256: str) -> str | None:
    """Return how the session of ``token_sha256`` was opened, or None when there is no such session."""
    return session.scalar(select(ConsoleSession.sign_in_method).where(ConsoleSession.token_sha256 == token_sha256))
