"""POST /oauth/token and require_scope over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import text

from gateway.clients.schemas import ADMIN, RECORDS_READ
from gateway.edge import require_scope
from gateway.errors import PROBLEM_BASE
from gateway.node import Node
from tests.clients.conftest import PROTECTED_PATH, Credentials, ManualClock, add_client, build_app

pytestmark = pytest.mark.anyio

TOKEN = "/oauth/token"
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}
PROBLEM_JSON = "application/problem+json"


async def _post_token(http: httpx.AsyncClient, creds: Credentials, **form: str) -> httpx.Response:
    """POST a client credentials request with HTTP Basic client authentication."""
    auth = (creds.client_id, creds.secret)
    return await http.post(TOKEN, data=CLIENT_CREDENTIALS | form, auth=auth)


async def _token(http: httpx.AsyncClient, creds: Credentials, **form: str) -> str:
    response = await _post_token(http, creds, **form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["type"] == PROBLEM_BASE + slug
    assert body["status"] == status
    return body


def _assert_oauth_error(response: httpx.Response, status: int, slug: str, error: str) -> None:
    body = _assert_problem(response, status, slug)
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    assert response.headers["cache-control"] == "no-store"


async def test_token_with_client_secret_basic(http: httpx.AsyncClient, writer: Credentials) -> None:
    response = await _post_token(http, writer)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "records:read records:write"

    protected = await http.get(PROTECTED_PATH, headers=_bearer(body["access_token"]))
    assert protected.status_code == 200, protected.text
    assert protected.json() == {
        "client_id": writer.client_id,
        "scopes": ["records:read", "records:write"],
    }


async def test_token_with_client_secret_post(http: httpx.AsyncClient, writer: Credentials) -> None:
    form = CLIENT_CREDENTIALS | {"client_id": writer.client_id, "client_secret": writer.secret}
    response = await http.post(TOKEN, data=form)
    assert response.status_code == 200, response.text
    protected = await http.get(PROTECTED_PATH, headers=_bearer(response.json()["access_token"]))
    assert protected.status_code == 200, protected.text
    assert protected.json()["client_id"] == writer.client_id


async def test_plain_http_on_loopback_is_accepted(node: Node, writer: Credentials) -> None:
    transport = httpx.ASGITransport(app=build_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        response = await _post_token(http, writer)
    assert response.status_code == 200, response.text


async def test_plain_http_elsewhere_is_refused(node: Node, writer: Credentials) -> None:
    transport = httpx.ASGITransport(app=build_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://agency.test") as http:
        response = await _post_token(http, writer)
    _assert_oauth_error(response, 400, "invalid-token-request", "invalid_request")
    assert "HTTPS" in response.json()["detail"]


@pytest.mark.parametrize("auth", [("right-id", "wrong-secret"), ("agc_000000000000000000000000", "right-secret")])
async def test_bad_client_credentials(http: httpx.AsyncClient, writer: Credentials, auth: tuple[str, str]) -> None:
    client_id = writer.client_id if auth[0] == "right-id" else auth[0]
    secret = writer.secret if auth[1] == "right-secret" else auth[1]
    response = await http.post(TOKEN, data=CLIENT_CREDENTIALS, auth=(client_id, secret))
    _assert_oauth_error(response, 401, "invalid-client", "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert writer.secret not in response.text


async def test_wrong_secret_in_the_form(http: httpx.AsyncClient, writer: Credentials) -> None:
    form = CLIENT_CREDENTIALS | {"client_id": writer.client_id, "client_secret": "nope"}
    response = await http.post(TOKEN, data=form)
    _assert_oauth_error(response, 401, "invalid-client", "invalid_client")


async def test_no_client_authentication(http: httpx.AsyncClient, writer: Credentials) -> None:
    response = await http.post(TOKEN, data=CLIENT_CREDENTIALS | {"client_id": writer.client_id})
    _assert_oauth_error(response, 401, "invalid-client", "invalid_client")


async def test_a_disabled_client_gets_no_token(http: httpx.AsyncClient, node: Node, writer: Credentials) -> None:
    with node.transaction() as session:
        session.execute(
            text("UPDATE api_clients SET disabled_at = created_at WHERE client_id = :id"),
            {"id": writer.client_id},
        )
    response = await _post_token(http, writer)
    _assert_oauth_error(response, 401, "invalid-client", "invalid_client")


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token"])
async def test_unsupported_grant_type(http: httpx.AsyncClient, writer: Credentials, grant_type: str) -> None:
    response = await http.post(TOKEN, data={"grant_type": grant_type}, auth=(writer.client_id, writer.secret))
    _assert_oauth_error(response, 400, "unsupported-grant-type", "unsupported_grant_type")
    assert response.json()["detail"] == f"grant_type {grant_type!r} is not supported"


async def test_missing_grant_type(http: httpx.AsyncClient, writer: Credentials) -> None:
    response = await http.post(TOKEN, data={"scope": "records:read"}, auth=(writer.client_id, writer.secret))
    _assert_oauth_error(response, 400, "invalid-token-request", "invalid_request")
    assert response.json()["detail"] == "grant_type is missing"


async def test_a_repeated_parameter_is_refused(http: httpx.AsyncClient, writer: Credentials) -> None:
    form = {"grant_type": "client_credentials", "scope": ["", "records:write"]}
    response = await http.post(TOKEN, data=form, auth=(writer.client_id, writer.secret))
    _assert_oauth_error(response, 400, "invalid-token-request", "invalid_request")
    assert response.json()["detail"] == "the parameter 'scope' is repeated"


@pytest.mark.parametrize("body", [{"json": CLIENT_CREDENTIALS}, {"files": {"grant_type": b"client_credentials"}}, {}])
async def test_a_body_that_is_not_a_form_is_refused(
    http: httpx.AsyncClient, writer: Credentials, body: dict[str, object]
) -> None:
    response = await http.post(TOKEN, auth=(writer.client_id, writer.secret), **body)  # type: ignore[arg-type]
    _assert_oauth_error(response, 400, "invalid-token-request", "invalid_request")
    assert "x-www-form-urlencoded" in response.json()["detail"]


@pytest.mark.parametrize("scope", ["records:write", "records:read admin", "records:everything"])
async def test_scope_escalation_is_refused(http: httpx.AsyncClient, node: Node, scope: str) -> None:
    reader = add_client(node, RECORDS_READ)
    response = await http.post(
        TOKEN, data=CLIENT_CREDENTIALS | {"scope": scope}, auth=(reader.client_id, reader.secret)
    )
    _assert_oauth_error(response, 400, "invalid-scope", "invalid_scope")
    with node.transaction() as session:
        assert session.execute(text("SELECT count(*) FROM access_tokens")).scalar_one() == 0


async def test_a_narrowed_token_lacks_the_other_scopes(http: httpx.AsyncClient, writer: Credentials) -> None:
    response = await http.post(
        TOKEN,
        data=CLIENT_CREDENTIALS | {"scope": "records:read"},
        auth=(writer.client_id, writer.secret),
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "records:read"
    protected = await http.get(PROTECTED_PATH, headers=_bearer(response.json()["access_token"]))
    _assert_problem(protected, 403, "insufficient-scope")
    assert protected.headers["www-authenticate"] == ('Bearer error="insufficient_scope", scope="records:write"')


async def test_wrong_scope_is_forbidden(http: httpx.AsyncClient, node: Node) -> None:
    admin = add_client(node, ADMIN, RECORDS_READ)
    protected = await http.get(PROTECTED_PATH, headers=_bearer(await _token(http, admin)))
    _assert_problem(protected, 403, "insufficient-scope")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token-of-this-gateway"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
async def test_missing_or_unknown_token(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await http.get(PROTECTED_PATH, headers=headers)
    _assert_problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_token_expires_after_its_lifetime(
    http: httpx.AsyncClient, writer: Credentials, clock: ManualClock
) -> None:
    token = await _token(http, writer)
    clock.advance(899)
    assert (await http.get(PROTECTED_PATH, headers=_bearer(token))).status_code == 200
    clock.advance(1)
    response = await http.get(PROTECTED_PATH, headers=_bearer(token))
    body = _assert_problem(response, 401, "invalid-token")
    assert body["detail"] == "the access token has expired"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_a_disabled_clients_token_stops_working(http: httpx.AsyncClient, node: Node, writer: Credentials) -> None:
    token = await _token(http, writer)
    with node.transaction() as session:
        session.execute(
            text("UPDATE api_clients SET disabled_at = created_at WHERE client_id = :id"),
            {"id": writer.client_id},
        )
    response = await http.get(PROTECTED_PATH, headers=_bearer(token))
    _assert_problem(response, 401, "invalid-token")


async def test_secrets_are_never_stored_in_clear(http: httpx.AsyncClient, node: Node, writer: Credentials) -> None:
    token = await _token(http, writer)
    with node.transaction() as session:
        clients = [tuple(row) for row in session.execute(text("SELECT * FROM api_clients"))]
        tokens = [tuple(row) for row in session.execute(text("SELECT * FROM access_tokens"))]
        [secret_hash] = session.execute(text("SELECT secret_hash FROM api_clients")).scalars()
        [digest] = session.execute(text("SELECT token_sha256 FROM access_tokens")).scalars()
    assert secret_hash.startswith("$argon2id$")
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    stored = repr(clients + tokens)
    assert writer.secret not in stored
    assert token not in stored


def test_require_scope_refuses_an_unknown_scope() -> None:
    with pytest.raises(ValueError, match="unknown scope 'records:delete'"):
        require_scope("records:delete")


def test_openapi_declares_the_scheme_and_scopes(node: Node) -> None:
    document = build_app(node).openapi()
    scheme = document["components"]["securitySchemes"]["agencyClientCredentials"]
    flow = scheme["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == TOKEN
    assert set(flow["scopes"]) == {"records:write", "records:read", "admin"}
    assert document["paths"][PROTECTED_PATH]["get"]["security"] == [{"agencyClientCredentials": ["records:write"]}]
    token_body = document["paths"][TOKEN]["post"]["requestBody"]["content"]
    assert list(token_body) == ["application/x-www-form-urlencoded"]
