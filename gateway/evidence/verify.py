"""Offline verification of an evidence bundle (``gateway evidence verify``): no database, no network.

Numbered steps; each passes or raises an :class:`EvidenceError` naming the part:

1. file       — JSON of format ``mou-evidence/1`` with every part readable
2. trust      — every CA self-signed and unaltered, every CRL signed by its
                party's CA; with ``--trust`` the anchors are the reader's own
                bundle (the file's CRLs are added when that bundle's CAs signed them)
3. receipts   — each a receipt JWS valid at its own ``received_at`` (trust.longterm
                rules) for exactly the record's bytes; at least one ``accepted``:
                the earliest accepted ``received_at`` is the proven time
4. record     — valid when received at that time (trust.longterm): invalid is refused,
                suspect is reported
5. ledger     — the checkpoint JWS of the ledger's party, signed at or after the
                receipt, and an RFC 9162 inclusion proof of each entry about the
                record (subject = record id) up to the checkpoint's root; a receipt
                of that party names a proven entry
6. terms      — the version the record names (id, version, SHA-256), signed by
                its parties at the proven time
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from pydantic import ValidationError

from gateway.errors import GatewayError
from gateway.evidence.bundle import EvidenceBundle, LedgerProof, parse_evidence
from gateway.evidence.errors import EvidenceError
from gateway.ledger.checkpoints import parse_checkpoint_body
from gateway.ledger.errors import ProofError
from gateway.ledger.merkle import leaf_hash, verify_inclusion
from gateway.records.schemas import Receipt, Record, describe_validation_error
from gateway.records.signing import judge_record
from gateway.terms.document import check_signature, parse_terms, terms_digest
from gateway.trust.bundle import PartyTrust, TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import SchemaViolationError, TrustError
from gateway.trust.jws import (
    CHECKPOINT_TYP,
    RECEIPT_TYP,
    RECORD_TYP,
    check_algorithm,
    parse_compact,
    verify_signature,
    x5c_chain,
)
from gateway.trust.longterm import Standing, verify_at_proven_time, without_crls
from gateway.trust.verify import check_canonical


@dataclass(frozen=True)
class ProvenRecord:
    """What an evidence bundle proves about its record."""

    record: Record
    signer_party: str
    signer_subject: str
    standing: Standing
    standing_reason: str
    received_at: datetime
    received_by: tuple[str, ...]
    received_before: datetime | None  # the receiver's checkpoint that holds its receipt's ledger entry
    ledger_party: str | None
    ledger_entries: tuple[str, ...]
    tree_size: int | None
    terms: str | None
    terms_signed_by: tuple[str, ...]
    anchors: str


def _parse_receipt(document: Any) -> Receipt:
    try:
        return Receipt.model_validate(document)
    except ValidationError as exc:
        raise SchemaViolationError(describe_validation_error(exc)) from exc


def _anchors(evidence: EvidenceBundle, trust: TrustBundle | None) -> tuple[TrustBundle, str]:
    # 2. trust: an altered certificate no longer verifies under its own key; a CRL under its CA's
    for party in evidence.trust.parties.values():
        for ca in party.cas:
            try:
                ca.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature) as exc:
                raise EvidenceError("trust", f"CA {ca.subject.rfc4514_string()} is not validly self-signed") from exc
        for crl in party.crls:
            if not any(crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key()) for ca in party.cas):  # type: ignore[arg-type]
                raise EvidenceError("trust", f"a CRL of {party.party} is not signed by a CA of {party.party}")
    if trust is None:
        return evidence.trust, "the CAs in the bundle itself (give --trust to check them against yours)"
    merged: dict[str, PartyTrust] = {}
    for code, held in trust.parties.items():
        carried = evidence.trust.party(code)
        extra = tuple(
            crl
            for crl in (carried.crls if carried is not None else ())
            if any(crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key()) for ca in held.cas)  # type: ignore[arg-type]
        )
        merged[code] = PartyTrust(code, held.cas, held.crls + extra, held.sequence)
    return TrustBundle(merged), "your trust bundle"


def _record_signature(value: str) -> None:
    # Only the JWS and its own x5c key: whether that key was trusted then comes in step 4.
    try:
        parsed = parse_compact(value, expected_typ=RECORD_TYP)
        verify_signature(parsed, x5c_chain(parsed)[0].public_key(), check_algorithm(parsed))  # type: ignore[arg-type]
    except TrustError as exc:
        raise EvidenceError("record", f"{exc.title}: {exc.detail}") from exc


def _claimed_time(value: str, typ: str, field: str, part: str) -> datetime:
    try:
        document = check_canonical(parse_compact(value, expected_typ=typ).payload)
        return datetime.fromisoformat(str(document[field]).replace("Z", "+00:00"))
    except (TrustError, KeyError, TypeError, ValueError) as exc:
        raise EvidenceError(part, f"unreadable: {getattr(exc, 'detail', exc)}") from exc


def _receipts(evidence: EvidenceBundle, anchors: TrustBundle, now: datetime, doubts: list[str]) -> list[Receipt]:
    # 3. receipts
    digest = hashlib.sha256(evidence.record.strip().encode("ascii", "replace")).hexdigest()
    accepted: list[Receipt] = []
    for number, value in enumerate(evidence.receipts, start=1):
        part = f"receipt {number}"
        at = _claimed_time(value, RECEIPT_TYP, "received_at", part)
        verdict = verify_at_proven_time(
            value,
            bundle=anchors,
            proven_at=at,
            now=now,
            typ=RECEIPT_TYP,
            parse=_parse_receipt,
            claimed_party=lambda receipt: receipt.receiver,
        )
        if verdict.standing is Standing.INVALID or verdict.verified is None:
            raise EvidenceError(part, verdict.reason)
        if verdict.standing is Standing.SUSPECT:
            doubts.append(f"{part}: {verdict.reason}")
        receipt = verdict.verified.payload
        if receipt.jws_sha256 != digest:
            raise EvidenceError(part, f"{receipt.receiver}'s receipt is for other bytes than the record")
        if receipt.verdict == "accepted":
            accepted.append(receipt)
    if not accepted:
        raise EvidenceError("receipts", "no accepted receipt: the time the record was received is not proven")
    return sorted(accepted, key=lambda r: r.received_at)


def _ledger(
    ledger: LedgerProof,
    record_id: str,
    receipts: list[Receipt],
    anchors: TrustBundle,
    now: datetime,
    doubts: list[str],
) -> tuple[datetime | None, tuple[str, ...], int]:
    # 5. ledger: the checkpoint, then each entry's inclusion proof up to its root
    signed_at = _claimed_time(ledger.checkpoint, CHECKPOINT_TYP, "signed_at", "ledger checkpoint")
    verdict = verify_at_proven_time(
        ledger.checkpoint,
        bundle=anchors,
        proven_at=signed_at,
        now=now,
        typ=CHECKPOINT_TYP,
        parse=parse_checkpoint_body,
        claimed_party=lambda body: body.party,
    )
    if verdict.standing is Standing.INVALID or verdict.verified is None:
        raise EvidenceError("ledger checkpoint", verdict.reason)
    if verdict.standing is Standing.SUSPECT:
        doubts.append(f"ledger checkpoint: {verdict.reason}")
    body = verdict.verified.payload
    if verdict.verified.signer_party != ledger.party:
        raise EvidenceError("ledger checkpoint", f"signed by {verdict.verified.signer_party}, not {ledger.party}")
    # The ledger's own receipt (a record this party received) lies before the checkpoint
    # that holds it; another party's receipt is bounded by that party's ledger, not this one.
    own = [r for r in receipts if r.receiver == ledger.party]
    # Checkpoints carry whole seconds: one signed in the second of the receipt is not earlier.
    if own and body.signed_at < own[0].received_at.replace(microsecond=0):
        raise EvidenceError("ledger checkpoint", f"signed before {ledger.party} received the record")
    root = bytes.fromhex(body.root_hash)
    events: list[str] = []
    indexes: set[int] = set()
    for number, item in enumerate(ledger.entries, start=1):
        part = f"ledger entry {number}"
        try:
            entry: dict[str, Any] = item["entry"]
            index = int(item["leaf_index"])
            proof = [bytes.fromhex(node) for node in item["proof"]]
            if entry.get("index") != index or entry.get("subject") != record_id:
                raise EvidenceError(part, f"is not entry {index} about record {record_id}")
            verify_inclusion(leaf_hash(canonicalize(entry)), index, body.tree_size, proof, root)
        except ProofError as exc:
            raise EvidenceError(part, exc.detail) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise EvidenceError(part, f"unreadable: {exc}") from exc
        events.append(str(entry.get("event")))
        indexes.add(index)
    for receipt in receipts:
        if (
            receipt.receiver == ledger.party
            and receipt.ledger_index is not None
            and receipt.ledger_index not in indexes
        ):
            raise EvidenceError("ledger", f"the receipt's ledger index {receipt.ledger_index} is not a proven entry")
    return (body.signed_at if own else None), tuple(events), body.tree_size


def _terms(document: dict[str, Any], record: Record, anchors: TrustBundle, at: datetime) -> tuple[str, tuple[str, ...]]:
    # 6. terms
    try:
        terms = parse_terms(document, "terms")
    except GatewayError as exc:
        raise EvidenceError("terms", exc.detail) from exc
    digest = terms_digest(terms)
    if (terms.terms_id, terms.version, digest) != (record.terms.id, record.terms.version, record.terms.sha256):
        raise EvidenceError(
            "terms", f"{terms.terms_id} v{terms.version} (SHA-256 {digest}) is not the version the record names"
        )
    signed: list[str] = []
    for signature in terms.signatures:
        check = check_signature(terms, signature, without_crls(anchors), at)
        if not check.valid:
            raise EvidenceError(f"terms signature of {signature.party}", check.detail)
        signed.append(signature.party)
    return f"{terms.terms_id} v{terms.version} (SHA-256 {digest})", tuple(signed)


def verify_evidence(data: bytes, *, trust: TrustBundle | None, now: datetime) -> ProvenRecord:
    """Verify an evidence bundle offline; returns what it proves, raises EvidenceError naming the failing part."""
    evidence = parse_evidence(data)  # 1.
    anchors, anchored_in = _anchors(evidence, trust)  # 2.
    _record_signature(evidence.record)  # 3. (first, so an altered record is named as such)
    # Signatures made with a key held compromised at their time: reported, not refused.
    doubts: list[str] = []
    receipts = _receipts(evidence, anchors, now, doubts)  # 3.
    received_at = receipts[0].received_at
    verdict = judge_record(evidence.record, anchors, received_at, now)  # 4.
    if verdict.verified is None or verdict.standing is Standing.INVALID:
        raise EvidenceError("record", verdict.reason)
    record = verdict.verified.payload
    received_before: datetime | None = None
    events: tuple[str, ...] = ()
    tree_size: int | None = None
    if evidence.ledger is not None:
        received_before, events, tree_size = _ledger(
            evidence.ledger, str(record.record_id), receipts, anchors, now, doubts
        )
    terms: str | None = None
    signed_by: tuple[str, ...] = ()
    if evidence.terms is not None:
        terms, signed_by = _terms(evidence.terms, record, anchors, received_at)
    return ProvenRecord(
        record=record,
        signer_party=verdict.verified.signer_party,
        signer_subject=verdict.verified.signer_subject,
        standing=Standing.SUSPECT if doubts else verdict.standing,
        standing_reason="; ".join([verdict.reason, *doubts]) if doubts else verdict.reason,
        received_at=received_at,
        received_by=tuple(sorted({r.receiver for r in receipts})),
        received_before=received_before,
        ledger_party=evidence.ledger.party if evidence.ledger is not None else None,
        ledger_entries=events,
        tree_size=tree_size,
        terms=terms,
        terms_signed_by=signed_by,
        anchors=anchored_in,
    )
