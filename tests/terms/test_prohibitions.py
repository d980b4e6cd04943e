"""The prohibitions of the terms (minors, pending protection claims) and field minimization.

Each rule is checked on the sending side (TermsRegistry.prepare_outgoing) and,
for a record signed directly past the sender, on the receiving side
(TermsRegistry.check_incoming), with its exact reason code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.records.signing import sign_record
from gateway.terms.errors import TermsViolationError
from gateway.terms.registry import TermsRegistry
from gateway.trust.errors import SchemaViolationError
from gateway.trust.jws import b64url_decode
from tests.support import mou_terms
from tests.support.mou_terms import (
    born_years_ago,
    draft,
    flow_entry,
    forced,
    incoming_body,
    person,
    received,
    ref_of,
    write_terms,
)
from tests.support.pki import TestPKI

PASSPORT_NUMBER = "AZ7584806"  # the number mou_terms.person(travel_document=True) carries


@pytest.fixture(scope="module")
def registry(pki: TestPKI) -> TermsRegistry:
    return mou_terms.registry(pki, pki.terms_path)


@pytest.fixture(scope="module")
def example_ref(registry: TermsRegistry) -> dict[str, Any]:
    return registry.versions[0].ref


def refused_on_both_sides(
    pki: TestPKI,
    registry: TermsRegistry,
    terms_ref: dict[str, Any],
    document: dict[str, Any],
    receiver: str,
    reason_code: str,
    match: str,
) -> None:
    at = mou_terms.now()
    with pytest.raises(TermsViolationError, match=match) as at_sender:
        registry.prepare_outgoing(document, at)
    assert at_sender.value.rule_code == reason_code
    arrived = received(pki, forced(pki, document, terms_ref, at))
    with pytest.raises(TermsViolationError, match=match) as at_receiver:
        registry.check_incoming(arrived, incoming_body(arrived), receiver, at)
    assert at_receiver.value.rule_code == reason_code


def allowed_on_both_sides(
    pki: TestPKI, registry: TermsRegistry, terms_ref: dict[str, Any], document: dict[str, Any]
) -> None:
    at = mou_terms.now()
    record = registry.prepare_outgoing(document, at)
    assert record.terms.model_dump() == terms_ref
    arrived = received(pki, sign_record(record, pki.signing_key(record.originator.party)))
    for receiver in arrived.recipients:
        registry.check_incoming(arrived, incoming_body(arrived), receiver, at)


def payload_text(jws: str) -> str:
    """The signed payload of a compact JWS, decoded (what every holder of the JWS can read)."""
    return b64url_decode(jws.split(".")[1]).decode("utf-8")


# -- no flag about a minor --------------------------------------------------------


@pytest.fixture(scope="module")
def age_21(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example terms with the minimum flag-subject age raised to 21, signed by all."""
    return write_terms(
        pki,
        tmp_path_factory.mktemp("terms") / "age-21.yaml",
        edit=lambda d: d["prohibitions"].update(minimum_flag_subject_age=21),
    )


def subject_aged(years: int, *, days_after: int = 0) -> dict[str, Any]:
    subject = person()
    subject["date_of_birth"] = born_years_ago(years, days_after=days_after).isoformat()
    return subject


def test_flag_about_a_person_under_the_terms_minimum_age_is_refused(pki: TestPKI, age_21: Path) -> None:
    # The record schema already refuses a flag about anyone under 18; the terms rule
    # is what enforces a higher minimum the parties agree on.
    registry = mou_terms.registry(pki, age_21)
    document = draft("criminal_network_flag", "PA", ["CO"], subject=subject_aged(19))
    refused_on_both_sides(
        pki,
        registry,
        ref_of(age_21),
        document,
        "CO",
        "subject_minor",
        "no criminal-network flag about a person under 21",
    )


def test_flag_the_day_before_the_minimum_age_is_refused(pki: TestPKI, age_21: Path) -> None:
    registry = mou_terms.registry(pki, age_21)
    document = draft(
        "criminal_network_flag", "US", ["PA"], offence="drug_trafficking", subject=subject_aged(21, days_after=1)
    )
    refused_on_both_sides(pki, registry, ref_of(age_21), document, "PA", "subject_minor", "under 21")


def test_flag_on_the_day_the_subject_reaches_the_minimum_age_is_allowed(pki: TestPKI, age_21: Path) -> None:
    registry = mou_terms.registry(pki, age_21)
    document = draft("criminal_network_flag", "PA", ["CO"], subject=subject_aged(21))
    allowed_on_both_sides(pki, registry, ref_of(age_21), document)


