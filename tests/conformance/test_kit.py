"""The conformance kit against our own node (every case passes) and against broken variants (they fail).

All over real mutual TLS on 127.0.0.1: the kit is a partner like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.types import ASGIApp

from gateway.conformance.registry import CASES, Result, Status
from gateway.conformance.runner import run_all
from tests.conformance import broken
from tests.conformance.conftest import ControlledNode, kit_for, start_target
from tests.support.databases import DatabaseFactory, factory_for
from tests.support.nodes import RunningNode
from tests.support.pki import TestPKI


def by_id(results: list[Result]) -> dict[str, Result]:
    return {result.requirement: result for result in results}


def test_our_node_passes_every_case(pki: TestPKI, controlled_node: ControlledNode, tmp_path: Path) -> None:
    kit = kit_for(
        pki, controlled_node.running, tmp_path, control=controlled_node.control.url, kit_port=controlled_node.kit_port
    )
    results = run_all(kit)
    assert len(results) == len(CASES) >= 45
    failed = {r.requirement: r.reason for r in results if r.status is Status.FAIL}
    assert failed == {}
    assert [r.requirement for r in results if r.status is Status.SKIP] == []


def test_without_the_ca_key_the_issuing_cases_are_skipped(
    pki: TestPKI, conforming_node: RunningNode, tmp_path: Path
) -> None:
    kit = kit_for(pki, conforming_node, tmp_path)
    kit.ca_key = None
    results = run_all(kit, lambda c: c.requirement in ("RCP-30", "RCP-31", "TLS-09"))
    assert {(r.requirement, r.status) for r in results} == {
        ("RCP-30", Status.SKIP),
        ("RCP-31", Status.SKIP),
        ("TLS-09", Status.SKIP),
    }
    assert {r.reason for r in results} == {
        "needs --ca-key: the private key of the kit's party CA, to issue test certificates"
    }


def test_without_test_control_its_cases_are_skipped(pki: TestPKI, conforming_node: RunningNode, tmp_path: Path) -> None:
    results = run_all(kit_for(pki, conforming_node, tmp_path), lambda c: c.requirement.startswith("CTL"))
    assert [(r.requirement, r.status) for r in results] == [("CTL-01", Status.SKIP), ("CTL-02", Status.SKIP)]
    assert {r.reason for r in results} == {
        "needs the test control contract (docs/protocol.md, section Test control): give --control"
    }


def test_without_a_third_party_the_peer_case_is_skipped(
    pki: TestPKI, conforming_node: RunningNode, tmp_path: Path
) -> None:
    results = run_all(kit_for(pki, conforming_node, tmp_path, other=False), lambda c: c.requirement == "TLS-05")
    assert [(r.status, r.reason) for r in results] == [
        (Status.SKIP, "needs --other-cert/--other-key: a TLS identity of a third party the target trusts")
    ]


Variant = Callable[[TestPKI], Callable[[ASGIApp], ASGIApp]]

VARIANTS: dict[str, tuple[Variant, tuple[str, ...], dict[str, str]]] = {
    # variant: (wrapper, cases run, case → what its failure reason must say)
    "receipt not signed": (
        lambda _pki: broken.unsigned_receipts,
        ("REC-01", "REC-02", "RCP-10", "IDM-01"),
        {
            "REC-01": "the receipt does not verify: bad_signature",
            "REC-02": "the receipt does not verify: bad_signature",
            "RCP-10": "the receipt does not verify: bad_signature",
            "IDM-01": "the receipt does not verify: bad_signature",
        },
    ),
    "wrong reason code": (
        lambda pki: broken.wrong_reason_codes(pki.signing_key("CO")),
        ("REC-01", "RCP-10", "RCP-13", "RCP-24", "LIF-02"),
        {
            "RCP-10": "receipt verdict rejected (untrusted), expected reason code bad_signature",
            "RCP-13": "receipt verdict rejected (untrusted), expected reason code untrusted_chain",
            "RCP-24": "receipt verdict rejected (untrusted), expected reason code handling_too_permissive",
            "LIF-02": "receipt verdict rejected (untrusted), expected reason code digest_mismatch",
        },
    ),
    "replay answered 201": (
        lambda _pki: broken.replay_answered_201,
        ("IDM-01", "IDM-02", "REC-01", "IDM-03"),
        {
            "IDM-01": "answered 201 (application/jose), expected 200",
            "IDM-02": "answered 201 (application/jose), expected 200",
            "IDM-03": "the original bytes after the conflict answered 201, not 200",
        },
    ),
    "client certificate of another party accepted": (
        lambda pki: broken.any_partner_is(pki.parties["PA"].tls_cert.read_bytes()),
        ("TLS-05",),
        {"TLS-05": "receipt names sender PA, not US"},
    ),
    "proof for the wrong tree size": (
        lambda _pki: broken.proofs_for_smaller_tree,
        ("REC-01", "REC-02", "LED-01", "LED-02", "LED-03"),
        {
            "LED-02": "consistency proof's second_root is not the checkpoint's",
            "LED-03": "the proofs of entry 0 do not verify",
        },
    ),
}


def test_a_listener_admitting_connections_without_certificate_fails_tls_02(
    pki: TestPKI, sqlite_factory: DatabaseFactory, tmp_path: Path
) -> None:
    wrap = broken.any_partner_is(pki.parties["PA"].tls_cert.read_bytes(), also_without=True)
    running = start_target(pki, sqlite_factory.fresh_url(), tmp_path, wrap, optional_client_certificate=True)
    try:
        results = by_id(
            run_all(kit_for(pki, running, tmp_path / "kit"), lambda c: c.requirement in ("TLS-01", "TLS-02"))
        )
    finally:
        running.server.stop_thread()
        running.node.close()
    assert (results["TLS-01"].status, results["TLS-02"].status) == (Status.PASS, Status.FAIL)
    assert results["TLS-02"].reason == "the connection was admitted: answered 201"


@pytest.fixture(scope="module")
def sqlite_factory(
    database_factories: dict[str, DatabaseFactory], tmp_path_factory: pytest.TempPathFactory
) -> DatabaseFactory:
    return factory_for("sqlite", database_factories, tmp_path_factory)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_broken_variant_fails_the_cases_covering_it(
    variant: str, pki: TestPKI, sqlite_factory: DatabaseFactory, tmp_path: Path
) -> None:
    wrapper, cases, failures = VARIANTS[variant]
    running = start_target(pki, sqlite_factory.fresh_url(), tmp_path, wrapper(pki))
    try:
        results = by_id(run_all(kit_for(pki, running, tmp_path / "kit"), lambda c: c.requirement in cases))
    finally:
        running.server.stop_thread()
        running.node.close()
    got = {i: r.reason for i, r in results.items() if r.status is Status.FAIL}
    assert {i: got.get(i, "(passed)")[: len(reason)] for i, reason in failures.items()} == failures
