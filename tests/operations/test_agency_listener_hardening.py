"""Agency listener hardening (issue 14, item 7): body limit, duplicate JSON keys, HSTS, operations token.

Over the real agency listener (uvicorn on 127.0.0.1), so that a chunked body
reaches the guard as the network delivers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.clients.models import ApiClient
from gateway.clients.service import create_client, issue_token
from gateway.errors import PROBLEM_BASE, ConfigurationError
from gateway.observability.access import load_operations_token
from gateway.settings import Settings
from tests.support.databases import DatabaseFactory
from tests.support.exchange import closed_port_url, example_draft, server_only_context, start_node, stop_node
from tests.support.nodes import OPERATIONS_HEADERS, RunningNode
from tests.support.pki import TestPKI

LIMIT = 64 * 1024
PROBLEM = "application/problem+json"


@pytest.fixture
def pa(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[RunningNode]:
    running = start_node(
        pki,
        "PA",
        database_factory.fresh_url(),
        tmp_path,
        partners={"CO": closed_port_url()},
        agency_body_limit_bytes=LIMIT,
        rate_limit_client_per_minute=0,
        run_ledger_scheduler=False,
        terms_check_seconds=0,
    )
    yield running
    stop_node(running)


def bearer(running: RunningNode) -> dict[str, str]:
    node = running.node
    with node.transaction() as session:
        client_id, _ = create_client(session, "hardening", ["records:write", "records:read"], node.now())
        client = session.get(ApiClient, client_id)
        assert client is not None
        token = issue_token(session, client, None, node.now(), lifetime_seconds=600).access_token
    return {"Authorization": f"Bearer {token}"}


def draft_bytes(padding: int = 0) -> bytes:
    draft = example_draft("removal_manifest", recipients=["CO"])
    if padding:
        draft["body"]["notes"] = "x" * padding  # past the limit, whatever the schema says of it
    return json.dumps(draft).encode()


# -- a. body limit -----------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_a_413_problem(pa: RunningNode) -> None:
    response = httpx.post(
        f"{pa.agency_url}/v1/records",
        content=draft_bytes(padding=LIMIT),
        headers={**bearer(pa), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == PROBLEM_BASE + "payload-too-large"
    assert problem["detail"] == (
        f"{len(draft_bytes(padding=LIMIT))} bytes exceeds the agency listener's {LIMIT}-byte limit "
        "(agency_body_limit_bytes)"
    )


def test_a_chunked_body_over_the_limit_is_a_413_problem_without_reading_it_all(pa: RunningNode) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        # 100 x 16 KiB = 1.6 MiB offered; the guard must stop after the 64 KiB limit.
        for _ in range(100):
            sent.append(1)
            yield b" " * 16384

    try:
        response = httpx.post(
            f"{pa.agency_url}/v1/records",
            content=chunks(),
            headers={**bearer(pa), "Content-Type": "application/json"},
            timeout=30,
        )
    except httpx.WriteError:  # the server may close before the client stops writing
        pytest.skip("server closed the connection before the answer could be read")
    assert "content-length" not in response.request.headers  # it really was chunked
    assert response.status_code == 413
    assert response.json()["type"] == PROBLEM_BASE + "payload-too-large"
    assert response.json()["detail"] == (
        f"the body exceeds the agency listener's {LIMIT}-byte limit (agency_body_limit_bytes)"
    )


def test_a_body_under_the_limit_still_works(pa: RunningNode) -> None:
    response = httpx.post(
        f"{pa.agency_url}/v1/records",
        content=draft_bytes(),
        headers={**bearer(pa), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 202, response.text


def test_a_limit_below_one_kib_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="agency_body_limit_bytes"):
        Settings(party="PA", agency_body_limit_bytes=10)


# -- b. duplicate JSON keys --------------------------------------------------------------


def test_b_a_draft_with_a_duplicate_key_is_refused(pa: RunningNode) -> None:
    text = draft_bytes().decode()
    # The same member twice: json.loads would keep the last one silently.
    duplicated = text.replace('"record_type": ', '"record_type": "criminal_network_flag", "record_type": ', 1)
    assert duplicated != text
    response = httpx.post(
        f"{pa.agency_url}/v1/records",
        content=duplicated.encode(),
        headers={**bearer(pa), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == PROBLEM_BASE + "duplicate-json-key"
    assert response.json()["detail"] == "the key 'record_type' appears twice"


def test_b_a_nested_duplicate_key_is_refused_too(pa: RunningNode) -> None:
    response = httpx.post(
        f"{pa.agency_url}/v1/records/some-id/retractions",
        content=b'{"reason": "acquitted", "comment": {"a": 1, "a": 2}}',
        headers={**bearer(pa), "Content-Type": "application/merge-patch+json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["type"] == PROBLEM_BASE + "duplicate-json-key"
    assert response.json()["detail"] == "the key 'a' appears twice"


def test_b_invalid_json_is_still_answered_by_validation(pa: RunningNode) -> None:
    response = httpx.post(
        f"{pa.agency_url}/v1/records",
        content=b'{"record_type": ',
        headers={**bearer(pa), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


# -- c. HSTS -----------------------------------------------------------------------------


def test_c_no_hsts_over_plain_http(pa: RunningNode) -> None:
    response = httpx.get(f"{pa.agency_url}/healthz", timeout=10)
    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers


def test_c_hsts_when_the_agency_listener_serves_tls(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    running = start_node(pki, "PA", database_factory.fresh_url(), tmp_path, agency_tls=True, run_ledger_scheduler=False)
    try:
        with httpx.Client(verify=server_only_context(pki, "PA"), timeout=10) as client:
            response = client.get(f"https://127.0.0.1:{running.server.agency_port}/healthz")
        assert response.status_code == 200
        assert response.headers["strict-transport-security"] == "max-age=31536000"
    finally:
        stop_node(running)


# -- f. operations endpoints -------------------------------------------------------------

OPERATIONS_PATHS = ("/metrics", "/docs", "/openapi.json")


@pytest.mark.parametrize("path", OPERATIONS_PATHS)
def test_f_operations_endpoints_need_the_token(pa: RunningNode, path: str) -> None:
    missing = httpx.get(f"{pa.agency_url}{path}", timeout=30)
    wrong = httpx.get(f"{pa.agency_url}{path}", headers={"Authorization": "Bearer not-the-token"}, timeout=30)
    right = httpx.get(f"{pa.agency_url}{path}", headers=OPERATIONS_HEADERS, timeout=30)
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == PROBLEM
        assert refused.headers["www-authenticate"] == 'Bearer realm="operations"'
        assert refused.json()["type"] == PROBLEM_BASE + "operations-token-required"
    assert missing.json()["detail"] == f"{path} needs the node's operations token as 'Authorization: Bearer <token>'"
    assert wrong.json()["detail"] == f"{path} needs the node's operations token; the one sent is wrong"
    assert right.status_code == 200


def test_f_readyz_shows_detail_only_with_the_token(pa: RunningNode) -> None:
    bare = httpx.get(f"{pa.agency_url}/readyz", timeout=30)
    detailed = httpx.get(f"{pa.agency_url}/readyz", headers=OPERATIONS_HEADERS, timeout=30)
    wrong = httpx.get(f"{pa.agency_url}/readyz", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert bare.status_code == 200
    assert bare.json() == {"ready": True}
    assert detailed.status_code == 200
    assert detailed.json()["checks"]["database"] == "ok"
    assert wrong.status_code == 401
    assert httpx.get(f"{pa.agency_url}/healthz", timeout=30).json() == {"status": "ok", "party": "PA"}


@pytest.fixture
def closed(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[RunningNode]:
    """A node with no operations token: the secure default."""
    running = start_node(
        pki, "PA", database_factory.fresh_url(), tmp_path, operations_token=None, run_ledger_scheduler=False
    )
    yield running
    stop_node(running)


@pytest.mark.parametrize("path", OPERATIONS_PATHS)
def test_f_without_a_configured_token_operations_endpoints_are_closed(closed: RunningNode, path: str) -> None:
    for headers in ({}, OPERATIONS_HEADERS):
        response = httpx.get(f"{closed.agency_url}{path}", headers=headers, timeout=30)
        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"] == PROBLEM_BASE + "operations-endpoint-closed"
        assert problem["detail"] == (
            f"{path} is closed: this node has no operations token; to open it, set GATEWAY_OPERATIONS_TOKEN "
            "(or GATEWAY_OPERATIONS_TOKEN_FILE) and send it as 'Authorization: Bearer <token>'"
        )
    bare = httpx.get(f"{closed.agency_url}/readyz", timeout=30)
    assert (bare.status_code, bare.json()) == (200, {"ready": True})


def test_f_token_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "operations-token"
    path.write_text("  a-token-read-from-a-file-0123\n")
    assert load_operations_token(Settings(party="PA", operations_token_file=path)) == "a-token-read-from-a-file-0123"
    with pytest.raises(ConfigurationError, match=r"^operations_token must hold at least 16 characters$"):
        load_operations_token(Settings(party="PA", operations_token="short"))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^cannot read operations_token_file"):
        load_operations_token(Settings(party="PA", operations_token_file=tmp_path / "missing"))


def test_f_the_openapi_document_lists_the_api(pa: RunningNode) -> None:
    document = httpx.get(f"{pa.agency_url}/openapi.json", headers=OPERATIONS_HEADERS, timeout=30).json()
    assert "/v1/records" in document["paths"]
    assert "/openapi.json" not in document["paths"]
