"""ORM classes of the officer console: officers, their sessions, login attempts, actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, UTCDateTime


class Officer(Base):
    """A liaison officer who signs in to the console with a password and a TOTP code."""

    __tablename__ = "officers"
    # One officer per identity at the agency's provider (console.sso).
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    officer_ref: Mapped[str] = mapped_column(String(64))  # put on acknowledgements it signs
    role: Mapped[str] = mapped_column(String(16))  # viewer | reviewer | admin
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    password_change_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # The TOTP seed must be readable to check codes (RFC 6238): stored AES-GCM
    # encrypted under a key outside the database (console.seeds); never leaves the node.
    totp_secret: Mapped[str] = mapped_column(String(255))
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)  # refuses code replay
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # consecutive
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    oidc_issuer: Mapped[str | None] = mapped_column(String(255))  # set for officers the provider vouches for
    oidc_subject: Mapped[str | None] = mapped_column(String(255))


class ConsoleSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "console_sessions"
    __table_args__ = (CheckConstraint("sign_in_method IN ('password_totp', 'oidc')", name="sign_in_method"),)

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    officer_pk: Mapped[int] = mapped_column(ForeignKey("officers.pk"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute limit
    # How the session was opened (SignInMethod): sign-out of an ``oidc`` one goes on to the provider.
    sign_in_method: Mapped[str] = mapped_column(String(16), default="password_totp", server_default="password_totp")


class LoginAttempt(Base):
    """Every console login attempt, kept as an audit trail of who tried when."""

    __tablename__ = "console_login_attempts"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    officer_pk: Mapped[int | None] = mapped_column(ForeignKey("officers.pk"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    succeeded: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    remote_addr: Mapped[str | None] = mapped_column(String(64), index=True)  # sign-in throttle per source


class ConsoleAction(Base):
    """An officer's answer to a received record and the acknowledgement record it produced."""

    __tablename__ = "console_actions"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_pk: Mapped[int] = mapped_column(ForeignKey("records.pk"), index=True)
    officer_pk: Mapped[int] = mapped_column(ForeignKey("officers.pk"))
    decision: Mapped[str] = mapped_column(String(8))  # accept | query | reject
    acknowledgement_pk: Mapped[int] = mapped_column(ForeignKey("records.pk"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class SsoFlow(Base):
    """An OpenID Connect sign-in waiting for the provider to send the browser back (console.sso).

    Keyed by the SHA-256 of ``state``; bound to the browser that started it by
    the SHA-256 of a cookie value; deleted when used, so it counts once.
    """

    __tablename__ = "console_sso_flows"

    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_sha256: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))  # PKCE (RFC 7636)
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
