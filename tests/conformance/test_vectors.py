"""docs/vectors/ stays true: every committed vector verifies as index.json says, and the script still makes them."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gateway.exchange.receipts import verify_receipt
from gateway.ledger.checkpoints import verify_checkpoint
from gateway.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.ledger.service import entry_bytes
from gateway.ledger.tree import merkle_tree_hash
from gateway.records.schemas import RecordType
from gateway.records.signing import verify_record
from gateway.trust.bundle import TrustBundle
from gateway.trust.bundle_update import verify_trust_update
from gateway.trust.errors import TrustError

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "vectors"
INDEX: dict[str, Any] = json.loads((VECTORS / "index.json").read_text("utf-8"))
AT = datetime.fromisoformat(INDEX["verify_at"])
BUNDLE = TrustBundle.load(VECTORS / "trust-bundle.json")


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [vector for vector in INDEX["vectors"] if vector["kind"] == kind]


def text(vector: dict[str, Any]) -> str:
    return (VECTORS / vector["file"]).read_text("ascii")


def outcome(jws: str) -> str:
    try:
        verify_record(jws, BUNDLE, AT)
    except TrustError as exc:
        return exc.reason
    return "valid"


@pytest.mark.parametrize("vector", of_kind("record"), ids=lambda v: v["file"])
def test_record_vector_verifies_as_indexed(vector: dict[str, Any]) -> None:
    assert outcome(text(vector)) == vector["expect"]


def test_every_record_type_and_reason_has_a_vector() -> None:
    valid = {v["file"] for v in of_kind("record") if v["expect"] == "valid"}
    assert {f"records/valid-{t.value}.jws" for t in RecordType} <= valid
    reasons = {v["expect"] for v in of_kind("record")} - {"valid"}
    assert reasons == {
        "bad_signature", "alg_not_allowed", "unknown_key", "untrusted_chain", "key_purpose", "signature_malleable",
        "schema_violation", "record_expired", "party_mismatch", "malformed_jws",
    }  # fmt: skip
    assert {v["alg"] for v in of_kind("record") if v.get("alg")} == {"ES256", "Ed25519"}


def test_a_valid_record_is_refused_after_the_certificates_expire() -> None:
    # The verification time matters: the same bytes are certificate_expired in 2040.
    [flag] = [v for v in of_kind("record") if v["file"] == "records/valid-criminal_network_flag.jws"]
    with pytest.raises(TrustError) as refused:
        verify_record(text(flag), BUNDLE, datetime.fromisoformat("2040-01-01T00:00:00Z"), allow_expired=True)
    assert refused.value.reason == "certificate_expired"


@pytest.mark.parametrize("vector", of_kind("receipt"), ids=lambda v: v["file"])
def test_receipt_vector_verifies_for_its_record(vector: dict[str, Any]) -> None:
    receipt = verify_receipt(text(vector), BUNDLE, AT, receiver=vector["receiver"], jws_sha256=vector["jws_sha256"])
    assert (receipt.payload.verdict.value, receipt.payload.reason_code) == (vector["verdict"], vector["reason_code"])
    record = (VECTORS / vector["record"]).read_bytes()
    assert hashlib.sha256(record).hexdigest() == vector["jws_sha256"]
    with pytest.raises(TrustError, match="other bytes"):
        verify_receipt(text(vector), BUNDLE, AT, receiver=vector["receiver"], jws_sha256="0" * 64)


def test_ledger_vector_recomputes() -> None:
    ledger = json.loads((VECTORS / "ledger.json").read_text("utf-8"))
    leaves = [
        leaf_hash(
            entry_bytes(
                e["index"], e["event"], e["actor"], e["subject"], datetime.fromisoformat(e["at"]), e["detail_sha256"]
            )
        )
        for e in ledger["entries"]
    ]
    assert [leaf.hex() for leaf in leaves] == ledger["leaf_hashes"]
    roots = {int(size): bytes.fromhex(root) for size, root in ledger["roots"].items()}
    assert all(merkle_tree_hash(leaves[:size]) == root for size, root in roots.items())
    for proof in ledger["inclusion"]:
        hashes = [bytes.fromhex(h) for h in proof["proof"]]
        verify_inclusion(leaves[proof["index"]], proof["index"], proof["tree_size"], hashes, roots[proof["tree_size"]])
    for proof in ledger["consistency"]:
        hashes = [bytes.fromhex(h) for h in proof["proof"]]
        verify_consistency(proof["first"], proof["second"], roots[proof["first"]], roots[proof["second"]], hashes)
    assert len(ledger["inclusion"]) == 1 + 5 + 8 + 11
    assert len(ledger["consistency"]) == 6 + 9 + 12


def test_checkpoint_vector_signs_the_ledger_root() -> None:
    [vector] = of_kind("checkpoint")
    body = verify_checkpoint(text(vector), BUNDLE, AT, party="CO").payload
    ledger = json.loads((VECTORS / "ledger.json").read_text("utf-8"))
    assert (body.tree_size, body.root_hash) == (vector["tree_size"], ledger["roots"][str(vector["tree_size"])])


def test_trust_update_vector_verifies() -> None:
    [vector] = of_kind("trust_update")
    update = verify_trust_update(text(vector), BUNDLE, AT)
    assert update.party == "CO"
    assert update.trust.cas == BUNDLE.party("CO").cas  # type: ignore[union-attr]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _without_signatures(index: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Digests of signed bytes change with every run (fresh keys, randomised ES256); nothing else may.
    return [{k: v for k, v in vector.items() if k != "jws_sha256"} for vector in index]


def test_the_script_makes_the_same_vectors(tmp_path: Path) -> None:
    fresh = _script().generate(tmp_path)
    assert _without_signatures(fresh) == _without_signatures(INDEX["vectors"])
    assert (tmp_path / "ledger.json").read_bytes() == (VECTORS / "ledger.json").read_bytes()
    assert not list(tmp_path.rglob("*.key")), "a private key was written with the vectors"
    bundle = TrustBundle.load(tmp_path / "trust-bundle.json")
    for vector in fresh:
        if vector["kind"] == "record":
            jws = (tmp_path / vector["file"]).read_text("ascii")
            try:
                verify_record(jws, bundle, AT)
                got = "valid"
            except TrustError as exc:
                got = exc.reason
            assert got == vector["expect"], vector["file"]
