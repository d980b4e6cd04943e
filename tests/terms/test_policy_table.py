"""Every direction and record type of the example terms, on the sending and on the receiving side.

The expected verdict is computed from the terms YAML itself (a direction is
allowed iff some flow names it); the gateway's answer comes from
TermsRegistry.prepare_outgoing (sender) and, for a record signed directly with
the sender's key past every terms check, TermsRegistry.check_incoming (receiver).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.records.kinds import LIFECYCLE_TYPES
from gateway.records.schemas import RecordType
from gateway.records.signing import sign_record
from gateway.terms.errors import TermsViolationError
from gateway.terms.registry import TermsRegistry
from gateway.trust.errors import SchemaViolationError
from tests.support import mou_terms
from tests.support.mou_terms import (
    PARTIES,
    RECORD_TYPES,
    draft,
    example_document,
    expiring,
    forced,
    incoming_body,
    received,
    version,
    write_terms,
)
from tests.support.pki import TestPKI

# -- the expected table, from the YAML ---------------------------------------


def _flows_by_direction() -> dict[tuple[str, str, str], dict[str, Any]]:
    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    for flow in example_document()["flows"]:
        for recipient in flow["to"]:
            for record_type in flow["record_types"]:
                table.setdefault((flow["from"], recipient, record_type), flow)
    return table


FLOWS = _flows_by_direction()
COMBINATIONS = [
    (sender, recipient, record_type)
    for sender in PARTIES
    for recipient in PARTIES
    if sender != recipient
    for record_type in RECORD_TYPES
]
ALLOWED = [c for c in COMBINATIONS if c in FLOWS]
REFUSED = [c for c in COMBINATIONS if c not in FLOWS]


def combination_id(combination: tuple[str, str, str]) -> str:
    sender, recipient, record_type = combination
    return f"{sender}->{recipient}:{record_type}"


def flow_draft(sender: str, recipient: str, record_type: str) -> dict[str, Any]:
    """The minimal draft for a direction: purpose and handling from its flow when there is one."""
    flow = FLOWS.get((sender, recipient, record_type))
    return draft(
        record_type,
        sender,
        [recipient],
        purpose=flow["purposes"][0] if flow else None,
        handling=flow.get("minimum_handling", "H0") if flow else "H2",
    )


@pytest.fixture(scope="module")
def registry(pki: TestPKI) -> TermsRegistry:
    """The example terms signed by PA, CO and US, as every node of the federation holds them."""
    return mou_terms.registry(pki, pki.terms_path)


@pytest.fixture(scope="module")
def example_ref(registry: TermsRegistry) -> dict[str, Any]:
    return registry.versions[0].ref


def test_the_table_covers_every_direction_and_type() -> None:
    # The lifecycle types have their own table (tests/terms/test_lifecycle_terms.py).
    assert len(COMBINATIONS) == 6 * len(RecordType.__members__) - 6 * len(LIFECYCLE_TYPES) == 24
    assert set(RECORD_TYPES) == {t.value for t in RecordType} - {t.value for t in LIFECYCLE_TYPES}
    # The removal-flight cooperation as the issue describes it: only Panama sends
    # manifests and confirmations; flags and acknowledgements go every way.
    assert sorted(REFUSED) == sorted(
        (s, r, t) for s in ("CO", "US") for r in PARTIES if r != s for t in ("removal_manifest", "removal_confirmation")
    )
    assert len(ALLOWED) == 16


@pytest.mark.parametrize("combination", ALLOWED, ids=combination_id)
def test_allowed_direction_passes_on_both_sides(
    combination: tuple[str, str, str], registry: TermsRegistry, example_ref: dict[str, Any], pki: TestPKI
) -> None:
    sender, recipient, record_type = combination
    at = mou_terms.now()
    record = registry.prepare_outgoing(flow_draft(sender, recipient, record_type), at)
    assert record.terms.model_dump() == example_ref
    assert (record.originator.party, record.recipients, record.record_type.value) == (
        sender,
        [recipient],
        record_type,
    )

    arrived = received(pki, sign_record(record, pki.signing_key(sender)))
    registry.check_incoming(arrived, incoming_body(arrived), recipient, at)  # no exception: accepted


@pytest.mark.parametrize("combination", REFUSED, ids=combination_id)
def test_refused_direction_is_refused_by_sender_and_receiver(
    combination: tuple[str, str, str], registry: TermsRegistry, example_ref: dict[str, Any], pki: TestPKI
) -> None:
    sender, recipient, record_type = combination
    at = mou_terms.now()
    document = flow_draft(sender, recipient, record_type)
    expected = f"no flow for {record_type} from {sender} to {recipient}"

    with pytest.raises(TermsViolationError, match=expected) as at_sender:
        registry.prepare_outgoing(document, at)
    assert at_sender.value.rule_code == "flow_not_allowed"
    assert at_sender.value.extra == {"rule": "flow_not_allowed", "reason_code": "flow_not_allowed"}

    arrived = received(pki, forced(pki, document, example_ref, at))
    with pytest.raises(TermsViolationError, match=expected) as at_receiver:
        registry.check_incoming(arrived, incoming_body(arrived), recipient, at)
    assert at_receiver.value.rule_code == "flow_not_allowed"


def test_one_refused_recipient_refuses_the_whole_record(registry: TermsRegistry) -> None:
    # CO may flag to PA but sends no manifests at all; a record is one signed object.
    document = draft("removal_manifest", "CO", ["PA", "US"])
    with pytest.raises(TermsViolationError, match="from CO to PA") as refused:
        registry.prepare_outgoing(document, mou_terms.now())
    assert refused.value.rule_code == "flow_not_allowed"


def test_a_record_to_its_own_originator_is_a_schema_error(registry: TermsRegistry) -> None:
    with pytest.raises(SchemaViolationError, match="originator cannot be a recipient"):
        registry.prepare_outgoing(draft("criminal_network_flag", "PA", ["PA"]), mou_terms.now())


# -- the other rules of a flow, both sides -------------------------------------

Case = tuple[Callable[[], dict[str, Any]], str, str]
"""(make the draft, receiving party, expected reason code)."""

RULES: dict[str, Case] = {
    "purpose-not-on-flow": (
        lambda: draft("criminal_network_flag", "PA", ["CO"], purpose="removal_coordination"),
        "CO",
        "purpose_not_allowed",
    ),
    "pa-ack-purpose": (  # PA acknowledges only flags
        lambda: draft("acknowledgement", "PA", ["US"], purpose="removal_coordination", handling="H0"),
        "US",
        "purpose_not_allowed",
    ),
    "us-flags-forbid-environmental-crime": (
        lambda: draft("criminal_network_flag", "US", ["PA"], offence="environmental_crime"),
        "PA",
        "offence_not_allowed",
    ),
    "us-flags-forbid-environmental-crime-to-co": (
        lambda: draft("criminal_network_flag", "US", ["CO"], offence="environmental_crime"),
        "CO",
        "offence_not_allowed",
    ),
    "flag-handling-below-h2": (
        lambda: draft("criminal_network_flag", "CO", ["US"], handling="H1"),
        "US",
        "handling_too_permissive",
    ),
    "manifest-handling-below-h1": (
        lambda: draft("removal_manifest", "PA", ["CO"], handling="H0"),
        "CO",
        "handling_too_permissive",
    ),
    "suspect-kept-over-a-year": (
        lambda: draft("criminal_network_flag", "PA", ["CO"], status="suspect", keep_days=366),
        "CO",
        "retention_exceeded",
    ),
    "charged-kept-over-three-years": (
        lambda: draft("criminal_network_flag", "CO", ["PA"], status="charged", keep_days=1096),
        "PA",
        "retention_exceeded",
    ),
    "manifest-kept-over-two-years": (
        lambda: draft("removal_manifest", "PA", ["US"], handling="H1", keep_days=731),
        "US",
        "retention_exceeded",
    ),
}


@pytest.mark.parametrize("case", sorted(RULES))
def test_rule_is_enforced_by_sender_and_receiver(
    case: str, registry: TermsRegistry, example_ref: dict[str, Any], pki: TestPKI
) -> None:
    make, receiver, reason_code = RULES[case]
    at = mou_terms.now()
    with pytest.raises(TermsViolationError) as at_sender:
        registry.prepare_outgoing(make(), at)
    assert at_sender.value.rule_code == reason_code
    assert at_sender.value.status == 422

    arrived = received(pki, forced(pki, make(), example_ref, at))
    with pytest.raises(TermsViolationError) as at_receiver:
        registry.check_incoming(arrived, incoming_body(arrived), receiver, at)
    assert at_receiver.value.rule_code == reason_code


ALLOWED_EDGES: dict[str, Callable[[], dict[str, Any]]] = {
    "us-flag-drug-trafficking": lambda: draft("criminal_network_flag", "US", ["PA", "CO"], offence="drug_trafficking"),
    "pa-flag-environmental-crime": lambda: draft(
        "criminal_network_flag", "PA", ["CO", "US"], offence="environmental_crime"
    ),
    "manifest-with-environmental-crime": lambda: draft(
        "removal_manifest", "PA", ["CO", "US"], handling="H1", offence="environmental_crime"
    ),
    "stricter-handling-h3": lambda: draft("criminal_network_flag", "CO", ["US"], handling="H3"),
    "suspect-kept-exactly-a-year": lambda: draft(
        "criminal_network_flag", "PA", ["CO"], status="suspect", keep_days=365
    ),
    "convicted-kept-five-years": lambda: draft(
        "criminal_network_flag", "PA", ["CO"], status="convicted", keep_days=1825
    ),
    "co-ack-either-purpose": lambda: draft(
        "acknowledgement", "CO", ["PA"], purpose="criminal_network_disruption", handling="H0"
    ),
}


@pytest.mark.parametrize("case", sorted(ALLOWED_EDGES))
def test_edge_of_a_rule_is_allowed(
    case: str, registry: TermsRegistry, example_ref: dict[str, Any], pki: TestPKI
) -> None:
    at = mou_terms.now()
    document = ALLOWED_EDGES[case]()
    record = registry.prepare_outgoing(document, at)
    assert record.terms.model_dump() == example_ref
    arrived = received(pki, forced(pki, document, example_ref, at))
    for receiver in arrived.recipients:
        registry.check_incoming(arrived, incoming_body(arrived), receiver, at)


# -- which terms a record goes out under ----------------------------------------


def test_draft_naming_the_terms_in_force_keeps_them(registry: TermsRegistry, example_ref: dict[str, Any]) -> None:
    record = registry.prepare_outgoing(
        draft("removal_manifest", "PA", ["CO"], handling="H1", terms=example_ref), mou_terms.now()
    )
    assert record.terms.model_dump() == example_ref


def test_draft_naming_terms_the_node_does_not_hold_is_refused(
    registry: TermsRegistry, example_ref: dict[str, Any]
) -> None:
    other = {**example_ref, "sha256": "1" * 64}
    with pytest.raises(TermsViolationError, match="does not hold in force") as refused:
        registry.prepare_outgoing(draft("criminal_network_flag", "PA", ["CO"], terms=other), mou_terms.now())
    assert refused.value.rule_code == "terms_mismatch"


def test_receiver_refuses_terms_it_does_not_hold(registry: TermsRegistry, pki: TestPKI) -> None:
    at = mou_terms.now()
    unknown = {"id": "pa-co-us-removal-mou", "version": 1, "sha256": "1" * 64}
    arrived = received(pki, forced(pki, draft("criminal_network_flag", "PA", ["CO"]), unknown, at))
    with pytest.raises(TermsViolationError, match="which this node has not signed") as refused:
        registry.check_incoming(arrived, incoming_body(arrived), "CO", at)
    assert refused.value.rule_code == "terms_unknown"


def test_expired_terms_refuse_on_both_sides(pki: TestPKI, tmp_path: Path) -> None:
    at = mou_terms.now()
    path = write_terms(pki, tmp_path / "expired.yaml", edit=expiring(at.date() - timedelta(days=1)))
    registry = mou_terms.registry(pki, path, at=at)
    with pytest.raises(TermsViolationError, match="no terms version is in force") as at_sender:
        registry.prepare_outgoing(draft("criminal_network_flag", "PA", ["CO"]), at)
    assert at_sender.value.rule_code == "terms_not_in_force"

    arrived = received(pki, forced(pki, draft("criminal_network_flag", "PA", ["CO"]), mou_terms.ref_of(path), at))
    with pytest.raises(TermsViolationError, match="are not in force") as at_receiver:
        registry.check_incoming(arrived, incoming_body(arrived), "CO", at)
    assert at_receiver.value.rule_code == "terms_expired"


def test_terms_not_yet_in_force_are_not_used(pki: TestPKI, tmp_path: Path) -> None:
    at = mou_terms.now()
    starts = at.date() + timedelta(days=10)
    path = write_terms(pki, tmp_path / "future.yaml", edit=expiring(date(2030, 1, 1), effective_from=starts))
    registry = mou_terms.registry(pki, path, at=at)
    with pytest.raises(TermsViolationError) as refused:
        registry.prepare_outgoing(draft("criminal_network_flag", "PA", ["CO"]), at)
    assert refused.value.rule_code == "terms_not_in_force"


def test_receiver_that_has_not_signed_refuses(pki: TestPKI, tmp_path: Path) -> None:
    at = mou_terms.now()
    path = write_terms(pki, tmp_path / "without-co.yaml", signers=("PA", "US"))
    registry = mou_terms.registry(pki, path, at=at)
    arrived = received(pki, forced(pki, draft("criminal_network_flag", "PA", ["CO"]), mou_terms.ref_of(path), at))
    with pytest.raises(TermsViolationError, match="CO has not signed these terms") as refused:
        registry.check_incoming(arrived, incoming_body(arrived), "CO", at)
    assert refused.value.rule_code == "flow_not_signed"


def test_new_version_takes_effect_only_where_every_party_signed_it(pki: TestPKI, tmp_path: Path) -> None:
    at = mou_terms.now()
    v1 = pki.terms_path
    v2 = write_terms(pki, tmp_path / "v2.yaml", signers=("PA", "CO"), edit=version(2))
    registry = mou_terms.registry(pki, v1, v2, at=at)
    ref1, ref2 = mou_terms.ref_of(v1), mou_terms.ref_of(v2)
    assert ref2["version"] == 2
    assert ref2["sha256"] != ref1["sha256"]

    # PA→CO: both signed v2, so v2 is used; PA→US: US has not signed v2, so v1 still applies
    to_co = registry.prepare_outgoing(draft("criminal_network_flag", "PA", ["CO"]), at)
    to_us = registry.prepare_outgoing(draft("criminal_network_flag", "PA", ["US"]), at)
    to_both = registry.prepare_outgoing(draft("criminal_network_flag", "PA", ["CO", "US"]), at)
    assert to_co.terms.model_dump() == ref2
    assert to_us.terms.model_dump() == ref1
    assert to_both.terms.model_dump() == ref1

    # a record keeps the version it was sent under: one under v1 is still accepted
    arrived = received(pki, forced(pki, draft("criminal_network_flag", "PA", ["CO"]), ref1, at))
    registry.check_incoming(arrived, incoming_body(arrived), "CO", at)
    # and naming v2 where US has not signed it is refused
    with pytest.raises(TermsViolationError, match="no valid signature of US") as refused:
        registry.prepare_outgoing(draft("criminal_network_flag", "PA", ["US"], terms=ref2), at)
    assert refused.value.rule_code == "flow_not_signed"
