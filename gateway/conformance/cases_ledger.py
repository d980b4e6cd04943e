"""Cases of checkpoints, RFC 9162 proofs, trust updates and terms (LED-*, TRU-*, TRM-*, CTL-*)."""

from __future__ import annotations

import time
from typing import Any

from gateway.conformance.cases_records import send_valid
from gateway.conformance.checks import expect_problem
from gateway.conformance.registry import CaseFailed, CaseSkipped, case, expect
from gateway.conformance.target import JOSE, Target
from gateway.ledger.checkpoints import verify_checkpoint
from gateway.ledger.errors import ProofError
from gateway.ledger.merkle import verify_consistency, verify_inclusion
from gateway.ledger.schemas import CheckpointBody
from gateway.trust.bundle_update import verify_trust_update
from gateway.trust.errors import TrustError


def fetch_checkpoint(target: Target) -> CheckpointBody:
    response = target.get("/v1/exchange/checkpoint")
    if response.status_code == 404:
        raise CaseFailed("no checkpoint yet (404)")
    expect(response.status_code == 200, f"GET /v1/exchange/checkpoint answered {response.status_code}")
    expect(response.headers.get("content-type", "").startswith(JOSE), "the checkpoint is not application/jose")
    try:
        verified = verify_checkpoint(response.text.strip(), target.bundle, target.now(), party=target.target_party)
    except TrustError as exc:
        raise CaseFailed(f"the checkpoint does not verify: {exc.reason}: {exc.detail}") from exc
    return verified.payload


def _proof(target: Target, path: str, **params: int) -> dict[str, Any]:
    response = target.get(path, **params)
    expect(response.status_code == 200, f"GET {path} {params} answered {response.status_code}")
    document: dict[str, Any] = response.json()
    return document


def _hashes(document: dict[str, Any]) -> list[bytes]:
    proof = document.get("proof")
    if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
        raise CaseFailed("proof is not a list of hex hashes")
    try:
        return [bytes.fromhex(h) for h in proof]
    except ValueError as exc:
        raise CaseFailed("proof holds a hash that is not hex") from exc


def _covering_checkpoint(target: Target, index: int) -> CheckpointBody:
    """The newest checkpoint once it covers ledger ``index`` (waits up to ``checkpoint_wait`` seconds)."""
    deadline = time.monotonic() + target.checkpoint_wait
    while True:
        body = fetch_checkpoint(target)
        if body.tree_size > index:
            return body
        if time.monotonic() > deadline:
            raise CaseFailed(f"no checkpoint covers ledger index {index} within {target.checkpoint_wait:.0f}s")
        time.sleep(0.5)


@case("LED-01", "the checkpoint is a mou-checkpoint+jws signed by the target's party")
def checkpoint_signed(target: Target) -> None:
    body = fetch_checkpoint(target)
    expect(body.party == target.target_party, f"checkpoint names party {body.party}")
    target.state["first_checkpoint"] = body


@case("LED-02", "a later checkpoint covers the receipts' ledger indexes and is consistent with the first (RFC 9162)")
def checkpoint_consistency(target: Target) -> None:
    first = target.state.get("first_checkpoint")
    if first is None:
        raise CaseSkipped("no first checkpoint (LED-01 failed)")
    # A record sent after the first checkpoint: the tree must grow past it.
    send_valid(target, "removal_manifest")
    index = target.state["accepted"][-1][2].ledger_index
    expect(index >= first.tree_size, f"the receipt names ledger index {index}, inside the earlier checkpoint")
    latest = _covering_checkpoint(target, index)
    document = _proof(target, "/v1/exchange/proofs/consistency", first=first.tree_size, second=latest.tree_size)
    expect(
        document.get("first_root") == first.root_hash, "consistency proof's first_root is not the first checkpoint's"
    )
    expect(document.get("second_root") == latest.root_hash, "consistency proof's second_root is not the checkpoint's")
    try:
        verify_consistency(
            first.tree_size,
            latest.tree_size,
            bytes.fromhex(first.root_hash),
            bytes.fromhex(latest.root_hash),
            _hashes(document),
        )
    except ProofError as exc:
        raise CaseFailed(f"the consistency proof does not verify: {exc}") from exc
    target.state["latest_checkpoint"] = latest


