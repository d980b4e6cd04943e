"""The removal-flight scenario, played through the agency and partner APIs of real nodes."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from gateway.demo import synthetic
from gateway.demo.cluster import DemoNode
from gateway.exchange.outgoing import prepare_outgoing
from gateway.exchange.receipts import verify_receipt
from gateway.records.signing import sign_record
from gateway.transport.tls import client_context
from gateway.trust.jws import b64url_decode, b64url_encode

Progress = Callable[[str], None]


class ScenarioError(RuntimeError):
    """The scenario could not complete (a node refused what it should accept, or timed out)."""


@dataclass
class Tally:
    submitted: dict[str, int] = field(default_factory=dict)
    refused_at_sender: list[str] = field(default_factory=list)
    rejected_receipts: list[str] = field(default_factory=list)
    people: int = 0
    flights: int = 0

    def count(self, party: str) -> None:
        self.submitted[party] = self.submitted.get(party, 0) + 1


def submit(node: DemoNode, draft: dict[str, Any], tally: Tally) -> str:
    with node.api() as api:
        response = api.post("/v1/records", json=draft)
    if response.status_code != 202:
        raise ScenarioError(f"{node.party} refused a {draft['record_type']}: {response.text}")
    tally.count(node.party)
    return str(response.json()["record_id"])


def wait_delivered(node: DemoNode, record_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the originator until every delivery of ``record_id`` has a receipt."""
    deadline = time.monotonic() + timeout
    with node.api() as api:
        while time.monotonic() < deadline:
            detail: dict[str, Any] = api.get(f"/v1/records/{record_id}").json()
            statuses = [d["status"] for d in detail["deliveries"]]
            if statuses and all(s in ("delivered", "rejected", "dead") for s in statuses):
                return detail
            time.sleep(0.05)
    raise ScenarioError(f"{record_id} was not delivered within {timeout:.0f}s")


def acknowledge(node: DemoNode, record_id: str, tally: Tally) -> str:
    with node.api() as api:
        response = api.post(
            f"/v1/records/{record_id}/acknowledgements",
            json={"decision": "accept", "officer_ref": f"{node.party}-LIAISON-02"},
        )
    if response.status_code != 202:
        raise ScenarioError(f"{node.party} could not acknowledge {record_id}: {response.text}")
    tally.count(node.party)
    return str(response.json()["record_id"])


def flag_partner(nodes: dict[str, DemoNode]) -> DemoNode:
    """Return the party PA exchanges criminal-network flags with in the scenario: the US, else CO."""
    return nodes.get("US") or nodes["CO"]


def joiner_flags(nodes: dict[str, DemoNode], joiner: str, tally: Tally) -> tuple[str, str]:
    """A party that joined later flags a smuggling facilitator to PA; PA answers with a linked flag.

    Returns (the newcomer's flag, PA's flag) once both are delivered.
    """
    newcomer, pa = nodes[joiner], nodes["PA"]
    now = datetime.now(UTC)
    facilitator = {
        "family_names": "Solano Ficticio",
        "given_names": "Marvin",
        "nationality": "NIC",
        "date_of_birth": "1984-08-19",
    }
    theirs = submit(newcomer, synthetic.flag(joiner, ["PA"], facilitator, None, [], now), tally)
    wait_delivered(newcomer, theirs)
    driver = dict(facilitator, given_names="Yeison", family_names="Ficticio Ruiz", date_of_birth="1991-03-02")
    ours = submit(pa, synthetic.flag("PA", [joiner], driver, None, [theirs], now), tally)
    wait_delivered(pa, ours)
    return theirs, ours


def fly(
    nodes: dict[str, DemoNode],
    flight: synthetic.Flight,
    terms_ref: dict[str, Any] | None,
    tally: Tally,
    with_flags: bool,
) -> tuple[str, str, str] | None:
    """One flight: manifest → CO acknowledges → confirmation; flags PA↔US on flight 1.

    Without the US (a bilateral PA-CO deployment) the notices go to CO alone
    and the flags are exchanged with CO. Returns (manifest, PA flag, partner
    flag) record ids when the flags were sent."""
    pa, co = nodes["PA"], nodes["CO"]
    us = flag_partner(nodes)
    manifest = synthetic.manifest(flight, terms_ref, recipients=[p for p in ("CO", "US") if p in nodes])
    manifest_id = submit(pa, manifest, tally)
    wait_delivered(pa, manifest_id)
    ack_id = acknowledge(co, manifest_id, tally)
    wait_delivered(co, ack_id)
    confirmation_id = submit(pa, synthetic.confirmation(flight, manifest, manifest_id, terms_ref), tally)
    wait_delivered(pa, confirmation_id)
    tally.people += flight.people
    tally.flights += 1
    if not with_flags:
        return None
    smuggler = next(p for p in manifest["body"]["people"] if p.get("offence_category") == "migrant_smuggling")
    now = datetime.now(UTC)
    pa_flag = submit(pa, synthetic.flag("PA", [us.party], smuggler["identity"], terms_ref, [manifest_id], now), tally)
    wait_delivered(pa, pa_flag)
    associate = dict(
        smuggler["identity"], given_names="Wilmer", family_names="Hurtado Mena", date_of_birth="1979-02-11"
    )
    us_flag = submit(us, synthetic.flag(us.party, ["PA"], associate, terms_ref, [pa_flag], now), tally)
    wait_delivered(us, us_flag)
    return manifest_id, pa_flag, us_flag


