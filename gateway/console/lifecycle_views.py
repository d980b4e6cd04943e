"""Shaping the record lifecycle for the console templates (no HTTP, no SQL).

What later records and retention did to a record (superseded, retracted,
contested, received onward, legal hold, retention) becomes badges and banners;
the actions an officer may take on it become a frozen ``LifecycleActions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from gateway.lifecycle.read_model import Dissemination
from gateway.records.documents import signed_document, unsafe_decode_payload
from gateway.records.models import StoredRecord
from gateway.records.read_model import LifecycleState, RetentionState
from gateway.records.views import lifecycle_view

# The badges of the inbox and outbox, in the order they are shown.
BADGES: Final = ("retracted", "superseded", "contested", "onward", "review_due", "expired", "held", "deleted")


def lifecycle_badges(stored: StoredRecord, now: datetime) -> tuple[str, ...]:
    """Return the lifecycle badges of a record at ``now`` (empty for an ordinary live record)."""
    if stored.verification != "valid":
        return ()
    state = lifecycle_view(stored, now)
    shown = {
        "retracted": stored.retracted_by is not None,
        "superseded": stored.superseded_by is not None,
        "contested": stored.contested_by is not None,
        "onward": stored.received_via == "onward",
        "review_due": state.retention == RetentionState.REVIEW_DUE,
        "expired": state.retention == RetentionState.EXPIRED,
        "held": stored.legal_hold_at is not None,
        # a retraction already says the body went; retention deletion is worth its own badge
        "deleted": stored.body_deleted_at is not None and stored.retracted_by is None,
    }
    return tuple(badge for badge in BADGES if shown[badge])


def body_of(stored: StoredRecord | None) -> dict[str, Any]:
    """Return the signed body of a valid record still holding it, else an empty dict."""
    document = signed_document(stored) if stored is not None else None
    body = document.get("body") if document else None
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class Note:
    """A later record that changed this one (retraction, open discrepancy report), as the banner shows it."""

    record_id: str
    reason: str | None = None  # the retraction reason or the discrepancy category
    comment: str | None = None  # the retraction comment or the discrepancy details


def retraction_note(stored: StoredRecord, retraction: StoredRecord | None) -> Note | None:
    if stored.retracted_by is None:
        return None
    body = body_of(retraction)
    return Note(stored.retracted_by, body.get("reason"), body.get("comment"))


def contest_note(stored: StoredRecord, report: StoredRecord | None) -> Note | None:
    if stored.contested_by is None:
        return None
    body = body_of(report)
    return Note(stored.contested_by, body.get("category"), body.get("details"))


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class OnwardReceipt:
    """How a record shared onward reached this node: the forwarding party and the originator's consent."""

    via: str | None
    consent_id: str | None
    consented_by: str | None
    requester: str | None
    purpose_note: str | None


def onward_receipt(stored: StoredRecord) -> OnwardReceipt | None:
    """Return the onward route of a record received from a party that is not its originator."""
    if stored.received_via != "onward":
        return None
    # The consent was verified with the record on receipt (gateway/exchange/onward.py); it is only read here.
    consent = unsafe_decode_payload(stored.onward_consent_jws or "")
    document: dict[str, Any] = consent if isinstance(consent, dict) else {}
    body = _mapping(document.get("body"))
    originator = _mapping(document.get("originator"))
    return OnwardReceipt(
        via=stored.peer_party,
        consent_id=document.get("record_id"),
        consented_by=originator.get("party"),
        requester=body.get("requester"),
        purpose_note=body.get("comment"),
    )


@dataclass(frozen=True)
class OnwardTarget:
    """A third party the originator consented to; ``delivery`` is the forward's status once queued."""

    third_party: str
    consent_id: str | None
    delivery: str | None


@dataclass(frozen=True)
class LifecycleActions:
    """What may be done to the record now; the template also checks the officer's role."""

    retract: bool = False
    report: bool = False
    request_onward: tuple[str, ...] = ()  # third parties the originator may be asked about
    purposes: tuple[str, ...] = ()
    answer_request: bool = False
    answer_report: tuple[str, ...] = ()  # discrepancy outcomes that can be given now
    share_onward: tuple[OnwardTarget, ...] = ()
    hold: bool = False
    release: bool = False

    @property
    def for_reviewer(self) -> bool:
        """Whether any reviewer action is available."""
        return bool(
            self.retract
            or self.report
            or self.request_onward
            or self.answer_request
            or self.answer_report
            or self.share_onward
        )


@dataclass(frozen=True)
class LifecyclePanel:
    """Everything the record page shows about the record's lifecycle."""

    state: LifecycleState
    badges: tuple[str, ...]
    review_due: datetime | None
    expires_at: datetime | None
    retraction: Note | None
    contest: Note | None
    onward: OnwardReceipt | None
    dissemination: Dissemination | None  # for this node's own records
    actions: LifecycleActions
    links: dict[str, int] = field(default_factory=dict)  # record id → pk of the copy held here
