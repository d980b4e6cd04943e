"""The reports of three real nodes (mTLS, agency API, workers) match the scenario they lived through."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.console.review import view_record
from gateway.console.schemas import OfficerPrincipal, Role
from gateway.oversight.service import (
    AccessCount,
    DeletionCount,
    InstructionsIssued,
    InstructionsReceived,
    ReceivedCount,
    RejectionCount,
    SentCount,
)
from gateway.records.models import StoredRecord
from tests.oversight.scenario import agency_api, all_settled, incoming, leaks, report_of, settled
from tests.support.databases import DatabaseFactory
from tests.support.exchange import partner_client, party_certificate, post_jws
from tests.support.mou_terms import PARTIES, draft, forced, person, ref_of, version, write_terms
from tests.support.nodes import Cluster, start_cluster, wait_for
from tests.support.pki import TestPKI

OFFICER = OfficerPrincipal(
    officer_pk=1,
    username="maria.gonzalez",
    officer_ref="MC-OF-0031",
    role=Role.VIEWER,
    csrf_token="not-used",
    password_change_required=False,
)


@pytest.fixture
def split_cluster(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    """PA and CO on the example terms; US holds only a v2 it alone signed, so it rejects PA's records."""
    v2 = write_terms(pki, tmp_path / "terms" / "v2.yaml", signers=("US",), edit=version(2, "PA-CO-US terms v2"))
    urls = {p: database_factory.fresh_url() for p in PARTIES}
    running = start_cluster(pki, urls, tmp_path, per_party={"US": {"terms_files": [v2]}}, run_ledger_scheduler=False)
    yield running
    running.stop()


@pytest.fixture
def cluster(pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Cluster]:
    """PA, CO and US, all on the example terms."""
    running = start_cluster(
        pki, {p: database_factory.fresh_url() for p in PARTIES}, tmp_path, run_ledger_scheduler=False
    )
    yield running
    running.stop()


def test_report_figures_match_the_exchange(split_cluster: Cluster, pki: TestPKI, tmp_path: Path) -> None:
    pa, co = split_cluster["PA"], split_cluster["CO"]
    subject = person(travel_document=True)
    with agency_api(pa) as pa_api, agency_api(co) as co_api:
        # PA sends one manifest to CO and US (US refuses it at receipt) and two flags to CO.
        manifest = pa_api.submit(draft("removal_manifest", "PA", ["CO", "US"], subject=subject))
        flags = [pa_api.submit(draft("criminal_network_flag", "PA", ["CO"], subject=subject)) for _ in range(2)]
        assert settled(pa, manifest) == [("CO", "delivered", None), ("US", "rejected", "terms_unknown")]
        for flag in flags:
            assert settled(pa, flag) == [("CO", "delivered", None)]
        # A flag PA's gateway would never sign (pending protection claim), forced onto CO's listener.
        document = draft("criminal_network_flag", "PA", ["CO"], subject=person(protection_claim_pending=True))
        signed = forced(pki, document, ref_of(pki.terms_path))
        with partner_client(pki, co.partner_url, party_certificate(pki, "PA"), "CO", tmp_path) as client:
            assert post_jws(client, signed.jws).headers["x-receipt-verdict"] == "rejected"
        # CO acknowledges the manifest.
        acknowledgement = co_api.issue(
            f"/v1/records/{manifest}/acknowledgements",
            {"decision": "accept", "comment": "Sujeto recibido en MDE", "officer_ref": "MC-OF-0031"},
        )
        assert settled(co, acknowledgement) == [("PA", "delivered", None)]
        assert incoming(pa, "acknowledgement") == 1
        # PA's client reads the manifest twice and one flag once; a CO officer opens the manifest.
        for record_id in (manifest, manifest, flags[0]):
            pa_api.read(record_id)
        with co.node.transaction() as session:
            pk = session.scalars(select(StoredRecord.pk).where(StoredRecord.accepted_record_id == manifest)).one()
            view_record(session, co.node, OFFICER, pk)
        client_ids = [pa_api.client_id, co_api.client_id]

    reports = {party: report_of(split_cluster[party]) for party in PARTIES}
    at_pa = reports["PA"]
    assert at_pa.sent == (
        SentCount("CO", "criminal_network_flag", delivered=2),
        SentCount("CO", "removal_manifest", delivered=1),
        SentCount("US", "removal_manifest", rejected=1),
    )
    assert at_pa.received == (ReceivedCount("CO", "acknowledgement", 1, 0),)
    assert at_pa.rejections == (RejectionCount("out", "US", "terms_unknown", 1),)
    assert at_pa.access == (AccessCount("client", 3, 2),)
    assert (at_pa.views, at_pa.records_viewed) == (3, 2)

    at_co = reports["CO"]
    assert at_co.sent == (SentCount("PA", "acknowledgement", delivered=1),)
    assert at_co.received == (
        ReceivedCount("PA", "criminal_network_flag", 2, 1),
        ReceivedCount("PA", "removal_manifest", 1, 0),
    )
    assert at_co.rejections == (RejectionCount("in", "PA", "protection_claim", 1),)
    assert at_co.access == (AccessCount("officer", 1, 1),)

    at_us = reports["US"]
    assert at_us.sent == ()
    assert at_us.received == (ReceivedCount("PA", "removal_manifest", 0, 1),)
    assert at_us.rejections == (RejectionCount("in", "PA", "terms_unknown", 1),)
    assert at_us.access == ()

    for report in reports.values():
        assert (report.corrections_issued, report.retractions_issued) == (0, 0)
        assert report.instructions_issued == report.instructions_received == report.deletions == ()
        assert report.dead_deliveries == report.notices == ()
        assert (report.legal_holds_placed, report.legal_holds_released) == (0, 0)

    personal = [
        subject["family_names"],
        subject["given_names"],
        subject["date_of_birth"],
        subject["travel_document"]["number"],
        "P01",
        "P02",
        "El Baquiano",
        "PA-LIAISON-01",
        "MC-OF-0031",
        "Sujeto recibido",
        OFFICER.username,
        *client_ids,
    ]
    assert {party: leaks(report, personal) for party, report in reports.items()} == {party: {} for party in PARTIES}


