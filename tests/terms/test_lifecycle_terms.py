"""The terms applied to the lifecycle record types, on the sending and on the receiving side.

A correction travels on the flow of the record type it replaces and is checked
as that type (flows, fields, offences, minors, protection claims, retention);
the other lifecycle notices travel on the ``*-lifecycle`` flows between every
pair of parties. The terms are the committed example (deploy/terms/pa-co-us.yaml)
signed by the test PKI, or variants of it built with tests.support.mou_terms.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.records.kinds import LIFECYCLE_TYPES
from gateway.records.schemas import CorrectionRecord, Record, RecordType, record_json
from gateway.records.signing import rfc3339, sign_record
from gateway.terms.document import (
    EXAMPLE_TERMS,
    check_signatures,
    load_terms,
    parse_terms,
    sign_terms,
    terms_digest,
    terms_json,
)
from gateway.terms.errors import TermsFileError, TermsViolationError
from gateway.terms.registry import LoadedTerms, TermsRegistry
from gateway.terms.schemas import DeletionNotices, Terms
from tests.support import mou_terms
from tests.support.mou_terms import (
    AGENCY,
    PARTIES,
    born_years_ago,
    draft,
    example_document,
    forced,
    incoming_body,
    person,
    received,
    ref_of,
    write_terms,
)
from tests.support.pki import TestPKI

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples"
FLAG_ID = "01a2754d-51c7-707d-8fbc-ae7c4b20518d"  # the flag the committed correction example supersedes
PASSPORT_NUMBER = "AZ7584806"  # the number mou_terms.person(travel_document=True) carries
LIFECYCLE_FLOWS = ("pa-lifecycle", "co-lifecycle", "us-lifecycle")
NOTICE_TYPES = sorted(t.value for t in LIFECYCLE_TYPES - {RecordType.CORRECTION})
# When the committed examples are drafted (they are drafts of a December 2026 flight).
EXAMPLE_TIME = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def registry(pki: TestPKI) -> TermsRegistry:
    """The example terms signed by PA, CO and US, as every node of the federation holds them."""
    return mou_terms.registry(pki, pki.terms_path)


@pytest.fixture(scope="module")
def example_ref(registry: TermsRegistry) -> dict[str, Any]:
    return registry.versions[0].ref


def example(record_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
    return document


def correction_of(original: dict[str, Any], *, supersedes: str = FLAG_ID) -> dict[str, Any]:
    """Return the draft of a correction whose replacement is ``original`` (a draft of a correctable type).

    The correction keeps the original's envelope, as gateway.lifecycle.corrections.correct does.
    """
    replacement = {"record_type": original["record_type"], "body": copy.deepcopy(original["body"])}
    return {
        **copy.deepcopy(original),
        "record_type": "correction",
        "supersedes": supersedes,
        "body": {"corrected_jws_sha256": "5f" * 32, "reason": "Case number corrected.", "replacement": replacement},
    }


def replacement_body(record: Record) -> dict[str, Any]:
    assert isinstance(record, CorrectionRecord)
    body: dict[str, Any] = record_json(record)["body"]["replacement"]["body"]
    return body


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


def allowed_on_both_sides(pki: TestPKI, registry: TermsRegistry, document: dict[str, Any]) -> Record:
    """Prepare, sign, verify and check ``document`` at every recipient; returns the record as sent."""
    at = mou_terms.now()
    record = registry.prepare_outgoing(document, at)
    arrived = received(pki, sign_record(record, pki.signing_key(record.originator.party)))
    for receiver in arrived.recipients:
        registry.check_incoming(arrived, incoming_body(arrived), receiver, at)
    return record


# -- a correction is checked as the record it replaces -------------------------


def flag_with_travel_document(recipients: list[str], **changes: Any) -> dict[str, Any]:
    return draft("criminal_network_flag", "PA", recipients, subject=person(travel_document=True), **changes)


def test_correction_to_the_us_loses_the_travel_document_like_the_flag(
    pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    document = correction_of(flag_with_travel_document(["US"]))
    record = allowed_on_both_sides(pki, registry, document)
    assert record.terms.model_dump() == example_ref
    assert record.record_type is RecordType.CORRECTION
    assert str(record.supersedes) == FLAG_ID
    subject = replacement_body(record)["subject"]
    assert subject["travel_document"] is None
    assert subject["nationality"] == "COL"  # listed on pa-flags-to-us: kept
    assert PASSPORT_NUMBER not in json.dumps(record_json(record))
    # exactly what the original flag to the US loses
    flag = registry.prepare_outgoing(flag_with_travel_document(["US"]), mou_terms.now())
    assert replacement_body(record) == record_json(flag)["body"]
    # the draft handed in is not modified
    assert document["body"]["replacement"]["body"]["subject"]["travel_document"]["number"] == PASSPORT_NUMBER


def test_correction_to_colombia_keeps_the_travel_document(pki: TestPKI, registry: TermsRegistry) -> None:
    record = allowed_on_both_sides(pki, registry, correction_of(flag_with_travel_document(["CO"])))
    assert replacement_body(record)["subject"]["travel_document"]["number"] == PASSPORT_NUMBER


def test_correction_to_both_is_minimized_for_the_us(registry: TermsRegistry) -> None:
    record = registry.prepare_outgoing(correction_of(flag_with_travel_document(["CO", "US"])), mou_terms.now())
    assert replacement_body(record)["subject"]["travel_document"] is None


def test_receiver_refuses_a_correction_carrying_a_field_its_flow_leaves_out(
    pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    at = mou_terms.now()
    arrived = received(pki, forced(pki, correction_of(flag_with_travel_document(["US"])), example_ref, at))
    with pytest.raises(TermsViolationError, match=r"body\.subject\.travel_document") as refused:
        registry.check_incoming(arrived, incoming_body(arrived), "US", at)
    assert refused.value.rule_code == "field_not_allowed"
    registry.check_incoming(arrived, incoming_body(arrived), "CO", at)  # CO may see it


Case = tuple[Callable[[], dict[str, Any]], str, str, str]
"""(make the correction draft, receiving party, expected reason code, expected message)."""

CORRECTION_RULES: dict[str, Case] = {
    "us-flag-corrected-to-environmental-crime": (
        lambda: correction_of(draft("criminal_network_flag", "US", ["PA"], offence="environmental_crime")),
        "PA",
        "offence_not_allowed",
        "offence category environmental_crime not allowed on flow us-flags",
    ),
    "suspect-flag-kept-over-a-year": (
        lambda: correction_of(draft("criminal_network_flag", "PA", ["CO"], status="suspect", keep_days=366)),
        "CO",
        "retention_exceeded",
        r"keeps the record 366\.0 days; the terms allow 365 for criminal_network_flag \(suspect\)",
    ),
    "charged-flag-kept-over-three-years": (
        lambda: correction_of(draft("criminal_network_flag", "CO", ["US"], status="charged", keep_days=1096)),
        "US",
        "retention_exceeded",
        r"the terms allow 1095 for criminal_network_flag \(charged\)",
    ),
    "manifest-kept-over-two-years": (
        lambda: correction_of(draft("removal_manifest", "PA", ["CO"], handling="H1", keep_days=731)),
        "CO",
        "retention_exceeded",
        "the terms allow 730 for removal_manifest",
    ),
    "flag-handling-below-h2": (
        lambda: correction_of(draft("criminal_network_flag", "PA", ["CO"], handling="H1")),
        "CO",
        "handling_too_permissive",
        "flow pa-flags-to-co requires handling H2 or stricter",
    ),
    "flag-for-removal-coordination": (
        lambda: correction_of(draft("criminal_network_flag", "PA", ["CO"], purpose="removal_coordination")),
        "CO",
        "purpose_not_allowed",
        "purpose 'removal_coordination' is not allowed on flow pa-flags-to-co",
    ),
    "manifest-naming-a-claimant-to-colombia": (
        lambda: correction_of(
            draft(
                "removal_manifest",
                "PA",
                ["CO"],
                handling="H1",
                subject=person(protection_claim_pending=True),
            )
        ),
        "CO",
        "protection_claim",
        "pending protection claim is a national of COL: nothing about them may go to CO",
    ),
    "co-corrects-a-manifest": (  # CO sends no manifests, so it cannot correct one either
        lambda: correction_of(draft("removal_manifest", "CO", ["PA"], handling="H1")),
        "PA",
        "flow_not_allowed",
        "no flow for removal_manifest from CO to PA",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRECTION_RULES))
def test_correction_obeys_the_rules_of_the_replaced_type(
    case: str, pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    make, receiver, reason_code, match = CORRECTION_RULES[case]
    refused_on_both_sides(pki, registry, example_ref, make(), receiver, reason_code, match)


def test_the_same_rules_refuse_the_original_record(registry: TermsRegistry) -> None:
    # The corrections above are refused for the reason their replaced records are.
    for case, (make, _receiver, reason_code, _match) in sorted(CORRECTION_RULES.items()):
        original = make()
        replaced = {**original, **original["body"]["replacement"], "supersedes": None}
        with pytest.raises(TermsViolationError) as refused:
            registry.prepare_outgoing(replaced, mou_terms.now())
        assert refused.value.rule_code == reason_code, case


CORRECTIONS_ALLOWED: dict[str, Callable[[], dict[str, Any]]] = {
    "us-flag-drug-trafficking": lambda: correction_of(
        draft("criminal_network_flag", "US", ["PA", "CO"], offence="drug_trafficking")
    ),
    "suspect-flag-kept-exactly-a-year": lambda: correction_of(
        draft("criminal_network_flag", "PA", ["CO"], status="suspect", keep_days=365)
    ),
    "convicted-flag-kept-five-years": lambda: correction_of(
        draft("criminal_network_flag", "CO", ["PA"], status="convicted", keep_days=1825)
    ),
    "manifest-to-both": lambda: correction_of(draft("removal_manifest", "PA", ["CO", "US"], handling="H1")),
    "confirmation-kept-five-years": lambda: correction_of(
        draft("removal_confirmation", "PA", ["US"], handling="H1", keep_days=1825)
    ),
}


@pytest.mark.parametrize("case", sorted(CORRECTIONS_ALLOWED))
def test_correction_within_the_rules_of_the_replaced_type_is_allowed(
    case: str, pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    record = allowed_on_both_sides(pki, registry, CORRECTIONS_ALLOWED[case]())
    assert record.terms.model_dump() == example_ref
    assert record.record_type is RecordType.CORRECTION


def test_correction_about_someone_under_the_terms_minimum_age_is_refused(pki: TestPKI, tmp_path: Path) -> None:
    path = write_terms(
        pki, tmp_path / "age-21.yaml", edit=lambda d: d["prohibitions"].update(minimum_flag_subject_age=21)
    )
    registry = mou_terms.registry(pki, path)
    subject = person()
    subject["date_of_birth"] = born_years_ago(20).isoformat()
    document = correction_of(draft("criminal_network_flag", "PA", ["CO"], subject=subject))
    refused_on_both_sides(
        pki, registry, ref_of(path), document, "CO", "subject_minor", "no criminal-network flag about a person under 21"
    )


# -- every other lifecycle type goes between every pair of parties ----------------


def other_party(sender: str, recipient: str) -> str:
    return next(p for p in PARTIES if p not in (sender, recipient))


def notice_body(record_type: str, sender: str, recipient: str) -> dict[str, Any]:
    """The body of the committed example of ``record_type``, its party fields fitted to the direction."""
    body: dict[str, Any] = example(record_type)["body"]
    if record_type == "onward_sharing_request":
        body["third_party"] = other_party(sender, recipient)
    if record_type == "onward_sharing_consent":
        body.update(requester=recipient, third_party=other_party(sender, recipient))
    return body


def notice_draft(
    record_type: str,
    sender: str,
    recipients: list[str],
    *,
    purpose: str = "criminal_network_disruption",
    handling: str = "H2",
    keep_days: int = 1825,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Return a draft of a lifecycle notice (no ``terms``), kept ``keep_days`` after ``at``."""
    at = at or mou_terms.now()
    return {
        "record_type": record_type,
        "originator": {"party": sender, "agency": AGENCY[sender], "officer_ref": "gateway:lifecycle"},
        "recipients": list(recipients),
        "purpose": purpose,
        "legal_basis": "MOU PA-CO-US art. 6",
        "handling": handling,
        "created_at": rfc3339(at),
        "expires_at": rfc3339(at + timedelta(days=keep_days)),
        "review_due": rfc3339(at + timedelta(days=keep_days)),
        "body": notice_body(record_type, sender, recipients[0]),
    }


