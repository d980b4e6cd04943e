"""API clients and their bearer tokens: creation, authentication, issuing and resolving.

Neither secret is ever stored: a client secret only as an argon2id hash, an
access token only as its SHA-256 (a 256-bit random token needs no slow hash,
and a digest can be looked up by primary key without a timing side channel).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from gateway.clients import repository
from gateway.clients.errors import InvalidClient, InvalidScope, InvalidToken, UnknownScope
from gateway.clients.models import AccessToken, ApiClient
from gateway.clients.schemas import VALID_SCOPES, ApiPrincipal, ClientSummary, IssuedToken
from gateway.errors import InputError, NotFoundError
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event

MAX_NAME_LENGTH = 200
MAX_AGENCY_LENGTH = 200
# Longer than any token this gateway issues; refuses absurd headers before hashing.
MAX_TOKEN_LENGTH = 512

# argon2-cffi's defaults: argon2id with the RFC 9106 low-memory profile.
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash no secret matches, verified against for unknown clients to even out timing."""
    return _hasher.hash(secrets.token_urlsafe(32))


def _scope_string(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))


def client_scopes(client: ApiClient) -> frozenset[str]:
    """Return the scopes the client may request."""
    return frozenset(client.scopes.split())


def token_digest(token: str) -> str:
    """Return the hex SHA-256 under which an access token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def clean_agency(agency: str) -> str:
    """Return ``agency`` as stored (NFC, trimmed); raises InputError when empty or overlong."""
    cleaned = unicodedata.normalize("NFC", agency).strip()
    if not cleaned or len(cleaned) > MAX_AGENCY_LENGTH:
        raise InputError(f"an agency name must have 1 to {MAX_AGENCY_LENGTH} characters")
    return cleaned


def same_agency(client_agency: str | None, record_agency: object) -> bool:
    """Return whether a client of ``client_agency`` acts for the agency a record names.

    Case and Unicode composition do not matter; a client without an agency matches none.
    """
    if client_agency is None or not isinstance(record_agency, str):
        return False
    theirs = unicodedata.normalize("NFC", record_agency).strip().casefold()
    return bool(theirs) and theirs == client_agency.casefold()


def create_client(
    session: Session,
    name: str,
    scopes: Iterable[str],
    now: datetime,
    *,
    actor: str = "cli",
    agency: str | None = None,
) -> tuple[str, str]:
    """Create an API client and record it in the ledger; return ``(client_id, secret)``.

    ``agency`` is the agency the client acts for (as records name it in
    ``originator.agency``); without one the client may not amend records
    unless it holds the admin scope. The secret is returned once and stored
    only as an argon2id hash. Raises UnknownScope for a scope the gateway does
    not define, and InputError for an empty or overlong name or agency or an
    empty scope list.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InputError(f"a client name must have 1 to {MAX_NAME_LENGTH} characters")
    agency = clean_agency(agency) if agency is not None else None
    requested = frozenset(scopes)
    if not requested:
        raise InputError("a client needs at least one scope", hint=f"use {_scope_string(VALID_SCOPES)}")
    unknown = requested - VALID_SCOPES
    if unknown:
        raise UnknownScope(f"unknown scope(s): {_scope_string(unknown)}", hint=f"use {_scope_string(VALID_SCOPES)}")
    client_id = "agc_" + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    repository.add_client(
        session,
        ApiClient(
            client_id=client_id,
            name=name,
            secret_hash=_hasher.hash(secret),
            scopes=_scope_string(requested),
            agency=agency,
            created_at=now,
            disabled_at=None,
        ),
    )
    append_event(
        session,
        AuditEvent.CLIENT_CREATED,
        actor=actor,
        subject=client_id,
        at=now,
        detail={"name": name, "scopes": sorted(requested), "agency": agency},
    )
    return client_id, secret


def set_agency(session: Session, client_id: str, agency: str, now: datetime, *, actor: str = "cli") -> str:
    """Set the agency an existing client acts for; return it as stored.

    Raises NotFoundError for an unknown client and InputError for a bad agency name.
    """
    client = repository.get_client(session, client_id)
    if client is None:
        raise NotFoundError(f"no API client {client_id[:64]!r}")
    previous = client.agency
    client.agency = clean_agency(agency)
    append_event(
        session,
        AuditEvent.CLIENT_AGENCY_SET,
        actor=actor,
        subject=client_id,
        at=now,
        detail={"agency": client.agency, "previous": previous},
    )
    return client.agency


