"""The record page flags a received record whose signing key was compromised before it was received."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from gateway.console.schemas import Role
from gateway.exchange.receipts import issue_receipt
from gateway.node import Node
from gateway.records.models import StoredRecord
from gateway.records.schemas import Receipt
from gateway.trust.bundle import TrustBundle
from gateway.trust.pki import revoke_in_dir
from tests.console.conftest import code_at, example, officer_on, sign_in, store_received
from tests.support.pki import TestPKI


async def viewer_signed_in(http: httpx.AsyncClient, node: Node) -> None:
    officer = officer_on(node, Role.VIEWER)
    response = await sign_in(http, officer, code_at(officer, node.now()))
    assert response.status_code == 303, response.text


def with_real_receipt(node: Node, pk: int) -> None:
    """Give the stored record the signed receipt CO would have answered (its proven time of receipt)."""
    with node.transaction() as session:
        stored = session.get(StoredRecord, pk)
        assert stored is not None
        receipt = Receipt(
            record_id=stored.record_id,
            jws_sha256=stored.jws_sha256,
            received_at=stored.stored_at,
            receiver="CO",
            sender="PA",
            verdict="accepted",
            ledger_index=0,
        )
        stored.receipt_jws = issue_receipt(receipt, node.signing_key)


def pa_revoked(
    pki: TestPKI, tmp_path: Path, node: Node, reason: x509.ReasonFlags, invalidity_days: int | None
) -> TrustBundle:
    """The node's bundle with PA's signing certificate revoked a minute after the node's clock (a copy of PA's CA)."""
    copy = tmp_path / "pa-ca"
    shutil.copytree(pki.parties["PA"].root, copy)
    invalidity = node.now() + timedelta(days=invalidity_days) if invalidity_days is not None else None
    revoke_in_dir(
        copy, copy / "signing.pem", reason=reason, invalidity_date=invalidity, now=node.now() + timedelta(minutes=1)
    )
    return TrustBundle({**node.bundle.parties, "PA": TrustBundle.load(copy / "bundle-entry.json").parties["PA"]})


@pytest.mark.anyio
async def test_a_key_compromised_before_receipt_puts_a_suspect_banner_on_the_record(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, tmp_path: Path
) -> None:
    received = store_received(node, pki, example("criminal_network_flag"))
    with_real_receipt(node, received.pk)
    await viewer_signed_in(http, node)

    page = await http.get(f"/console/records/{received.pk}")
    assert page.status_code == 200
    assert 'id="suspect-banner"' not in page.text

    node.bundle = pa_revoked(pki, tmp_path, node, x509.ReasonFlags.key_compromise, -1)
    page = await http.get(f"/console/records/{received.pk}")
    assert page.status_code == 200
    assert 'id="suspect-banner"' in page.text
    assert "for key_compromise; the key is held compromised since" in page.text


@pytest.mark.anyio
async def test_a_superseded_key_leaves_the_record_valid_when_received(
    http: httpx.AsyncClient, node: Node, pki: TestPKI, tmp_path: Path
) -> None:
    received = store_received(node, pki, example("criminal_network_flag"))
    with_real_receipt(node, received.pk)
    await viewer_signed_in(http, node)
    node.bundle = pa_revoked(pki, tmp_path, node, x509.ReasonFlags.superseded, None)
    page = await http.get(f"/console/records/{received.pk}")
    assert page.status_code == 200
    assert 'id="suspect-banner"' not in page.text
    assert 'id="valid-when-received"' in page.text
    assert "(superseded) after it was received" in page.text


def _view_of(node: Node, pk: int) -> object:
    from gateway.console.views import record_view
    from gateway.records import repository

    with node.transaction() as session:
        stored = session.get(StoredRecord, pk)
        assert stored is not None
        return record_view(stored, repository.deliveries_of(session, stored.pk), node.bundle, node.now()).panel


def test_the_record_panel_carries_the_standing(node: Node, pki: TestPKI, tmp_path: Path) -> None:
    received = store_received(node, pki, example("criminal_network_flag"))
    assert _view_of(node, received.pk).standing is None  # no signed receipt: not judged
    with_real_receipt(node, received.pk)
    assert _view_of(node, received.pk).standing == "valid"
    node.bundle = pa_revoked(pki, tmp_path, node, x509.ReasonFlags.key_compromise, -1)
    panel = _view_of(node, received.pk)
    assert panel.standing == "suspect"
    assert "for key_compromise" in str(panel.standing_reason)
