"""Terms test support: variant terms files, minimal drafts per flow, records forced past the sender.

Variants start from the committed example terms (deploy/terms/pa-co-us.yaml),
are edited as plain YAML documents, validated by the real model and signed with
the test PKI's record-signing keys, so every file a test uses is one a party
could have produced with ``gateway terms sign``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from gateway.node import Clock
from gateway.records.schemas import Record, record_json
from gateway.records.signing import SignedRecord, build_record, rfc3339, sign_record, verify_record
from gateway.terms.document import EXAMPLE_TERMS, dump_terms, parse_terms, sign_terms, terms_digest
from gateway.terms.registry import TermsRegistry
from tests.support.nodes import Cluster, start_cluster
from tests.support.pki import TestPKI

PARTIES = ("PA", "CO", "US")
RECORD_TYPES = ("criminal_network_flag", "removal_manifest", "removal_confirmation", "acknowledgement")
DEFAULT_PURPOSE = {
    "criminal_network_flag": "criminal_network_disruption",
    "removal_manifest": "removal_coordination",
    "removal_confirmation": "removal_coordination",
    "acknowledgement": "removal_coordination",
}
AGENCY = {"PA": "Servicio Nacional de Migración", "CO": "Migración Colombia", "US": "Homeland Security Investigations"}
SOME_RECORD_ID = "01ba3c31-f739-79c4-9a2b-3c4d5e6f7081"

Edit = Callable[[dict[str, Any]], None]


# -- terms files -----------------------------------------------------------


def example_document() -> dict[str, Any]:
    """Return the example terms as a freshly parsed YAML document (safe to edit)."""
    document: dict[str, Any] = yaml.safe_load(EXAMPLE_TERMS.read_text("utf-8"))
    return document


def flow_entry(document: dict[str, Any], flow_id: str) -> dict[str, Any]:
    """Return the flow ``flow_id`` of a terms document (to edit it in place)."""
    entry: dict[str, Any] = next(f for f in document["flows"] if f["id"] == flow_id)
    return entry


def write_terms(pki: TestPKI, out: Path, *, signers: Iterable[str] = PARTIES, edit: Edit | None = None) -> Path:
    """Write the example terms, changed by ``edit`` and signed by ``signers``, to ``out``."""
    document = copy.deepcopy(example_document())
    if edit is not None:
        edit(document)
    document["signatures"] = []
    terms = parse_terms(document, str(out))
    for party in signers:
        terms = sign_terms(terms, party, pki.signing_key(party))
    out.parent.mkdir(parents=True, exist_ok=True)
    dump_terms(terms, out)
    return out


def expiring(on: date, *, effective_from: date = date(2024, 7, 1)) -> Edit:
    """An edit that makes the terms valid from ``effective_from`` until ``on``."""

    def edit(document: dict[str, Any]) -> None:
        document["effective_from"] = effective_from
        document["expires_on"] = on

    return edit


def version(number: int, title: str | None = None) -> Edit:
    """An edit that makes the terms another version (optionally with another title)."""

    def edit(document: dict[str, Any]) -> None:
        document["version"] = number
        if title is not None:
            document["title"] = title

    return edit


def registry(pki: TestPKI, *paths: Path, at: datetime | None = None) -> TermsRegistry:
    return TermsRegistry.load(list(paths), pki.bundle(), at or now())


def ref_of(path: Path) -> dict[str, Any]:
    """Return the ``terms`` reference a record shared under the terms file ``path`` carries."""
    terms = parse_terms(yaml.safe_load(path.read_text("utf-8")), str(path))
    return {"id": terms.terms_id, "version": terms.version, "sha256": terms_digest(terms)}


# -- drafts ----------------------------------------------------------------


def now() -> datetime:
    """The current time to the second (so day counts such as retention are exact)."""
    return datetime.now(UTC).replace(microsecond=0)


def born_years_ago(years: int, *, days_after: int = 0, today: date | None = None) -> date:
    """Return a birth date making a person ``years`` old today (``days_after`` later: younger)."""
    today = today or datetime.now(UTC).date()
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    return born + timedelta(days=days_after)


def person(
    *,
    age: int = 40,
    nationality: str = "COL",
    protection_claim_pending: bool = False,
    travel_document: bool = False,
) -> dict[str, Any]:
    """Return a minimal person identity block."""
    identity: dict[str, Any] = {
        "family_names": "Ficticio Prueba",
        "given_names": "Sujeto",
        "date_of_birth": born_years_ago(age).isoformat(),
        "sex": "M",
        "nationality": nationality,
        "protection_claim_pending": protection_claim_pending,
    }
    if travel_document:
        identity["travel_document"] = {
            "type": "passport",
            "number": "AZ7584806",
            "issuing_country": nationality,
            "expires_on": "2034-11-15",
        }
    return identity


def _body(record_type: str, at: datetime, offence: str, subject: dict[str, Any], status: str) -> dict[str, Any]:
    if record_type == "criminal_network_flag":
        return {
            "subject": subject,
            "aliases": ["El Baquiano"],
            "subject_status": status,
            "offence_category": offence,
            "network_name": "Red de prueba (ficticia)",
            "role_in_network": "facilitator",
            "basis": "prosecutorial_charge",
            "decision_ref": "CASE-TEST-0001",
            "summary_of_facts": "Synthetic test facts: arranged boat transfers through the Darién.",
            "source_reliability": "B",
            "information_accuracy": 2,
            "linked_record_ids": [SOME_RECORD_ID],
            "action_requested": "request_information",
        }
    departure = at + timedelta(days=2)
    if record_type == "removal_manifest":
        return {
            "operation_ref": "SNM-OP-TEST-0001",
            "flight": {
                "flight_number": "IST4501",
                "charter": True,
                "carrier": "Transportes de prueba (ficticia)",
                "departure_airport": "PTY",
                "destination_airport": "MDE",
                "scheduled_departure": rfc3339(departure),
                "scheduled_arrival": rfc3339(departure + timedelta(minutes=95)),
            },
            "escorts_count": 4,
            "people": [
                {
                    "person_ref": "P01",
                    "identity": subject,
                    "measure": "expulsion",
                    "grounds_category": "serious_crime",
                    "offence_category": offence,
                    "individual_assessment_ref": "EVAL-01",
                    "notified_at": rfc3339(at),
                },
                {
                    "person_ref": "P02",
                    "identity": person(age=30),
                    "measure": "deportation",
                    "grounds_category": "immigration_violation",
                    "individual_assessment_ref": "EVAL-02",
                    "notified_at": rfc3339(at),
                },
            ],
        }
    if record_type == "removal_confirmation":
        return {
            "manifest_record_id": SOME_RECORD_ID,
            "flight_number": "IST4501",
            "actual_departure": rfc3339(departure),
            "actual_arrival": rfc3339(departure + timedelta(minutes=100)),
            "handover_airport": "MDE",
            "handed_over_at": rfc3339(departure + timedelta(minutes=140)),
            "handed_over_to": {"authority": "Migración Colombia", "officer_ref": "MC-ANT-0291"},
            "escorts": [{"agency": "Servicio Nacional de Migración", "count": 4}],
            "incidents": [],
            "people": [{"person_ref": "P01", "status": "handed_over", "entry_ban_years": 10}],
        }
    if record_type == "acknowledgement":
        return {
            "acknowledges_record_id": SOME_RECORD_ID,
            "acknowledged_jws_sha256": "5f" * 32,
            "decision": "accept",
        }
    raise ValueError(f"unknown record type {record_type}")


def draft(
    record_type: str,
    sender: str,
    recipients: list[str],
    *,
    at: datetime | None = None,
    purpose: str | None = None,
    handling: str = "H2",
    offence: str = "migrant_smuggling",
    subject: dict[str, Any] | None = None,
    status: str = "charged",
    keep_days: int = 300,
    terms: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a minimal valid draft (no ``terms`` unless given) that a flow of the example terms fits.

    ``keep_days`` sets ``expires_at`` after ``at`` (the retention the record asks for).
    """
    at = at or now()
    document: dict[str, Any] = {
        "record_type": record_type,
        "originator": {"party": sender, "agency": AGENCY[sender], "officer_ref": f"{sender}-LIAISON-01"},
        "recipients": list(recipients),
        "purpose": purpose or DEFAULT_PURPOSE[record_type],
        "legal_basis": "MOU PA-CO-US art. 6",
        "handling": handling,
        "created_at": rfc3339(at),
        "expires_at": rfc3339(at + timedelta(days=keep_days)),
        "review_due": rfc3339(at + timedelta(days=min(30, keep_days))),
        "supersedes": None,
        "body": _body(record_type, at, offence, subject or person(), status),
    }
    if terms is not None:
        document["terms"] = dict(terms)
    return document