def active_client(session: Session, client_id: str) -> ApiClient | None:
    """Return the client if it exists and is not disabled, else None."""
    client = repository.get_client(session, client_id)
    if client is None or client.disabled_at is not None:
        return None
    return client


def verify_client_secret(client: ApiClient | None, secret: str) -> ApiClient:
    """Return ``client`` if ``secret`` matches its hash; raises InvalidClient.

    Needs no database, so callers can run the deliberately slow hash outside a
    transaction. ``None`` (unknown or disabled client) costs the same as a
    wrong secret and fails the same way, so neither reveals which clients exist.
    """
    try:
        if client is None:
            _hasher.verify(_dummy_hash(), secret)
        else:
            _hasher.verify(client.secret_hash, secret)
    except (VerificationError, InvalidHashError):
        pass
    else:
        if client is not None:
            return client
    raise InvalidClient("unknown client, wrong secret, or disabled client")


def authenticate_client(session: Session, client_id: str, secret: str) -> ApiClient:
    """Return the active client whose id and secret these are; raises InvalidClient."""
    return verify_client_secret(active_client(session, client_id), secret)


def grantable_scopes(client: ApiClient, requested: Collection[str] | None) -> frozenset[str]:
    """Return the scopes a token for ``client`` gets when it asks for ``requested``.

    No request (None or empty) means all of the client's scopes. Raises
    InvalidScope for an unknown scope or one the client does not hold.
    """
    allowed = client_scopes(client)
    if not requested:
        return allowed
    wanted = frozenset(requested)
    unknown = wanted - VALID_SCOPES
    if unknown:
        raise InvalidScope(f"unknown scope(s): {_scope_string(unknown)}")
    excess = wanted - allowed
    if excess:
        raise InvalidScope(f"scope(s) not granted to this client: {_scope_string(excess)}")
    return wanted


def issue_token(
    session: Session,
    client: ApiClient,
    requested_scopes: Collection[str] | None,
    now: datetime,
    *,
    lifetime_seconds: int,
) -> IssuedToken:
    """Issue an opaque bearer token for an authenticated client and return it (shown once).

    Stores only the token's SHA-256, and drops the client's expired tokens so
    the table stays small. Raises InvalidScope (see ``grantable_scopes``).
    """
    scopes = grantable_scopes(client, requested_scopes)
    token = secrets.token_urlsafe(32)
    repository.delete_expired_tokens(session, client.client_id, now)
    repository.add_token(
        session,
        AccessToken(
            token_sha256=token_digest(token),
            client_id=client.client_id,
            scopes=_scope_string(scopes),
            issued_at=now,
            expires_at=now + timedelta(seconds=lifetime_seconds),
        ),
    )
    return IssuedToken(access_token=token, expires_in=lifetime_seconds, scope=_scope_string(scopes))


def principal_for_token(session: Session, token: str, now: datetime) -> ApiPrincipal:
    """Return the principal a bearer token stands for.

    Raises InvalidToken when the token is unknown, expired, or its client is disabled.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("the access token is not known to this gateway")
    found = repository.find_token(session, token_digest(token))
    if found is None:
        raise InvalidToken("the access token is not known to this gateway")
    access, client = found
    if access.expires_at <= now:
        raise InvalidToken("the access token has expired", hint="request a new one at /oauth/token")
    if client.disabled_at is not None:
        raise InvalidToken("the client of this access token is disabled")
    return ApiPrincipal(client_id=client.client_id, scopes=frozenset(access.scopes.split()), agency=client.agency)


def list_clients(session: Session) -> list[ClientSummary]:
    """Return every client, oldest first, without secrets or hashes."""
    return [
        ClientSummary(
            client_id=client.client_id,
            name=client.name,
            scopes=tuple(sorted(client_scopes(client))),
            agency=client.agency,
            created_at=client.created_at,
            disabled_at=client.disabled_at,
        )
        for client in repository.list_clients(session)
    ]
