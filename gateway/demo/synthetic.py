"""Synthetic, obviously fictional removal-flight data for the demo.

Flight 1 mirrors the reference case: a charter PTY→MDE with 34 Colombians,
18 removed for serious crimes and 16 for immigration violations. Further
flights vary in size so that 59 flights carry about 2,000 people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from gateway.records.signing import rfc3339

GIVEN_M = [
    "Luis Fernando",
    "Jhon Jairo",
    "Carlos Andrés",
    "Wilmer",
    "Yeison",
    "Brayan",
    "Óscar Iván",
    "Héctor Fabio",
    "Andrés Felipe",
    "Juan David",
    "Édgar",
    "Róbinson",
    "Fredy Alberto",
]
GIVEN_F = [
    "Luz Marina",
    "Yurani",
    "Diana Carolina",
    "Leidy Johana",
    "Sandra Milena",
    "Paola Andrea",
    "María Fernanda",
    "Erika Yulieth",
    "Ana Milena",
]
FAMILY = [
    "Ospina",
    "Córdoba",
    "Restrepo",
    "Mosquera",
    "Zapata",
    "Quintero",
    "Montoya",
    "Muñoz",
    "Palacios",
    "Valencia",
    "Cardona",
    "Rentería",
    "Giraldo",
    "Arango",
    "Mena",
    "Cuesta",
    "Benítez",
    "Torres",
    "Salazar",
    "Hurtado",
]
OFFENCES = ["drug_trafficking"] * 9 + ["migrant_smuggling"] * 6 + ["environmental_crime"] * 3
DESTINATIONS = ["MDE", "BOG", "CLO", "BAQ"]


@dataclass(frozen=True)
class Flight:
    number: int
    flight_number: str
    destination: str
    departure: datetime
    serious: int
    immigration: int

    @property
    def people(self) -> int:
        return self.serious + self.immigration


def flights(count: int, start: datetime | None = None, seed: int = 2024) -> list[Flight]:
    """Return ``count`` weekly flights, the last one two days ahead; the first is the
    34-person (18 serious-crime + 16 immigration) reference flight."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    last = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    start = start or last - timedelta(days=7 * (count - 1))
    result = [Flight(1, "IST4501", "MDE", start, 18, 16)]
    for n in range(2, count + 1):
        serious = rng.randint(10, 22)
        result.append(
            Flight(
                n,
                f"IST{4500 + n}",
                rng.choice(DESTINATIONS),
                start + timedelta(days=7 * (n - 1)),
                serious,
                rng.randint(12, 20),
            )
        )
    return result


#: The agency each party's demo records are issued by (its demo API client acts for it).
AGENCIES: Final = {
    "PA": "Servicio Nacional de Migración",
    "US": "Homeland Security Investigations",
    "CO": "Migración Colombia",
    "CR": "Dirección General de Migración y Extranjería",  # Costa Rica, a transit country that joins later
}


def agency_of(party: str) -> str:
    """Return the demo agency of ``party`` (a party the demo has no name for gets a generic one)."""
    return AGENCIES.get(party, f"{party} migration authority")


def _envelope(
    record_type: str,
    party: str,
    agency: str,
    recipients: list[str],
    purpose: str,
    handling: str,
    terms_ref: dict[str, Any] | None,
    expires: datetime,
    legal_basis: str,
) -> dict[str, Any]:
    return {
        "record_type": record_type,
        "originator": {"party": party, "agency": agency, "officer_ref": f"{party}-LIAISON-01"},
        "recipients": recipients,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "handling": handling,
        "expires_at": rfc3339(expires),
        "review_due": rfc3339(expires - timedelta(days=90)),
        # Without `terms` the node fills in the newest version live for the flow.
        **({"terms": dict(terms_ref)} if terms_ref else {}),
    }


def _removal_envelope(
    record_type: str, flight: Flight, terms_ref: dict[str, Any] | None, recipients: list[str]
) -> dict[str, Any]:
    """Envelope of PA's removal notices (to CO and US), kept a year from the flight (or today)."""
    return _envelope(
        record_type,
        "PA",
        "Servicio Nacional de Migración",
        recipients,
        "removal_coordination",
        "H1",
        terms_ref,
        max(flight.departure, datetime.now(UTC)) + timedelta(days=365),
        "MOU PA-CO-US art. 4",
    )


