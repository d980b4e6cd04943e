"""Three real nodes driven through their agency APIs, and the reports they then make.

Waiting is done on the databases, never through GET /v1/records: every such
read is an access the report counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from rich.console import Console
from sqlalchemy import func, select

from gateway.exchange.models import Delivery
from gateway.oversight.rendering import csv_text, html_document, print_report
from gateway.oversight.service import OversightReport, build_report
from gateway.records.models import StoredRecord
from tests.support.exchange import access_token, deliveries_of
from tests.support.nodes import RunningNode, wait_for


@dataclass
class Api:
    """An agency API client of one node, and its client id (which must never reach a report)."""

    client: httpx.Client
    client_id: str

    def submit(self, document: dict[str, Any]) -> str:
        response = self.client.post("/v1/records", json=document)
        assert response.status_code == 202, response.text
        return str(response.json()["record_id"])

    def issue(self, path: str, body: dict[str, Any]) -> str:
        response = self.client.post(path, json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["record_id"])

    def read(self, record_id: str) -> None:
        response = self.client.get(f"/v1/records/{record_id}")
        assert response.status_code == 200, response.text


@contextmanager
def agency_api(running: RunningNode) -> Iterator[Api]:
    client_id, secret = running.add_client()
    token = access_token(running.agency_url, client_id, secret)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=running.agency_url, headers=headers, timeout=30) as client:
        yield Api(client, client_id)


def settled(running: RunningNode, record_id: str) -> list[tuple[str, str, str | None]]:
    """Wait until every delivery of ``record_id`` is settled; return (recipient, status, reason)."""

    def done() -> bool:
        rows = deliveries_of(running.node, record_id)
        return bool(rows) and all(d.status != "pending" for d in rows)

    wait_for(done)
    return [(d.recipient, d.status, d.receipt_reason) for d in deliveries_of(running.node, record_id)]


def incoming(running: RunningNode, record_type: str) -> int:
    """Number of valid incoming records of ``record_type`` the node holds."""
    with running.node.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    StoredRecord.direction == "in",
                    StoredRecord.verification == "valid",
                    StoredRecord.record_type == record_type,
                )
            )
            or 0
        )


def all_settled(running: RunningNode) -> bool:
    """Whether no delivery of the node is still on its way."""
    with running.node.transaction() as session:
        waiting = session.scalar(select(func.count()).where(Delivery.status == "pending"))
    return not waiting


def report_of(running: RunningNode) -> OversightReport:
    """The node's report for the day around now."""
    now = running.node.now()
    with running.node.transaction() as session:
        return build_report(session, running.node, now - timedelta(days=1), now + timedelta(days=1))


def rendered(report: OversightReport) -> dict[str, str]:
    console = Console(record=True, width=200, color_system=None)
    print_report(report, console)
    return {"table": console.export_text(), "csv": csv_text(report), "html": html_document(report)}


def leaks(report: OversightReport, personal: list[str]) -> dict[str, list[str]]:
    """Which of ``personal`` appear in which rendering of ``report`` (empty when none)."""
    found = {name: [v for v in personal if v.lower() in text.lower()] for name, text in rendered(report).items()}
    return {name: values for name, values in found.items() if values}
