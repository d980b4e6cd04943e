"""Witnessing: fetch each partner's checkpoint, check it extends what we saw, keep it.

:func:`witness_partner` runs the numbered steps below for one partner. No
database transaction is open while the partner is asked anything (SQLite would
hold its write lock for the whole round trip).

1. fetch        — the partner's newest checkpoint (unreachable: status only)
2. signature    — a checkpoint JWS signed by that partner (else: alarm)
3. baseline     — the largest consistent checkpoint we hold of that partner
4. compare      — smaller tree, or same size with another root: alarm;
                  larger: fetch the consistency proof from the baseline and
                  verify it against both signed roots (does not verify: alarm)
5. store        — the checkpoint (with its proof, or marked inconsistent), a
                  ledger event, and the partner's witness status

An alarm is logged at ERROR, recorded as a ``ledger:checkpoint:fork`` event and
kept in the partner's witness status (``/readyz`` shows it) until people act.
The same refused checkpoint served again is logged again, not recorded again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from pydantic import ValidationError
from sqlalchemy.orm import Session

from gateway.errors import GatewayError
from gateway.ledger import repository
from gateway.ledger.checkpoints import verify_checkpoint
from gateway.ledger.errors import ProofError
from gateway.ledger.events import AuditEvent
from gateway.ledger.merkle import verify_consistency
from gateway.ledger.models import Checkpoint, WitnessStatus
from gateway.ledger.schemas import CheckpointBody, ConsistencyProof
from gateway.ledger.service import append_event
from gateway.node import Node
from gateway.transport.client import PartnerClients
from gateway.trust.canonical import sha256_hex
from gateway.trust.errors import TrustError

log = logging.getLogger("gateway.ledger.witness")


class WitnessFetchError(GatewayError):
    """A partner did not answer a witness request usefully (network, HTTP status)."""

    slug = "witness-fetch"
    title = "Partner ledger unavailable"
    status = 502


class CheckpointSource(Protocol):
    """Where a partner's checkpoint and proofs come from (HTTP in production, fakes in tests)."""

    def checkpoint(self) -> str:
        """Return the partner's newest checkpoint JWS; raise WitnessFetchError."""
        ...

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """Return the proof from ``first`` to ``second``; raise WitnessFetchError or ProofError."""
        ...


@dataclass
class PartnerLedger:
    """A partner's ledger over its partner listener (mutual TLS)."""

    clients: PartnerClients
    party: str

    def _get(self, path: str) -> httpx.Response:
        try:
            response = self.clients.get(self.party, path)
        except httpx.HTTPError as exc:
            raise WitnessFetchError(f"{self.party}: {type(exc).__name__}: {exc}"[:280]) from exc
        if response.status_code != 200:
            raise WitnessFetchError(f"{self.party} answered {response.status_code} to {path}")
        return response

    def checkpoint(self) -> str:
        return self._get("/v1/exchange/checkpoint").text.strip()

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        response = self._get(f"/v1/exchange/proofs/consistency?first={first}&second={second}")
        try:
            answer = ConsistencyProof.model_validate_json(response.content)
        except ValidationError as exc:
            raise ProofError(f"{self.party} sent a malformed consistency proof") from exc
        if (answer.first, answer.second) != (first, second):
            raise ProofError(f"{self.party} sent a proof for other tree sizes")
        return [bytes.fromhex(node) for node in answer.proof]


@dataclass(frozen=True)
class Observation:
    """What one witness round saw of one partner.

    ``state``: ``new`` (a larger consistent checkpoint was stored), ``unchanged``,
    ``fork``, ``unreachable``, ``error`` (nothing could be concluded) or
    ``raced`` (another process stored a checkpoint meanwhile).
    """

    party: str
    state: str
    detail: str
    tree_size: int | None = None


@dataclass(frozen=True)
class _Baseline:
    pk: int
    tree_size: int
    root_hash: str


def witness_partner(node: Node, party: str, source: CheckpointSource) -> Observation:
    """Run one witness round against ``party`` (the steps of the module docstring)."""
    # 1. fetch
    try:
        jws = source.checkpoint()
    except WitnessFetchError as exc:
        return _status_only(node, party, "unreachable", exc.detail)
    digest = sha256_hex(jws.encode("ascii", "replace"))
    with node.transaction() as session:
        baseline = _baseline(session, party)
        status = repository.witness_status(session, party)
    if status is not None and status.state == "fork" and status.last_jws_sha256 == digest:
        # Alarmed already (log, event, status): say it again in the log only.
        log.error("ledger fork: %s still serves the checkpoint refused before", party)
        return _status_only(node, party, "fork", status.detail or "fork")
    # 2. signature
    try:
        body = verify_checkpoint(jws, node.bundle, node.now(), party=party).payload
    except TrustError as exc:
        return _alarm(node, party, f"checkpoint refused: {exc.reason}: {exc.detail}", digest, None)
    # 3. baseline: read above, before the signature check, in the same snapshot as the status
    # 4. compare
    proof: list[bytes] | None = None
    problem: str | None = None
    if baseline is None:
        pass  # first sight: nothing to be consistent with
    elif body.tree_size < baseline.tree_size:
        problem = f"smaller tree: size {body.tree_size} after size {baseline.tree_size} was witnessed"
    elif body.tree_size == baseline.tree_size:
        if body.root_hash == baseline.root_hash:
            return _status_only(node, party, "ok", "unchanged", body, digest, outcome="unchanged")
        problem = f"two roots for tree size {body.tree_size}: {baseline.root_hash} witnessed, now {body.root_hash}"
    else:
        try:
            proof = source.consistency_proof(baseline.tree_size, body.tree_size) if baseline.tree_size else []
            verify_consistency(
                baseline.tree_size,
                body.tree_size,
                bytes.fromhex(baseline.root_hash),
                bytes.fromhex(body.root_hash),
                proof,
            )
        except WitnessFetchError as exc:
            return _status_only(node, party, "error", f"no consistency proof: {exc.detail}")
        except ProofError as exc:
            problem = f"inconsistent with size {baseline.tree_size}: {exc.detail}"
    # 5. store
    if problem is not None:
        return _alarm(node, party, problem, digest, body, jws)
    return _store(node, party, body, jws, digest, baseline, proof)


