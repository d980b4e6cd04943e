"""Console fixtures: a PA node on a fresh database with a manual clock, officers, records."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session

from gateway.app import create_agency_app
from gateway.console import service
from gateway.console.schemas import NewOfficer, Role
from gateway.db import make_engine, make_sessionmaker
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.node import Node
from gateway.records.models import StoredRecord
from gateway.records.service import record_columns
from gateway.records.signing import build_record, sign_record
from gateway.settings import Settings
from gateway.terms.registry import TermsRegistry
from tests.support.nodes import TEST_SEED_CIPHER, TEST_TOTP_KEY
from tests.support.pki import TestPKI

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
ISSUER = "MOU Gateway CO"
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def example(record_type: str) -> dict[str, Any]:
    draft: dict[str, Any] = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    return draft


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code_at(officer: NewOfficer, moment: datetime) -> str:
    return str(pyotp.TOTP(officer.totp_secret).at(moment))


def add_officer(
    session: Session, role: Role, now: datetime, *, change_required: bool = False, name: str = ""
) -> NewOfficer:
    return service.create_officer(
        session,
        name or unique_name(role.value),
        role,
        now,
        issuer=ISSUER,
        password_change_required=change_required,
        cipher=TEST_SEED_CIPHER,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def node(database_url: str, pki: TestPKI, clock: ManualClock) -> Iterator[Node]:
    """A CO node on a fresh database of the current backend (tests may commit)."""
    engine = make_engine(database_url)
    bundle = pki.bundle()
    node = Node(
        Settings(party="CO", terms_files=[pki.terms_path], totp_encryption_key=SecretStr(TEST_TOTP_KEY)),
        engine,
        make_sessionmaker(engine),
        pki.signing_key("CO"),
        bundle,
        clock=clock,
        terms=TermsRegistry.load([pki.terms_path], bundle, clock()),
    )
    yield node
    node.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def http(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the node's agency app (no redirects followed; cookies kept)."""
    transport = httpx.ASGITransport(app=create_agency_app(node))
    async with httpx.AsyncClient(transport=transport, base_url="http://agency.test") as client:
        yield client


def officer_on(node: Node, role: Role, *, change_required: bool = False) -> NewOfficer:
    with node.transaction() as session:
        return add_officer(session, role, node.now(), change_required=change_required)


async def sign_in(
    http: httpx.AsyncClient,
    officer: NewOfficer,
    code: str,
    *,
    password: str | None = None,
    next_path: str = "/console/inbox",
) -> httpx.Response:
    """Post the login form (with its double-submit token) and return the response."""
    form = await http.get("/console/login")
    assert form.status_code == 200, form.text
    match = LOGIN_TOKEN.search(form.text)
    assert match is not None
    return await http.post(
        "/console/login",
        data={
            "username": officer.username,
            "password": password or officer.password,
            "code": code,
            "login_token": match.group(1),
            "next": next_path,
        },
    )


def csrf_of(page: httpx.Response) -> str:
    match = CSRF_TOKEN.search(page.text)
    assert match is not None, page.text
    return match.group(1)


async def signed_in(http: httpx.AsyncClient, node: Node, role: Role) -> tuple[NewOfficer, str]:
    """Sign a new officer of ``role`` in; return it and its session's CSRF token."""
    officer = officer_on(node, role)
    response = await sign_in(http, officer, code_at(officer, node.now()))
    assert response.status_code == 303, response.text
    page = await http.get("/console/inbox")
    assert page.status_code == 200, page.text
    return officer, csrf_of(page)


@dataclass(frozen=True)
class Received:
    pk: int
    record_id: str


def store_received(
    node: Node, pki: TestPKI, draft: dict[str, Any], *, sender: str = "PA", valid: bool = True
) -> Received:
    """Store ``draft``, signed by ``sender``, as a record this node received (no terms engine)."""
    draft = {**draft, "originator": {**draft["originator"], "party": sender}}
    if node.party not in draft["recipients"] or sender in draft["recipients"]:
        draft["recipients"] = [node.party]
    record = build_record(draft, node.now())
    signed = sign_record(record, pki.signing_key(sender))
    key = pki.signing_key(sender)
    # Like the exchange, keep only the claimed record_id of a record that failed verification.
    columns = record_columns(record) if valid else {"record_id": str(record.record_id)}
    with node.transaction() as session:
        stored = StoredRecord(
            **columns,
            accepted_record_id=columns["record_id"] if valid else None,
            direction="in",
            peer_party=sender,
            stored_at=node.now(),
            jws=signed.jws,
            jws_sha256=signed.jws_sha256,
            verification="valid" if valid else "invalid",
            verification_reason=None if valid else "bad_signature",
            verification_detail=None if valid else "Bad signature: altered in transit",
            signer_kid=key.kid if valid else None,
            signer_subject=key.certificate.subject.rfc4514_string() if valid else None,
            status="new" if valid else "rejected",
            receipt_jws="receipt",
            ledger_index=0,
        )
        session.add(stored)
        session.flush()
        append_event(
            session,
            AuditEvent.RECORD_RECEIVED,
            actor=f"party:{sender}",
            subject=columns["record_id"],
            at=node.now(),
        )
        return Received(stored.pk, columns["record_id"])
