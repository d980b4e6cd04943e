"""Requests naming a party the trust bundle does not hold get the unknown-party problem (422), not a schema error.

Which parties exist is configuration: the same request naming CR is refused
as unknown by a node whose bundle lacks CR, and passes that check (to meet
the terms) once CR's CA is in the bundle. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.app import create_agency_app
from gateway.clients.service import create_client
from gateway.node import Node, build_node
from gateway.records.models import StoredRecord
from gateway.trust.bundle import TrustBundle
from gateway.trust.pki import init_party
from tests.support.mou_terms import draft
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

PROBLEMS = "https://mou-gateway.example/problems/"
HOLDS = "the trust bundle holds CO, PA, US"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_node(pki: TestPKI, database_url: str, data_dir: Path, bundle: Path | None = None) -> Node:
    extra: dict[str, Any] = {"trust_bundle": bundle} if bundle is not None else {}
    return build_node(node_settings(pki, "PA", database_url, data_dir, {}, **extra))


@pytest.fixture
def node(pki: TestPKI, database_url: str, tmp_path: Path) -> Iterator[Node]:
    built = make_node(pki, database_url, tmp_path / "pa")
    yield built
    built.close()


async def client_for(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    with node.transaction() as session:
        client_id, secret = create_client(session, "unknown-party test", ["records:write", "records:read"], node.now())
    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="https://agency.test") as api:
        token = await api.post(
            "/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        )
        assert token.status_code == 200, token.text
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield api


@pytest.fixture
async def api(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(node):
        yield client


def record_count(node: Node) -> int:
    with node.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(StoredRecord)) or 0)


def assert_unknown_party(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + "unknown-party"
    assert problem["title"] == "Unknown party"
    assert problem["detail"] == detail


@pytest.mark.anyio
async def test_a_draft_to_a_party_not_in_the_bundle_is_refused_as_unknown(api: httpx.AsyncClient, node: Node) -> None:
    response = await api.post("/v1/records", json=draft("criminal_network_flag", "PA", ["CO", "CR"]))
    assert_unknown_party(response, f"recipient 'CR' is not a party of this federation; {HOLDS}")
    assert record_count(node) == 0


@pytest.mark.anyio
async def test_a_malformed_recipient_is_a_schema_violation_not_an_unknown_party(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/records", json=draft("criminal_network_flag", "PA", ["cr"]))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == PROBLEMS + "schema-violation"
    assert "String should match pattern" in response.json()["detail"]


@pytest.mark.anyio
async def test_listing_by_a_party_not_in_the_bundle_is_refused_as_unknown(api: httpx.AsyncClient) -> None:
    assert_unknown_party(
        await api.get("/v1/records", params={"party": "CR"}), f"party 'CR' is not a party of this federation; {HOLDS}"
    )
    known = await api.get("/v1/records", params={"party": "CO"})
    assert known.status_code == 200, known.text
    malformed = await api.get("/v1/records", params={"party": "Costa Rica"})
    assert malformed.status_code == 422
    assert malformed.headers["content-type"] == "application/problem+json"


@pytest.mark.anyio
async def test_sharing_onward_with_a_party_not_in_the_bundle_is_refused_as_unknown(api: httpx.AsyncClient) -> None:
    record_id = "01ba3c31-f739-79c4-9a2b-3c4d5e6f7081"
    request = {"third_party": "CR", "purpose": "criminal_network_disruption", "justification": "Transit route."}
    detail = f"third party 'CR' is not a party of this federation; {HOLDS}"
    assert_unknown_party(await api.post(f"/v1/records/{record_id}/onward-requests", json=request), detail)
    assert_unknown_party(await api.post(f"/v1/records/{record_id}/onward", json={"third_party": "CR"}), detail)


@pytest.mark.anyio
async def test_once_the_bundle_holds_the_party_the_terms_decide(
    pki: TestPKI, database_url: str, tmp_path: Path
) -> None:
    # Same request, a node whose bundle holds CR: it is no longer unknown; the terms (no flow to CR) refuse it.
    cr = init_party("CR", tmp_path / "cr")
    bundle = tmp_path / "bundle-with-cr.json"
    bundle.write_text(TrustBundle.merge([pki.bundle(), TrustBundle.load(cr.bundle_entry)]).to_json(), "utf-8")
    node = make_node(pki, database_url, tmp_path / "pa", bundle)
    try:
        async for api in client_for(node):
            response = await api.post("/v1/records", json=draft("criminal_network_flag", "PA", ["CR"]))
            assert response.status_code == 422, response.text
            problem = response.json()
            assert problem["type"] == PROBLEMS + "terms-violation"
            assert problem["rule"] == "flow_not_allowed"
            assert "from PA to CR" in problem["detail"]
            listed = await api.get("/v1/records", params={"party": "CR"})
            assert listed.status_code == 200, listed.text
            assert listed.json()["items"] == []
    finally:
        node.close()