def forced(pki: TestPKI, document: dict[str, Any], terms: dict[str, Any], at: datetime | None = None) -> SignedRecord:
    """Sign ``document`` under ``terms`` with its originator's key, skipping every terms check.

    This is what a sender that ignores the terms (or a compromised one) could emit.
    """
    record = build_record({**document, "terms": dict(terms)}, at or now())
    return sign_record(record, pki.signing_key(record.originator.party))


def received(pki: TestPKI, signed: SignedRecord, at: datetime | None = None) -> Record:
    """Return the record as a receiver sees it after verifying the JWS (signature, chain, schema)."""
    return verify_record(signed.jws, pki.bundle(), at or now()).payload


def incoming_body(record: Record) -> dict[str, Any]:
    body: dict[str, Any] = record_json(record)["body"]
    return body


# -- nodes with their own terms and clocks ----------------------------------


def start_nodes(
    pki: TestPKI,
    urls: dict[str, str],
    workdir: Path,
    *,
    terms: dict[str, list[Path]],
    clocks: dict[str, Clock] | None = None,
    run_worker: bool = True,
) -> Cluster:
    """Start one node per party of ``terms`` (party → its terms files), each with its own clock.

    Like tests.support.nodes.start_cluster, but the parties need not hold the
    same terms or agree on the time.
    """
    return start_cluster(
        pki,
        urls,
        workdir,
        parties=tuple(terms),
        run_worker=run_worker,
        clocks=clocks,
        per_party={party: {"terms_files": files} for party, files in terms.items()},
    )