def test_nineteen_year_old_is_allowed_under_the_example_terms(
    pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    document = draft("criminal_network_flag", "PA", ["CO"], subject=subject_aged(19))
    allowed_on_both_sides(pki, registry, example_ref, document)


def test_the_schema_refuses_a_flag_about_a_minor_before_any_terms(registry: TermsRegistry) -> None:
    document = draft("criminal_network_flag", "PA", ["CO"], subject=subject_aged(17))
    with pytest.raises(SchemaViolationError, match="under 18"):
        registry.prepare_outgoing(document, mou_terms.now())


def test_manifests_may_list_minors(pki: TestPKI, age_21: Path) -> None:
    # Families are removed together; the age rule concerns criminal-network flags only.
    registry = mou_terms.registry(pki, age_21)
    document = draft("removal_manifest", "PA", ["CO"], handling="H1", subject=subject_aged(12))
    allowed_on_both_sides(pki, registry, ref_of(age_21), document)


# -- nothing to the state of nationality while a protection claim is pending -----


def claimant(nationality: str = "COL") -> dict[str, Any]:
    return person(nationality=nationality, protection_claim_pending=True)


PROTECTION_REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "manifest-to-co": (draft("removal_manifest", "PA", ["CO"], handling="H1", subject=claimant()), "CO"),
    "flag-to-co": (draft("criminal_network_flag", "PA", ["CO"], subject=claimant()), "CO"),
    "us-flag-to-co": (
        draft("criminal_network_flag", "US", ["CO"], offence="drug_trafficking", subject=claimant()),
        "CO",
    ),
    "flag-about-us-national-to-us": (draft("criminal_network_flag", "CO", ["US"], subject=claimant("USA")), "US"),
}


