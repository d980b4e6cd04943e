"""A recipient offline during a retraction applies it when it is back; until then it lags.

This module starts its own cluster: it stops the US node and moves PA's clock.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.node import utc_now
from gateway.server import NodeServer, bind
from tests.lifecycle.agencies import Agency, agencies, close_agencies, co_flag, draft
from tests.support.databases import DatabaseFactory
from tests.support.nodes import Cluster, RunningNode, start_cluster, wait_for
from tests.support.pki import TestPKI

ONWARD_TO_US = {"third_party": "US", "purpose": "criminal_network_disruption", "justification": "subject in the US"}


class MovableClock:
    """A clock that runs with real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset


@pytest.fixture
def pa_clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def own_cluster(
    pki: TestPKI, lifecycle_databases: DatabaseFactory, pa_clock: MovableClock, tmp_path: Path
) -> Iterator[Cluster]:
    urls = {p: lifecycle_databases.fresh_url() for p in ("PA", "CO", "US")}
    running = start_cluster(
        pki,
        urls,
        tmp_path,
        clocks={"PA": pa_clock},
        lifecycle_apply_deadline_hours=1.0,
        token_lifetime_seconds=6 * 3600,  # tokens outlive the hours PA's clock moves on
        run_ledger_scheduler=False,
    )
    yield running
    running.stop()


@pytest.fixture
def own_parties(own_cluster: Cluster) -> Iterator[dict[str, Agency]]:
    found = agencies(own_cluster)
    yield found
    close_agencies(found)


def stop(running: RunningNode) -> tuple[int, int]:
    """Stop a node's listeners and worker (its database stays); returns its (partner, agency) ports."""
    ports = (running.server.partner_port, running.server.agency_port)
    running.server.stop_thread()
    return ports


def restart(cluster: Cluster, party: str, ports: tuple[int, int]) -> None:
    """Serve ``party``'s node again on the ports its partners and agency already know."""
    node = cluster[party].node
    server = NodeServer(
        node,
        run_worker=True,
        partner_socket=bind("127.0.0.1", ports[0]),
        agency_socket=bind("127.0.0.1", ports[1]),
    )
    cluster.nodes[party] = RunningNode(node, server.start_in_thread())


def delivery_to(agency: Agency, record_id: str, party: str) -> dict[str, Any]:
    deliveries: list[dict[str, Any]] = [d for d in agency.record(record_id)["deliveries"] if d["recipient"] == party]
    assert len(deliveries) == 1, deliveries
    return deliveries[0]