def _baseline(session: Session, party: str) -> _Baseline | None:
    row = repository.witnessed_baseline(session, party)
    return None if row is None else _Baseline(row.pk, row.tree_size, row.root_hash)


def _checkpoint_row(
    node: Node, body: CheckpointBody, jws: str, *, consistent: bool, note: str | None = None
) -> Checkpoint:
    return Checkpoint(
        origin=body.origin,
        party=body.party,
        own=False,
        tree_size=body.tree_size,
        root_hash=body.root_hash,
        signed_at=body.signed_at,
        stored_at=node.now(),
        jws=jws,
        consistent=consistent,
        note=note[:300] if note else None,
    )


def _store(
    node: Node,
    party: str,
    body: CheckpointBody,
    jws: str,
    digest: str,
    baseline: _Baseline | None,
    proof: list[bytes] | None,
) -> Observation:
    with node.transaction() as session:
        if _baseline(session, party) != baseline:
            return Observation(party, "raced", "another process stored a checkpoint meanwhile")
        row = _checkpoint_row(node, body, jws, consistent=True)
        if baseline is not None and proof is not None:
            row.proof_from = baseline.tree_size
            row.proof = ",".join(node_hash.hex() for node_hash in proof)
        repository.add_checkpoint(session, row)
        append_event(
            session,
            AuditEvent.CHECKPOINT_WITNESSED,
            actor=f"witness:{node.party}",
            subject=f"checkpoint:{party}",
            at=node.now(),
            detail={
                "origin": body.origin,
                "tree_size": body.tree_size,
                "root_hash": body.root_hash,
                "jws_sha256": digest,
            },
        )
        _update_status(session, node, party, "ok", "consistent", body, digest, witnessed=True)
    log.info("witnessed %s at tree size %d", party, body.tree_size)
    return Observation(party, "new", "consistent", body.tree_size)


def _alarm(
    node: Node,
    party: str,
    reason: str,
    digest: str,
    body: CheckpointBody | None,
    jws: str | None = None,
) -> Observation:
    log.error("ledger fork: partner %s: %s", party, reason)
    now = node.now()
    with node.transaction() as session:
        if body is not None and jws is not None:
            # Signed and contradicting what the partner signed before: evidence.
            repository.add_checkpoint(session, _checkpoint_row(node, body, jws, consistent=False, note=reason))
        append_event(
            session,
            AuditEvent.CHECKPOINT_FORK,
            actor=f"witness:{node.party}",
            subject=f"checkpoint:{party}",
            at=now,
            detail={"reason": reason, "jws_sha256": digest},
        )
        status = _update_status(session, node, party, "fork", reason, body, digest)
        status.alarm = reason[:300]
        status.alarm_at = now
    return Observation(party, "fork", reason, body.tree_size if body is not None else None)


def _status_only(
    node: Node,
    party: str,
    state: str,
    detail: str,
    body: CheckpointBody | None = None,
    digest: str | None = None,
    *,
    outcome: str | None = None,
) -> Observation:
    with node.transaction() as session:
        status = repository.witness_status(session, party)
        changed = status is None or status.state != state
        _update_status(session, node, party, state, detail, body, digest)
    if state in ("unreachable", "error") and changed:
        log.warning("witnessing %s: %s", party, detail)
    return Observation(party, outcome or state, detail, body.tree_size if body is not None else None)


def _update_status(
    session: Session,
    node: Node,
    party: str,
    state: str,
    detail: str,
    body: CheckpointBody | None,
    digest: str | None,
    *,
    witnessed: bool = False,
) -> WitnessStatus:
    now: datetime = node.now()
    status = repository.witness_status(session, party)
    if status is None:
        status = repository.add_witness_status(session, WitnessStatus(party=party, state=state, checked_at=now))
    status.state = state
    status.detail = detail[:300]
    status.checked_at = now
    if body is not None:
        status.origin = body.origin
        status.tree_size = body.tree_size
        status.root_hash = body.root_hash
    if digest is not None:
        status.last_jws_sha256 = digest
    if witnessed:
        status.witnessed_at = now
    return status
