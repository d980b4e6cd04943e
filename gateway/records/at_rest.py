"""A stored record's JWS at rest: sealed when flushed, opened when read (the one decrypting accessor).

``StoredRecord.jws`` reads and writes through here. Writing keeps the JWS in
memory and marks the row; just before the session flushes, every marked row
is sealed under a fresh data key by the vault the session was opened with
(``make_sessionmaker(engine, vault)``), and its envelope (every field but the
body: no person in it) is kept in the clear next to the digest, so a row whose
key is later destroyed still shows what it was. Reading opens the sealed form
with the row's originator, record id and digest as associated data; a row
altered in the database fails the GCM tag and raises BodyTamperedError, never
shows. A row whose data key was destroyed reads as "" (no body), like a
deleted one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from gateway.records.models import StoredRecord
from gateway.trust.errors import MalformedJWSError
from gateway.trust.jws import b64url_decode
from gateway.vault.errors import VaultUnavailableError
from gateway.vault.sealing import is_sealed
from gateway.vault.vault import Vault

# Body fields of lifecycle answers the oversight report counts: codes and
# times, never a person; kept clear next to the sealed body.
REPORT_FACTS = ("outcome", "applied_at", "decision")
_PLAIN = "_gateway_plain_jws"  # the opened (or just written) JWS, per instance
_PENDING = "_gateway_pending_seal"
_VAULT = "_gateway_vault"  # kept from the session that loaded the row, so a detached row still opens


def binding(originator: str | None, record_id: str | None, jws_sha256: str) -> str:
    """What a sealed body is bound to (its associated data): moved onto another row, it no longer opens."""
    return f"{originator or '-'}|{record_id or '-'}|{jws_sha256}"


def associated_data(stored: StoredRecord) -> str:
    return binding(stored.originator_party, stored.record_id, stored.jws_sha256)


def session_vault(session: Session | None) -> Vault | None:
    vault = session.info.get("vault") if session is not None else None
    return vault if isinstance(vault, Vault) else None


def write_jws(stored: StoredRecord, value: str) -> None:
    """Set the row's JWS; a non-empty one is sealed at the next flush (in the clear without a vault)."""
    stored.__dict__[_PLAIN] = value
    stored.sealed_jws = value
    if value:
        stored.body_key = None
        stored.__dict__[_PENDING] = True
    else:
        stored.__dict__.pop(_PENDING, None)


def read_jws(stored: StoredRecord) -> str:
    """Return the row's JWS, "" when it has none (deleted body, destroyed key).

    Raises BodyTamperedError (altered row) or VaultUnavailableError (a sealed
    row read through a session opened without a vault).
    """
    cached = stored.__dict__.get(_PLAIN)
    if cached is not None:
        return str(cached)
    value = stored.sealed_jws
    if not value or not is_sealed(value):
        return value  # deleted, or a row from before sealing (still in the clear)
    vault = stored.__dict__.get(_VAULT) or session_vault(object_session(stored))
    if vault is None:
        raise VaultUnavailableError(f"the body of record {stored.record_id or stored.jws_sha256} is sealed")
    opened = vault.open_body(stored.body_key or "", value, associated_data(stored)) or ""
    stored.__dict__[_PLAIN] = opened
    return opened


def sealed_columns(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The column values of ``rows`` (Core inserts: ``jws`` in the clear) with every body sealed.

    For bulk inserts that build no ORM object (the receive path's plain rows).
    Without a vault in the session the rows are returned unchanged.
    """
    vault = session_vault(session)
    out = [dict(row) for row in rows]
    if vault is None:
        return out
    pending = [row for row in out if row.get("jws")]
    associated = [binding(r.get("originator_party"), r.get("record_id"), r["jws_sha256"]) for r in pending]
    sealed = vault.seal_many([(row["jws"], aad) for row, aad in zip(pending, associated, strict=True)])
    for row, body in zip(pending, sealed, strict=True):
        envelope, row["body_facts"] = kept_clear(row["jws"])
        if row.get("envelope_json") is None:
            row["envelope_json"] = envelope
        row["jws"] = body.sealed
        row["body_key"] = body.key_ref
    return out


def body_keys(stored: StoredRecord) -> list[str]:
    """The data keys that open the row's body (none for a row in the clear)."""
    return [stored.body_key] if stored.body_key else []


def _payload(jws: str) -> dict[str, Any] | None:
    """The JWS payload as JSON (plain ``json``: it was verified, or is kept as claimed, when stored).

    None for what does not decode, including a hostile payload nested too deep for the parser
    (a refused record is kept as claimed, so this sees what verification refused).
    """
    try:
        document = json.loads(b64url_decode(jws.split(".")[1]))
    except (IndexError, ValueError, RecursionError, MalformedJWSError):
        return None
    return document if isinstance(document, dict) else None


def kept_clear(jws: str) -> tuple[str | None, str | None]:
    """What stays clear of a JWS: its envelope (every field but the body) and its REPORT_FACTS, as JSON.

    One decode of the payload for both (this runs on the receive path).
    """
    document = _payload(jws)
    if document is None:
        return None, None
    envelope = json.dumps({k: v for k, v in document.items() if k != "body"}, sort_keys=True)
    body = document.get("body")
    if not isinstance(body, dict):
        return envelope, None
    facts = {k: body[k] for k in REPORT_FACTS if isinstance(body.get(k), str) and len(body[k]) <= 40}
    return envelope, json.dumps(facts, sort_keys=True) if facts else None


def report_facts(stored: StoredRecord) -> dict[str, Any]:
    """The REPORT_FACTS of a row's body without opening it ({} once the body is gone)."""
    if stored.body_deleted_at is not None:
        return {}
    if stored.body_facts is not None:
        facts = json.loads(stored.body_facts)
        return facts if isinstance(facts, dict) else {}
    if stored.sealed_jws and not is_sealed(stored.sealed_jws):  # a row from before sealing
        return json.loads(kept_clear(stored.sealed_jws)[1] or "{}")  # type: ignore[no-any-return]
    return {}


@event.listens_for(Session, "before_flush")
def _seal_pending(session: Session, _context: Any, _instances: Any) -> None:
    vault = session_vault(session)
    if vault is None:
        return
    pending = [
        row for row in chain(session.new, session.dirty) if isinstance(row, StoredRecord) and row.__dict__.get(_PENDING)
    ]
    if not pending:
        return
    sealed = vault.seal_many([(row.__dict__[_PLAIN], associated_data(row)) for row in pending])
    for row, body in zip(pending, sealed, strict=True):
        envelope, row.body_facts = kept_clear(row.__dict__[_PLAIN])
        if row.envelope_json is None:
            row.envelope_json = envelope
        row.sealed_jws = body.sealed
        row.body_key = body.key_ref
        row.__dict__[_VAULT] = vault
        del row.__dict__[_PENDING]


@event.listens_for(StoredRecord, "load")
def _remember_vault(row: StoredRecord, context: Any) -> None:
    vault = session_vault(context.session)
    if vault is not None:
        row.__dict__[_VAULT] = vault
