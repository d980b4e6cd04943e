"""A record is identified by its originator and its id, over the real partner and agency listeners.

PA is the receiver (no worker: its own records stay queued). CO and US post
records to it over mutual TLS with their own certificates and signing keys.
Record ids are minted by the originating node, so a partner can send a record
under an id another party originated; it must never shadow that record or
make its genuine delivery fail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from uuid6 import uuid7

from gateway.exchange.receipts import verify_receipt
from gateway.records import repository as records_repository
from gateway.records.schemas import Receipt, Verdict
from tests.support.databases import DatabaseFactory
from tests.support.exchange import (
    BATCH_PATH,
    agency_client,
    example_draft,
    partner_client,
    party_certificate,
    post_jws,
    sha256_hex,
    signed_record,
    start_node,
    stop_node,
)
from tests.support.nodes import RunningNode
from tests.support.pki import TestPKI

PROBLEMS = "https://mou-gateway.example/problems/"
PROBLEM_JSON = "application/problem+json"
AGENCY = {"CO": "Policía Nacional de Colombia", "US": "Homeland Security Investigations"}


@pytest.fixture(scope="module")
def pa(
    pki: TestPKI, module_database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """PA's node (one per backend), receiving from CO and US; its own deliveries stay queued."""
    running = start_node(pki, "PA", module_database_factory.fresh_url(), tmp_path_factory.mktemp("identity"))
    yield running
    stop_node(running)


@pytest.fixture
def agency(pa: RunningNode) -> Iterator[httpx.Client]:
    with agency_client(pa) as client:
        yield client


def flag(pki: TestPKI, party: str, record_id: str, subject_status: str = "charged") -> str:
    """A criminal-network flag from ``party`` to PA under ``record_id``, signed with ``party``'s key."""
    draft = example_draft(
        "criminal_network_flag",
        record_id=record_id,
        originator={"party": party, "agency": AGENCY[party], "officer_ref": f"{party}-LIAISON-01"},
        recipients=["PA"],
    )
    draft["body"]["subject_status"] = subject_status
    return signed_record(pki, party, draft).jws


def post(pki: TestPKI, pa: RunningNode, sender: str, jws: str, tmp_path: Path) -> httpx.Response:
    with partner_client(pki, pa.partner_url, party_certificate(pki, sender), "PA", tmp_path) as client:
        return post_jws(client, jws)


def receipt_of(pki: TestPKI, response: httpx.Response, jws: str) -> Receipt:
    assert response.status_code in (200, 201), response.text
    return verify_receipt(
        response.text, pki.bundle(), datetime.now(UTC), receiver="PA", jws_sha256=sha256_hex(jws)
    ).payload


def own_flag(agency: httpx.Client, **changes: Any) -> str:
    """Submit a PA flag to CO through the agency API; returns its record id."""
    response = agency.post("/v1/records", json=example_draft("criminal_network_flag", recipients=["CO"], **changes))
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    assert problem["type"] == PROBLEMS + slug
    assert "Traceback" not in response.text
    return problem