def test_report_figures_of_a_correction_and_a_retraction(cluster: Cluster) -> None:
    pa, co, us = cluster["PA"], cluster["CO"], cluster["US"]
    flag_document = draft("criminal_network_flag", "PA", ["CO", "US"])
    with agency_api(pa) as api:
        flag = api.submit(flag_document)
        manifest = api.submit(draft("removal_manifest", "PA", ["CO", "US"]))
        for record_id in (flag, manifest):
            assert settled(pa, record_id) == [("CO", "delivered", None), ("US", "delivered", None)]
        corrected = copy.deepcopy(flag_document["body"])
        corrected["summary_of_facts"] = "Synthetic test facts, corrected: one boat transfer only."
        correction = api.issue(f"/v1/records/{flag}/corrections", {"reason": "wrong summary", "body": corrected})
        retraction = api.issue(f"/v1/records/{manifest}/retractions", {"reason": "data_inaccurate"})
    for record_id in (correction, retraction):
        assert settled(pa, record_id) == [("CO", "delivered", None), ("US", "delivered", None)]
    # Each recipient acknowledges each instruction on its own, automatically.
    wait_for(lambda: incoming(pa, "application_acknowledgement") == 4)
    for holder in (co, us):
        wait_for(lambda holder=holder: all_settled(holder))  # type: ignore[misc]

    at_pa = report_of(pa)
    assert at_pa.sent == tuple(
        SentCount(party, kind, delivered=1)
        for party in ("CO", "US")
        for kind in ("correction", "criminal_network_flag", "removal_manifest", "retraction")
    )
    assert at_pa.received == (
        ReceivedCount("CO", "application_acknowledgement", 2, 0),
        ReceivedCount("US", "application_acknowledgement", 2, 0),
    )
    issued = at_pa.instructions_issued
    assert [(i.record_type, i.recipient, i.issued, i.applied, i.not_held, i.pending) for i in issued] == [
        ("correction", "CO", 1, 1, 0, 0),
        ("correction", "US", 1, 1, 0, 0),
        ("retraction", "CO", 1, 1, 0, 0),
        ("retraction", "US", 1, 1, 0, 0),
    ]
    for row in issued:
        assert isinstance(row, InstructionsIssued)
        assert row.median_hours is not None
        assert row.median_hours == row.max_hours  # one instruction each
        assert 0 <= row.median_hours < 0.05  # applied within three minutes
    # Corrections issued: 1, applied by both recipients; retractions: 1, applied by both.
    assert (at_pa.corrections_issued, at_pa.retractions_issued) == (1, 1)
    assert [i.recipient for i in issued if i.record_type == "correction" and i.applied == 1] == ["CO", "US"]
    assert [i.recipient for i in issued if i.record_type == "retraction" and i.applied == 1] == ["CO", "US"]
    # Deleted bodies: PA's own manifest (the retracted record had no other version).
    assert at_pa.deletions == (DeletionCount("retraction", "out", 1),)
    assert at_pa.instructions_received == ()

    for holder in (co, us):
        report = report_of(holder)
        assert report.instructions_received == (
            InstructionsReceived("correction", "PA", received=1, applied=1, not_held=0, unacknowledged=0),
            InstructionsReceived("retraction", "PA", received=1, applied=1, not_held=0, unacknowledged=0),
        ), holder.party
        assert report.deletions == (DeletionCount("retraction", "in", 1),), holder.party
        assert report.sent == (SentCount("PA", "application_acknowledgement", delivered=2),), holder.party
        assert report.received == tuple(
            ReceivedCount("PA", kind, 1, 0)
            for kind in ("correction", "criminal_network_flag", "removal_manifest", "retraction")
        ), holder.party
        assert report.instructions_issued == report.rejections == (), holder.party
        assert (report.corrections_issued, report.retractions_issued) == (0, 0), holder.party
