"""Exchange fixtures: receivers shared by a module, on each backend.

Starting a node costs a few tenths of a second; the many small cases of the
partner API share one per module and backend, and assert on what *they*
changed (row deltas, their own record ids), never on totals.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.databases import BACKEND_PARAMS, DatabaseFactory, factory_for
from tests.support.exchange import start_node, stop_node
from tests.support.nodes import Cluster, RunningNode, start_cluster
from tests.support.pki import TestPKI


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def module_database_factory(
    request: pytest.FixtureRequest,
    database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
) -> DatabaseFactory:
    """The DatabaseFactory of a backend, for fixtures that live as long as a test module."""
    return factory_for(request.param, database_factories, tmp_path_factory)


@pytest.fixture(scope="module")
def shared_receivers(
    pki: TestPKI, module_database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """CO and US nodes (no worker, each its own fresh database) shared by one module."""
    urls = {p: module_database_factory.fresh_url() for p in ("CO", "US")}
    cluster = start_cluster(pki, urls, tmp_path_factory.mktemp("receivers"), parties=("CO", "US"), run_worker=False)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def limited_co(
    pki: TestPKI, module_database_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningNode]:
    """A CO node with the smallest record limit (1 KiB) and batches of at most two records."""
    running = start_node(
        pki,
        "CO",
        module_database_factory.fresh_url(),
        tmp_path_factory.mktemp("limited"),
        max_record_bytes=1024,
        max_batch_records=2,
    )
    yield running
    stop_node(running)
