"""A Node with a controllable clock, and a small agency app around the clients router."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from gateway.clients import service
from gateway.clients.api import router
from gateway.clients.schemas import RECORDS_READ, RECORDS_WRITE, ApiPrincipal
from gateway.db import make_engine, make_sessionmaker
from gateway.edge import require_scope
from gateway.node import Node
from gateway.problems import install_problem_handlers
from gateway.settings import Settings
from tests.support.pki import TestPKI

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PROTECTED_PATH = "/protected"


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def node(database_url: str, pki: TestPKI, clock: ManualClock) -> Iterator[Node]:
    """A PA node on a fresh database of the current backend (tests may commit)."""
    engine = make_engine(database_url)
    node = Node(
        Settings(party="PA"),
        engine,
        make_sessionmaker(engine),
        pki.signing_key("PA"),
        pki.bundle(),
        clock=clock,
    )
    yield node
    node.close()


def add_client(node: Node, *scopes: str, name: str = "Migración PA — test") -> Credentials:
    with node.transaction() as session:
        client_id, secret = service.create_client(session, name, scopes, node.now())
    return Credentials(client_id, secret)


@pytest.fixture
def writer(node: Node) -> Credentials:
    """A client holding records:write and records:read."""
    return add_client(node, RECORDS_WRITE, RECORDS_READ)


def build_app(node: Node) -> FastAPI:
    """The token endpoint and one route that needs records:write."""
    app = FastAPI()
    app.state.node = node
    install_problem_handlers(app)
    app.include_router(router)

    @app.get(PROTECTED_PATH)
    def protected(
        principal: Annotated[ApiPrincipal, Depends(require_scope(RECORDS_WRITE))],
    ) -> dict[str, object]:
        return {"client_id": principal.client_id, "scopes": sorted(principal.scopes)}

    return app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="https://agency.test") as client:
        yield client
