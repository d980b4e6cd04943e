"""Nodes, apps and log capture for the operations tests."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_agency_app
from gateway.node import Node, build_node
from gateway.observability.logging import configure_logging
from tests.support.nodes import node_settings
from tests.support.pki import TestPKI

BuildNode = Callable[..., Node]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def build_test_node(pki: TestPKI, database_url: str, tmp_path: Path) -> Iterator[BuildNode]:
    """Build PA nodes (no listeners) on this test's fresh database, with settings overrides."""
    built: list[Node] = []

    def build(party: str = "PA", **overrides: Any) -> Node:
        settings = node_settings(pki, party, database_url, tmp_path / party.lower(), {}, **overrides)
        node = build_node(settings)
        built.append(node)
        return node

    yield build
    for node in built:
        node.close()


@pytest.fixture
async def agency(build_test_node: BuildNode) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on PA's agency app (in process, ASGITransport)."""
    app = create_agency_app(build_test_node())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pa.test") as client:
        yield client


class CapturedLogs:
    """JSON log lines written to an in-memory stream by the gateway's own handler."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def entries(self) -> list[dict[str, Any]]:
        """Every line parsed as JSON (a line that is not JSON fails the test)."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@contextmanager
def logging_restored() -> Iterator[None]:
    """Undo configure_logging: root handlers and level, and the levels it sets on httpx."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        logging.captureWarnings(False)


@pytest.fixture
def json_logs() -> Iterator[CapturedLogs]:
    """Route all logging through configure_logging(json) into memory; restore the root logger after."""
    with logging_restored():
        stream = io.StringIO()
        configure_logging("DEBUG", "json", stream)
        yield CapturedLogs(stream)


def metric_samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return {(sample name, sorted labels): value} from a Prometheus text exposition."""
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """Return one sample's value, or None when the exposition lacks it."""
    return metric_samples(exposition).get((name, tuple(sorted(labels.items()))))