def assert_quiet_logs(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """No log line carries SQL, its parameters or anything of the records involved."""
    text = caplog.text
    for marker in ("INSERT", "[parameters:", "[SQL:", "Traceback", *secrets):
        assert marker not in text, f"a log line carries {marker[:40]!r}"


# -- a partner's record under an id this node originated -------------------------


def test_a_partner_record_under_an_id_this_node_originated_is_rejected_and_never_shadows_ours(
    pki: TestPKI, pa: RunningNode, agency: httpx.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    own_id = own_flag(agency)
    copy = flag(pki, "CO", own_id, subject_status="convicted")
    with caplog.at_level(logging.DEBUG):
        response = post(pki, pa, "CO", copy, tmp_path)
    receipt = receipt_of(pki, response, copy)
    assert response.status_code == 201
    assert (receipt.verdict, receipt.reason_code) == (Verdict.REJECTED, "record_id_conflict")
    assert (str(receipt.record_id), receipt.sender) == (own_id, "CO")

    served = agency.get(f"/v1/records/{own_id}")
    assert served.status_code == 200, served.text
    detail = served.json()
    assert (detail["direction"], detail["originator_party"]) == ("out", "PA")
    assert detail["body"]["subject_status"] == "charged"
    # Asking for CO's record under that id finds nothing valid: it was rejected.
    assert_problem(agency.get(f"/v1/records/{own_id}", params={"originator": "CO"}), 404, "record-not-found")
    # The same bytes again: the very same receipt (idempotent).
    again = post(pki, pa, "CO", copy, tmp_path)
    assert (again.status_code, again.text) == (200, response.text)
    assert_quiet_logs(caplog, copy, "convicted")


# -- two partners under one id: namespaced by originator ---------------------------


def test_a_copy_after_the_genuine_record_neither_shadows_it_nor_conflicts(
    pki: TestPKI, pa: RunningNode, agency: httpx.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record_id = str(uuid7())
    genuine, copy = flag(pki, "US", record_id), flag(pki, "CO", record_id, subject_status="convicted")
    with caplog.at_level(logging.DEBUG):
        first = receipt_of(pki, post(pki, pa, "US", genuine, tmp_path), genuine)
        second = receipt_of(pki, post(pki, pa, "CO", copy, tmp_path), copy)
    assert first.verdict is Verdict.ACCEPTED
    assert second.verdict is Verdict.ACCEPTED  # CO's own record: (CO, id) is another record
    _assert_both_held_apart(agency, record_id)
    assert_quiet_logs(caplog, genuine, copy)


def test_a_copy_before_the_genuine_record_does_not_make_the_genuine_delivery_fail(
    pki: TestPKI, pa: RunningNode, agency: httpx.Client, tmp_path: Path
) -> None:
    record_id = str(uuid7())
    copy, genuine = flag(pki, "CO", record_id, subject_status="convicted"), flag(pki, "US", record_id)
    assert receipt_of(pki, post(pki, pa, "CO", copy, tmp_path), copy).verdict is Verdict.ACCEPTED
    response = post(pki, pa, "US", genuine, tmp_path)
    assert response.status_code == 201, response.text  # was 409: the genuine delivery went dead
    receipt = receipt_of(pki, response, genuine)
    assert (receipt.verdict, receipt.reason_code) == (Verdict.ACCEPTED, None)
    _assert_both_held_apart(agency, record_id)


def _assert_both_held_apart(agency: httpx.Client, record_id: str) -> None:
    ambiguous = assert_problem(agency.get(f"/v1/records/{record_id}"), 409, "record-id-ambiguous")
    assert ambiguous["originators"] == ["CO", "US"]
    us = agency.get(f"/v1/records/{record_id}", params={"originator": "US"})
    assert us.status_code == 200, us.text
    assert (us.json()["originator_party"], us.json()["body"]["subject_status"]) == ("US", "charged")
    assert us.json()["url"] == f"/v1/records/{record_id}?originator=US"
    co = agency.get(f"/v1/records/{record_id}", params={"originator": "CO"})
    assert (co.json()["originator_party"], co.json()["body"]["subject_status"]) == ("CO", "convicted")
    listed = agency.get("/v1/records", params={"direction": "in"}).json()["items"]
    assert {(i["originator_party"], i["url"]) for i in listed if i["record_id"] == record_id} == {
        ("US", f"/v1/records/{record_id}?originator=US"),
        ("CO", f"/v1/records/{record_id}?originator=CO"),
    }
    # Acknowledging needs to know which one: refused while ambiguous, then sent to the right originator.
    decision = {"decision": "accept"}
    refused = agency.post(f"/v1/records/{record_id}/acknowledgements", json=decision)
    assert assert_problem(refused, 409, "record-id-ambiguous")["originators"] == ["CO", "US"]
    acked = agency.post(f"/v1/records/{record_id}/acknowledgements", params={"originator": "US"}, json=decision)
    assert acked.status_code == 202, acked.text
    assert [d["recipient"] for d in acked.json()["deliveries"]] == ["US"]
    us_after = agency.get(f"/v1/records/{record_id}", params={"originator": "US"}).json()
    co_after = agency.get(f"/v1/records/{record_id}", params={"originator": "CO"}).json()
    assert (us_after["status"], co_after["status"]) == ("acknowledged", "new")


def test_the_same_originator_and_id_with_other_bytes_is_still_a_conflict(
    pki: TestPKI, pa: RunningNode, tmp_path: Path
) -> None:
    record_id = str(uuid7())
    first, other = flag(pki, "US", record_id), flag(pki, "US", record_id, subject_status="convicted")
    first_response = post(pki, pa, "US", first, tmp_path)
    assert receipt_of(pki, first_response, first).verdict is Verdict.ACCEPTED
    assert_problem(post(pki, pa, "US", other, tmp_path), 409, "record-id-conflict")
    replay = post(pki, pa, "US", first, tmp_path)
    assert (replay.status_code, replay.text) == (200, first_response.text)


def test_a_batch_follows_the_same_rules(pki: TestPKI, pa: RunningNode, agency: httpx.Client, tmp_path: Path) -> None:
    own_id, shared_id = own_flag(agency), str(uuid7())
    items = [
        flag(pki, "CO", own_id),  # an id PA originated
        flag(pki, "CO", shared_id, subject_status="convicted"),
        flag(pki, "CO", shared_id),  # same originator and id, other bytes
    ]
    with partner_client(pki, pa.partner_url, party_certificate(pki, "CO"), "PA", tmp_path) as client:
        results = client.post(BATCH_PATH, json={"records": items}).json()["results"]
    assert [r["status"] for r in results] == [201, 201, 409]
    assert [r.get("verdict") for r in results] == ["rejected", "accepted", None]
    assert receipt_of(pki, httpx.Response(201, text=results[0]["receipt"]), items[0]).reason_code == (
        "record_id_conflict"
    )
    assert results[2]["problem"]["type"] == PROBLEMS + "record-id-conflict"
    genuine = flag(pki, "US", shared_id)
    with partner_client(pki, pa.partner_url, party_certificate(pki, "US"), "PA", tmp_path) as client:
        [result] = client.post(BATCH_PATH, json={"records": [genuine]}).json()["results"]
    assert (result["status"], result["verdict"]) == (201, "accepted")
    assert agency.get(f"/v1/records/{own_id}").json()["direction"] == "out"


# -- an agency draft naming an id already held ------------------------------------


@pytest.mark.parametrize("holder", ["own", "partner"])
def test_an_agency_draft_naming_a_held_record_id_is_a_422_problem_and_logs_nothing_of_it(
    holder: str,
    pki: TestPKI,
    pa: RunningNode,
    agency: httpx.Client,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if holder == "own":
        held_id = own_flag(agency)
    else:
        held_id = str(uuid7())
        jws = flag(pki, "US", held_id)
        assert receipt_of(pki, post(pki, pa, "US", jws, tmp_path), jws).verdict is Verdict.ACCEPTED
    before = agency.get(f"/v1/records/{held_id}").json()
    officer = "SNM-OF-SECRET-9731"
    draft = example_draft(
        "criminal_network_flag",
        recipients=["CO"],
        record_id=held_id,
        originator={"party": "PA", "agency": "Servicio Nacional de Migración", "officer_ref": officer},
    )
    with caplog.at_level(logging.DEBUG):
        response = agency.post("/v1/records", json=draft)
        with_key = agency.post("/v1/records", json=draft, headers={"Idempotency-Key": f"k-{held_id}"})
    for answer in (response, with_key):
        problem = assert_problem(answer, 422, "record-id-in-use")
        assert held_id in problem["detail"]
    assert agency.get(f"/v1/records/{held_id}").json() == before
    assert_quiet_logs(caplog, officer, draft["body"]["subject"]["family_names"])


@pytest.mark.parametrize("race", ["once", "always"])
def test_a_unique_violation_on_submit_never_logs_the_statement(
    race: str,
    pki: TestPKI,
    pa: RunningNode,
    agency: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The id check loses a race (another request stored the id in between): the insert hits the constraint.

    ``once``: the retry sees the winner's record and answers 422. ``always`` (a check that never sees
    it): the unique constraint still holds, and the 500 names nothing of the statement or the record.
    """
    held_id = own_flag(agency)
    calls: list[str] = []

    def id_held(session: object, record_id: str) -> bool:
        calls.append(record_id)
        return race == "once" and len(calls) > 1

    monkeypatch.setattr(records_repository, "id_held", id_held)
    officer = "SNM-OF-RACE-5521"
    draft = example_draft(
        "criminal_network_flag",
        recipients=["CO"],
        record_id=held_id,
        originator={"party": "PA", "agency": "Servicio Nacional de Migración", "officer_ref": officer},
    )
    with caplog.at_level(logging.DEBUG):
        response = agency.post("/v1/records", json=draft)
    assert calls == [held_id, held_id]  # tried twice: the first insert violated the constraint
    if race == "once":
        assert_problem(response, 422, "record-id-in-use")
    else:
        problem = assert_problem(response, 500, "internal")
        assert problem["correlation_id"] in caplog.text
        assert "database statement failed: IntegrityError" in caplog.text
    assert_quiet_logs(caplog, officer, held_id, draft["body"]["subject"]["family_names"])