@pytest.mark.parametrize("case", sorted(PROTECTION_REFUSED))
def test_record_about_a_claimant_to_their_state_is_refused(
    case: str, pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    document, receiver = PROTECTION_REFUSED[case]
    refused_on_both_sides(
        pki,
        registry,
        example_ref,
        document,
        receiver,
        "protection_claim",
        f"pending protection claim is a national of .*: nothing about them may go to {receiver}",
    )


def test_manifest_naming_a_claimant_cannot_go_to_the_claimant_state_alongside_others(
    registry: TermsRegistry,
) -> None:
    document = draft("removal_manifest", "PA", ["US", "CO"], handling="H1", subject=claimant())
    with pytest.raises(TermsViolationError, match="may go to CO") as refused:
        registry.prepare_outgoing(document, mou_terms.now())
    assert refused.value.rule_code == "protection_claim"


def test_flag_about_a_colombian_claimant_to_the_us_alone_is_allowed(
    pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    document = draft("criminal_network_flag", "PA", ["US"], subject=claimant())
    record = registry.prepare_outgoing(document, mou_terms.now())
    assert record.body.subject.protection_claim_pending is True  # type: ignore[union-attr]
    allowed_on_both_sides(pki, registry, example_ref, document)


@pytest.mark.parametrize(
    ("sender", "recipient", "nationality"),
    [("PA", "CO", "VEN"), ("CO", "PA", "COL"), ("US", "PA", "COL")],
    ids=["venezuelan-to-co", "colombian-to-pa", "colombian-from-us-to-pa"],
)
def test_claimant_of_another_nationality_is_not_covered(
    sender: str,
    recipient: str,
    nationality: str,
    pki: TestPKI,
    registry: TermsRegistry,
    example_ref: dict[str, Any],
) -> None:
    document = draft(
        "criminal_network_flag", sender, [recipient], offence="drug_trafficking", subject=claimant(nationality)
    )
    allowed_on_both_sides(pki, registry, example_ref, document)


def test_terms_without_the_protection_rule_let_it_through(pki: TestPKI, tmp_path: Path) -> None:
    path = write_terms(
        pki,
        tmp_path / "no-protection-rule.yaml",
        edit=lambda d: d["prohibitions"].update(no_records_to_nationality_state_with_pending_protection_claim=False),
    )
    registry = mou_terms.registry(pki, path)
    document = draft("removal_manifest", "PA", ["CO"], handling="H1", subject=claimant())
    allowed_on_both_sides(pki, registry, ref_of(path), document)


# -- field minimization ---------------------------------------------------------


def flag_with_travel_document(recipients: list[str], **changes: Any) -> dict[str, Any]:
    return draft("criminal_network_flag", "PA", recipients, subject=person(travel_document=True), **changes)


def test_field_outside_the_flow_is_stripped_before_signing(
    pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    at = mou_terms.now()
    document = flag_with_travel_document(["US"])
    record = registry.prepare_outgoing(document, at)
    assert record.body.subject.travel_document is None  # type: ignore[union-attr]
    assert record.body.subject.nationality == "COL"  # type: ignore[union-attr]  # listed: kept

    signed = sign_record(record, pki.signing_key("PA"))
    payload = json.loads(payload_text(signed.jws))
    assert payload["body"]["subject"]["travel_document"] is None  # the schema's empty value, no data
    assert PASSPORT_NUMBER not in payload_text(signed.jws)
    assert "passport" not in payload_text(signed.jws)
    assert payload["body"]["aliases"] == ["El Baquiano"]
    assert payload["terms"] == example_ref
    # the draft handed in is not modified
    assert document["body"]["subject"]["travel_document"]["number"] == PASSPORT_NUMBER

    arrived = received(pki, signed)
    registry.check_incoming(arrived, incoming_body(arrived), "US", at)


def test_flow_without_a_field_list_keeps_every_field(registry: TermsRegistry) -> None:
    record = registry.prepare_outgoing(flag_with_travel_document(["CO"]), mou_terms.now())
    assert record.body.subject.travel_document is not None  # type: ignore[union-attr]
    assert record.body.subject.travel_document.number == PASSPORT_NUMBER  # type: ignore[union-attr]


def test_one_record_to_several_parties_is_minimized_for_the_strictest_flow(registry: TermsRegistry) -> None:
    # One signed object goes to both: what may not reach the US reaches nobody.
    record = registry.prepare_outgoing(flag_with_travel_document(["CO", "US"]), mou_terms.now())
    assert record.body.subject.travel_document is None  # type: ignore[union-attr]


def test_receiver_refuses_a_field_the_sender_should_have_stripped(
    pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    at = mou_terms.now()
    arrived = received(pki, forced(pki, flag_with_travel_document(["US"]), example_ref, at))
    assert arrived.body.subject.travel_document is not None  # type: ignore[union-attr]
    with pytest.raises(TermsViolationError, match=r"body\.subject\.travel_document") as refused:
        registry.check_incoming(arrived, incoming_body(arrived), "US", at)
    assert refused.value.rule_code == "field_not_allowed"


@pytest.fixture(scope="module")
def refusing(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example terms with pa-flags-to-us refusing (not stripping) fields outside its list."""
    return write_terms(
        pki,
        tmp_path_factory.mktemp("terms") / "refuse.yaml",
        edit=lambda d: flow_entry(d, "pa-flags-to-us").update(outside_fields="refuse"),
    )


def test_field_outside_a_refusing_flow_is_refused(pki: TestPKI, refusing: Path) -> None:
    registry = mou_terms.registry(pki, refusing)
    refused_on_both_sides(
        pki,
        registry,
        ref_of(refusing),
        flag_with_travel_document(["US"]),
        "US",
        "field_not_allowed",
        r"body\.subject\.travel_document",
    )


def test_refusing_flow_accepts_a_record_within_its_fields(pki: TestPKI, refusing: Path) -> None:
    registry = mou_terms.registry(pki, refusing)
    allowed_on_both_sides(pki, registry, ref_of(refusing), draft("criminal_network_flag", "PA", ["US"]))


def test_an_explicit_null_carries_no_data(pki: TestPKI, refusing: Path) -> None:
    registry = mou_terms.registry(pki, refusing)
    document = draft("criminal_network_flag", "PA", ["US"])
    document["body"]["subject"]["travel_document"] = None
    allowed_on_both_sides(pki, registry, ref_of(refusing), document)


def test_a_refusing_flow_refuses_only_what_it_does_not_list(pki: TestPKI, tmp_path: Path) -> None:
    # PA→CO refuses fields outside its list, which includes the travel document;
    # PA→US strips it. A flag to both must be stripped (for the US), not refused.
    def edit(document: dict[str, Any]) -> None:
        us_fields = flow_entry(document, "pa-flags-to-us")["fields"]
        flow_entry(document, "pa-flags-to-co").update(
            fields=[*us_fields, "body.subject.travel_document"], outside_fields="refuse"
        )

    path = write_terms(pki, tmp_path / "co-refuses.yaml", edit=edit)
    registry = mou_terms.registry(pki, path)
    to_co = registry.prepare_outgoing(flag_with_travel_document(["CO"]), mou_terms.now())
    assert to_co.body.subject.travel_document is not None  # type: ignore[union-attr]
    to_both = registry.prepare_outgoing(flag_with_travel_document(["CO", "US"]), mou_terms.now())
    assert to_both.body.subject.travel_document is None  # type: ignore[union-attr]
