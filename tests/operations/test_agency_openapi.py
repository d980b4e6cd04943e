"""Schemathesis over the agency API's own OpenAPI document, with a valid bearer token.

Generated requests (valid and invalid) against POST/GET /v1/records,
GET /v1/records/{record_id} and POST /oauth/token must never get a 500, and
every documented response must match its schema. The app is called in process
through its ASGI interface; a small example budget keeps the run bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402 - after the optional import
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from gateway.app import create_agency_app  # noqa: E402
from gateway.clients.service import create_client  # noqa: E402
from gateway.node import Node, build_node  # noqa: E402
from tests.support.databases import DatabaseFactory  # noqa: E402
from tests.support.exchange import closed_port_url  # noqa: E402
from tests.support.nodes import OPERATIONS_HEADERS, node_settings  # noqa: E402
from tests.support.pki import TestPKI  # noqa: E402

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

LOCAL = "http://127.0.0.1"  # the token endpoint accepts plain HTTP on loopback only
OPERATIONS = r"^/(v1/records(/\{record_id\})?|oauth/token)$"


@pytest.fixture(scope="module")
def agency_node(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """PA on SQLite with CO as its only partner (unreachable: nothing is delivered here)."""
    workdir = tmp_path_factory.mktemp("openapi")
    url = DatabaseFactory("sqlite", workdir).fresh_url()
    settings = node_settings(pki, "PA", url, workdir / "pa", {"CO": closed_port_url()}, rate_limit_client_per_minute=0)
    node = build_node(settings)
    yield node
    node.close()


@pytest.fixture(scope="module")
def bearer(agency_node: Node) -> dict[str, str]:
    from starlette.testclient import TestClient

    with agency_node.transaction() as session:
        client_id, secret = create_client(session, "fuzz", ["records:write", "records:read"], agency_node.now())
    with TestClient(create_agency_app(agency_node), base_url=LOCAL) as http:
        response = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def agency_schema(agency_node: Node) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_agency_app(agency_node), headers=OPERATIONS_HEADERS)


# Schemathesis' own pytest loader (from_fixture) breaks on pytest 9, so each
# operation's Hypothesis strategy is driven by hand.
@pytest.mark.parametrize(
    ("path", "method"),
    [("/v1/records", "POST"), ("/v1/records", "GET"), ("/v1/records/{record_id}", "GET"), ("/oauth/token", "POST")],
)
def test_agency_api_has_no_server_error_and_matches_its_schema(
    agency_schema: Any, bearer: dict[str, str], path: str, method: str
) -> None:
    headers = {} if path == "/oauth/token" else bearer
    statuses: set[int] = set()

    @given(case=agency_schema[path][method].as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def check(case: Any) -> None:
        response = case.call_and_validate(
            base_url=LOCAL, headers=headers, checks=[not_a_server_error, response_schema_conformance]
        )
        statuses.add(response.status_code)

    check()
    if path != "/oauth/token":
        assert 401 not in statuses, "the bearer token was refused: the run fuzzed only the auth check"
    assert statuses, "no request was made"


def test_schema_lists_the_fuzzed_operations(agency_schema: Any) -> None:
    paths = set(agency_schema.raw_schema["paths"])
    assert {"/v1/records", "/v1/records/{record_id}", "/oauth/token"} <= paths


def test_a_cursor_past_bigint_is_a_422_not_a_500(agency_node: Node, bearer: dict[str, str]) -> None:
    # Found by this fuzzing run: an int64-overflowing cursor reached the database and raised.
    from starlette.testclient import TestClient

    with TestClient(create_agency_app(agency_node), base_url=LOCAL) as http:
        response = http.get("/v1/records", params={"cursor": str(2**63)}, headers=bearer)
        assert response.status_code == 422, response.text
        assert http.get("/v1/records", params={"cursor": str(2**63 - 1)}, headers=bearer).status_code == 200
