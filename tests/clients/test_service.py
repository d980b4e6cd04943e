"""The clients service on SQLite and PostgreSQL (each test in a rolled-back transaction)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.clients import service
from gateway.clients.errors import InvalidClient, InvalidScope, InvalidToken, UnknownScope
from gateway.clients.models import AccessToken, ApiClient
from gateway.clients.schemas import ADMIN, RECORDS_READ, RECORDS_WRITE, ApiPrincipal
from gateway.errors import InputError
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LIFETIME = 900


def _client(session: Session, *scopes: str) -> tuple[ApiClient, str]:
    client_id, secret = service.create_client(session, "Agency system", scopes, NOW)
    client = session.get(ApiClient, client_id)
    assert client is not None
    return client, secret


def _token_rows(session: Session, client_id: str) -> list[AccessToken]:
    return list(session.scalars(select(AccessToken).where(AccessToken.client_id == client_id)))


def test_create_client_stores_an_argon2id_hash_and_a_ledger_event(session: Session) -> None:
    client_id, secret = service.create_client(
        session,
        "  Migración Panamá  ",
        [RECORDS_READ, RECORDS_WRITE, RECORDS_READ],
        NOW,
        actor="cli",
    )
    client = session.get(ApiClient, client_id)
    assert client is not None
    assert client.name == "Migración Panamá"
    assert client.scopes == "records:read records:write"
    assert client.created_at == NOW
    assert client.disabled_at is None
    assert client.secret_hash.startswith("$argon2id$")
    assert secret not in client.secret_hash
    assert PasswordHasher().verify(client.secret_hash, secret)
    assert len(secret) >= 43  # secrets.token_urlsafe(32)

    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.subject == client_id)).one()
    assert (entry.event, entry.actor, entry.at) == (AuditEvent.CLIENT_CREATED.value, "cli", NOW)


def test_each_client_gets_its_own_id_and_secret(session: Session) -> None:
    first = service.create_client(session, "A", [RECORDS_READ], NOW)
    second = service.create_client(session, "A", [RECORDS_READ], NOW)
    assert first[0] != second[0]
    assert first[1] != second[1]


@pytest.mark.parametrize(
    ("name", "scopes", "error", "match"),
    [
        ("A", ["records:delete"], UnknownScope, "unknown scope.*records:delete"),
        ("A", [RECORDS_READ, "Admin"], UnknownScope, "unknown scope.*Admin"),
        ("A", [], InputError, "at least one scope"),
        ("   ", [RECORDS_READ], InputError, "client name"),
        ("x" * 201, [RECORDS_READ], InputError, "client name"),
    ],
)
def test_create_client_refuses_bad_input(
    session: Session, name: str, scopes: list[str], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        service.create_client(session, name, scopes, NOW)
    assert session.scalars(select(ApiClient)).all() == []


def test_authenticate_client(session: Session) -> None:
    client, secret = _client(session, RECORDS_READ)
    assert service.authenticate_client(session, client.client_id, secret) is client
    with pytest.raises(InvalidClient, match="wrong secret"):
        service.authenticate_client(session, client.client_id, secret + "x")
    with pytest.raises(InvalidClient, match="wrong secret"):
        service.authenticate_client(session, client.client_id, "")
    with pytest.raises(InvalidClient, match="unknown client"):
        service.authenticate_client(session, "agc_unknown", secret)


def test_a_disabled_client_cannot_authenticate(session: Session) -> None:
    client, secret = _client(session, RECORDS_READ)
    client.disabled_at = NOW
    session.flush()
    with pytest.raises(InvalidClient, match="disabled"):
        service.authenticate_client(session, client.client_id, secret)


def test_issue_token_stores_only_its_sha256(session: Session) -> None:
    client, _ = _client(session, RECORDS_WRITE, RECORDS_READ)
    issued = service.issue_token(session, client, None, NOW, lifetime_seconds=LIFETIME)
    assert issued.token_type == "Bearer"
    assert issued.expires_in == LIFETIME
    assert issued.scope == "records:read records:write"

    [row] = _token_rows(session, client.client_id)
    assert row.token_sha256 == hashlib.sha256(issued.access_token.encode()).hexdigest()
    assert issued.access_token not in (row.token_sha256, row.scopes, row.client_id)
    assert (row.issued_at, row.expires_at) == (NOW, NOW + timedelta(seconds=LIFETIME))
    assert row.scopes == "records:read records:write"


def test_issue_token_narrows_to_the_requested_scopes(session: Session) -> None:
    client, _ = _client(session, RECORDS_WRITE, RECORDS_READ)
    issued = service.issue_token(session, client, [RECORDS_READ], NOW, lifetime_seconds=LIFETIME)
    assert issued.scope == RECORDS_READ
    principal = service.principal_for_token(session, issued.access_token, NOW)
    assert principal.scopes == frozenset({RECORDS_READ})


@pytest.mark.parametrize(
    ("requested", "match"),
    [
        ([ADMIN], "not granted to this client: admin"),
        ([RECORDS_READ, RECORDS_WRITE], "not granted to this client: records:write"),
        (["records:everything"], "unknown scope.*records:everything"),
    ],
)
def test_issue_token_refuses_scope_escalation(session: Session, requested: list[str], match: str) -> None:
    client, _ = _client(session, RECORDS_READ)
    with pytest.raises(InvalidScope, match=match):
        service.issue_token(session, client, requested, NOW, lifetime_seconds=LIFETIME)
    assert _token_rows(session, client.client_id) == []


def test_principal_for_token(session: Session) -> None:
    client, _ = _client(session, RECORDS_WRITE)
    issued = service.issue_token(session, client, None, NOW, lifetime_seconds=LIFETIME)
    just_before_expiry = NOW + timedelta(seconds=LIFETIME - 1)
    assert service.principal_for_token(session, issued.access_token, just_before_expiry) == (
        ApiPrincipal(client_id=client.client_id, scopes=frozenset({RECORDS_WRITE}))
    )


@pytest.mark.parametrize(
    ("token", "match"),
    [("", "not known"), ("garbage", "not known"), ("x" * 10_000, "not known")],
)
def test_principal_for_an_unknown_token(session: Session, token: str, match: str) -> None:
    with pytest.raises(InvalidToken, match=match):
        service.principal_for_token(session, token, NOW)


def test_principal_for_an_expired_token(session: Session) -> None:
    client, _ = _client(session, RECORDS_WRITE)
    issued = service.issue_token(session, client, None, NOW, lifetime_seconds=LIFETIME)
    with pytest.raises(InvalidToken, match="expired"):
        service.principal_for_token(session, issued.access_token, NOW + timedelta(seconds=LIFETIME))


def test_principal_for_a_token_of_a_disabled_client(session: Session) -> None:
    client, _ = _client(session, RECORDS_WRITE)
    issued = service.issue_token(session, client, None, NOW, lifetime_seconds=LIFETIME)
    client.disabled_at = NOW
    session.flush()
    with pytest.raises(InvalidToken, match="disabled"):
        service.principal_for_token(session, issued.access_token, NOW)


def test_issue_token_drops_only_the_clients_expired_tokens(session: Session) -> None:
    client, _ = _client(session, RECORDS_READ)
    other, _ = _client(session, RECORDS_READ)
    old = service.issue_token(session, client, None, NOW, lifetime_seconds=LIFETIME)
    others_old = service.issue_token(session, other, None, NOW, lifetime_seconds=LIFETIME)
    later = NOW + timedelta(seconds=LIFETIME)
    live = service.issue_token(session, client, None, later - timedelta(seconds=1), lifetime_seconds=60)
    new = service.issue_token(session, client, None, later, lifetime_seconds=LIFETIME)

    digests = {row.token_sha256 for row in _token_rows(session, client.client_id)}
    assert digests == {service.token_digest(live.access_token), service.token_digest(new.access_token)}
    assert service.token_digest(old.access_token) not in digests
    assert [row.token_sha256 for row in _token_rows(session, other.client_id)] == [
        service.token_digest(others_old.access_token)
    ]


def test_list_clients_shows_no_secret(session: Session) -> None:
    client, secret = _client(session, RECORDS_READ, ADMIN)
    [summary] = service.list_clients(session)
    assert summary.client_id == client.client_id
    assert summary.scopes == (ADMIN, RECORDS_READ)
    assert summary.active
    dumped = summary.model_dump_json()
    assert secret not in dumped
    assert "argon2" not in dumped
