"""Gathering an evidence bundle from a node's database (``gateway evidence export``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gateway.evidence.bundle import EvidenceBundle, LedgerProof
from gateway.evidence.errors import EvidenceNotFoundError
from gateway.ledger.errors import RecordNotInLedgerError
from gateway.ledger.proofs import prove_subject
from gateway.records import repository
from gateway.records.models import StoredRecord
from gateway.records.states import Direction, Verification
from gateway.terms.document import load_terms, terms_digest, terms_json
from gateway.trust.bundle import TrustBundle
from gateway.trust.jws import RECORD_TYP, parse_compact
from gateway.trust.verify import check_canonical


def _stored(session: Session, record_id: str, originator: str | None) -> StoredRecord:
    copies = [
        c for c in repository.accepted_copies(session, record_id, originator) if c.verification == Verification.VALID
    ]
    if not copies:
        raise EvidenceNotFoundError(f"no valid record {record_id} is held here", hint="check the id (and --originator)")
    if len({c.originator_party for c in copies}) > 1:
        raise EvidenceNotFoundError(
            f"several originators used record id {record_id}", hint="name one with --originator PARTY (its party code)"
        )
    return copies[0]


def _receipts(session: Session, stored: StoredRecord) -> tuple[str, ...]:
    if stored.direction == Direction.IN:
        return (stored.receipt_jws,) if stored.receipt_jws else ()
    return tuple(d.receipt_jws for d in repository.deliveries_of(session, stored.pk) if d.receipt_jws)


def _terms_document(stored: StoredRecord, terms_files: Iterable[Path]) -> dict[str, Any] | None:
    ref = check_canonical(parse_compact(stored.jws, expected_typ=RECORD_TYP).payload).get("terms", {})
    for path in terms_files:
        terms = load_terms(path)
        if (terms.terms_id, terms.version, terms_digest(terms)) == (
            ref.get("id"),
            ref.get("version"),
            ref.get("sha256"),
        ):
            return terms_json(terms, with_signatures=True)
    return None


def export_evidence(
    session: Session,
    *,
    party: str,
    record_id: str,
    originator: str | None,
    bundle: TrustBundle,
    terms_files: Iterable[Path],
    now: datetime,
) -> EvidenceBundle:
    """Return the evidence bundle of a record held by this node (party ``party``).

    Raises EvidenceNotFoundError when no valid record has this id, or when none
    of its receipts is held yet (nothing would prove when it was received).
    """
    stored = _stored(session, record_id, originator)
    receipts = _receipts(session, stored)
    if not receipts:
        raise EvidenceNotFoundError(
            f"record {record_id} has no receipt yet", hint="export it once a partner has receipted it"
        )
    try:
        proofs = prove_subject(session, record_id)
    except RecordNotInLedgerError:
        proofs = None
    ledger = None
    if proofs is not None and proofs.checkpoint is not None:
        entries = tuple(
            {"entry": p["entry"], "leaf_index": p["leaf_index"], "proof": p["proof"]} for p in proofs.proofs
        )
        ledger = LedgerProof(party, proofs.checkpoint, entries)
    return EvidenceBundle(
        exported_by=party,
        exported_at=now,
        record=stored.jws,
        trust=bundle,  # every party: signers of the record, the receipts and the terms
        receipts=receipts,
        ledger=ledger,
        terms=_terms_document(stored, terms_files),
    )
