"""Receiving records from partners: verify, decide, store, answer with a signed receipt.

A record that fails any check is still stored (for audit, never shown as
valid) and answered with a signed ``rejected`` receipt naming the reason, so
the sender can prove what happened. The same bytes again get the very same
receipt; another record under an already accepted record_id is a conflict.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gateway.exchange.errors import RecordConflictError
from gateway.exchange.receipts import issue_receipt
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.node import Node
from gateway.records import repository
from gateway.records.models import StoredRecord
from gateway.records.acknowledgements import apply_incoming_acknowledgement
from gateway.records.schemas import Receipt, Record, RecordType, Verdict, record_json
from gateway.records.service import record_columns
from gateway.records.signing import VerifiedRecord, verify_record
from gateway.terms.errors import TermsViolationError
from gateway.trust.canonical import parse_strict, sha256_hex
from gateway.trust.errors import CanonicalizationError, MalformedJWSError, TrustError
from gateway.trust.jws import RECORD_TYP, ParsedJWS, b64url_decode, parse_compact


class PolicyRefusal(Exception):
    """A verified record that this node's rules refuse; carries the receipt reason code."""

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(detail)
        self.reason_code = reason_code
        self.detail = detail


ReceivePolicy = Callable[[Session, Node, Record, str], None]
"""A check run on every verified incoming record: (session, node, record, peer party).

It raises PolicyRefusal to reject. The terms engine plugs in here."""


def addressed_to_us(_session: Session, node: Node, record: Record, peer_party: str) -> None:
    """The mTLS peer must be the originator, and this node must be a recipient."""
    if record.originator.party != peer_party:
        raise PolicyRefusal(
            "peer_mismatch",
            f"record originates from {record.originator.party} but was sent by {peer_party}",
        )
    if node.party not in record.recipients:
        raise PolicyRefusal("not_addressed", f"record is not addressed to {node.party}")


def within_terms(_session: Session, node: Node, record: Record, _peer_party: str) -> None:
    """The record must be allowed by terms this node signed, in force, on a live flow."""
    if node.terms is None:
        raise PolicyRefusal("terms_unknown", "this node holds no MOU terms")
    try:
        node.terms.check_incoming(record, record_json(record)["body"], node.party, node.now())
    except TermsViolationError as exc:
        raise PolicyRefusal(exc.rule_code, exc.detail) from exc


DEFAULT_POLICIES: tuple[ReceivePolicy, ...] = (addressed_to_us, within_terms)


@dataclass(frozen=True)
class Outcome:
    receipt_jws: str
    verdict: str
    replayed: bool
    record_id: str | None


def _claimed_record_id(parsed: ParsedJWS) -> str | None:
    # Best effort, for the audit copy of a rejected record; never trusted.
    try:
        document = parse_strict(parsed.payload)
        value = document.get("record_id") if isinstance(document, dict) else None
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except (CanonicalizationError, ValueError):
        return None


def receive_record(
    session: Session,
    node: Node,
    raw: bytes,
    peer_party: str,
    policies: tuple[ReceivePolicy, ...] = DEFAULT_POLICIES,
) -> Outcome:
    """Process one incoming compact JWS from ``peer_party`` and return the receipt.

    Raises MalformedJWSError when ``raw`` is not a compact JWS at all (no
    receipt can name it), RecordConflictError when an accepted record with the
    same record_id but other bytes exists.
    """
    raw = raw.strip()
    digest = sha256_hex(raw)
    seen = repository.inbound_by_digest(session, digest, peer_party)
    if seen is not None and seen.receipt_jws is not None:
        verdict = Verdict.ACCEPTED if seen.verification == "valid" else Verdict.REJECTED
        return Outcome(seen.receipt_jws, verdict.value, True, seen.record_id)
    parsed = parse_compact(raw, expected_typ=RECORD_TYP)
    now = node.now()
    verified: VerifiedRecord | None = None
    reason_code: str | None = None
    reason: str | None = None
    try:
        verified = verify_record(raw, node.bundle, now)
        for policy in policies:
            policy(session, node, verified.payload, peer_party)
    except TrustError as exc:
        reason_code, reason = exc.reason, f"{exc.title}: {exc.detail}"
    except PolicyRefusal as exc:
        reason_code, reason = exc.reason_code, exc.detail
    accepted = reason_code is None and verified is not None
    record_id = str(verified.payload.record_id) if verified is not None else _claimed_record_id(parsed)
    if accepted and record_id is not None:
        existing = repository.accepted_by_id(session, "in", record_id)
        if existing is not None and existing.jws_sha256 == digest and existing.receipt_jws is not None:
            # The same bytes, committed by a concurrent request after our digest lookup.
            return Outcome(existing.receipt_jws, Verdict.ACCEPTED.value, True, record_id)
        if existing is not None:
            raise RecordConflictError(
                f"record {record_id} was already received with different bytes",
                hint="a correction must be a new record that supersedes the old one",
            )
    # Ledger first: the receipt names the event's index, and the record row is
    # then written once, receipt included.
    event = AuditEvent.RECORD_RECEIVED if accepted else AuditEvent.RECORD_REJECTED
    index = append_event(
        session, event, actor=f"party:{peer_party}", subject=record_id or f"jws:{digest}",
        at=now, detail={"jws_sha256": digest, "reason_code": reason_code},
    )
    receipt = Receipt(
        record_id=uuid.UUID(record_id) if record_id else None,
        jws_sha256=digest,
        received_at=now,
        receiver=node.party,
        sender=peer_party,
        verdict=Verdict.ACCEPTED if accepted else Verdict.REJECTED,
        reason_code=reason_code,
        reason=(reason or "")[:200] or None,
        ledger_index=index,
    )
    receipt_jws = issue_receipt(receipt, node.signing_key)
    stored = _incoming_row(node, raw, digest, peer_party, verified, record_id, accepted, reason_code, reason)
    stored.receipt_jws = receipt_jws
    stored.ledger_index = index
    session.add(stored)
    if accepted and verified is not None and verified.payload.record_type is RecordType.ACKNOWLEDGEMENT:
        apply_incoming_acknowledgement(session, stored, record_json(verified.payload)["body"])
    return Outcome(receipt_jws, receipt.verdict.value, False, record_id)


def _incoming_row(
    node: Node,
    raw: bytes,
    digest: str,
    peer_party: str,
    verified: VerifiedRecord | None,
    record_id: str | None,
    accepted: bool,
    reason_code: str | None,
    reason: str | None,
) -> StoredRecord:
    columns = record_columns(verified.payload) if verified is not None else {"record_id": record_id}
    signer = (
        {
            "signer_kid": verified.kid,
            "signer_subject": verified.signer_subject[:300],
            "signer_fingerprint": verified.signer_fingerprint,
        }
        if verified is not None
        else {}
    )
    return StoredRecord(
        **columns,
        **signer,
        accepted_record_id=record_id if accepted else None,
        direction="in",
        peer_party=peer_party,
        stored_at=node.now(),
        jws=raw.decode("ascii"),
        jws_sha256=digest,
        verification="valid" if accepted else "invalid",
        verification_reason=reason_code,
        verification_detail=(reason or "")[:500] or None,
        status="new" if accepted else "rejected",
    )


def unsafe_decode_payload(jws: str) -> object:
    """Decode a JWS payload WITHOUT verifying it (for showing rejected records to auditors)."""
    try:
        return parse_strict(b64url_decode(jws.split(".")[1]))
    except (IndexError, MalformedJWSError, CanonicalizationError):
        return None
