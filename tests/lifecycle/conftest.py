"""Lifecycle fixtures: one PA/CO/US cluster per backend, shared by the scenarios of this package.

Starting three nodes is the expensive part; the scenarios share them and each
looks only at the records it created itself. Scenarios that stop a node or
move a clock start their own cluster (see test_offline_recipient.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lifecycle.agencies import Agency, agencies, close_agencies
from tests.support.databases import BACKEND_PARAMS, DatabaseFactory, factory_for
from tests.support.nodes import Cluster, start_cluster
from tests.support.pki import TestPKI


@pytest.fixture(scope="package", params=BACKEND_PARAMS)
def lifecycle_databases(
    request: pytest.FixtureRequest,
    database_factories: dict[str, DatabaseFactory],
    tmp_path_factory: pytest.TempPathFactory,
) -> DatabaseFactory:
    """The DatabaseFactory of a backend, for the clusters of this package."""
    return factory_for(request.param, database_factories, tmp_path_factory)


@pytest.fixture(scope="package")
def cluster(
    pki: TestPKI, lifecycle_databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """PA, CO and US with their delivery workers, each on a fresh database of the backend."""
    urls = {p: lifecycle_databases.fresh_url() for p in ("PA", "CO", "US")}
    running = start_cluster(pki, urls, tmp_path_factory.mktemp("lifecycle"), run_ledger_scheduler=False)
    yield running
    running.stop()


@pytest.fixture(scope="package")
def parties(cluster: Cluster) -> Iterator[dict[str, Agency]]:
    """An authorized agency API client per party of the shared cluster."""
    found = agencies(cluster)
    yield found
    close_agencies(found)


@pytest.fixture
def pa(parties: dict[str, Agency]) -> Agency:
    return parties["PA"]


@pytest.fixture
def co(parties: dict[str, Agency]) -> Agency:
    return parties["CO"]


@pytest.fixture
def us(parties: dict[str, Agency]) -> Agency:
    return parties["US"]
