"""Agency API authentication: the OAuth 2.0 token endpoint and the bearer-token dependency.

``POST /oauth/token`` issues tokens with the client credentials grant
(RFC 6749 §4.4); ``require_scope`` protects the other agency routes::

    @router.post("/v1/records")
    def submit(principal: Annotated[ApiPrincipal, Depends(require_scope(RECORDS_WRITE))]) -> ...:
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2

from gateway.clients import service
from gateway.clients.authorization_server import GatewayAuthorizationServer, TokenHttpRequest
from gateway.clients.errors import InsufficientScope, InvalidToken, InvalidTokenRequest
from gateway.clients.schemas import (
    SCOPE_DESCRIPTIONS,
    VALID_SCOPES,
    ApiPrincipal,
    IssuedToken,
    TokenRequestForm,
)
from gateway.node import Node, node_from, node_of

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a password
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"

router = APIRouter(tags=["authentication"])

# Declares the scheme and the scopes of each route in the OpenAPI document;
# reading and checking the header is done by require_scope.
agency_oauth = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_PATH, scopes=SCOPE_DESCRIPTIONS)),
    scheme_name="agencyClientCredentials",
    description="OAuth 2.0 client credentials; clients are created with `gateway clients add`.",
    auto_error=False,
)

NodeDep = Annotated[Node, Depends(node_of)]

_TOKEN_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "invalid_request, unsupported_grant_type, invalid_scope (problem+json)"},
    401: {"description": "invalid_client: unknown or disabled client, wrong secret (problem+json)"},
}
_TOKEN_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {FORM_MEDIA_TYPE: {"schema": TokenRequestForm.model_json_schema()}},
    }
}


async def token_form(request: Request) -> dict[str, str]:
    """Return the token request's form fields; raises InvalidTokenRequest.

    Read here rather than with ``Form()`` parameters so that every malformed
    request gets an RFC 6749 ``invalid_request``, not a 422 validation error.
    """
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM_MEDIA_TYPE:
        raise InvalidTokenRequest(
            f"the token request must be {FORM_MEDIA_TYPE}",
            hint="send the parameters as a form body",
        )
    seen: set[str] = set()
    fields: dict[str, str] = {}
    for name, value in (await request.form()).multi_items():
        if name in seen:  # RFC 6749 §3.2: no parameter may be repeated
            raise InvalidTokenRequest(f"the parameter {name[:64]!r} is repeated")
        seen.add(name)
        if isinstance(value, str) and value:  # RFC 6749 §3.1: empty means omitted
            fields[name] = value
    return fields


@router.post(
    TOKEN_PATH,
    response_model=IssuedToken,
    summary="Issue an access token (client credentials)",
    responses=_TOKEN_ERRORS,
    openapi_extra=_TOKEN_REQUEST_BODY,
)
def issue_access_token(
    request: Request, node: NodeDep, form: Annotated[dict[str, str], Depends(token_form)]
) -> JSONResponse:
    """Authenticate the client (HTTP Basic or form fields) and issue a bearer token.

    ``scope`` (space-separated) must be a subset of the client's scopes; when
    omitted the token gets all of them. Errors are problem+json that also carry
    the RFC 6749 ``error`` and ``error_description`` members.
    """
    http = TokenHttpRequest(method=request.method, url=str(request.url), headers=request.headers, form=form)
    response: JSONResponse = GatewayAuthorizationServer(node).create_token_response(http)
    return response


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise InvalidToken(
            "the request has no access token",
            hint=f"send Authorization: Bearer <token from {TOKEN_PATH}>",
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("the Authorization header does not hold a Bearer token")
    return token


def require_scope(scope: str) -> Callable[[Request, str | None], ApiPrincipal]:
    """Return a FastAPI dependency giving the principal of a bearer token holding ``scope``.

    The dependency resolves the token in its own short transaction and raises
    InvalidToken (401: missing, malformed, unknown, expired, client disabled)
    or InsufficientScope (403). Raises ValueError here for an unknown scope.
    """
    if scope not in VALID_SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid scopes: {sorted(VALID_SCOPES)}")

    # A default, not Annotated[...]: annotations are strings here (PEP 563), and
    # FastAPI resolves them in the module's globals, where ``scope`` is unknown.
    def principal(
        request: Request,
        authorization: str | None = Security(agency_oauth, scopes=[scope]),
    ) -> ApiPrincipal:
        token = _bearer_token(authorization)
        node = node_from(request)
        with node.transaction() as session:
            found = service.principal_for_token(session, token, node.now())
        if not found.allows(scope):
            raise InsufficientScope(f"this operation needs the scope {scope!r}", scope=scope)
        return found

    return principal
