"""The lifecycle part of the demo: a discrepancy answered by a correction, a retraction, onward sharing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.demo.cluster import DemoNode
from gateway.demo.scenario import ScenarioError, Tally, flag_partner


@dataclass(frozen=True)
class FlightOne:
    """Record ids of the first flight that the lifecycle steps act on."""

    manifest_id: str
    pa_flag_id: str
    us_flag_id: str


def _post(node: DemoNode, path: str, body: dict[str, Any], tally: Tally | None = None) -> dict[str, Any]:
    with node.api() as api:
        response = api.post(path, json=body)
    if response.status_code != 202:
        raise ScenarioError(f"{node.party} POST {path} answered {response.status_code}: {response.text}")
    if tally is not None:
        tally.count(node.party)
    result: dict[str, Any] = response.json()
    return result


def _get(node: DemoNode, path: str) -> dict[str, Any]:
    with node.api() as api:
        response = api.get(path)
    if response.status_code != 200:
        raise ScenarioError(f"{node.party} GET {path} answered {response.status_code}: {response.text}")
    result: dict[str, Any] = response.json()
    return result


def _wait(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise ScenarioError(f"{what} did not happen within {timeout:.0f}s")


def _all_applied(node: DemoNode, record_id: str, state: str) -> bool:
    holders = _get(node, f"/v1/records/{record_id}/dissemination")["holders"]
    return bool(holders) and all(h["state"] == state for h in holders)


def play(nodes: dict[str, DemoNode], ids: FlightOne, tally: Tally) -> list[str]:
    """Run the lifecycle steps; returns one line per step for the console. Raises ScenarioError.

    Onward sharing needs a third party: a bilateral deployment skips it.
    """
    pa, co, us = nodes["PA"], nodes["CO"], flag_partner(nodes)
    holders = " and ".join(p for p in ("CO", "US") if p in nodes)
    lines = []
    # 1. CO finds a person who was not on the flight; PA corrects the manifest and answers.
    manifest = _get(pa, f"/v1/records/{ids.manifest_id}")
    absent = manifest["body"]["people"][-1]["person_ref"]
    report = _post(
        co,
        f"/v1/records/{ids.manifest_id}/discrepancies",
        {"category": "person_not_on_flight", "person_ref": absent, "details": "Not among the people handed over."},
        tally,
    )["record_id"]
    _wait(
        "the discrepancy report at PA", lambda: _get(pa, f"/v1/records/{ids.manifest_id}")["lifecycle"]["contested_by"]
    )
    corrected = dict(manifest["body"], people=manifest["body"]["people"][:-1])
    correction = _post(
        pa,
        f"/v1/records/{ids.manifest_id}/corrections",
        {"reason": f"{absent} did not board; removed from the manifest.", "body": corrected},
        tally,
    )["record_id"]
    _post(
        pa,
        f"/v1/records/{report}/discrepancy-response",
        {"outcome": "corrected", "follow_up_record_id": correction, "comment": "Manifest corrected."},
        tally,
    )
    _wait(f"the correction applied by {holders}", lambda: _all_applied(pa, ids.manifest_id, "current"))
    lines.append(f"discrepancy from CO answered by a correction of the manifest, applied by {holders} ({absent})")
    # 2. PA retracts its flag to the US: every copy loses its body, the envelope stays.
    _post(pa, f"/v1/records/{ids.pa_flag_id}/retractions", {"reason": "data_inaccurate"}, tally)
    _wait(f"the retraction applied by {us.party}", lambda: _all_applied(pa, ids.pa_flag_id, "retracted"))
    lines.append(f"PA retracted its flag; {us.party} deleted the body and acknowledged, the envelope digest stays")
    if us is co:
        lines.append("onward sharing: none in a bilateral deployment (there is no third party)")
        return lines
    # 3. PA asks the US for consent to pass the US flag to CO, and forwards it with the consent.
    request = _post(
        pa,
        f"/v1/records/{ids.us_flag_id}/onward-requests",
        {
            "third_party": "CO",
            "purpose": "criminal_network_disruption",
            "justification": "The network moves people through Necoclí; Migración Colombia investigates it.",
        },
        tally,
    )["record_id"]
    _wait("the onward request at US", lambda: _get(us, f"/v1/records/{request}")["verification"]["result"] == "valid")
    _post(us, f"/v1/records/{request}/consent", {"decision": "granted"}, tally)

    def forwarded() -> bool:
        with pa.api() as api:
            response = api.post(f"/v1/records/{ids.us_flag_id}/onward", json={"third_party": "CO"})
        return response.status_code == 202

    _wait("the consent at PA", forwarded)
    _wait(
        "the onward copy at CO",
        lambda: _get(co, f"/v1/records/{ids.us_flag_id}")["lifecycle"]["received_via"] == "onward",
    )
    lines.append("US consented; PA shared the US flag onward with CO, which verified the consent")
    return lines