NOTICE_DIRECTIONS = [
    (sender, recipient, record_type)
    for sender in PARTIES
    for recipient in PARTIES
    if sender != recipient
    for record_type in NOTICE_TYPES
]


def test_the_lifecycle_flows_carry_every_notice_type_between_every_pair() -> None:
    flows = {f["id"]: f for f in example_document()["flows"]}
    assert len(NOTICE_TYPES) == 7
    assert len(NOTICE_DIRECTIONS) == 6 * 7
    for flow_id in LIFECYCLE_FLOWS:
        flow = flows[flow_id]
        assert sorted(flow["record_types"]) == NOTICE_TYPES, flow_id
        assert sorted([flow["from"], *flow["to"]]) == sorted(PARTIES), flow_id
        assert flow["purposes"] == ["removal_coordination", "criminal_network_disruption"], flow_id
    # No flow names corrections: they travel on the flows of what they replace.
    assert not [f["id"] for f in flows.values() if "correction" in f["record_types"]]


@pytest.mark.parametrize(
    ("sender", "recipient", "record_type"),
    NOTICE_DIRECTIONS,
    ids=[f"{s}->{r}:{t}" for s, r, t in NOTICE_DIRECTIONS],
)
def test_notice_is_allowed_from_every_party_to_every_other(
    sender: str, recipient: str, record_type: str, pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    at = mou_terms.now()
    record = registry.prepare_outgoing(notice_draft(record_type, sender, [recipient]), at)
    assert record.terms.model_dump() == example_ref
    assert (record.originator.party, record.recipients, record.record_type.value) == (sender, [recipient], record_type)
    sent = {k: v for k, v in record_json(record)["body"].items() if v is not None}
    assert sent == notice_body(record_type, sender, recipient)  # nothing stripped

    arrived = received(pki, sign_record(record, pki.signing_key(sender)))
    registry.check_incoming(arrived, incoming_body(arrived), recipient, at)  # no exception: accepted


@pytest.mark.parametrize("purpose", ["removal_coordination", "criminal_network_disruption"])
@pytest.mark.parametrize("handling", ["H0", "H3"])
def test_notice_to_both_other_parties_with_either_purpose_and_any_handling(
    purpose: str, handling: str, pki: TestPKI, registry: TermsRegistry
) -> None:
    document = notice_draft("retraction", "CO", ["PA", "US"], purpose=purpose, handling=handling)
    record = allowed_on_both_sides(pki, registry, document)
    assert (record.purpose, record.handling.value) == (purpose, handling)


def test_notice_for_another_purpose_is_refused(
    pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    document = notice_draft("discrepancy_report", "US", ["PA"], purpose="general_intelligence")
    refused_on_both_sides(
        pki,
        registry,
        example_ref,
        document,
        "PA",
        "purpose_not_allowed",
        "purpose 'general_intelligence' is not allowed on flow us-lifecycle to PA",
    )


@pytest.mark.parametrize("record_type", NOTICE_TYPES)
def test_notice_kept_over_five_years_is_refused(
    record_type: str, pki: TestPKI, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    refused_on_both_sides(
        pki,
        registry,
        example_ref,
        notice_draft(record_type, "PA", ["CO"], keep_days=1826),
        "CO",
        "retention_exceeded",
        f"keeps the record 1826.0 days; the terms allow 1825 for {record_type}",
    )


# -- terms without the lifecycle flows ------------------------------------------------


@pytest.fixture(scope="module")
def without_lifecycle(pki: TestPKI) -> TermsRegistry:
    """A copy of the example terms without the three lifecycle flows, signed by all three parties."""
    terms = load_terms(pki.terms_path)
    reduced = Terms.model_validate(
        {
            **terms_json(terms),
            "flows": [f for f in terms_json(terms)["flows"] if f["id"] not in LIFECYCLE_FLOWS],
        }
    )
    for party in PARTIES:
        reduced = sign_terms(reduced, party, pki.signing_key(party))
    at = mou_terms.now()
    loaded = LoadedTerms(reduced, terms_digest(reduced), check_signatures(reduced, pki.bundle(), at), "copy")
    assert all(loaded.signed_by(p) for p in PARTIES)
    return TermsRegistry([loaded])


def test_terms_without_lifecycle_flows_refuse_a_retraction(pki: TestPKI, without_lifecycle: TermsRegistry) -> None:
    version = without_lifecycle.versions[0]
    assert not {f.id for f in version.terms.flows} & set(LIFECYCLE_FLOWS)
    assert version.digest != mou_terms.ref_of(pki.terms_path)["sha256"]
    refused_on_both_sides(
        pki,
        without_lifecycle,
        version.ref,
        notice_draft("retraction", "PA", ["CO"]),
        "CO",
        "flow_not_allowed",
        "terms pa-co-us-removal-mou v1 have no flow for retraction from PA to CO",
    )


@pytest.mark.parametrize("record_type", NOTICE_TYPES)
def test_terms_without_lifecycle_flows_refuse_every_notice(record_type: str, without_lifecycle: TermsRegistry) -> None:
    with pytest.raises(TermsViolationError, match=f"no flow for {record_type} from US to CO") as refused:
        without_lifecycle.prepare_outgoing(notice_draft(record_type, "US", ["CO"]), mou_terms.now())
    assert refused.value.rule_code == "flow_not_allowed"


def test_terms_without_lifecycle_flows_still_carry_corrections(pki: TestPKI, without_lifecycle: TermsRegistry) -> None:
    # Corrections need no lifecycle flow: they go wherever the corrected type may go.
    record = allowed_on_both_sides(pki, without_lifecycle, correction_of(flag_with_travel_document(["CO", "US"])))
    assert record.terms.model_dump() == without_lifecycle.versions[0].ref


# -- deletion notices ------------------------------------------------------------------


def test_deletion_notices_default_to_recipients_telling_the_originator() -> None:
    defaults = DeletionNotices()
    assert (defaults.recipients_notify_originator, defaults.originator_notifies_recipients) == (True, False)
    document = example_document()
    del document["deletion_notices"]
    document["signatures"] = []
    terms = parse_terms(document)
    assert terms.deletion_notices == defaults


def test_deletion_notices_of_the_example_terms() -> None:
    assert example_document()["deletion_notices"] == {
        "recipients_notify_originator": True,
        "originator_notifies_recipients": False,
    }
    terms = load_terms(EXAMPLE_TERMS)
    assert terms.deletion_notices.recipients_notify_originator is True
    assert terms.deletion_notices.originator_notifies_recipients is False


def test_deletion_notices_settings_are_part_of_the_signed_content(pki: TestPKI, tmp_path: Path) -> None:
    path = write_terms(
        pki,
        tmp_path / "originator-notifies.yaml",
        edit=lambda d: d["deletion_notices"].update(originator_notifies_recipients=True),
    )
    registry = mou_terms.registry(pki, path)
    assert registry.versions[0].terms.deletion_notices == DeletionNotices(
        recipients_notify_originator=True, originator_notifies_recipients=True
    )
    assert ref_of(path)["sha256"] != ref_of(pki.terms_path)["sha256"]


def test_deletion_notices_refuse_an_unknown_setting() -> None:
    document = example_document()
    document["deletion_notices"]["notify_third_parties"] = True
    with pytest.raises(TermsFileError, match=r"deletion_notices\.notify_third_parties: Extra inputs are not permitted"):
        parse_terms(document)


# -- the committed examples ---------------------------------------------------------------

EXAMPLE_TYPES = sorted(t.value for t in LIFECYCLE_TYPES)


@pytest.mark.parametrize("record_type", EXAMPLE_TYPES)
def test_committed_example_is_allowed_by_the_example_terms(
    record_type: str, registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    # Decided at the examples' own time (the registry's signatures were checked when it loaded).
    document = example(record_type)
    assert document["terms"] == example_ref  # the examples name these terms, digest included
    record = registry.prepare_outgoing(document, EXAMPLE_TIME)
    for receiver in record.recipients:
        registry.check_incoming(record, record_json(record)["body"], receiver, EXAMPLE_TIME)


def test_committed_correction_reaches_the_us_without_the_travel_document(registry: TermsRegistry) -> None:
    document = example("correction")
    assert document["body"]["replacement"]["body"]["subject"]["travel_document"] is not None
    record = registry.prepare_outgoing(document, EXAMPLE_TIME)
    assert record.recipients == ["CO", "US"]
    assert replacement_body(record)["subject"]["travel_document"] is None
