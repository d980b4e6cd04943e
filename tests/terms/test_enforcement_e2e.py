"""The terms enforced by real nodes on 127.0.0.1 (mTLS, agency API, delivery worker), on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.errors import PROBLEM_BASE
from gateway.exchange.receipts import verify_receipt
from gateway.records.models import StoredRecord
from gateway.terms.sync import TermsWatcher, compare
from gateway.trust.jws import b64url_decode
from tests.support import mou_terms
from tests.support.databases import DatabaseFactory
from tests.support.exchange import (
    agency_client,
    deliveries_of,
    partner_client,
    party_certificate,
    post_jws,
    record_rows,
    sha256_hex,
)
from tests.support.mou_terms import (
    draft,
    example_document,
    expiring,
    forced,
    person,
    ref_of,
    start_nodes,
    version,
    write_terms,
)
from tests.support.nodes import OPERATIONS_HEADERS, Cluster, RunningNode, start_cluster, wait_for
from tests.support.pki import TestPKI

TERMS_VIOLATION = PROBLEM_BASE + "terms-violation"
PASSPORT_NUMBER = "AZ7584806"


@pytest.fixture
def cluster(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    """PA, CO and US, all holding the example terms signed by all three."""
    running = start_cluster(pki, {p: database_factory.fresh_url() for p in mou_terms.PARTIES}, tmp_path)
    yield running
    running.stop()


def settled(node: RunningNode, record_id: str) -> list[tuple[str, str, str | None]]:
    """Wait until every delivery of ``record_id`` is settled; return (recipient, status, reason)."""

    def done() -> bool:
        rows = deliveries_of(node.node, record_id)
        return bool(rows) and all(d.status not in ("pending", "sending") for d in rows)

    wait_for(done)
    return [(d.recipient, d.status, d.receipt_reason) for d in deliveries_of(node.node, record_id)]


def submit(node: RunningNode, document: dict[str, Any]) -> str:
    with agency_client(node) as api:
        response = api.post("/v1/records", json=document)
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


def stored_jws(node: RunningNode, record_id: str) -> list[str]:
    with node.node.transaction() as session:
        return [row.jws for row in session.scalars(select(StoredRecord).where(StoredRecord.record_id == record_id))]


# -- the sending node refuses -----------------------------------------------------

SENDER_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    ("US", draft("criminal_network_flag", "US", ["PA"], offence="environmental_crime"), "offence_not_allowed"),
    ("CO", draft("removal_manifest", "CO", ["PA"], handling="H1"), "flow_not_allowed"),
    ("PA", draft("criminal_network_flag", "PA", ["CO"], handling="H1"), "handling_too_permissive"),
    (
        "PA",
        draft("removal_manifest", "PA", ["CO"], handling="H1", subject=person(protection_claim_pending=True)),
        "protection_claim",
    ),
]


def test_agency_api_refuses_an_out_of_terms_draft_naming_the_rule(cluster: Cluster) -> None:
    for party, document, rule in SENDER_REFUSES:
        node = cluster[party]
        with agency_client(node) as api:
            response = api.post("/v1/records", json=document)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == TERMS_VIOLATION
        assert problem["type"].endswith("/terms-violation")
        assert (problem["rule"], problem["reason_code"], problem["status"]) == (rule, rule, 422)
        assert problem["title"] == "Not allowed by the MOU terms"
        assert "Traceback" not in response.text
    for party in mou_terms.PARTIES:
        assert record_rows(cluster[party].node) == 0  # nothing signed, stored or queued


# -- the receiving node rejects what was forced past the sender ---------------------

RECEIVER_REJECTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("CO", "PA", draft("removal_manifest", "CO", ["PA"], handling="H1"), "flow_not_allowed"),
    ("US", "CO", draft("criminal_network_flag", "US", ["CO"], offence="environmental_crime"), "offence_not_allowed"),
    (
        "PA",
        "US",
        draft("criminal_network_flag", "PA", ["US"], subject=person(travel_document=True)),
        "field_not_allowed",
    ),
    (
        "PA",
        "CO",
        draft("criminal_network_flag", "PA", ["CO"], subject=person(protection_claim_pending=True)),
        "protection_claim",
    ),
    ("CO", "US", draft("criminal_network_flag", "CO", ["US"], purpose="removal_coordination"), "purpose_not_allowed"),
]


def test_receiver_answers_a_signed_rejection_naming_the_rule(cluster: Cluster, pki: TestPKI, tmp_path: Path) -> None:
    example_ref = ref_of(pki.terms_path)
    for sender, receiver, document, rule in RECEIVER_REJECTS:
        signed = forced(pki, document, example_ref)
        target = cluster[receiver]
        with partner_client(pki, target.partner_url, party_certificate(pki, sender), receiver, tmp_path) as client:
            response = post_jws(client, signed.jws)
        assert response.status_code == 201, response.text
        assert response.headers["content-type"].startswith("application/jose")
        receipt = verify_receipt(
            response.text, pki.bundle(), datetime.now(UTC), receiver=receiver, jws_sha256=sha256_hex(signed.jws)
        ).payload
        assert (receipt.verdict.value, receipt.reason_code) == ("rejected", rule), receipt.reason
        assert (receipt.sender, receipt.receiver) == (sender, receiver)
        assert str(receipt.record_id) == str(signed.record.record_id)
        with target.node.transaction() as session:
            row = session.scalars(
                select(StoredRecord).where(StoredRecord.record_id == str(signed.record.record_id))
            ).one()
            assert (row.direction, row.verification, row.verification_reason, row.status) == (
                "in",
                "invalid",
                rule,
                "failed_verification",  # refused on receipt, not rejected by an officer
            )


def test_stored_and_delivered_jws_never_hold_a_stripped_field(cluster: Cluster) -> None:
    pa = cluster["PA"]
    document = draft("criminal_network_flag", "PA", ["CO", "US"], subject=person(travel_document=True))
    record_id = submit(pa, document)
    assert settled(pa, record_id) == [("CO", "delivered", None), ("US", "delivered", None)]
    for party in mou_terms.PARTIES:
        (jws,) = stored_jws(cluster[party], record_id)
        payload = b64url_decode(jws.split(".")[1]).decode("utf-8")
        assert json.loads(payload)["body"]["subject"]["travel_document"] is None, party
        assert PASSPORT_NUMBER not in payload, party
        assert PASSPORT_NUMBER not in jws, party


# -- terms versions across the federation ----------------------------------------


def test_partners_on_other_terms_versions(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> None:
    # PA and CO hold v1 signed by all; US moved to a v2 only it has signed.
    v1 = pki.terms_path
    v2 = write_terms(pki, tmp_path / "terms" / "v2.yaml", signers=("US",), edit=version(2, "PA-CO-US terms v2"))
    urls = {p: database_factory.fresh_url() for p in mou_terms.PARTIES}
    cluster = start_nodes(pki, urls, tmp_path, terms={"PA": [v1], "CO": [v1], "US": [v2]})
    try:
        pa = cluster["PA"]
        # the same record under v1: accepted by CO, refused by US, which does not hold v1
        record_id = submit(pa, draft("criminal_network_flag", "PA", ["CO", "US"]))
        assert settled(pa, record_id) == [("CO", "delivered", None), ("US", "rejected", "terms_unknown")]

        # each node publishes its terms on the partner listener (mTLS)
        published = {}
        for party in ("CO", "US"):
            target = cluster[party]
            with partner_client(pki, target.partner_url, party_certificate(pki, "PA"), party, tmp_path) as client:
                response = client.get("/v1/exchange/terms")
            assert response.status_code == 200, response.text
            assert response.json()["party"] == party
            published[party] = response.json()["terms"]
        (co_terms,) = published["CO"]
        assert {k: co_terms[k] for k in ("id", "version", "sha256", "in_force")} == {**ref_of(v1), "in_force": True}
        assert co_terms["signatures_valid"] == dict.fromkeys(mou_terms.PARTIES, True)
        assert len(co_terms["live_flows"]) == len(example_document()["flows"]) == 11
        (us_terms,) = published["US"]
        assert {k: us_terms[k] for k in ("id", "version", "sha256")} == ref_of(v2)
        assert us_terms["signatures_valid"] == {"PA": False, "CO": False, "US": True}
        assert us_terms["live_flows"] == []

        # PA's watcher: same terms as CO, a mismatch with US, reported on /readyz
        statuses = TermsWatcher(pa.node).check_all()
        assert (statuses["CO"].ok, statuses["CO"].detail) == (True, "same terms pa-co-us-removal-mou v1")
        assert statuses["US"].ok is False
        assert statuses["US"].detail == ("US does not hold pa-co-us-removal-mou v1 (holds: pa-co-us-removal-mou v2)")
        assert pa.node.partner_terms == statuses
        ready = httpx.get(f"{pa.agency_url}/readyz", headers=OPERATIONS_HEADERS, timeout=10).json()
        assert ready["checks"]["partner_terms"] == {"US": statuses["US"].detail}

        # same id and version but other content is a mismatch too
        other = compare(pa.node, "CO", [{**ref_of(v1), "sha256": "1" * 64}])
        assert other.ok is False
        assert other.detail.startswith("CO holds other content under pa-co-us-removal-mou v1")
    finally:
        cluster.stop()


def test_receiver_whose_clock_is_past_expiry_rejects_as_expired(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date()
    short = write_terms(pki, tmp_path / "terms" / "short.yaml", edit=expiring(today + timedelta(days=10)))

    def a_month_ahead() -> datetime:
        return datetime.now(UTC) + timedelta(days=30)

    urls = {p: database_factory.fresh_url() for p in ("PA", "CO")}
    cluster = start_nodes(pki, urls, tmp_path, terms={"PA": [short], "CO": [short]}, clocks={"CO": a_month_ahead})
    try:
        pa, co = cluster["PA"], cluster["CO"]
        record_id = submit(pa, draft("criminal_network_flag", "PA", ["CO"]))
        assert settled(pa, record_id) == [("CO", "rejected", "terms_expired")]
        ready = httpx.get(f"{co.agency_url}/readyz", headers=OPERATIONS_HEADERS, timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["terms"] == "none in force"
    finally:
        cluster.stop()


def test_expired_terms_forced_at_receiver_via_start_cluster_clock(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date()
    short = write_terms(pki, tmp_path / "terms" / "short.yaml", edit=expiring(today + timedelta(days=10)))

    def a_month_ahead() -> datetime:
        return datetime.now(UTC) + timedelta(days=30)

    cluster = start_cluster(
        pki,
        {"CO": database_factory.fresh_url()},
        tmp_path,
        parties=("CO",),
        run_worker=False,
        clock=a_month_ahead,
        terms_files=[short],
    )
    try:
        co = cluster["CO"]
        signed = forced(pki, draft("criminal_network_flag", "PA", ["CO"]), ref_of(short))
        with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
            response = post_jws(client, signed.jws)
        assert response.status_code == 201, response.text
        receipt = verify_receipt(
            response.text, pki.bundle(), a_month_ahead(), receiver="CO", jws_sha256=sha256_hex(signed.jws)
        ).payload
        assert (receipt.verdict.value, receipt.reason_code) == ("rejected", "terms_expired")
        assert receipt.received_at.date() == today + timedelta(days=30)
    finally:
        cluster.stop()
