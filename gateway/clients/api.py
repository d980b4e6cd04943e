"""Agency API authentication: the OAuth 2.0 token endpoint.

``POST /oauth/token`` issues tokens with the client credentials grant
(RFC 6749 §4.4); ``gateway.edge.require_scope`` checks them on the other
agency routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.clients.authorization_server import GatewayAuthorizationServer, TokenHttpRequest
from gateway.clients.errors import InvalidTokenRequest
from gateway.clients.schemas import IssuedToken, TokenRequestForm
from gateway.edge import TOKEN_PATH, NodeDep

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"

router = APIRouter(tags=["authentication"])


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
