"""Retention fixtures: nodes whose clock a test moves forward (never sleeps), on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.app import create_agency_app
from gateway.clients.service import create_client
from gateway.exchange.outgoing import submit_draft
from gateway.ledger.models import LedgerEntry
from gateway.node import Node, build_node
from gateway.records.models import StoredRecord
from tests.support.mou_terms import draft, expiring, write_terms
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

DAY = timedelta(days=1)


class ManualClock:
    """A clock that moves only when a test says so; shared by every node of a test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def make_node(pki: TestPKI, database_url: str, data_dir: Path, clock: ManualClock, **extra: Any) -> Node:
    """A PA node (no listeners, no worker) on ``database_url``; its deliveries stay pending."""
    return build_node(node_settings(pki, "PA", database_url, data_dir, {}, **extra), clock=clock)


@pytest.fixture(scope="session")
def long_terms(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example terms, in force for five more years: clocks moved by years stay under them."""
    out = tmp_path_factory.mktemp("terms") / "five-years.yaml"
    return write_terms(pki, out, edit=expiring(date.today() + timedelta(days=5 * 365)))


@pytest.fixture
def node(pki: TestPKI, database_url: str, tmp_path: Path, clock: ManualClock, long_terms: Path) -> Iterator[Node]:
    built = make_node(pki, database_url, tmp_path / "pa", clock, terms_files=[long_terms])
    yield built
    built.close()


def sign_flag(
    node: Node, *, status: str = "suspect", keep_days: int = 365, to: str = "CO", at: datetime | None = None
) -> str:
    """Sign and queue a criminal-network flag of ``node`` (PA), created ``at``, kept ``keep_days``; returns its id."""
    document = draft("criminal_network_flag", "PA", [to], at=at or node.now(), status=status, keep_days=keep_days)
    with node.transaction() as session:
        return submit_draft(session, node, document, actor="test").record.record_id or ""


def sign_manifest(node: Node, *, keep_days: int = 730, at: datetime | None = None) -> str:
    document = draft("removal_manifest", "PA", ["CO"], at=at or node.now(), keep_days=keep_days)
    with node.transaction() as session:
        return submit_draft(session, node, document, actor="test").record.record_id or ""


def rows_of(node: Node, record_id: str) -> list[StoredRecord]:
    """Every stored row of ``record_id`` (outgoing first), detached for reading."""
    with node.transaction() as session:
        rows = list(
            session.scalars(
                select(StoredRecord).where(StoredRecord.record_id == record_id).order_by(StoredRecord.direction.desc())
            )
        )
        for row in rows:
            _ = row.jws  # opened now, while its data key exists: a snapshot of the row as it is
        session.expunge_all()
    return rows


def events_about(node: Node, subject: str) -> list[str]:
    """The ledger events about ``subject``, in order."""
    with node.transaction() as session:
        return list(
            session.scalars(select(LedgerEntry.event).where(LedgerEntry.subject == subject).order_by(LedgerEntry.index))
        )


def token_for(node: Node, scopes: tuple[str, ...]) -> dict[str, str]:
    """Authorization header of a new client holding ``scopes`` (minted through the token endpoint)."""
    with node.transaction() as session:
        client_id, secret = create_client(session, "retention test", list(scopes), node.now())
    return {"client_id": client_id, "client_secret": secret}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    """The node's real agency app over ASGITransport (no token: use ``authorized``)."""
    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="https://agency.test") as client:
        yield client


async def authorized(api: httpx.AsyncClient, node: Node, *scopes: str) -> dict[str, str]:
    """Return the headers of a bearer token holding ``scopes``."""
    credentials = token_for(node, scopes)
    response = await api.post("/oauth/token", data={"grant_type": "client_credentials", **credentials})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
