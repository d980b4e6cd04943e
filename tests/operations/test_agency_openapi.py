"""Schemathesis over the agency API's own OpenAPI document, with a valid bearer token.

Generated requests (valid and invalid) against POST/GET /v1/records,
GET /v1/records/{record_id}, the lifecycle and retention reads and POST
/oauth/token must never get a 500, and every documented response must match
its schema. The database holds records of every state first (sent with
pending deliveries, received and acknowledged, received and failed
verification, a correction), so the list and every record's detail are
checked against their response schemas with real rows, not only empty pages
and 404s. The app is called in process through its ASGI interface; a small
example budget keeps the run bounded.
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
from gateway.exchange.outgoing import submit_draft  # noqa: E402
from gateway.exchange.service import receive_record  # noqa: E402
from gateway.lifecycle.acknowledgements import acknowledge  # noqa: E402
from gateway.lifecycle.corrections import correct  # noqa: E402
from gateway.node import Node, build_node  # noqa: E402
from gateway.records.states import Decision  # noqa: E402
from tests.support.databases import DatabaseFactory  # noqa: E402
from tests.support.exchange import closed_port_url, example_draft, signed_record, tampered_copy  # noqa: E402
from tests.support.nodes import OPERATIONS_HEADERS, node_settings  # noqa: E402
from tests.support.pki import TestPKI  # noqa: E402

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"),
]

LOCAL = "http://127.0.0.1"  # the token endpoint accepts plain HTTP on loopback only
OPERATIONS = r"^/(v1/records(/\{record_id\})?|oauth/token)$"
READS = [
    ("/v1/records", "GET"),
    ("/v1/records/{record_id}", "GET"),
    ("/v1/records/{record_id}/dissemination", "GET"),
    ("/v1/lifecycle/laggards", "GET"),
    ("/v1/retention/review-due", "GET"),
]


@pytest.fixture(scope="module")
def agency_node(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """PA on SQLite with CO as its only partner (unreachable: nothing is delivered here), records in every state."""
    workdir = tmp_path_factory.mktemp("openapi")
    url = DatabaseFactory("sqlite", workdir).fresh_url()
    settings = node_settings(pki, "PA", url, workdir / "pa", {"CO": closed_port_url()}, rate_limit_client_per_minute=0)
    node = build_node(settings)
    _populate(node, pki)
    yield node
    node.close()


def _populate(node: Node, pki: TestPKI) -> None:
    """Store records in each state the read model shows: sent, received, acknowledged, failed, corrected."""
    with node.transaction() as session:
        flag = submit_draft(session, node, example_draft("criminal_network_flag"), actor="test").record
        submit_draft(session, node, example_draft("removal_manifest"), actor="test")
        received = signed_record(pki, "CO", example_draft("criminal_network_flag", **CO_TO_PA))
        assert receive_record(session, node, received.jws.encode(), "CO").verdict == "accepted"
        second = signed_record(pki, "CO", example_draft("criminal_network_flag", **CO_TO_PA))
        assert receive_record(session, node, second.jws.encode(), "CO").verdict == "accepted"
        forged = tampered_copy(signed_record(pki, "CO", example_draft("criminal_network_flag", **CO_TO_PA)).jws)
        assert receive_record(session, node, forged.encode(), "CO").verdict == "rejected"
    with node.transaction() as session:
        acknowledge(
            session,
            node,
            str(received.record.record_id),
            originator="CO",
            decision=Decision.ACCEPT,
            comment=None,
            actor="test",
            officer_ref="OF-1",
            agency=node.settings.agency,
        )
        correct(
            session,
            node,
            flag.record_id or "",
            replacement=example_draft("criminal_network_flag")["body"],
            reason="a typo in the summary",
            actor="test",
            officer_ref="OF-1",
            agency=node.settings.agency,
        )


CO_TO_PA: dict[str, Any] = {
    "originator": {"party": "CO", "agency": "Migración Colombia", "officer_ref": "MC-1"},
    "recipients": ["PA"],
}


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
@pytest.mark.parametrize(("path", "method"), [("/v1/records", "POST"), *READS, ("/oauth/token", "POST")])
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
    assert {"/v1/records", "/v1/records/{record_id}", "/oauth/token"} | {path for path, _ in READS} <= paths


@pytest.mark.parametrize(("path", "method"), READS)
def test_every_read_declares_a_typed_response(agency_schema: Any, path: str, method: str) -> None:
    # An untyped dict[str, Any] shows as a bare object: partner integrators would learn nothing from it.
    content = agency_schema.raw_schema["paths"][path][method.lower()]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": content["application/json"]["schema"]["$ref"]}


def _validated(agency_schema: Any, bearer: dict[str, str], path: str, **parts: Any) -> Any:
    case = agency_schema[path]["GET"].Case(**parts)
    response = case.call_and_validate(
        base_url=LOCAL, headers=bearer, checks=[not_a_server_error, response_schema_conformance]
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_every_stored_record_matches_the_response_schemas(agency_schema: Any, bearer: dict[str, str]) -> None:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 2}
    while True:  # page through the list, each page checked against its schema
        page = _validated(agency_schema, bearer, "/v1/records", query=query)
        items += page["items"]
        if page["next_cursor"] is None:
            break
        query = {"limit": 2, "cursor": page["next_cursor"]}
    # 2 sent + 1 correction + 1 acknowledgement (out), 2 received + 1 forged (in)
    assert sorted((i["direction"], i["status"]) for i in items) == [
        ("in", "acknowledged"),
        ("in", "failed_verification"),
        ("in", "new"),
        ("out", "sent"),
        ("out", "sent"),
        ("out", "sent"),
        ("out", "sent"),
    ]
    for item in items:
        if item["verification"] != "valid":
            continue  # a record that failed verification is listed, never served as a record
        query = {"originator": item["originator_party"]} if item["direction"] == "in" else {}
        detail = _validated(
            agency_schema,
            bearer,
            "/v1/records/{record_id}",
            path_parameters={"record_id": item["record_id"]},
            query=query,
        )
        assert detail["status"] == item["status"]
        if (
            item["direction"] == "out"
            and item["record_type"] == "criminal_network_flag"
            and item["lifecycle"]["superseded_by"]
        ):
            spread = _validated(
                agency_schema,
                bearer,
                "/v1/records/{record_id}/dissemination",
                path_parameters={"record_id": item["record_id"]},
            )
            assert {h["party"] for h in spread["holders"]} == {"CO", "US"}


def test_a_cursor_past_bigint_is_a_422_not_a_500(agency_node: Node, bearer: dict[str, str]) -> None:
    # Found by this fuzzing run: an int64-overflowing cursor reached the database and raised.
    from starlette.testclient import TestClient

    with TestClient(create_agency_app(agency_node), base_url=LOCAL) as http:
        response = http.get("/v1/records", params={"cursor": str(2**63)}, headers=bearer)
        assert response.status_code == 422, response.text
        assert http.get("/v1/records", params={"cursor": str(2**63 - 1)}, headers=bearer).status_code == 200
