"""Errors of the API clients domain: token endpoint (RFC 6749) and bearer tokens (RFC 6750).

Token endpoint errors are problem+json like every other error, and also carry
the RFC 6749 §5.2 ``error`` and ``error_description`` members so that OAuth
client libraries understand them.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from gateway.errors import GatewayError, InputError

# RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_NOT_IN_ERROR_CHARSET = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class UnknownScope(InputError):
    """A scope that the gateway does not define, given when creating a client."""

    slug = "unknown-scope"
    title = "Unknown scope"


class TokenRequestError(GatewayError):
    """Base of the errors of ``POST /oauth/token`` (RFC 6749 §5.2)."""

    slug = "invalid-token-request"
    title = "Invalid token request"
    status = 400
    oauth_error: ClassVar[str] = "invalid_request"

    def __init__(self, detail: str, *, hint: str | None = None) -> None:
        super().__init__(detail, hint=hint)
        self.headers: dict[str, str] = dict(_NO_STORE)
        self.extra: dict[str, Any] = {
            "error": self.oauth_error,
            "error_description": _NOT_IN_ERROR_CHARSET.sub("?", detail),
        }


class InvalidTokenRequest(TokenRequestError):
    """The request is malformed: wrong media type, missing parameter, plain HTTP."""


class InvalidClient(TokenRequestError):
    """Client authentication failed: unknown client, wrong secret, or disabled client."""

    slug = "invalid-client"
    title = "Client authentication failed"
    status = 401
    oauth_error = "invalid_client"

    def __init__(self, detail: str, *, hint: str | None = None) -> None:
        super().__init__(detail, hint=hint)
        # RFC 6749 §5.2 and RFC 9110 §15.5.2: a 401 names the scheme to use.
        self.headers["WWW-Authenticate"] = 'Basic realm="mou-gateway"'


class UnsupportedGrant(TokenRequestError):
    slug = "unsupported-grant-type"
    title = "Unsupported grant type"
    oauth_error = "unsupported_grant_type"


class UnauthorizedClient(TokenRequestError):
    slug = "unauthorized-client"
    title = "Client not authorized for this grant type"
    oauth_error = "unauthorized_client"


class InvalidScope(TokenRequestError):
    """A requested scope is unknown or exceeds the scopes of the client."""

    slug = "invalid-scope"
    title = "Invalid scope"
    oauth_error = "invalid_scope"


class InvalidToken(GatewayError):
    """The bearer token is missing, malformed, unknown, expired, or its client is disabled."""

    slug = "invalid-token"
    title = "Invalid access token"
    status = 401

    def __init__(self, detail: str, *, hint: str | None = None) -> None:
        super().__init__(detail, hint=hint)
        self.headers: dict[str, str] = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class InsufficientScope(GatewayError):
    """The bearer token is valid but was not granted the scope the operation needs."""

    slug = "insufficient-scope"
    title = "Insufficient scope"
    status = 403

    def __init__(self, detail: str, *, scope: str, hint: str | None = None) -> None:
        super().__init__(detail, hint=hint)
        self.scope = scope
        self.headers: dict[str, str] = {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'}


class NotIssuingAgency(GatewayError):
    """The client may not amend a record its agency did not issue (and it lacks the admin scope)."""

    slug = "not-issuing-agency"
    title = "Not the issuing agency"
    status = 403
    hint = "use a client of the agency that issued the record, or one with the admin scope"
