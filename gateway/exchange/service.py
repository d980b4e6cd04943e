"""Receiving records from partners: verify, decide, store, answer with a signed receipt.

A record that fails any check is still stored (for audit, never shown as
valid) and answered with a signed ``rejected`` receipt naming the reason, so
the sender can prove what happened. The same bytes again get the very same
receipt; another record under an already accepted record_id is a conflict.

A record is identified by its originator and its id (see ``claim_check``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.errors import GatewayError
from gateway.exchange.errors import PayloadTooLargeError, RecordConflictError
from gateway.exchange.receipts import ReceiptSigner
from gateway.exchange.refusal import PolicyRefusal
from gateway.exchange.verifying import Checked, check, check_all
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import PendingEvent, append_events
from gateway.node import Node
from gateway.records import repository
from gateway.records.kinds import INSTRUCTION_TYPES, PLAIN_TYPES
from gateway.records.models import StoredRecord
from gateway.records.repository import PriorCopy
from gateway.records.schemas import Record, Verdict
from gateway.records.service import received_columns, received_row, record_columns
from gateway.records.signing import VerifiedRecord
from gateway.terms.errors import TermsViolationError
from gateway.trust.canonical import sha256_hex
from gateway.trust.errors import MalformedJWSError, TrustError

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
        # The body's JSON alone (what the terms' field rules read), not the whole record's.
        body = record.body.model_dump(mode="json")
        node.terms.check_incoming(record, body, node.party, node.now())
    except TermsViolationError as exc:
        raise PolicyRefusal(exc.rule_code, exc.detail) from exc


def receive_rules(session: Session, node: Node, record: Record, peer_party: str) -> None:
    """The checks of the layers above exchange (the record lifecycle), composed in at the node."""
    node.receive_rules.check(session, node, record, peer_party)


DEFAULT_POLICIES: tuple[ReceivePolicy, ...] = (addressed_to_us, within_terms, receive_rules)


@dataclass(frozen=True)
class Outcome:
    receipt_jws: str
    verdict: str
    replayed: bool
    record_id: str | None
    record_type: str | None = None  # verified type of an accepted record (for metrics labels)
    acted_on: bool = False  # lifecycle code acted on it, and may have queued an answer to deliver


@dataclass
class Decision:
    """What this node decided about one incoming JWS, before anything is written."""

    raw: bytes
    digest: str
    verified: VerifiedRecord | None
    record_id: str | None
    reason_code: str | None
    reason: str | None
    columns: dict[str, Any] | None = None  # record_columns of the verified record, computed once

    @property
    def accepted(self) -> bool:
        return self.reason_code is None and self.verified is not None


def decide(
    session: Session,
    node: Node,
    raw: bytes,
    peer_party: str,
    policies: tuple[ReceivePolicy, ...],
    checked: Checked | None = None,
    digest: str | None = None,
) -> Decision:
    """Verify ``raw`` (unless ``checked`` already did) and apply the policies.

    ``digest`` is ``sha256_hex(raw)`` when the caller has it. Raises
    MalformedJWSError when it is no JWS at all.
    """
    digest = digest if digest is not None else sha256_hex(raw)
    if checked is None:
        checked = check(raw, node.bundle, node.now())
    verified = checked.verified
    reason_code: str | None = None
    reason: str | None = None
    if checked.error is not None:
        reason_code, reason = checked.error.reason, f"{checked.error.title}: {checked.error.detail}"
    elif verified is not None:
        try:
            for policy in policies:
                policy(session, node, verified.payload, peer_party)
        except TrustError as exc:
            reason_code, reason = exc.reason, f"{exc.title}: {exc.detail}"
        except PolicyRefusal as exc:
            reason_code, reason = exc.reason_code, exc.detail
    record_id = str(verified.payload.record_id) if verified is not None else checked.claimed_record_id
    columns = record_columns(verified.payload) if verified is not None else None
    return Decision(raw, digest, verified, record_id, reason_code, reason, columns)


RECORD_ID_CONFLICT = "record_id_conflict"


def claim_check(decision: Decision, own_ids: Collection[str]) -> Decision:
    """Apply the identity rule to an accepted ``decision``; returns it, or it rejected.

    Ids are minted by the originating node, so a record is identified by its
    originator and its id:
    - an id this node originated (``own_ids``) arriving from a partner is a
      copy: a signed ``rejected`` receipt (record_id_conflict), never stored
      as valid, so the node's own record stays the one served under that id;
    - an id another partner originator already used here is that partner's
      own record, accepted in its own namespace (originator, id). This node
      cannot tell which of two partners minted the id first, and refusing the
      later one would let any partner make another's genuine delivery fail by
      sending first. Reads by id alone then answer 409 naming the originators;
    - the same originator and id with other bytes stays a conflict (409), the
      same bytes a replay (200, same receipt).
    """
    if decision.accepted and decision.record_id in own_ids:
        decision.reason_code = RECORD_ID_CONFLICT
        decision.reason = f"record id {decision.record_id} was originated by this node; a partner cannot reuse it"
    return decision


def _originator(decision: Decision) -> str | None:
    return decision.verified.payload.originator.party if decision.verified is not None else None


def _conflict(record_id: str) -> RecordConflictError:
    return RecordConflictError(
        f"record {record_id} was already received with different bytes",
        hint="a correction must be a new record that supersedes the old one",
    )


def _replay(row: StoredRecord | PriorCopy) -> Outcome:
    accepted = row.verification == "valid"
    verdict = Verdict.ACCEPTED if accepted else Verdict.REJECTED
    return Outcome(row.receipt_jws or "", verdict.value, True, row.record_id, row.record_type if accepted else None)


def ledger_event(decision: Decision, peer_party: str, now: datetime) -> PendingEvent:
    """The audit event that records ``decision``: received or rejected, by whom, which bytes."""
    return PendingEvent(
        AuditEvent.RECORD_RECEIVED if decision.accepted else AuditEvent.RECORD_REJECTED,
        actor=f"party:{peer_party}",
        subject=decision.record_id or f"jws:{decision.digest}",
        at=now,
        detail={"jws_sha256": decision.digest, "reason_code": decision.reason_code},
    )


def _signed_receipt(receipts: ReceiptSigner, decision: Decision, index: int) -> str:
    return receipts.sign(
        record_id=decision.record_id,
        jws_sha256=decision.digest,
        accepted=decision.accepted,
        reason_code=decision.reason_code,
        reason=decision.reason,
        ledger_index=index,
    )


def _outcome(decision: Decision, receipt_jws: str, *, acted_on: bool = False) -> Outcome:
    verified = decision.verified
    record_type = verified.payload.record_type.value if decision.accepted and verified is not None else None
    verdict = Verdict.ACCEPTED if decision.accepted else Verdict.REJECTED
    return Outcome(receipt_jws, verdict.value, False, decision.record_id, record_type, acted_on)


def record_decision(
    session: Session,
    node: Node,
    decision: Decision,
    peer_party: str,
    *,
    receipts: ReceiptSigner,
    now: datetime,
    ledger_index: int,
    extra_columns: Mapping[str, Any] | None = None,
    late_arrivals: list[StoredRecord] | None = None,
) -> Outcome:
    """Write the signed receipt and the record row for ``decision`` (its ledger event is
    already appended at ``ledger_index``, which the receipt names; with ``extra_columns``),
    then apply what an accepted lifecycle record acts on. With ``late_arrivals`` the
    row is collected there for one batch-wide check of corrections that arrived before it."""
    index = ledger_index
    receipt_jws = _signed_receipt(receipts, decision, index)
    stored = received_row(incoming_columns(node, decision, peer_party, now))
    stored.receipt_jws = receipt_jws
    stored.ledger_index = index
    for column, value in (extra_columns or {}).items():
        setattr(stored, column, value)
    session.add(stored)
    verified = decision.verified
    acted_on = decision.accepted and verified is not None
    if decision.accepted and verified is not None:
        batched = late_arrivals is not None
        node.receive_rules.apply(session, node, stored, verified.payload, late_arrival=not batched)
        if late_arrivals is not None and verified.payload.record_type in node.receive_rules.late_arrival_types:
            late_arrivals.append(stored)
    return _outcome(decision, receipt_jws, acted_on=acted_on)


def receive_record(
    session: Session,
    node: Node,
    raw: bytes,
    peer_party: str,
    policies: tuple[ReceivePolicy, ...] = DEFAULT_POLICIES,
    *,
    extra_columns: Mapping[str, Any] | None = None,
) -> Outcome:
    """Process one incoming compact JWS from ``peer_party`` and return the receipt.

    The one receive path: a batch of one item (single POSTs, grouped ones and
    records shared onward all go through ``receive_batch``). Raises
    MalformedJWSError when ``raw`` is not a compact JWS at all (no receipt can
    name it), RecordConflictError when an accepted record with the same
    record_id but other bytes exists.
    """
    [result] = receive_batch(session, node, [raw], peer_party, policies, extra_columns=extra_columns)
    if isinstance(result, GatewayError):
        raise result
    return result


BatchResult = Outcome | GatewayError


def receive_batch(
    session: Session,
    node: Node,
    items: list[bytes],
    peer_party: str,
    policies: tuple[ReceivePolicy, ...] = DEFAULT_POLICIES,
    *,
    extra_columns: Mapping[str, Any] | None = None,
) -> list[BatchResult]:
    """Process a batch from ``peer_party``, one result (outcome or problem) per item.

    Every stored row also gets ``extra_columns`` (how a record shared onward
    arrived, and its consent).

    The outcome is the one of receiving the items one after another: an item
    repeated inside the batch is answered like a replay of its first copy, and
    a record that names an earlier item of the batch (a correction of a flag
    sent with it) is decided again once that item is written. Everything else
    is decided up front and written with one lookup and one insert per table
    per segment, so no savepoints are needed.
    """
    raws = [item.strip() for item in items]
    digests = [sha256_hex(raw) for raw in raws]
    results: list[BatchResult | None] = [None] * len(raws)
    first_of: dict[str, int] = {}
    to_check: list[int] = []
    for index, (raw, digest) in enumerate(zip(raws, digests, strict=True)):
        if digest in first_of:
            continue
        first_of[digest] = index
        if len(raw) > node.settings.max_record_bytes:
            limit = node.settings.max_record_bytes
            results[index] = PayloadTooLargeError(f"record of {len(raw)} bytes exceeds the {limit}-byte limit")
        else:
            to_check.append(index)
    checked = check_all([raws[i] for i in to_check], node.bundle, node.now())
    segment: list[tuple[int, Decision]] = []
    written_ids: set[str] = set()  # record ids of earlier items of this batch
    referred: set[str] = set()  # record ids that earlier items of this batch refer to
    for index, result in zip(to_check, checked, strict=True):
        if isinstance(result, MalformedJWSError):
            results[index] = result
            continue
        try:
            decision = decide(session, node, raws[index], peer_party, policies, result, digests[index])
        except GatewayError as exc:
            results[index] = exc
            continue
        record_id, refers_to = decision.record_id, _refers_to(decision)
        if (refers_to is not None and refers_to in written_ids) or (record_id is not None and record_id in referred):
            # Its lifecycle checks saw the database without the earlier items: write those, decide again.
            _write_segment(session, node, peer_party, segment, results, extra_columns)
            segment = []
            decision = decide(session, node, raws[index], peer_party, policies, result, digests[index])
        segment.append((index, decision))
        written_ids.update([record_id] if record_id else [])
        referred.update([refers_to] if refers_to else [])
    _write_segment(session, node, peer_party, segment, results, extra_columns)
    for index, digest in enumerate(digests):
        if results[index] is None:
            first = results[first_of[digest]]
            results[index] = replace(first, replayed=True) if isinstance(first, Outcome) else first
    return [result for result in results if result is not None]


def _refers_to(decision: Decision) -> str | None:
    if not decision.accepted or decision.columns is None:
        return None
    value = decision.columns["refers_to"]
    return str(value) if value else None


def _write_segment(
    session: Session,
    node: Node,
    peer_party: str,
    segment: list[tuple[int, Decision]],
    results: list[BatchResult | None],
    extra_columns: Mapping[str, Any] | None,
) -> None:
    """Store the decided items of ``segment`` and put each one's outcome in ``results``."""
    if not segment:
        return
    # Deciding first costs a replay its verification again (rare: a sender
    # that lost a receipt), and saves every new record two lookups.
    earlier = _Earlier.lookup(session, peer_party, [d.digest for _, d in segment], [d for _, d in segment])
    claimed: set[tuple[str | None, str]] = set()
    to_record: list[tuple[int, Decision]] = []
    for index, decision in segment:
        seen = earlier.same_bytes.get(decision.digest)
        if seen is not None:
            results[index] = _replay(seen)
            continue
        decision = claim_check(decision, earlier.own_ids)
        if decision.accepted and decision.record_id is not None:
            identity = (_originator(decision), decision.record_id)
            row = earlier.accepted.get(identity)
            if row is not None and row.jws_sha256 == decision.digest and row.receipt_jws is not None:
                # The same bytes, committed by a concurrent request after our digest lookup.
                results[index] = _replay(row)
                continue
            if row is not None or identity in claimed:
                results[index] = _conflict(decision.record_id)
                continue
            claimed.add(identity)  # a later item may not reuse it with other bytes
        to_record.append((index, decision))
    now = node.now()
    indexes = append_events(session, [ledger_event(decision, peer_party, now) for _, decision in to_record])
    receipts = ReceiptSigner(node.signing_key, receiver=node.party, sender=peer_party, received_at=now)
    # Plain rows (rejected records, and records nothing acts on yet) go to the
    # database in one bulk INSERT; building an ORM object per row cost more
    # than verifying it. The rest take the ORM path that lifecycle code needs.
    plain: list[dict[str, Any]] = []
    rest: list[tuple[int, Decision, int]] = []
    for (index, decision), ledger_index in zip(to_record, indexes, strict=True):
        if _acts_on_others(decision, earlier.instructed):
            rest.append((index, decision, ledger_index))
            continue
        receipt_jws = _signed_receipt(receipts, decision, ledger_index)
        columns = incoming_columns(node, decision, peer_party, now)
        plain.append(columns | {"receipt_jws": receipt_jws, "ledger_index": ledger_index} | dict(extra_columns or {}))
        results[index] = _outcome(decision, receipt_jws)
    repository.add_many(session, plain)
    arrived: list[StoredRecord] = []
    for index, decision, ledger_index in rest:
        results[index] = record_decision(
            session,
            node,
            decision,
            peer_party,
            receipts=receipts,
            now=now,
            ledger_index=ledger_index,
            extra_columns=extra_columns,
            late_arrivals=arrived,
        )
    node.receive_rules.apply_late_arrivals(session, node, arrived)


