"""The HTTP edge shared by every domain's router: who is calling, which node serves, one transaction.

Routers import their dependencies from here, never from another domain's
router, so no router depends on another one::

    @router.post("/v1/records")
    def submit(principal: Annotated[ApiPrincipal, Depends(require_scope(RECORDS_WRITE))], node: NodeDep) -> ...:
        result = transact(node, lambda session: submit_draft(session, node, draft, actor=...))

- ``NodeDep``: the node serving the request;
- ``require_scope``: the agency caller (OAuth 2.0 bearer token) holding a scope;
- ``peer_party_dependency`` / ``peer_party``: the partner on the other end of
  the mutual-TLS connection, from its verified client certificate only;
- ``Originator``: the optional ``?originator=`` naming whose record an id means;
- ``read_body``: a request body of one media type, bounded in size;
- ``transact``: one unit of work, retried once when a concurrent request won
  a unique index (the retry then finds that request's rows).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from cryptography import x509
from fastapi import Depends, Query, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.clients import service as clients_service
from gateway.clients.errors import InsufficientScope, InvalidToken
from gateway.clients.schemas import SCOPE_DESCRIPTIONS, VALID_SCOPES, ApiPrincipal
from gateway.exchange.errors import (
    PayloadTooLargeError,
    PeerCertificateRefusedError,
    PeerCertificateRequiredError,
    UnsupportedMediaTypeError,
)
from gateway.node import Node, node_from, node_of
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.parties import PartyCode
from gateway.trust.path import Purpose, validate_path

T = TypeVar("T")

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a password

NodeDep = Annotated[Node, Depends(node_of)]

# A record is identified by its originator and its id; routes about a record
# another party sent take the originator as an optional query parameter.
Originator = Annotated[
    PartyCode | None,
    Query(description="Party code of the record's originator; needed when several originators used this id here."),
]


# --- one unit of work -------------------------------------------------------


def transact(node: Node, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction of ``node`` and return its result.

    Two concurrent requests can both find a key unused (an Idempotency-Key, a
    record_id, the digest of a received record); the loser's insert then
    violates a unique index. The work runs once more in a new transaction, where
    it finds the winner's rows and answers a replay or a refusal, never a 500
    quoting the statement. A second IntegrityError is raised.
    """
    try:
        with node.transaction() as session:
            return work(session)
    except IntegrityError:
        pass
    with node.transaction() as session:
        return work(session)


# --- the agency caller (OAuth 2.0 client credentials) ------------------------

# Declares the scheme and the scopes of each route in the OpenAPI document;
# reading and checking the header is done by require_scope.
agency_oauth = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_PATH, scopes=SCOPE_DESCRIPTIONS)),
    scheme_name="agencyClientCredentials",
    description="OAuth 2.0 client credentials; clients are created with `gateway clients add`.",
    auto_error=False,
)


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
            found = clients_service.principal_for_token(session, token, node.now())
        if not found.allows(scope):
            raise InsufficientScope(f"this operation needs the scope {scope!r}", scope=scope)
        return found

    return principal


# --- the partner on the other end of mutual TLS ------------------------------


@lru_cache(maxsize=256)
def _certificate_of_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _party_of_pem(pem: str, bundle: TrustBundle, at: datetime) -> str:
    # OpenSSL already validated the path in the handshake; this validates it
    # again (RFC 5280, every link's revocation) and insists on clientAuth: a
    # record-signing certificate must not open partner connections.
    try:
        return validate_path(_certificate_of_pem(pem), (), bundle, at, Purpose.TLS_CLIENT).party
    except TrustError as exc:
        raise PeerCertificateRefusedError(f"the client certificate is refused: {exc.detail}") from exc


def peer_party(request: Request, node: Node) -> str:
    """The calling partner's party, taken from its verified TLS client certificate only.

    Raises PeerCertificateRequiredError when there is no certificate (the app
    was reached without mTLS) or it belongs to no partner of the bundle.
    """
    tls: dict[str, Any] = request.scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        raise PeerCertificateRequiredError("no TLS client certificate on this connection")
    party = _party_of_pem(chain[0], node.bundle, node.now())
    if party == node.party:
        raise PeerCertificateRequiredError("the client certificate belongs to no partner party")
    return party


async def peer_party_dependency(request: Request, node: NodeDep) -> str:
    """FastAPI dependency form of ``peer_party`` (async: no thread-pool hop per request)."""
    return peer_party(request, node)


PeerDep = Annotated[str, Depends(peer_party_dependency)]


async def read_body(request: Request, limit: int, media_type: str) -> bytes:
    """Return the request body; raises 415 for another media type, 413 past ``limit`` bytes."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != media_type:
        raise UnsupportedMediaTypeError(f"send {media_type}, not {content_type or 'no content type'}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
