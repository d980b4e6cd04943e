"""Cases that need the target to act, driven through the test-control contract (CTL-*, protocol section 13)."""

from __future__ import annotations

import time

from gateway.conformance.cases_records import expect_rejected, record_document
from gateway.conformance.listener import Arrival, KitListener
from gateway.conformance.registry import CaseFailed, CaseSkipped, case, expect
from gateway.conformance.target import Target
from gateway.errors import InputError


def _control(target: Target) -> None:
    if target.control is None:
        raise CaseSkipped("needs the test control contract (docs/protocol.md, section Test control): give --control")


def _send(target: Target, record_type: str) -> str:
    try:
        return target.control_send(record_type)
    except InputError as exc:
        raise CaseFailed(exc.detail) from exc


@case("CTL-01", "a record the target originates reaches the kit's listener, verifies, from the target's party")
def target_originates(target: Target) -> None:
    _control(target)
    if target.listen is None:
        raise CaseSkipped("needs --listen HOST:PORT: the kit's partner listener the target delivers to")
    host, port = target.listen
    listener = KitListener(host, port, target.identity, target.ca, target.bundle, target.party, target.signing_key)
    listener.start()
    try:
        record_id = _send(target, "criminal_network_flag")
        arrival = _wait_for(listener, record_id, target.checkpoint_wait)
    finally:
        listener.stop()
    if arrival is None:
        raise CaseFailed(f"record {record_id} did not arrive within {target.checkpoint_wait:.0f}s")
    expect(arrival.sender == target.target_party, f"delivered over a certificate of {arrival.sender}")
    expect(arrival.reason_code is None, f"the delivered record does not verify: {arrival.reason_code}")
    expect(arrival.originator == target.target_party, f"the record names originator {arrival.originator}")


def _wait_for(listener: KitListener, record_id: str, seconds: float) -> Arrival | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for arrival in list(listener.arrivals):
            if arrival.record_id == record_id:
                return arrival
        time.sleep(0.1)
    return None


@case("CTL-02", "a partner reusing a record id the target originated is rejected: record_id_conflict")
def own_id_reused(target: Target) -> None:
    _control(target)
    record_id = _send(target, "criminal_network_flag")
    document = record_document(target, "criminal_network_flag")
    document["record_id"] = record_id
    expect_rejected(target, target.sign(document), "record_id_conflict")
