"""After ``gateway demo`` (bilateral PA-CO flight), no node's SQLite files hold a person, in any encoding."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.demo.runner import run_demo
from gateway.records.documents import unsafe_decode_payload
from gateway.records.models import StoredRecord
from gateway.vault.sealing import KeyEncryptionKey
from gateway.vault.vault import Vault
from tests.support.at_rest import database_bytes, leaks, personal_strings


def test_the_demo_databases_hold_no_name_or_document_number(tmp_path: Path) -> None:
    run_demo(Console(file=io.StringIO(), width=200), flights=1, workdir=tmp_path, parties=["PA", "CO"])
    secrets: set[str] = set()
    for party in ("pa", "co"):
        data_dir = tmp_path / party
        vault = Vault.open(
            KeyEncryptionKey.from_file(data_dir / "kek.key"), make_engine(f"sqlite:///{data_dir / 'keystore.sqlite3'}")
        )
        engine = make_engine(f"sqlite:///{data_dir / 'gateway.sqlite3'}")
        with transaction(make_sessionmaker(engine, vault)) as session:  # an authorized reader sees the people
            for row in session.scalars(select(StoredRecord)):
                document = unsafe_decode_payload(row.jws) if row.jws else None
                secrets |= personal_strings(document)
        engine.dispose()
        vault.keystore.engine.dispose()
    assert len(secrets) >= 20, sorted(secrets)  # the manifest's people, the flags' subjects
    for party in ("pa", "co"):
        at_rest = database_bytes(f"sqlite:///{tmp_path / party / 'gateway.sqlite3'}", tmp_path)
        assert leaks(at_rest, secrets) == [], party
        keystore = (tmp_path / party / "keystore.sqlite3").read_bytes()
        assert leaks(keystore, secrets) == [], party
