"""Who may read the operations endpoints: ``/metrics``, ``/docs``, ``/openapi.json``, ``/readyz`` detail.

They tell an attacker a lot (the API's whole surface, traffic, partners,
certificate dates), so they are closed unless the node is given an operations
token, and then need it as a bearer token. ``/healthz`` and the bare ``/readyz``
status stay open for load balancers and probes.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import ClassVar, Final

from starlette.requests import Request

from gateway.errors import ConfigurationError, GatewayError
from gateway.settings import Settings

MIN_TOKEN_LENGTH: Final = 16
ENABLE_HINT: Final = (
    "set GATEWAY_OPERATIONS_TOKEN (or GATEWAY_OPERATIONS_TOKEN_FILE) and send it as 'Authorization: Bearer <token>'"
)


class OperationsClosed(GatewayError):
    """No operations token is configured, so the endpoint is closed to everyone."""

    slug = "operations-endpoint-closed"
    title = "Operations endpoint closed"
    status = 403
    hint = ENABLE_HINT


class OperationsTokenRequired(GatewayError):
    """The operations token is missing or wrong."""

    slug = "operations-token-required"
    title = "Operations token required"
    status = 401
    hint = "send the node's operations token as 'Authorization: Bearer <token>'"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="operations"'}


def load_operations_token(settings: Settings) -> str | None:
    """Return the configured operations token, or None when there is none.

    Raises ConfigurationError when both settings are given, the file cannot be
    read, or the token is shorter than MIN_TOKEN_LENGTH.
    """
    if settings.operations_token is not None and settings.operations_token_file is not None:
        raise ConfigurationError("set operations_token or operations_token_file, not both")
    if settings.operations_token_file is not None:
        try:
            token = settings.operations_token_file.read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read operations_token_file {settings.operations_token_file}: {exc.strerror}"
            ) from exc
        setting = "operations_token_file"
    elif settings.operations_token is not None:
        token = settings.operations_token.get_secret_value().strip()
        setting = "operations_token"
    else:
        return None
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigurationError(f"{setting} must hold at least {MIN_TOKEN_LENGTH} characters")
    return token


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


class OperationsAccess:
    """The check of the operations token, built once per app from the settings."""

    def __init__(self, token: str | None) -> None:
        # Comparing digests keeps the comparison constant-time whatever the lengths.
        self._digest = _digest(token) if token is not None else None

    @property
    def enabled(self) -> bool:
        return self._digest is not None

    def presented(self, request: Request) -> bool:
        """Return whether the request carries the right token; False when it carries none.

        Raises OperationsTokenRequired for a wrong or malformed token, and
        OperationsClosed for any token when none is configured.
        """
        return self.presented_header(request.headers.get("authorization"), request.url.path)

    def presented_header(self, header: str | None, path: str) -> bool:
        """``presented`` for a raw Authorization header value (the worker's WSGI endpoint)."""
        if header is None:
            return False
        scheme, _, value = header.partition(" ")
        if self._digest is None:
            raise OperationsClosed(f"{path} is closed: this node has no operations token; to open it, {ENABLE_HINT}")
        if scheme.lower() != "bearer" or not hmac.compare_digest(_digest(value.strip()), self._digest):
            raise OperationsTokenRequired(f"{path} needs the node's operations token; the one sent is wrong")
        return True

    def require(self, request: Request) -> None:
        """Return when the request carries the right token; raises OperationsClosed or OperationsTokenRequired."""
        self.require_header(request.headers.get("authorization"), request.url.path)

    def require_header(self, header: str | None, path: str) -> None:
        """``require`` for a raw Authorization header value."""
        if self._digest is None:
            raise OperationsClosed(f"{path} is closed: this node has no operations token; to open it, {ENABLE_HINT}")
        if not self.presented_header(header, path):
            raise OperationsTokenRequired(
                f"{path} needs the node's operations token as 'Authorization: Bearer <token>'"
            )


def operations_access(request: Request) -> OperationsAccess:
    """Return the app's OperationsAccess (``app.state.operations``)."""
    access: OperationsAccess = request.app.state.operations
    return access


async def require_operations_token(request: Request) -> None:
    """FastAPI dependency guarding an operations endpoint (see ``OperationsAccess.require``)."""
    operations_access(request).require(request)
