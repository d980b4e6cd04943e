"""Shaping stored records for the console templates (no HTTP, no SQL).

Templates get plain frozen values; the signed document's fields are shown
only for records that verified. An invalid record's content is shown only as
inert text, labelled as unverified.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from gateway.exchange.models import Delivery
from gateway.records.documents import envelope_of, signed_document, unsafe_decode_payload
from gateway.records.models import StoredRecord
from gateway.records.read_model import DeliveryState
from gateway.records.standing import record_standing
from gateway.records.views import delivery_view
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import MalformedJWSError
from gateway.trust.jws import RECORD_TYP, parse_compact, x5c_chain


@dataclass(frozen=True)
class VerificationPanel:
    """What the officer needs to judge a record's authenticity."""

    valid: bool
    reason_code: str | None
    detail: str | None
    algorithm: str | None
    kid: str | None
    signer_subject: str | None
    signer_fingerprint: str | None
    signer_party: str | None  # the party whose CA issued the signing certificate
    originator_party: str | None
    peer_party: str | None  # the mTLS peer that delivered it (received records)
    chain: tuple[str, ...]  # subjects, leaf first, up to the trust-bundle CA
    terms_id: str | None
    terms_version: int | None
    received_at: datetime | None
    receipt_sent: bool
    receipt_ledger_index: int | None
    jws_sha256: str
    body_deleted_at: datetime | None = None  # the JWS is gone; its SHA-256 and the envelope stay
    body_deleted_reason: str | None = None  # retraction | retention
    # Judged now at the proven receipt time (docs/evidence.md): valid | valid_when_received | suspect | invalid
    standing: str | None = None
    standing_reason: str | None = None


@dataclass(frozen=True)
class RecordView:
    stored: StoredRecord
    envelope: dict[str, Any] | None
    body: dict[str, Any] | None
    panel: VerificationPanel
    deliveries: tuple[DeliveryState, ...]


@dataclass(frozen=True)
class AnswerView:
    """One answer to a record: who (officer or partner), what, and how its delivery went."""

    decision: str
    by: str
    at: datetime | None
    comment: str | None
    acknowledgement_pk: int
    acknowledgement_id: str | None
    deliveries: tuple[DeliveryState, ...]


def ledger_subject(stored: StoredRecord) -> str:
    """Return the ledger subject of a record's events (as the exchange names them)."""
    return stored.record_id or f"jws:{stored.jws_sha256}"


@dataclass(frozen=True)
class _PresentedSigner:
    algorithm: str | None = None
    chain: tuple[str, ...] = ()
    party: str | None = None


def _presented_signer(stored: StoredRecord, bundle: TrustBundle) -> _PresentedSigner:
    """Return the alg, the x5c chain (+ its bundle CA) and the CA's party, as the header presents them.

    A record whose body was deleted has no JWS left: nothing is presented.
    """
    if not stored.jws:
        return _PresentedSigner()
    try:
        parsed = parse_compact(stored.jws, expected_typ=RECORD_TYP)
        certificates = x5c_chain(parsed)
    except MalformedJWSError:
        return _PresentedSigner()
    subjects = [cert.subject.rfc4514_string() for cert in certificates]
    anchor = bundle.issuing_party(certificates[-1])
    if anchor is not None:
        subjects.append(anchor[1].subject.rfc4514_string())
    leaf_anchor = bundle.issuing_party(certificates[0])
    return _PresentedSigner(parsed.algorithm, tuple(subjects), leaf_anchor[0] if leaf_anchor is not None else None)


def verification_panel(stored: StoredRecord, bundle: TrustBundle) -> VerificationPanel:
    signer = _presented_signer(stored, bundle)
    received = stored.direction == "in"
    return VerificationPanel(
        valid=stored.verification == "valid",
        reason_code=stored.verification_reason,
        detail=stored.verification_detail,
        algorithm=signer.algorithm,
        kid=stored.signer_kid,
        signer_subject=stored.signer_subject,
        signer_fingerprint=stored.signer_fingerprint,
        signer_party=signer.party if stored.verification == "valid" else None,
        originator_party=stored.originator_party,
        peer_party=stored.peer_party,
        chain=signer.chain,
        terms_id=stored.terms_id,
        terms_version=stored.terms_version,
        received_at=stored.stored_at if received else None,
        receipt_sent=received and stored.receipt_jws is not None,
        receipt_ledger_index=stored.ledger_index if received else None,
        jws_sha256=stored.jws_sha256,
        body_deleted_at=stored.body_deleted_at,
        body_deleted_reason=stored.body_deleted_reason,
    )


def record_view(
    stored: StoredRecord, deliveries: Sequence[Delivery], bundle: TrustBundle, now: datetime | None = None
) -> RecordView:
    """Return the record page's view of ``stored``; body only when it verified and was not deleted.

    A record whose body was deleted (retraction, retention) keeps its signed
    envelope, which is shown; its JWS is empty. The panel carries the record's
    standing today (a suspect record is flagged on the page).
    """
    document = signed_document(stored)
    envelope = envelope_of(stored) if stored.verification == "valid" else None
    body = document.get("body") if document else None
    panel = verification_panel(stored, bundle)
    verdict = record_standing(stored, deliveries, bundle, now or datetime.now(UTC))
    if verdict is not None:
        panel = replace(panel, standing=verdict.standing.value, standing_reason=verdict.reason)
    return RecordView(
        stored=stored,
        envelope=envelope,
        body=body if isinstance(body, dict) else None,
        panel=panel,
        deliveries=tuple(delivery_view(d) for d in deliveries),
    )


def claimed_document(stored: StoredRecord) -> str | None:
    """Return the UNVERIFIED payload of a record as indented JSON text, for auditors (None once deleted)."""
    if not stored.jws:
        return None
    document = unsafe_decode_payload(stored.jws)
    if document is None:
        return None
    return json.dumps(document, indent=2, ensure_ascii=False)[:20000]


def answer_view(
    decision: str, by: str, at: datetime | None, ack: StoredRecord, deliveries: Sequence[Delivery]
) -> AnswerView:
    """Return an answer given here: the decision, the officer, the acknowledgement's deliveries."""
    document = signed_document(ack)
    body = document.get("body", {}) if document else {}
    return AnswerView(
        decision=decision,
        by=by,
        at=at,
        comment=body.get("comment"),
        acknowledgement_pk=ack.pk,
        acknowledgement_id=ack.record_id,
        deliveries=tuple(delivery_view(d) for d in deliveries),
    )


def partner_answers(sent: StoredRecord, received_acks: Sequence[StoredRecord]) -> list[AnswerView]:
    """Return the partners' acknowledgements of the record ``sent`` among ``received_acks``."""
    answers = []
    for ack in received_acks:
        document = signed_document(ack)
        body = document.get("body", {}) if document else {}
        if (
            body.get("acknowledges_record_id") == sent.record_id
            and body.get("acknowledged_jws_sha256") == sent.jws_sha256
        ):
            answers.append(
                AnswerView(
                    decision=str(body.get("decision")),
                    by=ack.originator_party or "?",
                    at=ack.stored_at,
                    comment=body.get("comment"),
                    acknowledgement_pk=ack.pk,
                    acknowledgement_id=ack.record_id,
                    deliveries=(),
                )
            )
    return answers
