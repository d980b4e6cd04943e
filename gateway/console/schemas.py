"""Roles, the signed-in officer, and the values the officer service hands back."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, ConfigDict


class Role(StrEnum):
    """What an officer may do: viewers read, reviewers also answer, admins also administer."""

    VIEWER = "viewer"
    REVIEWER = "reviewer"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """Return whether this role includes everything ``needed`` may do."""
        return _RANK[self] >= _RANK[needed]


class SignInMethod(StrEnum):
    """How a console session was opened (``console_sessions.sign_in_method``, ledger sign-in events)."""

    PASSWORD_TOTP = "password_totp"  # noqa: S105 - a method name, not a password; the node's own accounts: break-glass once SSO is set up
    OIDC = "oidc"  # the agency's OpenID Connect provider


_RANK: Final[dict[Role, int]] = {Role.VIEWER: 0, Role.REVIEWER: 1, Role.ADMIN: 2}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OfficerPrincipal(Frozen):
    """The officer behind a valid console session."""

    officer_pk: int
    username: str
    officer_ref: str
    role: Role
    csrf_token: str
    password_change_required: bool

    @property
    def actor(self) -> str:
        """The ledger actor name of this officer."""
        return f"officer:{self.username}"

    def can(self, needed: Role | str) -> bool:
        """Return whether the officer's role allows what ``needed`` may do."""
        return self.role.allows(Role(needed))


class NewOfficer(Frozen):
    """A created officer with the credentials shown once (never stored in clear)."""

    username: str
    role: Role
    password: str
    totp_secret: str
    otpauth_uri: str


class OpenedSession(Frozen):
    """A new console session; ``token`` goes into the cookie and is stored only hashed."""

    token: str
    expires_at: datetime


class LoginOutcome(Frozen):
    """The result of a login attempt: a session, or the (internal) reason it failed."""

    opened: OpenedSession | None = None
    failure: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.opened is not None


class OfficerSummary(Frozen):
    """What the admin page and ``gateway officers list`` show: never hashes or seeds."""

    username: str
    officer_ref: str
    role: Role
    created_at: datetime
    locked_until: datetime | None
    disabled_at: datetime | None
    password_change_required: bool


class InboxQuery(Frozen):
    """The inbox filters, already normalized (unknown values dropped)."""

    record_type: str | None = None
    partner: str | None = None
    offence_category: str | None = None
    status: str | None = None
    received_from: date | None = None
    received_until: date | None = None
    search: str | None = None
    lifecycle: str | None = None  # superseded | retracted | contested | review_due | expired | held | deleted
    page: int = 1


class ActionForm(BaseModel):
    """The fields of every lifecycle action form on the record page; each action reads its own.

    All are optional text here: the action checks them and says what is
    missing in the officer's terms (``FormInvalid``), not pydantic's.
    """

    reason: str = ""
    comment: str = ""
    category: str = ""
    person_ref: str = ""
    details: str = ""
    third_party: str = ""
    purpose: str = ""
    justification: str = ""
    decision: str = ""
    outcome: str = ""
