"""The token endpoint's OAuth 2.0 server: authlib's framework-independent
``AuthorizationServer`` with the client credentials grant, adapted to a
Starlette request and to this domain's service and errors.

authlib ships integrations for Flask and Django only; the framework part is
four small pieces: building an ``OAuth2Request`` from the HTTP request, turning
``(status, body, headers)`` into a response, a client model (``ClientMixin``),
and the token generator. Errors are raised as this domain's ``TokenRequestError``
subclasses, so the one problem+json handler renders them.

authlib is synchronous, so the endpoint runs in FastAPI's thread pool.
Each database step is its own short transaction and the (deliberately slow)
argon2 check runs between them: on SQLite every transaction holds the write
lock, which must not be held while hashing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.errors import (
    InsecureTransportError,
    InvalidClientError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import scope_to_list
from fastapi.responses import JSONResponse

from gateway.clients import service
from gateway.clients.errors import (
    InvalidClient,
    InvalidScope,
    InvalidTokenRequest,
    TokenRequestError,
    UnauthorizedClient,
    UnsupportedGrant,
)
from gateway.clients.models import ApiClient
from gateway.clients.schemas import VALID_SCOPES
from gateway.node import Node

GRANT_TYPE = "client_credentials"
TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
CLIENT_AUTH_HINT = (
    "authenticate with HTTP Basic (client_secret_basic) "
    "or the client_id and client_secret form fields (client_secret_post)"
)


@dataclass(frozen=True)
class TokenHttpRequest:
    """The parts of an HTTP request that the token endpoint reads."""

    method: str
    url: str
    headers: Mapping[str, str]
    form: Mapping[str, str]


class _FormPayload(OAuth2Payload):  # type: ignore[misc]  # authlib has no type hints
    def __init__(self, form: Mapping[str, str]) -> None:
        self._data = dict(form)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: [value] for key, value in self._data.items()}


class _TokenRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(self, http: TokenHttpRequest) -> None:
        # Raises InsecureTransportError unless HTTPS or loopback HTTP (RFC 6749 §3.2).
        super().__init__(http.method, http.url, headers=http.headers)
        self.payload = _FormPayload(http.form)

    @property
    def form(self) -> dict[str, str]:
        data: dict[str, str] = self.payload.data
        return data

    @property
    def args(self) -> dict[str, str]:
        # RFC 6749 §3.2: token request parameters travel in the body only.
        return {}


class _ClientCandidate(ClientMixin):  # type: ignore[misc]
    """The client a token request names, before its secret has been checked.

    Unknown and disabled clients are candidates too (``row`` is None), so that
    they cost one argon2 verification like a wrong secret does.
    """

    def __init__(self, client_id: str, row: ApiClient | None) -> None:
        self.client_id = client_id
        self._row = row
        self._authenticated: ApiClient | None = None

    @property
    def authenticated(self) -> ApiClient:
        """The client row, once its secret has been verified; raises InvalidClient before."""
        if self._authenticated is None:
            raise InvalidClient("the client has not been authenticated", hint=CLIENT_AUTH_HINT)
        return self._authenticated

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        try:
            self._authenticated = service.verify_client_secret(self._row, client_secret)
        except InvalidClient:
            return False
        return True

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in TOKEN_ENDPOINT_AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE


class _ClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(TOKEN_ENDPOINT_AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        # authlib only checks against the server's scopes; a client may not
        # escalate beyond its own. Raises InvalidScope.
        candidate: _ClientCandidate = self.request.client
        service.grantable_scopes(candidate.authenticated, scope_to_list(self.request.payload.scope))


class GatewayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """An authorization server for one token request, bound to the node serving it."""

    def __init__(self, node: Node) -> None:
        super().__init__(scopes_supported=sorted(VALID_SCOPES))
        self._node = node
        self.register_grant(_ClientCredentialsGrant)
        self.register_token_generator("default", self._issue_token)

    def query_client(self, client_id: str) -> _ClientCandidate:
        with self._node.transaction() as session:
            return _ClientCandidate(client_id, service.active_client(session, client_id))

    def _issue_token(
        self,
        grant_type: str,
        client: _ClientCandidate,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, object]:
        with self._node.transaction() as session:
            issued = service.issue_token(
                session,
                client.authenticated,
                scope_to_list(scope),
                self._node.now(),
                lifetime_seconds=self._node.settings.token_lifetime_seconds,
            )
        return issued.model_dump()

    def save_token(self, token: dict[str, object], request: _TokenRequest) -> None:
        """Nothing to do: ``service.issue_token`` stored the token's digest."""

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        """Nothing to do: the gateway does not use authlib's signals."""

    def create_oauth2_request(self, request: TokenHttpRequest) -> _TokenRequest:
        try:
            return _TokenRequest(request)
        except InsecureTransportError as exc:
            raise InvalidTokenRequest(
                "the token endpoint must be called over HTTPS",
                hint="enable agency_tls or terminate TLS in a proxy that sets X-Forwarded-Proto",
            ) from exc

    def handle_response(self, status: int, body: dict[str, object], headers: list[tuple[str, str]]) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=dict(headers))

    def handle_error_response(self, request: _TokenRequest, error: OAuth2Error) -> NoReturn:
        raise _domain_error(request, error) from error


def _domain_error(request: _TokenRequest, error: OAuth2Error) -> TokenRequestError:
    if isinstance(error, InvalidClientError):
        return InvalidClient("unknown client, wrong secret, or disabled client", hint=CLIENT_AUTH_HINT)
    if isinstance(error, UnsupportedGrantTypeError):
        grant_type = request.payload.grant_type
        if not grant_type:  # RFC 6749 §5.2: a missing parameter is invalid_request
            return InvalidTokenRequest("grant_type is missing", hint=f"send grant_type={GRANT_TYPE}")
        return UnsupportedGrant(f"grant_type {grant_type[:64]!r} is not supported", hint=f"use grant_type={GRANT_TYPE}")
    if isinstance(error, UnauthorizedClientError):
        return UnauthorizedClient("this client may not use this grant type")
    if isinstance(error, InvalidScopeError):
        return InvalidScope(str(error.description))
    return InvalidTokenRequest(str(error.description or error.error))
