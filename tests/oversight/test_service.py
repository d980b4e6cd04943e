"""build_report on a database filled row by row: every figure of a known January, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from gateway.errors import InputError
from gateway.oversight.service import (
    AccessCount,
    DeletionCount,
    InstructionsIssued,
    InstructionsReceived,
    NoticeCount,
    PartyCount,
    ReceivedCount,
    RejectionCount,
    SentCount,
    SuspectCount,
    build_report,
)
from tests.oversight.synthetic import END, GENERATED, START, FixedNode, build_january


def test_figures_of_a_known_january(session: Session) -> None:
    build_january(session)
    report = build_report(session, FixedNode(), START, END)

    assert (report.party, report.start, report.end, report.generated_at) == ("PA", START, END, GENERATED)
    assert report.sent == (
        SentCount("CO", "criminal_network_flag", delivered=1, pending=1),
        SentCount("CO", "removal_manifest", delivered=1),
        SentCount("US", "criminal_network_flag", pending=1),  # being sent right now
        SentCount("US", "removal_manifest", rejected=1),
    )
    assert report.received == (
        ReceivedCount("CO", "acknowledgement", 1, 0),
        ReceivedCount("CO", "application_acknowledgement", 2, 0),
        ReceivedCount("CO", "correction", 1, 0),
        ReceivedCount("CO", "criminal_network_flag", 4, 0),
        ReceivedCount("CO", "deletion_notice", 1, 0),
        ReceivedCount("CO", "onward_sharing_request", 1, 0),
        ReceivedCount("CO", "unspecified", 0, 1),  # rejected before its type could be read
        ReceivedCount("US", "application_acknowledgement", 1, 0),
        ReceivedCount("US", "criminal_network_flag", 0, 2),
        ReceivedCount("US", "discrepancy_report", 1, 0),
        ReceivedCount("US", "retraction", 1, 0),
    )
    assert report.rejections == (
        RejectionCount("in", "CO", "bad_signature", 1),
        RejectionCount("in", "US", "flow_not_allowed", 1),
        RejectionCount("in", "US", "other", 1),  # a reason that was not a code
        RejectionCount("out", "US", "terms_unknown", 1),
    )
    assert (report.corrections_issued, report.retractions_issued) == (2, 1)
    assert report.instructions_issued == (
        InstructionsIssued("correction", "CO", 2, 2, 0, 0, median_hours=3.0, max_hours=4.0),
        InstructionsIssued("correction", "US", 1, 0, 1, 0, median_hours=None, max_hours=None),
        InstructionsIssued("retraction", "CO", 1, 0, 0, 1, median_hours=None, max_hours=None),
    )
    assert report.instructions_received == (
        InstructionsReceived("correction", "CO", received=1, applied=1, not_held=0, unacknowledged=0),
        InstructionsReceived("retraction", "US", received=1, applied=0, not_held=0, unacknowledged=1),
    )
    assert report.deletions == (DeletionCount("retention", "in", 1), DeletionCount("retraction", "out", 1))
    assert (report.legal_holds_placed, report.legal_holds_released) == (1, 0)
    assert report.access == (AccessCount("client", 3, 2), AccessCount("officer", 1, 1))
    assert (report.views, report.records_viewed) == (4, 2)
    assert report.dead_deliveries == (PartyCount("CO", 1),)
    assert report.notices == (
        NoticeCount("deletion_notice", "in", "CO", 1),
        NoticeCount("discrepancy_report", "in", "US", 1),
        NoticeCount("discrepancy_response", "out", "US", 1),
        NoticeCount("onward_forward", "out", "US", 1),
        NoticeCount("onward_sharing_consent_granted", "out", "CO", 1),
        NoticeCount("onward_sharing_consent_refused", "out", "US", 1),
        NoticeCount("onward_sharing_request", "in", "CO", 1),
    )
    assert report.suspects == (
        SuspectCount("in", "CO", "criminal_network_flag", 1),
        SuspectCount("out", "PA", "removal_manifest", 1),
    )
    assert report.suspect_records == 2


def test_a_period_with_nothing_in_it_is_all_zero(session: Session) -> None:
    build_january(session)
    report = build_report(session, FixedNode(), datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
    assert report.sent == report.received == report.rejections == report.access == report.notices == ()
    assert report.instructions_issued == report.instructions_received == report.deletions == ()
    assert (report.corrections_issued, report.retractions_issued) == (0, 0)
    assert (report.legal_holds_placed, report.views, report.records_viewed, report.dead_deliveries) == (0, 0, 0, ())
    assert (report.suspects, report.suspect_records) == ((), 0)


def test_an_empty_or_naive_period_is_refused(session: Session) -> None:
    with pytest.raises(InputError, match="the period is empty"):
        build_report(session, FixedNode(), END, END)
    with pytest.raises(InputError, match="the period is empty"):
        build_report(session, FixedNode(), END, START)
    with pytest.raises(InputError, match="must carry a time zone"):
        build_report(session, FixedNode(), datetime(2026, 1, 1), END)
