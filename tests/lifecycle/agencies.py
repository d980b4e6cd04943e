"""The agencies of the three parties, as a test sees them: their API clients and what they hold.

Every call goes through a node's real agency API (OAuth bearer token) and every
record travels between real nodes over mutual TLS; nothing here patches the
gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from gateway.exchange.receipts import verify_receipt
from gateway.records.schemas import Receipt
from gateway.records.signing import SignedRecord, rfc3339
from tests.support.exchange import agency_client, example_draft, partner_client, party_certificate, sha256_hex
from tests.support.nodes import OPERATIONS_HEADERS, Cluster, RunningNode, wait_for
from tests.support.pki import TestPKI

PROBLEMS = "https://mou-gateway.example/problems/"
ONWARD_PATH = "/v1/exchange/records:onward"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """Assert ``response`` is the problem ``slug`` with ``status``; returns the problem document."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == PROBLEMS + slug, problem
    return problem


def draft(record_type: str, originator: str = "PA", **changes: Any) -> dict[str, Any]:
    """The committed example draft of ``record_type``, as ``originator`` would submit it (terms chosen by the node)."""
    document = example_draft(record_type, **changes)
    document.pop("terms")
    document["originator"] = {**document["originator"], "party": originator}
    return document


def co_flag(**changes: Any) -> dict[str, Any]:
    """A criminal-network flag CO sends to PA only (flow co-flags)."""
    changes.setdefault("recipients", ["PA"])
    document = draft("criminal_network_flag", "CO", **changes)
    document["originator"] = {"party": "CO", "agency": "Migración Colombia", "officer_ref": "MC-OF-0031"}
    return document


def terms_ref(cluster: Cluster) -> dict[str, Any]:
    """The reference of the terms the cluster's nodes hold in force (for records signed by a test)."""
    terms = cluster["PA"].node.terms
    current = terms.current(datetime.now(UTC)) if terms is not None else None
    assert current is not None
    return current.ref


def instruction(about: SignedRecord, record_type: str, body: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    """A draft of a correction or retraction about ``about``, in the name of its originator."""
    record = about.record
    document: dict[str, Any] = {
        "record_type": record_type,
        "originator": record.originator.model_dump(mode="json"),
        "recipients": list(record.recipients),
        "purpose": record.purpose,
        "legal_basis": record.legal_basis,
        "handling": record.handling.value,
        "terms": record.terms.model_dump(mode="json"),
        "expires_at": rfc3339(record.expires_at),
        "review_due": rfc3339(record.review_due),
        "body": body,
        **envelope,
    }
    if record_type == "correction":
        document.setdefault("supersedes", str(record.record_id))
    return document


@dataclass
class Agency:
    """One party's agency: its node and an authorized API client."""

    running: RunningNode
    client: httpx.Client

    @property
    def party(self) -> str:
        return self.running.party

    def submit(self, document: dict[str, Any]) -> str:
        """Submit a draft through POST /v1/records; returns the record id."""
        response = self.client.post("/v1/records", json=document)
        assert response.status_code == 202, response.text
        return str(response.json()["record_id"])

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.client.post(path, json=body)

    def issue(self, path: str, body: dict[str, Any]) -> str:
        """POST a lifecycle operation that must be accepted (202); returns the new record's id."""
        response = self.post(path, body)
        assert response.status_code == 202, response.text
        return str(response.json()["record_id"])

    def record(self, record_id: str) -> dict[str, Any]:
        """GET /v1/records/{id}; the record must be held here."""
        response = self.client.get(f"/v1/records/{record_id}")
        assert response.status_code == 200, response.text
        detail: dict[str, Any] = response.json()
        return detail

    def holds(self, record_id: str) -> bool:
        return self.client.get(f"/v1/records/{record_id}").status_code == 200

    def dissemination(self, record_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/records/{record_id}/dissemination")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    def holder(self, record_id: str, party: str) -> dict[str, Any]:
        """The dissemination row of ``party`` for this node's record ``record_id``."""
        rows: list[dict[str, Any]] = [h for h in self.dissemination(record_id)["holders"] if h["party"] == party]
        assert len(rows) == 1, rows
        return rows[0]

    def laggards(self) -> list[dict[str, Any]]:
        response = self.client.get("/v1/lifecycle/laggards")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def readiness(self) -> dict[str, Any]:
        """The checks of GET /readyz."""
        checks: dict[str, Any] = self.client.get("/readyz", headers=OPERATIONS_HEADERS).json()["checks"]
        return checks

    def wait_delivered(self, record_id: str, parties: tuple[str, ...]) -> dict[str, Any]:
        """Wait until this node's record reached every party in ``parties`` with an accepted receipt."""

        def delivered() -> bool:
            deliveries = {d["recipient"]: d for d in self.record(record_id)["deliveries"]}
            return all(deliveries.get(p, {}).get("status") == "delivered" for p in parties)

        wait_for(delivered)
        detail = self.record(record_id)
        for delivery in detail["deliveries"]:
            if delivery["recipient"] in parties:
                assert delivery["receipt"]["verdict"] == "accepted", delivery
        return detail

    def wait_holds(self, record_id: str) -> dict[str, Any]:
        wait_for(lambda: self.holds(record_id))
        return self.record(record_id)


def agencies(cluster: Cluster) -> dict[str, Agency]:
    return {party: Agency(running, agency_client(running)) for party, running in cluster.nodes.items()}


def close_agencies(found: dict[str, Agency]) -> None:
    for agency in found.values():
        agency.client.close()


# -- partners talking to a listener directly (crafted records) -----------------------


@dataclass(frozen=True)
class PartnerLine:
    """``sender``'s own mutual-TLS connection to ``receiver``'s partner listener."""

    pki: TestPKI
    sender: str
    receiver: RunningNode
    workdir: Path

    def _client(self) -> Any:
        return partner_client(
            self.pki,
            self.receiver.partner_url,
            party_certificate(self.pki, self.sender),
            self.receiver.party,
            self.workdir,
        )

    def post_record(self, jws: str) -> Receipt:
        """POST one record to /v1/exchange/records; returns the verified receipt."""
        with self._client() as client:
            response = client.post(
                "/v1/exchange/records", content=jws.encode("ascii"), headers={"Content-Type": "application/jose"}
            )
        return self._receipt(response, jws)

    def post_onward(self, jws: str, consent: str) -> Receipt:
        """POST a record shared onward, with a consent, to /v1/exchange/records:onward; returns the receipt."""
        with self._client() as client:
            response = client.post(ONWARD_PATH, json={"record": jws, "consent": consent})
        return self._receipt(response, jws)

    def _receipt(self, response: httpx.Response, jws: str) -> Receipt:
        assert response.status_code == 201, response.text
        verified = verify_receipt(
            response.text,
            self.pki.bundle(),
            datetime.now(UTC),
            receiver=self.receiver.party,
            jws_sha256=sha256_hex(jws),
        )
        assert response.headers["x-receipt-verdict"] == verified.payload.verdict.value
        return verified.payload
