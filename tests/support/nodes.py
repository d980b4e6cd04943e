"""Real nodes on 127.0.0.1 for end-to-end tests: real sockets, real mTLS."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select

from gateway.clients.service import create_client
from gateway.console.seeds import SeedCipher, new_key
from gateway.exchange.models import Delivery
from gateway.node import Clock, Node, build_node, utc_now
from gateway.records.models import StoredRecord
from gateway.server import NodeServer, bind
from gateway.settings import Settings
from gateway.vault.sealing import KeyEncryptionKey
from tests.support.pki import TestPKI

# The agency named in each party's example drafts (schemas/examples, tests/lifecycle):
# test clients act for it, so they may correct and retract those records.
TEST_AGENCIES = {
    "PA": "Servicio Nacional de Migración",
    "CO": "Migración Colombia",
    "US": "Homeland Security Investigations",
}

# Every test node opens its operations endpoints with this token (never a real deployment's).
OPERATIONS_TOKEN = "test-operations-token-0123456789"
OPERATIONS_HEADERS = {"Authorization": f"Bearer {OPERATIONS_TOKEN}"}
# The key of officers' TOTP seeds on every test node, made at run time.
TEST_TOTP_KEY = new_key()
TEST_SEED_CIPHER = SeedCipher(base64.b64decode(TEST_TOTP_KEY))


def test_kek_file(data_dir: Path) -> Path:
    """A key-encryption key file for a test node in ``data_dir`` (made at run time, kept across restarts)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "kek.b64"
    if not path.exists():
        path.write_text(KeyEncryptionKey.generate().encoded() + "\n")
    return path


def node_settings(
    pki: TestPKI, party: str, database_url: str, data_dir: Path, partners: dict[str, str], **extra: Any
) -> Settings:
    files = pki.parties[party]
    values: dict[str, Any] = {
        "party": party,
        "data_dir": data_dir,
        "database_url": SecretStr(database_url),
        "partner_port": 0,
        "agency_port": 0,
        "tls_cert": files.tls_cert,
        "tls_key": files.tls_key,
        "signing_cert": files.signing_cert,
        "signing_key": files.signing_key,
        "trust_bundle": pki.bundle_path,
        "terms_files": [pki.terms_path],
        "partners": partners,
        "delivery_poll_seconds": 0.05,
        "delivery_backoff_base_seconds": 0.05,
        "delivery_backoff_max_seconds": 0.5,
        "delivery_timeout_seconds": 5.0,
        # Tests that move clocks run retention themselves; a background pass
        # 30 s after start would delete bodies under their feet.
        "run_retention_scheduler": False,
        # Tests run the standing check themselves (a pass appends ledger events).
        "standing_check_seconds": 0,
        "operations_token": SecretStr(OPERATIONS_TOKEN),
        "totp_encryption_key": SecretStr(TEST_TOTP_KEY),
        "kek_file": test_kek_file(data_dir),
    }
    values.update(extra)
    return Settings(**values)


@dataclass
class RunningNode:
    node: Node
    server: NodeServer

    @property
    def party(self) -> str:
        return self.node.party

    @property
    def agency_url(self) -> str:
        return f"http://127.0.0.1:{self.server.agency_port}"

    @property
    def partner_url(self) -> str:
        return f"https://127.0.0.1:{self.server.partner_port}"

    def add_client(
        self, scopes: tuple[str, ...] = ("records:write", "records:read"), agency: str | None = None
    ) -> tuple[str, str]:
        """Create an API client acting for ``agency`` (default: the agency of the party's example drafts)."""
        with self.node.transaction() as session:
            return create_client(
                session,
                "test client",
                list(scopes),
                self.node.now(),
                agency=agency or TEST_AGENCIES[self.party],
            )


@dataclass
class Cluster:
    """Several nodes that know each other's partner URLs; stop() tears all down."""

    nodes: dict[str, RunningNode] = field(default_factory=dict)

    def __getitem__(self, party: str) -> RunningNode:
        return self.nodes[party]

    def stop(self) -> None:
        for running in self.nodes.values():
            running.server.stop_thread()
            running.node.close()


def start_cluster(
    pki: TestPKI,
    urls: dict[str, str],
    workdir: Path,
    *,
    parties: tuple[str, ...] = ("PA", "CO", "US"),
    run_worker: bool = True,
    clock: Clock = utc_now,
    clocks: dict[str, Clock] | None = None,
    per_party: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> Cluster:
    """Start one node per party, each on its own database URL, all on 127.0.0.1.

    ``extra`` overrides settings of every node; ``per_party`` and ``clocks``
    give single parties their own settings (e.g. terms files) or time.
    """
    partner_sockets = {p: bind("127.0.0.1", 0) for p in parties}
    partner_urls = {p: f"https://127.0.0.1:{s.getsockname()[1]}" for p, s in partner_sockets.items()}
    cluster = Cluster()
    try:
        for party in parties:
            settings = node_settings(
                pki,
                party,
                urls[party],
                workdir / party.lower(),
                {p: u for p, u in partner_urls.items() if p != party},
                **{**extra, **(per_party or {}).get(party, {})},
            )
            node = build_node(settings, clock=(clocks or {}).get(party, clock))
            server = NodeServer(
                node,
                run_worker=run_worker,
                partner_socket=partner_sockets[party],
                agency_socket=bind("127.0.0.1", 0),
            )
            cluster.nodes[party] = RunningNode(node, server.start_in_thread())
    except BaseException:
        cluster.stop()
        raise
    return cluster


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> None:
    """Poll ``predicate`` until true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def delivery_statuses(node: Node) -> dict[str, int]:
    """Return delivery status → count in ``node``'s outbox."""
    with node.transaction() as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return {str(status): int(count) for status, count in rows}


def copies_received(node: Node) -> dict[str, int]:
    """Return record_id → number of incoming rows ``node`` stored for it."""
    with node.transaction() as session:
        rows = session.execute(
            select(StoredRecord.record_id, func.count())
            .where(StoredRecord.direction == "in")
            .group_by(StoredRecord.record_id)
        ).all()
    return {str(record_id): int(count) for record_id, count in rows}