@case("LED-03", "an inclusion proof for a receipt's ledger index leads to the checkpoint's root (RFC 9162)")
def inclusion(target: Target) -> None:
    accepted = target.state.get("accepted") or []
    if not accepted:
        raise CaseSkipped("no record was accepted by an earlier case")
    latest = target.state.get("latest_checkpoint") or _covering_checkpoint(target, accepted[0][2].ledger_index)
    size = latest.tree_size
    # The leaf at index 0 is the root of the tree of size 1, which a consistency
    # proof from size 1 (verified against the signed root) yields.
    first = _proof(target, "/v1/exchange/proofs/consistency", first=1, second=size)
    leaf = bytes.fromhex(str(first.get("first_root", "")))
    try:
        verify_consistency(1, size, leaf, bytes.fromhex(latest.root_hash), _hashes(first))
        verify_inclusion(
            leaf,
            0,
            size,
            _hashes(_proof(target, "/v1/exchange/proofs/inclusion", index=0, tree_size=size)),
            bytes.fromhex(latest.root_hash),
        )
    except ProofError as exc:
        raise CaseFailed(f"the proofs of entry 0 do not verify: {exc}") from exc
    index = accepted[0][2].ledger_index
    document = _proof(target, "/v1/exchange/proofs/inclusion", index=index, tree_size=size)
    expect(document.get("tree_size") == size and document.get("index") == index, "the proof names another index/size")
    expect(document.get("root_hash") == latest.root_hash, "the inclusion proof's root is not the checkpoint's root")
    expected = _inclusion_path_length(index, size)
    expect(
        len(_hashes(document)) == expected, f"the proof has {len(_hashes(document))} hashes, RFC 9162 needs {expected}"
    )


@case("LED-04", "a proof request outside the tree is answered 400 invalid-proof-request")
def proof_out_of_range(target: Target) -> None:
    body = fetch_checkpoint(target)
    response = target.get("/v1/exchange/proofs/inclusion", index=0, tree_size=body.tree_size + 10**9)
    expect_problem(response, 400, "invalid-proof-request")
    expect_problem(target.get("/v1/exchange/proofs/consistency", first="x", second=1), 400, "invalid-proof-request")


@case("TRU-01", "the trust update is the target party's entry, signed (mou-trust-update+jws)")
def trust_update(target: Target) -> None:
    response = target.get("/v1/exchange/trust-update")
    expect(response.status_code == 200, f"GET /v1/exchange/trust-update answered {response.status_code}")
    try:
        update = verify_trust_update(response.text.strip(), target.bundle, target.now())
    except TrustError as exc:
        raise CaseFailed(f"the trust update does not verify: {exc.reason}: {exc.detail}") from exc
    expect(update.party == target.target_party, f"the update is for party {update.party}")


@case("TRM-01", "the terms listing names the terms version the records were sent under, in force")
def terms_listing(target: Target) -> None:
    response = target.get("/v1/exchange/terms")
    expect(response.status_code == 200, f"GET /v1/exchange/terms answered {response.status_code}")
    document = response.json()
    expect(document.get("party") == target.target_party, f"terms listing names party {document.get('party')}")
    if target.terms_ref is None:
        raise CaseFailed("no terms version in force is listed")
    listed = [{k: t.get(k) for k in ("id", "version", "sha256")} for t in document.get("terms", [])]
    expect(target.terms_ref in listed, "the terms used are not listed")


def _inclusion_path_length(index: int, size: int) -> int:
    """The number of hashes of an RFC 9162 inclusion proof (section 2.1.3.2: inner + border)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + bin(index >> inner).count("1")
