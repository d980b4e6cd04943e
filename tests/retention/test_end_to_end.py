"""Retention across real nodes (mTLS, workers): PA originates, CO holds; the clocks jump 400 days."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.ledger.verification import verify_ledger
from gateway.node import Node
from gateway.records.models import StoredRecord
from tests.retention.conftest import DAY, ManualClock, events_about, rows_of
from tests.support.databases import DatabaseFactory
from tests.support.exchange import agency_client, deliveries_of
from tests.support.mou_terms import PARTIES, draft
from tests.support.nodes import Cluster, RunningNode, start_cluster, wait_for
from tests.support.pki import TestPKI


@pytest.fixture
def cluster(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path, clock: ManualClock, long_terms: Path
) -> Iterator[Cluster]:
    """PA, CO and US on one manual clock; retention runs only when a test asks."""
    running = start_cluster(
        pki,
        {p: database_factory.fresh_url() for p in PARTIES},
        tmp_path,
        clock=clock,
        terms_files=[long_terms],
        run_retention_scheduler=False,
    )
    yield running
    running.stop()


def submit(node: RunningNode, document: dict[str, Any]) -> str:
    with agency_client(node) as api:
        response = api.post("/v1/records", json=document)
    assert response.status_code == 202, response.text
    return str(response.json()["record_id"])


def delivered(node: RunningNode, record_id: str) -> None:
    wait_for(lambda: [d.status for d in deliveries_of(node.node, record_id)] == ["delivered"])


def admin(node: RunningNode) -> httpx.Client:
    return agency_client(node, ("admin", "records:read"))


def run(node: RunningNode) -> dict[str, Any]:
    with admin(node) as api:
        response = api.post("/v1/retention/run")
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    assert report["errors"] == []
    return report


def deletion_notices(node: Node, about: str) -> list[str]:
    """Ids of the deletion notices ``node`` received about record ``about``."""
    with node.transaction() as session:
        return list(
            session.scalars(
                select(StoredRecord.record_id).where(
                    StoredRecord.direction == "in",
                    StoredRecord.verification == "valid",
                    StoredRecord.record_type == "deletion_notice",
                    StoredRecord.refers_to == about,
                )
            )
        )


def holder_state(node: RunningNode, record_id: str, party: str) -> dict[str, Any]:
    with agency_client(node) as api:
        response = api.get(f"/v1/records/{record_id}/dissemination")
    assert response.status_code == 200, response.text
    row: dict[str, Any] = next(h for h in response.json()["holders"] if h["party"] == party)
    return row


def test_retention_deletes_expired_bodies_everywhere_and_the_originator_learns_of_it(
    cluster: Cluster, clock: ManualClock
) -> None:
    pa, co = cluster["PA"], cluster["CO"]
    flag = submit(pa, draft("criminal_network_flag", "PA", ["CO"], at=clock.now, status="suspect", keep_days=365))
    held = submit(pa, draft("criminal_network_flag", "PA", ["CO"], at=clock.now, status="suspect", keep_days=365))
    manifest = submit(pa, draft("removal_manifest", "PA", ["CO"], at=clock.now, keep_days=730))
    for record_id in (flag, held, manifest):
        delivered(pa, record_id)
    digest = rows_of(pa.node, flag)[0].jws_sha256
    with admin(co) as api:
        placed = api.post(f"/v1/records/{held}/legal-hold", json={"reason": "Fiscalía case 2027-114"})
    assert placed.status_code == 200, placed.text

    clock.advance(400 * DAY)  # every node's clock: the flags (365 days) expired, the manifest (730) not
    at_pa, at_co = run(pa), run(co)
    assert sorted((d["record_id"], d["direction"]) for d in at_pa["deleted"]) == sorted(
        [(flag, "out"), (held, "out")]  # the hold is CO's, not PA's
    )
    assert at_pa["notices"] == []  # the terms: originators do not notify recipients
    assert [(d["record_id"], d["direction"]) for d in at_co["deleted"]] == [(flag, "in")]
    assert [(h["record_id"], h["reason"]) for h in at_co["held"]] == [(held, "Fiscalía case 2027-114")]
    [notice] = at_co["notices"]
    assert (notice["about_record_id"], notice["recipients"]) == (flag, ["PA"])

    # CO keeps the envelope and the digest its receipt names; the body is gone.
    with agency_client(co) as api:
        shown = api.get(f"/v1/records/{flag}").json()
        kept = api.get(f"/v1/records/{manifest}").json()
        still = api.get(f"/v1/records/{held}").json()
    assert (shown["body"], shown["jws"], shown["jws_sha256"]) == (None, "", digest)
    assert (shown["envelope"]["record_id"], shown["envelope"]["originator"]["party"]) == (flag, "PA")
    assert (shown["lifecycle"]["retention"], shown["lifecycle"]["body_deleted_reason"]) == ("deleted", "retention")
    assert kept["body"] is not None
    assert (still["body"] is not None, still["lifecycle"]["retention"]) == (True, "held")
    for running in (pa, co):
        with running.node.transaction() as session:
            verify_ledger(session, running.node.bundle)
    assert events_about(co.node, flag)[0] == "exchange:record:received"
    assert "records:body:deleted" in events_about(co.node, flag)
    assert "records:body:deleted" in events_about(pa.node, flag)

    # PA receives CO's signed notice, and its dissemination view shows CO deleted the record.
    wait_for(lambda: deletion_notices(pa.node, flag) == [notice["notice_record_id"]])
    state = holder_state(pa, flag, "CO")
    assert (state["state"], state["deletion_notice"]) == ("deleted", notice["notice_record_id"])
    assert holder_state(pa, held, "CO")["state"] == "current"

    # A second run changes nothing; the hold is still reported.
    again = run(co)
    assert (again["deleted"], again["notices"], [h["record_id"] for h in again["held"]]) == ([], [], [held])
    assert run(pa)["deleted"] == []

    with admin(co) as api:
        assert api.delete(f"/v1/records/{held}/legal-hold").status_code == 200
    released = run(co)
    assert [d["record_id"] for d in released["deleted"]] == [held]
    wait_for(lambda: len(deletion_notices(pa.node, held)) == 1)
    assert holder_state(pa, held, "CO")["state"] == "deleted"


def test_serve_runs_the_retention_job_on_its_own(
    pki: TestPKI, database_factory: DatabaseFactory, tmp_path: Path, clock: ManualClock, long_terms: Path
) -> None:
    single = start_cluster(
        pki,
        {"PA": database_factory.fresh_url()},
        tmp_path,
        parties=("PA",),
        clock=clock,
        terms_files=[long_terms],
        run_retention_scheduler=True,  # off by default in test clusters
        retention_run_seconds=0.05,
    )
    try:
        pa = single["PA"]
        flag = submit(pa, draft("criminal_network_flag", "PA", ["CO"], at=clock.now, status="suspect", keep_days=365))
        assert rows_of(pa.node, flag)[0].jws != ""
        clock.advance(366 * DAY)
        wait_for(lambda: rows_of(pa.node, flag)[0].body_deleted_reason == "retention")
        assert events_about(pa.node, flag)[-1] == "records:body:deleted"
    finally:
        single.stop()
