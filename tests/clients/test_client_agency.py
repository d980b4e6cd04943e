"""An API client belongs to an agency (issue 14, item 8): ``clients add --agency``, ``set-agency``, the principal."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gateway.clients import service
from gateway.clients.models import ApiClient
from gateway.commands.clients import app
from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.errors import InputError, NotFoundError
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.migrate import upgrade
from gateway.settings import load_settings

runner = CliRunner()
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\nparty = "PA"\ndata_dir = "{tmp_path / "var"}"\n', "utf-8")
    settings = load_settings(path)
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.sqlalchemy_url())
    upgrade(engine)
    engine.dispose()
    return path


def _stored_agency(config: Path, client_id: str) -> str | None:
    engine = make_engine(load_settings(config).sqlalchemy_url())
    try:
        with transaction(make_sessionmaker(engine)) as session:
            client = session.get(ApiClient, client_id)
            assert client is not None
            return client.agency
    finally:
        engine.dispose()


def test_add_with_an_agency_and_list_it(config: Path) -> None:
    added = runner.invoke(
        app,
        [
            "add",
            "--name",
            "SNM case system",
            "--scope",
            "records:write",
            "--agency",
            " Servicio Nacional de Migración ",
            "--config",
            str(config),
        ],
    )
    assert added.exit_code == 0, added.output
    match = re.search(r"^client_id:\s+(\S+)$", added.stdout, re.MULTILINE)
    assert match is not None
    client_id = match.group(1)
    assert _stored_agency(config, client_id) == "Servicio Nacional de Migración"
    assert "no --agency" not in added.stderr
    listed = runner.invoke(app, ["list", "--config", str(config)])
    assert re.search(r"records:write\s+Servicio Nacional de Migración\s+SNM case system$", listed.stdout, re.M)


def test_add_without_an_agency_warns_and_set_agency_fixes_it(config: Path) -> None:
    added = runner.invoke(app, ["add", "--name", "legacy", "--scope", "records:write", "--config", str(config)])
    assert added.exit_code == 0, added.output
    assert "no --agency: this client may not correct or retract records" in added.stderr
    match = re.search(r"^client_id:\s+(\S+)$", added.stdout, re.MULTILINE)
    assert match is not None
    client_id = match.group(1)
    assert _stored_agency(config, client_id) is None
    set_ = runner.invoke(app, ["set-agency", client_id, "--agency", "Policía Nacional", "--config", str(config)])
    assert set_.exit_code == 0, set_.output
    assert set_.stdout == f"client {client_id} acts for Policía Nacional\n"
    assert _stored_agency(config, client_id) == "Policía Nacional"
    unknown = runner.invoke(app, ["set-agency", "agc_nope", "--agency", "X", "--config", str(config)])
    assert isinstance(unknown.exception, NotFoundError)
    assert unknown.exception.detail == "no API client 'agc_nope'"


def test_the_principal_carries_the_agency_and_setting_it_is_audited(session: Session) -> None:
    client_id, secret = service.create_client(session, "SNM", ["records:read"], NOW, agency="SNM")
    client = service.authenticate_client(session, client_id, secret)
    token = service.issue_token(session, client, None, NOW, lifetime_seconds=900).access_token
    assert service.principal_for_token(session, token, NOW).agency == "SNM"
    service.set_agency(session, client_id, "Servicio Nacional de Migración", NOW, actor="cli")
    assert service.principal_for_token(session, token, NOW).agency == "Servicio Nacional de Migración"
    events = session.scalars(
        select(LedgerEntry.event).where(LedgerEntry.subject == client_id).order_by(LedgerEntry.index)
    ).all()
    assert events == [AuditEvent.CLIENT_CREATED.value, AuditEvent.CLIENT_AGENCY_SET.value]


@pytest.mark.parametrize("agency", ["", "   ", "x" * 201])
def test_a_bad_agency_name_is_refused(session: Session, agency: str) -> None:
    with pytest.raises(InputError, match=r"^an agency name must have 1 to 200 characters$"):
        service.create_client(session, "bad", ["records:read"], NOW, agency=agency)


def test_same_agency_ignores_case_and_composition() -> None:
    assert service.same_agency("Migración Colombia", "MIGRACIÓN COLOMBIA")
    assert service.same_agency("Migración Colombia", "Migracio\u0301n Colombia")  # decomposed accent
    assert not service.same_agency(None, "Migración Colombia")
    assert not service.same_agency("Migración Colombia", None)
    assert not service.same_agency("Migración Colombia", "Migración Panamá")
