"""Deciding whether a record may travel on a flow, and minimizing its fields.

The same rules run on the sending node (refuse, or strip fields, before
signing) and on the receiving node (reject with a signed receipt naming the
rule). Each rule raises TermsViolationError with its own reason code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pycountry

from gateway.records.bodies import GroundsCategory
from gateway.records.identity import PersonIdentity
from gateway.records.schemas import (
    RECORD_ADAPTER,
    CorrectionRecord,
    CriminalNetworkFlagRecord,
    Handling,
    Record,
    RemovalManifestRecord,
    record_json,
)
from gateway.terms.errors import TermsViolationError
from gateway.terms.schemas import Flow, Terms

_HANDLING_ORDER = [Handling.H0, Handling.H1, Handling.H2, Handling.H3]


def _paths(value: Any, prefix: str) -> Iterator[str]:
    """Yield the dotted path of every object key under ``value`` (list items are transparent)."""
    if isinstance(value, dict):
        for key, child in value.items():
            if child is None:
                continue  # an absent (null) field carries no data
            path = f"{prefix}.{key}"
            yield path
            yield from _paths(child, path)
    elif isinstance(value, list):
        for item in value:
            yield from _paths(item, prefix)


def _allowed(path: str, allowed: Iterable[str]) -> bool:
    # A listed path allows itself, everything below it, and the containers above it.
    return any(path == a or path.startswith(a + ".") or a.startswith(path + ".") for a in allowed)


def fields_outside(body: dict[str, Any], flows: Iterable[Flow]) -> list[str]:
    """Return body field paths that some flow does not allow, sorted."""
    outside: set[str] = set()
    for flow in flows:
        if flow.fields is None:
            continue
        outside |= {p for p in _paths(body, "body") if not _allowed(p, flow.fields)}
    return sorted(outside)


def strip_fields(value: Any, outside: set[str], prefix: str = "body") -> Any:
    """Return a copy of ``value`` without the object keys whose paths are in ``outside``."""
    if isinstance(value, dict):
        return {
            key: strip_fields(child, outside, f"{prefix}.{key}")
            for key, child in value.items()
            if f"{prefix}.{key}" not in outside
        }
    if isinstance(value, list):
        return [strip_fields(item, outside, prefix) for item in value]
    return value


def _people(record: Record) -> list[PersonIdentity]:
    if isinstance(record, CriminalNetworkFlagRecord):
        return [record.body.subject]
    if isinstance(record, RemovalManifestRecord):
        return [p.identity for p in record.body.people]
    return []


def _offences(record: Record) -> set[str]:
    if isinstance(record, CriminalNetworkFlagRecord):
        return {record.body.offence_category.value}
    if isinstance(record, RemovalManifestRecord):
        return {
            p.offence_category.value
            for p in record.body.people
            if p.grounds_category is GroundsCategory.SERIOUS_CRIME and p.offence_category is not None
        }
    return set()


def as_replacement(record: CorrectionRecord) -> Record:
    """Return the record a correction's replacement amounts to (same envelope, replaced type and body).

    Checking this under the terms makes a correction obey every rule the
    corrected record had to obey: flows, fields, offences, minors, retention.
    """
    document = record_json(record)
    replacement = document["body"]["replacement"]
    return RECORD_ADAPTER.validate_python({**document, **replacement})


def check_record(terms: Terms, flows: dict[str, Flow], record: Record, body: dict[str, Any]) -> None:
    """Apply every rule of ``terms`` to ``record`` sent on ``flows`` (recipient → flow).

    Raises TermsViolationError naming the first rule broken.
    """
    if isinstance(record, CorrectionRecord):
        record, body = as_replacement(record), body["replacement"]["body"]
    for recipient, flow in flows.items():
        if record.purpose not in flow.purposes:
            raise TermsViolationError(
                "purpose_not_allowed",
                f"purpose {record.purpose!r} is not allowed on flow {flow.id} to {recipient} "
                f"(allowed: {', '.join(flow.purposes)})",
            )
        if _HANDLING_ORDER.index(record.handling) < _HANDLING_ORDER.index(flow.minimum_handling):
            raise TermsViolationError(
                "handling_too_permissive",
                f"flow {flow.id} requires handling {flow.minimum_handling.value} or stricter",
            )
        if flow.offence_categories is not None:
            banned = _offences(record) - {c.value for c in flow.offence_categories}
            if banned:
                raise TermsViolationError(
                    "offence_not_allowed",
                    f"offence categor{'ies' if len(banned) > 1 else 'y'} {', '.join(sorted(banned))} "
                    f"not allowed on flow {flow.id}",
                )
    outside = fields_outside(body, flows.values())
    if outside:
        raise TermsViolationError("field_not_allowed", f"fields outside the flow: {', '.join(outside[:5])}")
    _check_prohibitions(terms, record, list(flows))
    _check_retention(terms, record)


def _check_prohibitions(terms: Terms, record: Record, recipients: list[str]) -> None:
    rules = terms.prohibitions
    if isinstance(record, CriminalNetworkFlagRecord):
        age = record.body.subject.age_on(record.created_at.date())
        if age < rules.minimum_flag_subject_age:
            raise TermsViolationError(
                "subject_minor",
                f"no criminal-network flag about a person under {rules.minimum_flag_subject_age}",
            )
    if rules.no_records_to_nationality_state_with_pending_protection_claim:
        # Only the recipients this decision is about: a receiver judges itself.
        for recipient in recipients:
            country = party_country(recipient)
            for person in _people(record):
                if person.protection_claim_pending and person.nationality == country:
                    raise TermsViolationError(
                        "protection_claim",
                        f"a person with a pending protection claim is a national of {country}: "
                        f"nothing about them may go to {recipient}",
                    )


def party_country(code: str) -> str | None:
    """Return the ISO 3166-1 alpha-3 code of the state a party code names (PA → PAN), or None."""
    # Travel documents carry nationality as alpha-3 (ICAO 9303); party codes are alpha-2.
    # A code that names no state (None) is no one's nationality state.
    country = pycountry.countries.get(alpha_2=code)
    return None if country is None else str(country.alpha_3)


def _check_retention(terms: Terms, record: Record) -> None:
    status = record.body.subject_status if isinstance(record, CriminalNetworkFlagRecord) else None
    days = terms.retention_days(record.record_type, status)
    if days is None:
        return
    kept = (record.expires_at - record.created_at).total_seconds() / 86400
    if kept > days:
        raise TermsViolationError(
            "retention_exceeded",
            f"expires_at keeps the record {kept:.1f} days; the terms allow {days} for "
            f"{record.record_type.value}{f' ({status.value})' if status else ''}",
        )