def _person(rng: random.Random, flight: Flight, index: int, serious: bool) -> dict[str, Any]:
    female = rng.random() < 0.2
    born = date(1965, 1, 1) + timedelta(days=rng.randint(0, 365 * 38))
    person: dict[str, Any] = {
        "person_ref": f"F{flight.number:03d}-P{index:02d}",
        "identity": {
            "family_names": f"{rng.choice(FAMILY)} {rng.choice(FAMILY)}",
            "given_names": rng.choice(GIVEN_F if female else GIVEN_M),
            "date_of_birth": born.isoformat(),
            "sex": "F" if female else "M",
            "nationality": "COL",
            "travel_document": {
                "type": "passport" if rng.random() < 0.7 else "emergency_travel_document",
                "number": f"AX{rng.randint(1000000, 9999999)}",
                "issuing_country": "COL",
            },
        },
        "measure": "expulsion" if serious else "deportation",
        "grounds_category": "serious_crime" if serious else "immigration_violation",
        "individual_assessment_ref": f"SNM-EVAL-{flight.number:03d}-{index:03d}",
        "notified_at": rfc3339(flight.departure - timedelta(hours=rng.randint(24, 72))),
    }
    if serious:
        person["offence_category"] = OFFENCES[(index - 1) % len(OFFENCES)]
    return person


def manifest(
    flight: Flight, terms_ref: dict[str, Any] | None, seed: int = 7, recipients: list[str] | None = None
) -> dict[str, Any]:
    """Return the removal_manifest draft of ``flight`` (PA → ``recipients``, by default CO and US)."""
    rng = random.Random(seed * 1000 + flight.number)  # noqa: S311
    people = [_person(rng, flight, i, True) for i in range(1, flight.serious + 1)]
    people += [_person(rng, flight, flight.serious + i, False) for i in range(1, flight.immigration + 1)]
    draft = _removal_envelope("removal_manifest", flight, terms_ref, recipients or ["CO", "US"])
    draft["body"] = {
        "operation_ref": f"SNM-OP-{flight.departure:%Y}-{flight.number:04d}",
        "flight": {
            "flight_number": flight.flight_number,
            "charter": True,
            "carrier": "Transportes Aéreos del Istmo S.A. (ficticia)",
            "departure_airport": "PTY",
            "destination_airport": flight.destination,
            "scheduled_departure": rfc3339(flight.departure),
            "scheduled_arrival": rfc3339(flight.departure + timedelta(minutes=95)),
        },
        "escorts_count": max(4, flight.people // 2),
        "people": people,
    }
    return draft


def confirmation(
    flight: Flight, manifest_draft: dict[str, Any], manifest_id: str, terms_ref: dict[str, Any] | None
) -> dict[str, Any]:
    """Return the removal_confirmation draft: everyone handed over but one who did not board."""
    people = manifest_draft["body"]["people"]
    arrival = flight.departure + timedelta(minutes=100)
    handed = []
    for i, person in enumerate(people):
        if i == len(people) - 1:
            handed.append(
                {
                    "person_ref": person["person_ref"],
                    "status": "not_boarded",
                    "reason": "medical: unfit to fly, rescheduled",
                }
            )
        else:
            serious = person["grounds_category"] == "serious_crime"
            handed.append(
                {"person_ref": person["person_ref"], "status": "handed_over", "entry_ban_years": 10 if serious else 5}
            )
    draft = _removal_envelope("removal_confirmation", flight, terms_ref, list(manifest_draft["recipients"]))
    draft["body"] = {
        "manifest_record_id": manifest_id,
        "flight_number": flight.flight_number,
        "actual_departure": rfc3339(flight.departure + timedelta(minutes=5)),
        "actual_arrival": rfc3339(arrival),
        "handover_airport": flight.destination,
        "handed_over_at": rfc3339(arrival + timedelta(minutes=40)),
        "handed_over_to": {"authority": "Migración Colombia", "officer_ref": "MC-PCM-0091"},
        "escorts": [{"agency": "SENAFRONT / SNM", "count": max(4, flight.people // 2)}],
        "incidents": [],
        "people": handed,
    }
    return draft


def flag(
    party: str,
    recipients: list[str],
    subject: dict[str, Any],
    terms_ref: dict[str, Any] | None,
    linked: list[str],
    now: datetime,
    offence: str = "migrant_smuggling",
) -> dict[str, Any]:
    """Return a criminal_network_flag draft about ``subject`` from ``party``."""
    agency = agency_of(party)
    draft = _envelope(
        "criminal_network_flag",
        party,
        agency,
        recipients,
        "criminal_network_disruption",
        "H2",
        terms_ref,
        now + timedelta(days=365),
        "MOU PA-CO-US art. 6",
    )
    draft["body"] = {
        "subject": {k: v for k, v in subject.items() if k != "protection_claim_pending"},
        "subject_status": "charged",
        "offence_category": offence,
        "network_name": "Red Cruce Darién-Norte (ficticia)",
        "role_in_network": "facilitator",
        "basis": "prosecutorial_charge",
        "decision_ref": f"{party}-CASE-{now:%Y}-0042",
        "summary_of_facts": "Arranged boat transfers and guided groups through the Darién; "
        "fees collected through intermediaries (synthetic demo data).",
        "source_reliability": "B",
        "information_accuracy": 2,
        "linked_record_ids": linked,
        "action_requested": "request_information",
    }
    return draft
