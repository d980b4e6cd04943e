"""Lifecycle rules on receipt, and what the receiving node does with lifecycle records.

``lifecycle_rules`` runs with the other receive policies before anything is
stored: a correction or retraction must come from the originator of the
record it names; answers and notices must be about a record the receiver
actually exchanged with the sender. ``apply_incoming`` then updates the
copies the record is about, in the same transaction as its receipt.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.exchange.refusal import PolicyRefusal
from gateway.lifecycle import repository
from gateway.lifecycle.acknowledgements import apply_incoming_acknowledgement
from gateway.lifecycle.corrections import apply_correction, apply_late_arrival, apply_late_arrivals, apply_retraction
from gateway.lifecycle.discrepancies import apply_report, apply_response
from gateway.lifecycle.drafts import holders
from gateway.node import Node
from gateway.records.documents import effective_type
from gateway.records.kinds import INSTRUCTION_TYPES
from gateway.records.models import StoredRecord
from gateway.records.schemas import (
    CorrectionRecord,
    Record,
    RecordType,
    RetractionRecord,
    record_json,
)
from gateway.records.service import refers_to as record_refers_to
from gateway.terms.sharing import forbidden_handling

# Notices a recipient sends to the originator about the originator's record.
_TO_ORIGINATOR = frozenset(
    {
        RecordType.APPLICATION_ACKNOWLEDGEMENT,
        RecordType.DISCREPANCY_REPORT,
        RecordType.ONWARD_SHARING_REQUEST,
    }
)
# Answers the originator sends back about a request the receiver made.
_ANSWERS = {
    RecordType.ONWARD_SHARING_CONSENT: ("request_record_id", RecordType.ONWARD_SHARING_REQUEST),
    RecordType.DISCREPANCY_RESPONSE: ("report_record_id", RecordType.DISCREPANCY_REPORT),
}


def lifecycle_rules(session: Session, node: Node, record: Record, peer_party: str) -> None:
    """Receive policy: raise PolicyRefusal unless ``record`` may act on the records it names."""
    kind = record.record_type
    refers_to = record_refers_to(record)
    if kind in (RecordType.CORRECTION, RecordType.RETRACTION):
        _from_originator(session, record, refers_to)
    elif kind in _TO_ORIGINATOR:
        _about_own_record(session, node, record, refers_to, peer_party)
    elif kind is RecordType.DELETION_NOTICE:
        own = repository.valid_copy(session, "out", refers_to or "")
        if own is not None:
            _about_own_record(session, node, record, refers_to, peer_party)
        else:
            _from_originator(session, record, refers_to)
    elif kind in _ANSWERS:
        field, asked_type = _ANSWERS[kind]
        asked = repository.valid_copy(session, "out", str(getattr(record.body, field)))
        if asked is None or asked.record_type != asked_type.value:
            raise PolicyRefusal("unknown_record", f"this node sent no {asked_type.value} {getattr(record.body, field)}")
        if peer_party not in asked.recipients.split(","):
            raise PolicyRefusal("not_originator", f"{peer_party} was not asked in {asked.record_id}")


def _from_originator(session: Session, record: Record, refers_to: str | None) -> None:
    # A record we never received cannot be checked now; the instruction is kept
    # and applied only if the record later arrives from this same originator.
    # Ids are per originator: the sender's own copy is the target; only when it
    # holds none is another originator's copy under that id a refusal.
    copies = repository.valid_copies(session, "in", refers_to or "")
    own = [row for row in copies if row.originator_party == record.originator.party]
    if not copies:
        return
    target = (own or copies)[0]
    if target.originator_party != record.originator.party:
        raise PolicyRefusal(
            "not_originator",
            f"record {refers_to} originates from {target.originator_party}; "
            f"{record.originator.party} may not {record.record_type.value.replace('_', ' ')} it",
        )
    named = (
        record.body.corrected_jws_sha256
        if isinstance(record, CorrectionRecord)
        else record.body.retracted_jws_sha256
        if isinstance(record, RetractionRecord)
        else target.jws_sha256
    )
    if named != target.jws_sha256:
        raise PolicyRefusal(
            "digest_mismatch",
            f"the {record.record_type.value} names other bytes of record {refers_to} than this node received",
        )
    if isinstance(record, CorrectionRecord):
        replaced = effective_type(target)
        if replaced != record.body.replacement.record_type:
            raise PolicyRefusal(
                "correction_type_mismatch",
                f"record {refers_to} is a {replaced}; the correction replaces a {record.body.replacement.record_type}",
            )


def _about_own_record(session: Session, node: Node, record: Record, refers_to: str | None, peer_party: str) -> None:
    if record.record_type is RecordType.APPLICATION_ACKNOWLEDGEMENT:
        instruction = repository.valid_copy(session, "out", refers_to or "")
        if instruction is None or instruction.record_type not in INSTRUCTION_TYPES:
            raise PolicyRefusal("unknown_record", f"this node issued no correction or retraction {refers_to}")
        if peer_party not in instruction.recipients.split(","):
            raise PolicyRefusal("not_a_recipient", f"{peer_party} was not sent {refers_to}")
        return
    own = repository.valid_copy(session, "out", refers_to or "")
    if own is None:
        raise PolicyRefusal("unknown_record", f"{node.party} did not originate record {refers_to}")
    if peer_party not in holders(session, own):
        raise PolicyRefusal("not_a_recipient", f"{peer_party} was never sent record {refers_to}")
    if record.record_type is RecordType.ONWARD_SHARING_REQUEST and own.handling in forbidden_handling(node):
        raise PolicyRefusal(
            "onward_sharing_forbidden", f"record {refers_to} has handling {own.handling}: no onward sharing"
        )


LATE_ARRIVAL_TYPES = frozenset(
    {
        RecordType.CRIMINAL_NETWORK_FLAG,
        RecordType.REMOVAL_MANIFEST,
        RecordType.REMOVAL_CONFIRMATION,
        RecordType.CORRECTION,
    }
)


def apply_incoming(
    session: Session, node: Node, stored: StoredRecord, record: Record, *, late_arrival: bool = True
) -> None:
    """Update what an accepted incoming record acts on (same transaction as its receipt).

    ``late_arrival=False`` leaves the check for an earlier correction or
    retraction of this record to the caller (a batch does it in one query).
    """
    kind = record.record_type
    if kind is RecordType.ACKNOWLEDGEMENT:
        apply_incoming_acknowledgement(session, stored, record_json(record)["body"])
    elif kind is RecordType.CORRECTION:
        apply_correction(session, node, stored)
    elif kind is RecordType.RETRACTION:
        apply_retraction(session, node, stored)
    elif kind is RecordType.DISCREPANCY_REPORT:
        apply_report(session, node, stored)
    elif kind is RecordType.DISCREPANCY_RESPONSE:
        apply_response(session, node, stored)
    if late_arrival and kind in LATE_ARRIVAL_TYPES:
        apply_late_arrival(session, node, stored)


class LifecycleReceiveRules:
    """The record lifecycle's receive-time rules, as exchange calls them (``gateway.exchange.rules``)."""

    late_arrival_types: frozenset[RecordType] = LATE_ARRIVAL_TYPES

    def check(self, session: Session, node: Node, record: Record, peer_party: str) -> None:
        lifecycle_rules(session, node, record, peer_party)

    def apply(self, session: Session, node: Node, stored: StoredRecord, record: Record, *, late_arrival: bool) -> None:
        apply_incoming(session, node, stored, record, late_arrival=late_arrival)

    def apply_late_arrivals(self, session: Session, node: Node, arrived: list[StoredRecord]) -> None:
        apply_late_arrivals(session, node, arrived)
