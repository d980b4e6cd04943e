"""What each record type is: one table instead of constants scattered over the domains.

Every rule that depends on "what kind of record is this" reads it here: which
types carry information about people, which instruct recipients to change a
record they hold, which record a type refers to, what may be corrected or
shared onward, and which are issued only through their own operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.records.schemas import RecordType


@dataclass(frozen=True)
class RecordKind:
    """The facts about one record type."""

    record_type: RecordType
    # Carries information about people (as opposed to a notice about a record):
    # retained by the terms' schedule, shown for review, shareable onward.
    substantive: bool
    # Tells the recipients to change a record they hold (correction, retraction).
    instruction: bool
    # The body field naming the record this one is about; None when it refers
    # to nothing, or (a correction) through the envelope's ``supersedes``.
    refers_by: str | None
    # Its originator may correct and retract it (a correction stands for the type it replaces).
    correctable: bool
    # A recipient may share it onward with the originator's consent.
    shareable_onward: bool
    # Issued through its own operation (originator-only rules, automatic
    # recipients), never as a free draft.
    lifecycle: bool
    # When received, an officer answers it (the other notices the gateway applies itself).
    officer_answers: bool

    @property
    def refers_to_another(self) -> bool:
        """Whether receiving it acts on another record (it cannot just be stored)."""
        return self.refers_by is not None or self.instruction


def _original(record_type: RecordType) -> RecordKind:
    return RecordKind(record_type, True, False, None, True, True, False, True)


def _notice(record_type: RecordType, refers_by: str, *, lifecycle: bool = True, answered: bool = False) -> RecordKind:
    return RecordKind(record_type, False, False, refers_by, False, False, lifecycle, answered)


RT = RecordType
KINDS: Final[dict[RecordType, RecordKind]] = {
    kind.record_type: kind
    for kind in (
        _original(RT.CRIMINAL_NETWORK_FLAG),
        _original(RT.REMOVAL_MANIFEST),
        _original(RT.REMOVAL_CONFIRMATION),
        _notice(RT.ACKNOWLEDGEMENT, "acknowledges_record_id", lifecycle=False),
        RecordKind(RT.CORRECTION, True, True, None, True, True, True, True),
        RecordKind(RT.RETRACTION, False, True, "retracted_record_id", False, False, True, False),
        _notice(RT.APPLICATION_ACKNOWLEDGEMENT, "instruction_record_id"),
        _notice(RT.DELETION_NOTICE, "deleted_record_id"),
        _notice(RT.ONWARD_SHARING_REQUEST, "requested_record_id", answered=True),
        _notice(RT.ONWARD_SHARING_CONSENT, "consented_record_id"),
        _notice(RT.DISCREPANCY_REPORT, "reported_record_id", answered=True),
        _notice(RT.DISCREPANCY_RESPONSE, "report_record_id"),
    )
}
assert set(KINDS) == set(RecordType), "every record type needs a row in KINDS"


def kind_of(record_type: RecordType | str) -> RecordKind:
    """Return the facts about ``record_type``; raises ValueError for an unknown type."""
    return KINDS[RecordType(record_type)]


def _types(test: str) -> frozenset[RecordType]:
    return frozenset(t for t, kind in KINDS.items() if getattr(kind, test))


SUBSTANTIVE_TYPES: Final = _types("substantive")
INSTRUCTION_TYPES: Final = _types("instruction")
CORRECTABLE_TYPES: Final = _types("correctable")
SHAREABLE_TYPES: Final = _types("shareable_onward")
LIFECYCLE_TYPES: Final = _types("lifecycle")
OFFICER_ANSWERED_TYPES: Final = _types("officer_answers")
# Types that act on no other record when they arrive: storing them is all there is to do.
PLAIN_TYPES: Final = frozenset(t for t, kind in KINDS.items() if not kind.refers_to_another)
