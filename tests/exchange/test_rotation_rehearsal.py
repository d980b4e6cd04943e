"""Rotation rehearsal: PA rotates every key while records flow between PA, CO and US.

1. records flow (PA → CO, US; CO acknowledges to PA)
2. PA rotates its record-signing and TLS keys (`pki rotate`), restarts on them,
   retires the old certificates (`pki revoke --reason superseded`) and publishes
   the CRL as a trust update that CO and US adopt; CO acknowledges while PA is down
3. PA replaces its CA: a new CA is announced by a trust update signed with a key
   under the old CA, CO and US adopt it, and PA switches to the new CA's
   certificates
4. at the end: every delivery delivered (none dead, every receipt accepted), no
   record twice at any receiver, and every record sent before a rotation still
   stands valid (or valid when received) through the agency API and through an
   exported evidence bundle checked offline against CO's final trust bundle
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.evidence.service import export_evidence
from gateway.evidence.verify import verify_evidence
from gateway.ledger.checkpoints import checkpoint_if_due
from gateway.node import build_node
from gateway.server import NodeServer, bind
from gateway.trust.bundle import TrustBundle
from gateway.trust.longterm import Standing
from gateway.trust.pki import init_party
from tests.exchange.test_end_to_end import EXAMPLES, token
from tests.support.databases import DatabaseFactory
from tests.support.nodes import Cluster, RunningNode, copies_received, delivery_statuses, node_settings, wait_for
from tests.support.pki import TestPKI, make_test_pki
from tests.test_cli_offline import gateway_cli

PARTIES = ("PA", "CO", "US")


@dataclass
class Rehearsal:
    pki: TestPKI
    root: Path
    urls: dict[str, str]  # database URLs
    ports: dict[str, int]  # partner listener ports (kept across restarts)
    overrides: dict[str, dict[str, Any]]
    cluster: Cluster = field(default_factory=Cluster)
    sent: list[str] = field(default_factory=list)  # PA's record ids, in order
    acks: list[str] = field(default_factory=list)  # CO's acknowledgement ids
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bundle_path(self, party: str) -> Path:
        return self.root / f"{party.lower()}-bundle.json"

    def partners(self, party: str) -> dict[str, str]:
        return {p: f"https://127.0.0.1:{port}" for p, port in self.ports.items() if p != party}

    def start(self, party: str) -> RunningNode:
        settings = node_settings(
            self.pki,
            party,
            self.urls[party],
            self.root / party.lower(),
            self.partners(party),
            trust_bundle=self.bundle_path(party),
            **self.overrides.get(party, {}),
        )
        node = build_node(settings)
        server = NodeServer(
            node, partner_socket=bind("127.0.0.1", self.ports[party]), agency_socket=bind("127.0.0.1", 0)
        )
        running = RunningNode(node, server.start_in_thread())
        self.cluster.nodes[party] = running
        return running

    def stop(self, party: str) -> None:
        running = self.cluster.nodes.pop(party)
        running.server.stop_thread()
        running.node.close()

    def restart(self, party: str, **overrides: Any) -> RunningNode:
        self.overrides.setdefault(party, {}).update(overrides)
        self.stop(party)
        return self.start(party)

    def api(self, party: str) -> httpx.Client:
        running = self.cluster[party]
        client_id, secret = running.add_client(("records:write", "records:read"))
        return httpx.Client(
            base_url=running.agency_url,
            headers={"Authorization": f"Bearer {token(running.agency_url, client_id, secret)}"},
            timeout=30,
        )

    def send_from_pa(self, count: int) -> None:
        with self.api("PA") as pa:
            for number in range(count):
                kind = "removal_manifest" if number % 2 else "criminal_network_flag"
                draft = json.loads((EXAMPLES / f"{kind}.json").read_text("utf-8"))
                response = pa.post("/v1/records", json=draft)
                assert response.status_code == 202, response.text
                with self.lock:
                    self.sent.append(str(response.json()["record_id"]))

    def acknowledge_at_co(self, record_ids: list[str]) -> None:
        with self.api("CO") as co:
            for record_id in record_ids:
                response = co.post(f"/v1/records/{record_id}/acknowledgements", json={"decision": "accept"})
                assert response.status_code == 202, response.text
                self.acks.append(str(response.json()["record_id"]))

    def all_delivered(self) -> bool:
        return all(set(delivery_statuses(r.node)) <= {"delivered"} for r in self.cluster.nodes.values())


def adopt(rehearsal: Rehearsal, update: Path, party: str) -> None:
    run = gateway_cli("pki", "adopt", update, "--trust", rehearsal.bundle_path(party))
    assert run.code == 0, run.stderr


@pytest.fixture
def rehearsal(database_factory: DatabaseFactory, tmp_path: Path) -> Iterator[Rehearsal]:
    pki = make_test_pki(tmp_path / "pki")
    for party in PARTIES:  # each node holds its own copy of the trust bundle, as governments would
        shutil.copy(pki.bundle_path, tmp_path / f"{party.lower()}-bundle.json")
    sockets = {p: bind("127.0.0.1", 0) for p in PARTIES}
    ports = {p: int(s.getsockname()[1]) for p, s in sockets.items()}
    for sock in sockets.values():
        sock.close()
    state = Rehearsal(pki, tmp_path, {p: database_factory.fresh_url() for p in PARTIES}, ports, {})
    try:
        for party in PARTIES:
            state.start(party)
        yield state
    finally:
        state.cluster.stop()


def test_pa_rotates_signing_key_tls_key_and_ca_while_records_flow(rehearsal: Rehearsal, tmp_path: Path) -> None:
    pa_ca = rehearsal.pki.parties["PA"].root
    # 1. records flow
    rehearsal.send_from_pa(4)
    wait_for(rehearsal.all_delivered, timeout=60)
    before_rotation = list(rehearsal.sent)

    # 2. new signing and TLS keys from the same CA; CO acknowledges while PA restarts on them
    run = gateway_cli("pki", "rotate", "--ca-dir", pa_ca, "--out", tmp_path / "keys-2")
    assert run.code == 0, run.stderr
    [signing_cert] = (tmp_path / "keys-2").glob("signing-*.pem")
    [tls_cert] = (tmp_path / "keys-2").glob("tls-*.pem")
    acks = threading.Thread(target=rehearsal.acknowledge_at_co, args=(before_rotation[:2],))
    acks.start()
    rehearsal.restart(
        "PA",
        signing_cert=signing_cert,
        signing_key=signing_cert.with_suffix(".key"),
        tls_cert=tls_cert,
        tls_key=tls_cert.with_suffix(".key"),
    )
    acks.join()
    rehearsal.send_from_pa(4)
    old = rehearsal.pki.parties["PA"]
    # The terms carry PA's signature made with the old key: PA signs them again with the new key
    # before retiring the old one (a revoked key's terms signature no longer counts).
    run = gateway_cli(
        "terms", "sign", rehearsal.pki.terms_path, "--party", "PA",
        "--key", signing_cert.with_suffix(".key"), "--cert", signing_cert, "--trust", rehearsal.bundle_path("PA"),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    for retired in (old.signing_cert, old.tls_cert):
        run = gateway_cli("pki", "revoke", "--ca-dir", pa_ca, retired, "--reason", "superseded")
        assert run.code == 0, run.stderr
    update = tmp_path / "pa-crl-update.jws"
    run = gateway_cli(
        "pki", "publish", old.bundle_entry, "--key", signing_cert.with_suffix(".key"), "--cert", signing_cert,
        "--trust", rehearsal.bundle_path("PA"), "--out", update,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    for partner in ("CO", "US"):
        adopt(rehearsal, update, partner)
        rehearsal.restart(partner)
    rehearsal.restart("PA")  # PA serves the update and uses the new CRL itself
    rehearsal.send_from_pa(2)
    wait_for(rehearsal.all_delivered, timeout=90)
    before_ca = list(rehearsal.sent)

    # 3. a new CA, announced under the old one, then PA's certificates from it
    new = init_party("PA", tmp_path / "pa-ca-2")
    update = tmp_path / "pa-ca-update.jws"
    run = gateway_cli(
        "pki", "publish", old.bundle_entry, new.bundle_entry, "--key", signing_cert.with_suffix(".key"),
        "--cert", signing_cert, "--trust", rehearsal.bundle_path("PA"), "--out", update,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    for partner in ("CO", "US"):
        adopt(rehearsal, update, partner)
        rehearsal.restart(partner)
    rehearsal.send_from_pa(2)  # still under the old CA
    rehearsal.restart(
        "PA", signing_cert=new.signing_cert, signing_key=new.signing_key, tls_cert=new.tls_cert, tls_key=new.tls_key
    )
    rehearsal.send_from_pa(4)  # under the new CA
    wait_for(rehearsal.all_delivered, timeout=90)

    # 4. nothing failed, nothing twice, earlier records still stand
    for party, running in rehearsal.cluster.nodes.items():
        assert set(delivery_statuses(running.node)) <= {"delivered"}, party
    for receiver in ("CO", "US"):
        copies = copies_received(rehearsal.cluster[receiver].node)
        assert {rid: copies.get(rid) for rid in rehearsal.sent} == dict.fromkeys(rehearsal.sent, 1), receiver
    assert {rid: copies_received(rehearsal.cluster["PA"].node).get(rid) for rid in rehearsal.acks} == dict.fromkeys(
        rehearsal.acks, 1
    )
    with rehearsal.api("CO") as co:
        for record_id in rehearsal.sent:
            standing = co.get(f"/v1/records/{record_id}/standing").json()
            expected = "valid_when_received" if record_id in before_rotation else "valid"
            assert (record_id, standing["standing"]) == (record_id, expected), standing["reason"]
    co_node = rehearsal.cluster["CO"].node
    assert checkpoint_if_due(co_node, force=True) is not None
    final_trust = TrustBundle.load(rehearsal.bundle_path("CO"))
    for record_id in (before_rotation[0], before_ca[-1]):
        with co_node.transaction() as session:
            evidence = export_evidence(
                session,
                party="CO",
                record_id=record_id,
                originator="PA",
                bundle=co_node.bundle,
                terms_files=co_node.settings.terms_files,
                now=datetime.now(UTC),
            )
        proven = verify_evidence(evidence.to_json().encode(), trust=final_trust, now=datetime.now(UTC))
        expected_standing = Standing.VALID_WHEN_RECEIVED if record_id in before_rotation else Standing.VALID
        assert proven.standing is expected_standing, proven.standing_reason
        assert proven.signer_party == "PA"
