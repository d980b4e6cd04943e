"""Console actions on a record act on that record, even when another originator used its id here."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from uuid6 import uuid7

from gateway.console.schemas import Role
from gateway.exchange.models import Delivery
from gateway.node import Node
from gateway.records.models import StoredRecord
from tests.console.conftest import example, signed_in, store_received
from tests.support.pki import TestPKI

pytestmark = pytest.mark.anyio


def _row(node: Node, pk: int) -> StoredRecord:
    with node.transaction() as session:
        row = session.get(StoredRecord, pk)
        assert row is not None
        session.expunge(row)
        return row


def _recipients_of(node: Node, record_id: str | None) -> list[str]:
    with node.transaction() as session:
        sent = session.scalars(select(StoredRecord).where(StoredRecord.record_id == record_id)).one()
        return [d.recipient for d in session.scalars(select(Delivery).where(Delivery.record_pk == sent.pk))]


async def test_answering_and_contesting_act_on_the_page_record_not_another_originators(
    http: httpx.AsyncClient, node: Node, pki: TestPKI
) -> None:
    shared_id = str(uuid7())
    from_pa = store_received(node, pki, {**example("criminal_network_flag"), "record_id": shared_id}, sender="PA")
    from_us = store_received(node, pki, {**example("criminal_network_flag"), "record_id": shared_id}, sender="US")
    _, csrf = await signed_in(http, node, Role.REVIEWER)

    answered = await http.post(f"/console/records/{from_us.pk}/answer", data={"decision": "accept", "csrf_token": csrf})
    assert answered.status_code == 303, answered.text  # was a 500: two received copies under one id
    assert (_row(node, from_us.pk).status, _row(node, from_pa.pk).status) == ("acknowledged", "new")

    reported = await http.post(
        f"/console/records/{from_pa.pk}/discrepancy",
        data={"category": "other", "details": "la fecha no coincide", "csrf_token": csrf},
    )
    assert reported.status_code == 303, reported.text
    contested, untouched = _row(node, from_pa.pk), _row(node, from_us.pk)
    assert contested.contested_by is not None
    assert untouched.contested_by is None
    assert _recipients_of(node, contested.contested_by) == ["PA"]

    # Each page links its own report, never the other originator's record under the shared id.
    with node.transaction() as session:
        report_pk = session.scalars(
            select(StoredRecord.pk).where(StoredRecord.record_id == contested.contested_by)
        ).one()
    page = await http.get(f"/console/records/{from_pa.pk}")
    assert f'href="/console/records/{report_pk}"' in page.text
    assert f'href="/console/records/{from_us.pk}"' not in page.text