def test_offline_recipient_applies_the_retraction_when_back(
    own_cluster: Cluster, own_parties: dict[str, Agency], pa_clock: MovableClock
) -> None:
    pa, co, us = own_parties["PA"], own_parties["CO"], own_parties["US"]
    manifest_id = pa.submit(draft("removal_manifest"))
    pa.wait_delivered(manifest_id, ("CO", "US"))
    flag = draft("criminal_network_flag")
    flag_id = pa.submit(flag)
    pa.wait_delivered(flag_id, ("CO", "US"))
    flag_correction_id = pa.issue(
        f"/v1/records/{flag_id}/corrections",
        {"reason": "convicted", "body": {**flag["body"], "subject_status": "convicted"}},
    )
    wait_for(lambda: {row["state"] for row in pa.dissemination(flag_id)["holders"]} == {"current"})
    assert all(row["holds"] == flag_correction_id for row in pa.dissemination(flag_id)["holders"])

    ports = stop(own_cluster["US"])
    body = copy.deepcopy(draft("removal_manifest")["body"])
    body["escorts_count"] = 19
    correction_id = pa.issue(f"/v1/records/{manifest_id}/corrections", {"reason": "one more escort", "body": body})
    wait_for(lambda: pa.holder(manifest_id, "CO")["holds"] == correction_id)
    retraction_id = pa.issue(f"/v1/records/{manifest_id}/retractions", {"reason": "legal_basis_ended"})
    # The correction US never got is not sent any more: the record is withdrawn.
    assert delivery_to(pa, correction_id, "US")["status"] == "cancelled"
    wait_for(lambda: pa.holder(manifest_id, "CO")["state"] == "retracted")
    wait_for(lambda: delivery_to(pa, retraction_id, "US")["attempts"] >= 2)
    to_us = delivery_to(pa, retraction_id, "US")
    assert to_us["status"] == "pending"
    assert "ConnectError" in to_us["last_error"]
    waiting = pa.holder(manifest_id, "US")
    assert (waiting["state"], waiting["lagging"]) == ("pending", False)
    versions = {v["record_id"]: v for v in waiting["versions"]}
    assert (versions[retraction_id]["delivery"], versions[retraction_id]["application"]) == ("pending", None)
    assert (versions[correction_id]["delivery"], versions[correction_id]["application"]) == ("cancelled", None)
    assert pa.laggards() == []  # within the deadline nobody lags

    pa_clock.offset = timedelta(hours=2)  # past the one-hour deadline to apply
    laggards = pa.laggards()
    assert [(item["instruction_id"], item["party"]) for item in laggards] == [(retraction_id, "US")]
    [late] = laggards
    assert (late["instruction_type"], late["record_id"], late["delivery"]) == ("retraction", manifest_id, "pending")
    assert 0.9 < late["hours_overdue"] < 1.1
    assert pa.readiness()["lifecycle_laggards"] == 1  # operators see it next to the other checks
    lagging = pa.holder(manifest_id, "US")
    assert lagging["lagging"] is True
    assert [v["record_id"] for v in lagging["versions"] if v["lagging"]] == [retraction_id]
    assert pa.holder(manifest_id, "CO")["lagging"] is False
    assert all(not row["lagging"] for row in pa.dissemination(flag_id)["holders"])

    restart(own_cluster, "US", ports)
    wait_for(lambda: pa.holder(manifest_id, "US")["state"] == "retracted")
    detail = us.record(manifest_id)
    assert (detail["body"], detail["lifecycle"]["retracted_by"]) == (None, retraction_id)
    assert detail["lifecycle"]["body_deleted_reason"] == "retraction"
    to_us = delivery_to(pa, retraction_id, "US")
    assert (to_us["status"], to_us["receipt"]["verdict"]) == ("delivered", "accepted")
    assert pa.laggards() == []
    assert pa.readiness()["lifecycle_laggards"] == 0
    assert pa.holder(manifest_id, "US")["lagging"] is False
    assert co.record(manifest_id)["lifecycle"]["retracted_by"] == retraction_id


def test_withdrawn_record_is_not_forwarded_onward(own_cluster: Cluster, own_parties: dict[str, Agency]) -> None:
    pa, co, us = own_parties["PA"], own_parties["CO"], own_parties["US"]
    flag_id = co.submit(co_flag())
    co.wait_delivered(flag_id, ("PA",))
    request_id = pa.issue(f"/v1/records/{flag_id}/onward-requests", ONWARD_TO_US)
    co.wait_holds(request_id)
    consent_id = co.issue(f"/v1/records/{request_id}/consent", {"decision": "granted"})
    pa.wait_holds(consent_id)

    ports = stop(own_cluster["US"])
    forwarded = pa.post(f"/v1/records/{flag_id}/onward", {"third_party": "US"})
    assert forwarded.status_code == 202, forwarded.text
    wait_for(lambda: delivery_to(pa, flag_id, "US")["attempts"] >= 1)
    retraction_id = co.issue(f"/v1/records/{flag_id}/retractions", {"reason": "wrong_person"})
    assert co.record(retraction_id)["recipients"] == ["PA", "US"]
    wait_for(lambda: pa.holds(retraction_id) and pa.record(flag_id)["body"] is None)
    assert delivery_to(pa, flag_id, "US")["status"] == "cancelled"  # the forwarder sends nothing withdrawn

    restart(own_cluster, "US", ports)
    wait_for(lambda: co.holder(flag_id, "US")["state"] == "retracted")
    us_row = co.holder(flag_id, "US")
    application = {v["record_id"]: v for v in us_row["versions"]}[retraction_id]["application"]
    assert application["outcome"] == "not_held"
    assert co.holder(flag_id, "PA")["state"] == "retracted"
    assert not us.holds(flag_id)
    assert delivery_to(pa, flag_id, "US")["status"] == "cancelled"
