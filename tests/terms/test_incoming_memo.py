"""check_incoming remembers the flow a (terms, originator, receiver, type) found live, and nothing else.

A partner's batch repeats the same few combinations, so the registry keeps the
terms version and flow it found; every rule about the record itself (fields,
offences, minors, retention) and whether the version is still in force are
judged again for each record. These tests warm the memory with an allowed
record first, then show each rule still refuses.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.records.schemas import Record
from gateway.terms.errors import TermsViolationError
from gateway.terms.registry import TermsRegistry
from tests.support import mou_terms
from tests.support.mou_terms import draft, expiring, forced, incoming_body, person, received, ref_of, write_terms
from tests.support.pki import TestPKI


@pytest.fixture
def age_21(pki: TestPKI, tmp_path: Path) -> Path:
    return write_terms(
        pki, tmp_path / "age-21.yaml", edit=lambda d: d["prohibitions"].update(minimum_flag_subject_age=21)
    )


def flag(pki: TestPKI, terms: Path, *, to: str = "CO", subject: dict[str, Any] | None = None, **fields: Any) -> Record:
    document = draft("criminal_network_flag", "PA", [to], subject=subject, **fields)
    return received(pki, forced(pki, document, ref_of(terms)))


def warmed(pki: TestPKI, terms: Path, to: str = "CO") -> TermsRegistry:
    """A registry that has already let one ordinary flag from PA reach ``to``."""
    registry = mou_terms.registry(pki, terms)
    allowed = flag(pki, terms, to=to)
    registry.check_incoming(allowed, incoming_body(allowed), to, mou_terms.now())
    return registry


def refusal(registry: TermsRegistry, record: Record, receiver: str = "CO", at: Any = None) -> str:
    with pytest.raises(TermsViolationError) as refused:
        registry.check_incoming(record, incoming_body(record), receiver, at or mou_terms.now())
    return refused.value.rule_code


def test_a_second_flag_on_the_same_flow_is_still_allowed(pki: TestPKI, age_21: Path) -> None:
    registry = warmed(pki, age_21)
    again = flag(pki, age_21)
    registry.check_incoming(again, incoming_body(again), "CO", mou_terms.now())


def test_the_record_rules_are_still_applied_on_a_remembered_flow(pki: TestPKI, age_21: Path) -> None:
    registry = warmed(pki, age_21)
    minor = person()
    minor["date_of_birth"] = mou_terms.born_years_ago(19).isoformat()
    assert refusal(registry, flag(pki, age_21, subject=minor)) == "subject_minor"
    assert refusal(registry, flag(pki, age_21, handling="H1")) == "handling_too_permissive"
    assert refusal(registry, flag(pki, age_21, purpose="tax_collection")) == "purpose_not_allowed"


def test_a_field_outside_the_flow_is_still_refused_on_a_remembered_flow(pki: TestPKI, age_21: Path) -> None:
    # PA's flags to the US may not carry the subject's travel document (the example terms).
    registry = warmed(pki, age_21, to="US")
    record = flag(pki, age_21, to="US", subject=person(travel_document=True))
    assert refusal(registry, record, receiver="US") == "field_not_allowed"


def test_terms_that_ended_are_refused_although_their_flow_was_remembered(pki: TestPKI, tmp_path: Path) -> None:
    today = mou_terms.now()
    terms = write_terms(pki, tmp_path / "ending.yaml", edit=expiring(today.date() + timedelta(days=1)))
    registry = warmed(pki, terms)
    record = flag(pki, terms)
    assert refusal(registry, record, at=today + timedelta(days=2)) == "terms_expired"


def test_another_receiver_is_judged_on_its_own(pki: TestPKI, age_21: Path) -> None:
    registry = warmed(pki, age_21)
    # The remembered flow runs PA → CO; no flow runs from PA to PA.
    assert refusal(registry, flag(pki, age_21), receiver="PA") == "flow_not_allowed"


def test_a_refusal_is_not_remembered_as_a_flow(pki: TestPKI, tmp_path: Path) -> None:
    unsigned = write_terms(pki, tmp_path / "unsigned-by-co.yaml", signers=["PA", "US"])
    registry = mou_terms.registry(pki, unsigned)
    record = flag(pki, unsigned)
    assert refusal(registry, record) == "flow_not_signed"
    assert refusal(registry, record) == "flow_not_signed"


def test_the_memory_is_bounded(pki: TestPKI, age_21: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.terms.registry._MEMO_LIMIT", 0)
    registry = warmed(pki, age_21)
    assert registry._incoming_flows == {}
