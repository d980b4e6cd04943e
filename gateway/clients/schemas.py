"""Scopes, the authenticated API principal, and the token and client views."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

RECORDS_WRITE: Final = "records:write"
RECORDS_READ: Final = "records:read"
ADMIN: Final = "admin"

#: Every scope a client may hold, with the description shown in the OpenAPI document.
SCOPE_DESCRIPTIONS: Final[dict[str, str]] = {
    RECORDS_WRITE: "Submit record drafts for signing and delivery.",
    RECORDS_READ: "Read records, their deliveries and receipts; acknowledge records.",
    ADMIN: "Administer the node through the agency API.",
}
VALID_SCOPES: Final[frozenset[str]] = frozenset(SCOPE_DESCRIPTIONS)


class ApiPrincipal(BaseModel):
    """The API client a valid bearer token stands for, with the scopes of that token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str
    scopes: frozenset[str]
    agency: str | None = None  # see ApiClient.agency

    def allows(self, scope: str) -> bool:
        """Return whether the token was granted ``scope``."""
        return scope in self.scopes


class TokenRequestForm(BaseModel):
    """The token request body (RFC 6749 §4.4.2), as documented in the OpenAPI document.

    The endpoint reads the form itself, so that every malformed request gets an
    RFC 6749 error rather than a validation error.
    """

    grant_type: Literal["client_credentials"]
    scope: str | None = Field(default=None, description="Space-separated scopes; default: all of the client's")
    client_id: str | None = Field(default=None, description="client_secret_post only")
    client_secret: str | None = Field(default=None, description="client_secret_post only")


class IssuedToken(BaseModel):
    """A successful token response (RFC 6749 §5.1); the token is shown only here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int
    scope: str


class ClientSummary(BaseModel):
    """What may be shown about an API client: never its secret or the secret's hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str
    name: str
    scopes: tuple[str, ...]
    agency: str | None = None
    created_at: datetime
    disabled_at: datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None
