"""The agency API of a running node: tokens and scopes, submission, reading, acknowledging.

PA and CO run with their delivery workers; PA's partner URL for US points at
a closed port, so deliveries to US stay pending while those to CO complete.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.server import bind
from tests.support.databases import DatabaseFactory
from tests.support.exchange import (
    JOSE,
    RECORDS_PATH,
    access_token,
    agency_client,
    closed_port_url,
    deliveries_of,
    example_draft,
    partner_client,
    party_certificate,
    record_rows,
    signed_record,
    start_node,
    stop_node,
    stored_copies,
    tampered_copy,
)
from tests.support.nodes import RunningNode, wait_for
from tests.support.pki import TestPKI

PROBLEMS = "https://mou-gateway.example/problems/"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Pair:
    pa: RunningNode
    co: RunningNode


@pytest.fixture(scope="module")
def pair(
    pki: TestPKI, module_database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """PA and CO with workers, shared by the module; US is unreachable from PA."""
    workdir = tmp_path_factory.mktemp("agency")
    pa_socket = bind("127.0.0.1", 0)
    pa_url = f"https://127.0.0.1:{pa_socket.getsockname()[1]}"
    co = start_node(pki, "CO", module_database_factory.fresh_url(), workdir, partners={"PA": pa_url}, run_worker=True)
    try:
        pa = start_node(
            pki,
            "PA",
            module_database_factory.fresh_url(),
            workdir,
            run_worker=True,
            partners={"CO": co.partner_url, "US": closed_port_url()},
            partner_socket=pa_socket,
            delivery_backoff_max_seconds=5.0,  # US stays down: retry it gently in the background
        )
    except BaseException:
        stop_node(co)
        raise
    yield Pair(pa, co)
    stop_node(pa)
    stop_node(co)


@pytest.fixture(scope="module")
def pa_api(pair: Pair) -> Iterator[httpx.Client]:
    with agency_client(pair.pa) as client:
        yield client


@pytest.fixture(scope="module")
def pa_reader(pair: Pair) -> Iterator[httpx.Client]:
    with agency_client(pair.pa, ("records:read",)) as client:
        yield client


@pytest.fixture(scope="module")
def co_api(pair: Pair) -> Iterator[httpx.Client]:
    with agency_client(pair.co) as client:
        yield client


def flag(recipients: list[str], **changes: Any) -> dict[str, Any]:
    draft = example_draft("criminal_network_flag", recipients=recipients, **changes)
    draft.pop("terms")  # the node fills in the terms in force
    return draft


def manifest() -> dict[str, Any]:
    draft = example_draft("removal_manifest")
    draft.pop("terms")
    return draft


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["type"] == PROBLEMS + slug
    assert problem["status"] == status
    return problem


def submit(api: httpx.Client, draft: dict[str, Any], **headers: str) -> str:
    response = api.post("/v1/records", json=draft, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


def wait_status(api: httpx.Client, record_id: str, recipient: str, status: str) -> dict[str, Any]:
    def reached() -> bool:
        detail = api.get(f"/v1/records/{record_id}").json()
        return any(d["recipient"] == recipient and d["status"] == status for d in detail["deliveries"])

    wait_for(reached, timeout=20)
    detail: dict[str, Any] = api.get(f"/v1/records/{record_id}").json()
    return detail


# -- tokens and scopes ---------------------------------------------------------


def test_client_credentials_token_flow(pair: Pair) -> None:
    client_id, secret = pair.pa.add_client(("records:read", "records:write"))
    response = httpx.post(
        f"{pair.pa.agency_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert response.status_code == 200, response.text
    issued = response.json()
    assert issued["token_type"] == "Bearer"
    assert (issued["expires_in"], issued["scope"]) == (900, "records:read records:write")
    assert response.headers["cache-control"] == "no-store"
    listing = httpx.get(
        f"{pair.pa.agency_url}/v1/records", headers={"Authorization": f"Bearer {issued['access_token']}"}
    )
    assert listing.status_code == 200

    wrong = httpx.post(
        f"{pair.pa.agency_url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, "nope")
    )
    problem = assert_problem(wrong, 401, "invalid-client")
    assert problem["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "bearer " + "x" * 600]
)
def test_missing_or_bad_token_is_401(authorization: str | None, pair: Pair) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in (("GET", "/v1/records"), ("POST", "/v1/records")):
        response = httpx.request(method, f"{pair.pa.agency_url}{path}", headers=headers, json=flag(["CO"]))
        assert_problem(response, 401, "invalid-token")
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_read_scope_cannot_submit(pair: Pair, pa_reader: httpx.Client) -> None:
    before = record_rows(pair.pa.node)
    response = pa_reader.post("/v1/records", json=flag(["CO"]))
    problem = assert_problem(response, 403, "insufficient-scope")
    assert 'scope="records:write"' in response.headers["www-authenticate"]
    assert "records:write" in problem["detail"]
    assert pa_reader.get("/v1/records", params={"limit": 1}).status_code == 200
    with agency_client(pair.pa, ("records:write",)) as writer:
        assert_problem(writer.get("/v1/records"), 403, "insufficient-scope")
        assert_problem(writer.get("/v1/records/01ba3c31-f739-79c4-9a2b-3c4d5e6f7081"), 403, "insufficient-scope")
    assert record_rows(pair.pa.node) == before


def test_token_narrowed_to_read_cannot_submit(pair: Pair) -> None:
    client_id, secret = pair.pa.add_client(("records:read", "records:write"))
    token = access_token(pair.pa.agency_url, client_id, secret, scope="records:read")
    response = httpx.post(
        f"{pair.pa.agency_url}/v1/records", json=flag(["CO"]), headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 403, "insufficient-scope")


def list_all(api: httpx.Client, params: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: int | None = None
    for _ in range(100):
        page = api.get("/v1/records", params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


# -- submission and idempotency ----------------------------------------------------


def test_idempotency_key_replays_the_same_record(pair: Pair, pa_api: httpx.Client) -> None:
    draft = manifest()
    first = pa_api.post("/v1/records", json=draft, headers={"Idempotency-Key": "manifest-IST4501-a"})
    again = pa_api.post("/v1/records", json=draft, headers={"Idempotency-Key": "manifest-IST4501-a"})

    assert (first.status_code, again.status_code) == (202, 202)
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    record_id = first.json()["record_id"]
    assert again.json()["record_id"] == record_id
    assert again.json()["jws_sha256"] == first.json()["jws_sha256"]
    assert first.headers["location"] == f"/v1/records/{record_id}"
    assert stored_copies(pair.pa.node, record_id, "out") == 1
    assert [d.recipient for d in deliveries_of(pair.pa.node, record_id)] == ["CO", "US"]


def test_idempotency_key_with_another_draft_is_422(pair: Pair, pa_api: httpx.Client) -> None:
    record_id = submit(pa_api, flag(["CO"]), **{"Idempotency-Key": "flag-b"})
    other = flag(["CO"])
    other["body"]["summary_of_facts"] = "Another case entirely."
    before = record_rows(pair.pa.node)

    response = pa_api.post("/v1/records", json=other, headers={"Idempotency-Key": "flag-b"})

    problem = assert_problem(response, 422, "idempotency-key-reused")
    assert "flag-b" in problem["detail"]
    assert record_rows(pair.pa.node) == before
    assert stored_copies(pair.pa.node, record_id, "out") == 1


def test_idempotency_keys_belong_to_one_client(pair: Pair, pa_api: httpx.Client) -> None:
    draft = flag(["CO"])
    mine = submit(pa_api, draft, **{"Idempotency-Key": "shared-key"})
    with agency_client(pair.pa) as other_client:
        theirs = submit(other_client, draft, **{"Idempotency-Key": "shared-key"})
    assert mine != theirs


def test_concurrent_requests_with_one_idempotency_key_make_one_record(pair: Pair, pa_api: httpx.Client) -> None:
    draft = flag(["CO"])
    start = threading.Barrier(4)

    def post(_: int) -> httpx.Response:
        start.wait(10)
        return pa_api.post("/v1/records", json=draft, headers={"Idempotency-Key": "raced-key"})

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(post, range(4)))

    assert [r.status_code for r in responses] == [202] * 4, [r.text for r in responses]
    record_ids = {r.json()["record_id"] for r in responses}
    assert len(record_ids) == 1
    assert sorted(r.headers.get("idempotent-replayed", "no") for r in responses) == ["no", "true", "true", "true"]
    assert stored_copies(pair.pa.node, record_ids.pop(), "out") == 1


@pytest.mark.parametrize(
    ("field", "mutate"),
    [
        ("legal_basis", lambda d: d.pop("legal_basis")),
        ("date_of_birth", lambda d: d["body"]["subject"].update(date_of_birth="yesterday")),
        ("handling", lambda d: d.update(handling="H9")),
        ("nickname", lambda d: d["body"]["subject"].update(nickname="El Flaco")),
        ("recipients", lambda d: d.update(recipients=[])),
    ],
)
def test_invalid_draft_is_422_naming_the_field(
    field: str, mutate: Callable[[dict[str, Any]], object], pair: Pair, pa_api: httpx.Client
) -> None:
    draft = flag(["CO"])
    mutate(draft)
    before = record_rows(pair.pa.node)
    problem = assert_problem(pa_api.post("/v1/records", json=draft), 422, "schema-violation")
    assert field in problem["detail"]
    assert record_rows(pair.pa.node) == before


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b'{"a": NaN}', "application/json"),
    ],
)
def test_malformed_submission_is_4xx_not_500(content: bytes, content_type: str, pa_api: httpx.Client) -> None:
    response = pa_api.post("/v1/records", content=content, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM_JSON


def test_originator_of_another_party_is_422(pa_api: httpx.Client) -> None:
    draft = flag(["US"])
    draft["originator"] = {"party": "CO", "agency": "Migración Colombia", "officer_ref": "MC-ANT-0291"}
    problem = assert_problem(pa_api.post("/v1/records", json=draft), 422, "originator-party")
    assert "PA" in problem["detail"]


# -- reading -------------------------------------------------------------------------


def test_list_pages_with_a_cursor_and_filters(pair: Pair, pa_api: httpx.Client) -> None:
    since = datetime.now(UTC).isoformat()
    to_co = [submit(pa_api, flag(["CO"])) for _ in range(3)]
    to_us = submit(pa_api, flag(["US"]))
    both = submit(pa_api, manifest())
    for record_id in [*to_co, both]:
        wait_status(pa_api, record_id, "CO", "delivered")
    wait_for(lambda: deliveries_of(pair.pa.node, to_us)[0].attempts >= 1)
    newest_first = [both, to_us, *reversed(to_co)]

    pages = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"since": since, "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = pa_api.get("/v1/records", params=params).json()
        pages.append([item["record_id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]

    def ids(**filters: str) -> list[str]:
        return [item["record_id"] for item in list_all(pa_api, {"since": since, **filters}, limit=3)]

    assert ids(direction="out") == newest_first
    assert ids(direction="in") == []
    assert ids(record_type="removal_manifest") == [both]
    assert ids(record_type="criminal_network_flag") == newest_first[1:]
    assert ids(party="US") == [both, to_us]
    assert ids(party="CO") == [both, *reversed(to_co)]
    assert ids(delivery_status="delivered") == [both, *reversed(to_co)]
    assert ids(delivery_status="pending") == [both, to_us]
    assert ids(delivery_status="dead") == []
    assert ids(record_type="criminal_network_flag", delivery_status="pending") == [to_us]

    for bad in ({"direction": "sideways"}, {"cursor": "0"}, {"limit": "0"}, {"since": "2026-01-01T00:00:00"}):
        response = pa_api.get("/v1/records", params=bad)
        assert 400 <= response.status_code < 500, (bad, response.text)
        assert response.headers["content-type"] == PROBLEM_JSON


def test_detail_shows_record_deliveries_and_receipts(pa_api: httpx.Client) -> None:
    record_id = submit(pa_api, flag(["CO"]))
    detail = wait_status(pa_api, record_id, "CO", "delivered")
    assert detail["direction"] == "out"
    assert detail["verification"]["result"] == "valid"
    assert detail["body"]["offence_category"] == "migrant_smuggling"
    [delivery] = detail["deliveries"]
    assert delivery["receipt"]["verdict"] == "accepted"
    assert isinstance(delivery["receipt"]["ledger_index"], int)
    assert delivery["receipt"]["jws"].count(".") == 2


@pytest.mark.parametrize("record_id", ["01ba3c31-f739-79c4-9a2b-3c4d5e6f7081", "not-an-id"])
def test_unknown_record_is_404(record_id: str, pa_api: httpx.Client) -> None:
    assert_problem(pa_api.get(f"/v1/records/{record_id}"), 404, "record-not-found")


# -- acknowledgements -----------------------------------------------------------------


def test_acknowledgement_reaches_the_originator(pair: Pair, pa_api: httpx.Client, co_api: httpx.Client) -> None:
    record_id = submit(pa_api, flag(["CO"]))
    wait_status(pa_api, record_id, "CO", "delivered")
    received = co_api.get(f"/v1/records/{record_id}").json()
    # the terms put flags under human review: not actionable until an officer answers
    assert (received["status"], received["actionable"]) == ("new", False)

    response = co_api.post(
        f"/v1/records/{record_id}/acknowledgements",
        json={"decision": "accept", "comment": "Recibido.", "officer_ref": "MC-ANT-0291"},
    )

    assert response.status_code == 202, response.text
    ack_id = response.json()["record_id"]
    assert ack_id != record_id
    assert [d["recipient"] for d in response.json()["deliveries"]] == ["PA"]
    answered = co_api.get(f"/v1/records/{record_id}").json()
    assert (answered["status"], answered["actionable"]) == ("acknowledged", True)
    wait_for(lambda: pa_api.get(f"/v1/records/{record_id}").json()["status"] == "acknowledged", timeout=20)
    assert (
        pa_api.get(f"/v1/records/{record_id}").json()["answered_by"] == "CO"
    )  # one value per field, not "acknowledged:CO"
    ack = pa_api.get(f"/v1/records/{ack_id}").json()
    assert (ack["direction"], ack["record_type"], ack["body"]["decision"]) == ("in", "acknowledgement", "accept")
    assert ack["body"]["acknowledges_record_id"] == record_id

    # An acknowledgement is not itself acknowledged.
    problem = assert_problem(
        pa_api.post(f"/v1/records/{ack_id}/acknowledgements", json={"decision": "accept"}), 409, "not-acknowledgeable"
    )
    assert "acknowledgement" in problem["detail"]


def test_rejected_record_is_not_acknowledgeable(pki: TestPKI, pair: Pair, co_api: httpx.Client, tmp_path: Path) -> None:
    signed = signed_record(pki, "PA", example_draft("criminal_network_flag", recipients=["CO"]))
    forged = tampered_copy(signed.jws)
    with partner_client(pki, pair.co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as partner:
        response = partner.post(RECORDS_PATH, content=forged, headers={"Content-Type": JOSE})
    assert response.headers["x-receipt-verdict"] == "rejected"
    record_id = str(signed.record.record_id)

    problem = assert_problem(
        co_api.post(f"/v1/records/{record_id}/acknowledgements", json={"decision": "accept"}),
        409,
        "not-acknowledgeable",
    )
    assert record_id in problem["detail"]
    assert_problem(co_api.get(f"/v1/records/{record_id}"), 404, "record-not-found")


def test_acknowledging_what_was_not_received_is_404(pa_api: httpx.Client) -> None:
    own = submit(pa_api, flag(["CO"]))
    for record_id in (own, "01ba3c31-f739-79c4-9a2b-3c4d5e6f7081"):
        assert_problem(
            pa_api.post(f"/v1/records/{record_id}/acknowledgements", json={"decision": "accept"}),
            404,
            "record-not-found",
        )


@pytest.mark.parametrize("body", [{"decision": "maybe"}, {}, {"decision": "accept", "extra": 1}])
def test_invalid_acknowledgement_request_is_422(body: dict[str, Any], co_api: httpx.Client) -> None:
    response = co_api.post(
        "/v1/records/01ba3c31-f739-79c4-9a2b-3c4d5e6f7081/acknowledgements",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 422, "request-validation")
