"""Sealing the rows stored before bodies were sealed at rest, in batches, while the node keeps running.

Migration 0011 only adds ``records.body_key``; the node reads clear and sealed
rows alike, so this pass can run at any time (``gateway keys seal-existing``).
Each batch is its own transaction and each row is swapped by compare-and-set,
so a pass stopped half-way resumes where it stopped, and a body deleted (or a
record received) meanwhile is never overwritten.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from gateway.db import transaction
from gateway.records.at_rest import binding, kept_clear, session_vault
from gateway.records.repository import clear_bodies, replace_clear_body
from gateway.vault.errors import VaultUnavailableError


def seal_clear_rows(sessions: sessionmaker[Session], batch: int = 500) -> int:
    """Seal every clear body reachable through ``sessions`` (which carry a vault); returns how many were sealed."""
    sealed_count = 0
    after = 0
    while True:
        with transaction(sessions) as session:
            vault = session_vault(session)
            if vault is None:
                raise VaultUnavailableError("sealing older rows needs the node's vault (kek_file)")
            rows = clear_bodies(session, after, batch)
            if not rows:
                return sealed_count
            bodies = vault.seal_many(
                [(jws, binding(originator, rid, digest)) for _, originator, rid, digest, jws in rows]
            )
            lost: list[str] = []
            for (pk, _, _, _, jws), body in zip(rows, bodies, strict=True):
                if replace_clear_body(session, pk, jws, body.sealed, body.key_ref, *kept_clear(jws)):
                    sealed_count += 1
                else:
                    lost.append(body.key_ref)
            vault.shred(lost)  # keys made for rows that changed under us
            after = rows[-1][0]