def tampered_record(nodes: dict[str, DemoNode], terms_ref: dict[str, Any] | None, tally: Tally) -> str:
    """PA's node signs a flag, the payload is altered in transit, CO answers ``rejected``.

    Returns CO's receipt reason code. Posted straight to CO's partner listener
    over mTLS with PA's TLS certificate, as a compromised relay would.
    """
    pa, co = nodes["PA"], nodes["CO"]
    subject = {
        "family_names": "Demo Manipulado",
        "given_names": "Registro",
        "date_of_birth": "1980-01-01",
        "nationality": "COL",
    }
    draft = synthetic.flag("PA", ["CO"], subject, terms_ref, [], datetime.now(UTC))
    signed = sign_record(prepare_outgoing(pa.node, draft, datetime.now(UTC)), pa.node.signing_key)
    header, payload, signature = signed.jws.split(".")
    document = json.loads(b64url_decode(payload))
    document["body"]["subject_status"] = "convicted"  # the alteration
    forged = ".".join([header, b64url_encode(json.dumps(document, separators=(",", ":")).encode()), signature])
    settings = pa.node.settings
    if settings.tls_cert is None or settings.tls_key is None:
        raise ScenarioError("PA has no TLS certificate configured")
    context = client_context(settings.tls_cert, settings.tls_key, pa.node.bundle, settings.data_dir / "tls", "CO")
    with httpx.Client(verify=context, timeout=30) as client:
        response = client.post(
            f"{co.partner_url}/v1/exchange/records", content=forged, headers={"Content-Type": "application/jose"}
        )
    if response.status_code != 201:
        raise ScenarioError(f"CO answered {response.status_code} to the altered record: {response.text}")
    receipt = verify_receipt(
        response.text,
        pa.node.bundle,
        datetime.now(UTC),
        receiver="CO",
        jws_sha256=hashlib.sha256(forged.encode()).hexdigest(),
    )
    if receipt.payload.verdict.value != "rejected":
        raise ScenarioError("CO accepted an altered record")
    reason = receipt.payload.reason_code or "?"
    tally.rejected_receipts.append(f"CO rejected an altered PA flag: {reason}")
    return reason


def refused_by_terms(nodes: dict[str, DemoNode], terms_ref: dict[str, Any] | None, tally: Tally) -> str:
    """US tries to flag an environmental-crime case: its flow allows only two offence categories.

    Without the US, CO tries to flag one with handling H0, below its flow's minimum.
    """
    us = flag_partner(nodes)
    subject = {
        "family_names": "Ficticio Minero",
        "given_names": "Arley",
        "nationality": "COL",
        "date_of_birth": "1975-05-05",
    }
    if us.party == "US":
        draft = synthetic.flag("US", ["PA"], subject, terms_ref, [], datetime.now(UTC), offence="environmental_crime")
    else:
        draft = dict(synthetic.flag(us.party, ["PA"], subject, terms_ref, [], datetime.now(UTC)), handling="H0")
    with us.api() as api:
        response = api.post("/v1/records", json=draft)
    if response.status_code == 202:
        raise ScenarioError(f"{us.party} sent a flag its terms do not allow")
    problem = response.json()
    tally.refused_at_sender.append(
        f"{us.party} refused a flag outside the terms ({problem.get('rule')}: {problem['detail']})"
    )
    return str(problem.get("rule"))


def refused_at_sender(nodes: dict[str, DemoNode], terms_ref: dict[str, Any] | None, tally: Tally) -> str:
    """PA tries to flag a 16-year-old: the sending node refuses it (nothing leaves PA)."""
    pa = nodes["PA"]
    minor = {
        "family_names": "Menor Ficticio",
        "given_names": "Kevin",
        "nationality": "COL",
        "date_of_birth": f"{datetime.now(UTC).year - 16}-01-01",
    }
    draft = synthetic.flag("PA", [flag_partner(nodes).party], minor, terms_ref, [], datetime.now(UTC))
    with pa.api() as api:
        response = api.post("/v1/records", json=draft)
    if response.status_code == 202:
        raise ScenarioError("PA accepted a flag about a minor")
    problem = response.json()
    tally.refused_at_sender.append(f"PA refused a flag about a minor ({response.status_code} {problem['title']})")
    return str(problem["type"])