@dataclass(frozen=True)
class _Earlier:
    """What the database already holds that matters to a batch being received."""

    same_bytes: dict[str, PriorCopy]  # digest → this peer's earlier delivery, receipt answered
    accepted: dict[tuple[str | None, str], PriorCopy]  # (originator, record_id) → the accepted incoming copy
    own_ids: set[str]  # record_ids this node originated
    instructed: set[str]  # record_ids a correction or retraction received earlier refers to

    @classmethod
    def lookup(cls, session: Session, peer_party: str, digests: list[str], decisions: Iterable[Decision]) -> _Earlier:
        ids = {d.record_id for d in decisions if d.accepted and d.record_id}
        rows = repository.inbound_related(session, set(digests), ids)
        incoming = [row for row in rows if row.direction == "in"]
        return cls(
            same_bytes={
                row.jws_sha256: row
                for row in incoming
                if row.peer_party == peer_party and row.receipt_jws is not None and row.jws_sha256 in digests
            },
            accepted={
                (row.originator_party, row.accepted_record_id): row
                for row in incoming
                if row.accepted_record_id is not None and row.accepted_record_id in ids
            },
            own_ids={
                row.accepted_record_id
                for row in rows
                if row.direction == "out" and row.accepted_record_id is not None and row.accepted_record_id in ids
            },
            instructed={
                row.refers_to
                for row in incoming
                if row.refers_to and row.verification == "valid" and row.record_type in INSTRUCTION_TYPES
            },
        )


def _acts_on_others(decision: Decision, waiting: set[str]) -> bool:
    verified = decision.verified
    if not decision.accepted or verified is None:
        return False
    return verified.payload.record_type not in PLAIN_TYPES or decision.record_id in waiting


def incoming_columns(node: Node, decision: Decision, peer_party: str, now: datetime) -> dict[str, Any]:
    """The record row for ``decision`` (without receipt and ledger index); the row is the records domain's."""
    return received_columns(
        decision.verified,
        record_id=decision.record_id,
        accepted=decision.accepted,
        raw=decision.raw,
        digest=decision.digest,
        peer_party=peer_party,
        now=now,
        reason_code=decision.reason_code,
        reason=decision.reason,
        columns=decision.columns,
    )
