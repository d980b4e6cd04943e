"""Signed checkpoints: a node's statement "my ledger has N entries and this root".

Format: a compact JWS, not a C2SP signed note
--------------------------------------------
A checkpoint is a compact JWS (``typ: "mou-checkpoint+jws"``) over the RFC 8785
JSON ``{origin, party, tree_size, root_hash (hex), signed_at (RFC 3339)}``,
signed with the node's record-signing key, ``x5c`` carrying its certificate.

The C2SP ``tlog-checkpoint`` text in a ``signed-note`` envelope was the other
candidate; it is what the Go transparency-log ecosystem (Sigsum, litewitness,
omniwitness) speaks. We chose the JWS because:

- the trust is the same as for every other signed document of the MOU: the
  signer is named by its X.509 chain to a party CA in the trust bundle, with
  validity, CRL revocation, key usage and the party check done by the one
  verifier (:func:`gateway.trust.verify.verify_compact`). A signed note names
  its key only by ``name+keyhash`` and has no notion of expiry or revocation;
  the bundle would need a second key registry;
- the parties' signing keys are ES256 by default; signed notes define Ed25519
  (and an RFC 6962 ECDSA flavour for CT logs only), so ES256 nodes would need
  an extra key;
- partners already parse and verify this JWS shape for receipts.

The cost is that an off-the-shelf tlog witness cannot cosign these
checkpoints. The payload carries exactly a signed note's checkpoint body
(origin, size, root hash), so an Ed25519 node could also publish a signed note
later without changing the tree or the proofs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from gateway.ledger import repository, store
from gateway.ledger.errors import NoCheckpointError
from gateway.ledger.models import Checkpoint
from gateway.ledger.schemas import CheckpointBody
from gateway.node import Node
from gateway.records.schemas import describe_validation_error
from gateway.trust.bundle import TrustBundle
from gateway.trust.canonical import canonicalize
from gateway.trust.errors import PartyMismatchError, SchemaViolationError
from gateway.trust.jws import CHECKPOINT_TYP, parse_compact, sign_compact
from gateway.trust.keys import SigningKey
from gateway.trust.verify import Verified, check_canonical, verify_compact

LEDGER_DOMAIN = "ledger:"
"""Prefix of the ledger's own events; growth made only of these does not call for a checkpoint.

Otherwise witnessing would never settle: A stores B's new checkpoint (an
event), so A's tree grew, A signs, B witnesses A (an event), B signs, ...
"""


def sign_body(body: CheckpointBody, key: SigningKey) -> str:
    """Return ``body`` as a compact checkpoint JWS signed with ``key``."""
    return sign_compact(canonicalize(body.model_dump(mode="json")), key, CHECKPOINT_TYP)


def parse_checkpoint_body(document: Any) -> CheckpointBody:
    """Return the checkpoint payload; raises SchemaViolationError when it is not one."""
    try:
        return CheckpointBody.model_validate(document)
    except ValidationError as exc:
        raise SchemaViolationError(describe_validation_error(exc)) from exc


def unsafe_checkpoint_body(value: str) -> CheckpointBody:
    """Return a checkpoint JWS's payload WITHOUT verifying its signature (no trust bundle at hand).

    Raises:
        TrustError: the JWS or its payload is malformed.
    """
    return parse_checkpoint_body(check_canonical(parse_compact(value, expected_typ=CHECKPOINT_TYP).payload))


def verify_checkpoint(value: str | bytes, bundle: TrustBundle, at: datetime, *, party: str) -> Verified[CheckpointBody]:
    """Verify a checkpoint JWS that ``party`` must have signed.

    The steps of :func:`gateway.trust.verify.verify_compact` (header, algorithm,
    chain to a bundle CA, validity at ``at``, revocation, key usage, signature,
    canonical payload of the checkpoint schema, payload ``party`` = signer's
    party), then: 10. the signer's party is ``party``.

    Returns:
        The verified checkpoint.

    Raises:
        TrustError: the subclass of the first failing step.
    """
    verified = verify_compact(
        value,
        bundle=bundle,
        at=at,
        typ=CHECKPOINT_TYP,
        parse=parse_checkpoint_body,
        claimed_party=lambda body: body.party,
    )
    if verified.signer_party != party:
        raise PartyMismatchError(f"checkpoint signed by {verified.signer_party}, expected {party}")
    return verified


def sign_checkpoint(session: Session, node: Node) -> Checkpoint:
    """Sign and store a checkpoint of the current tree; holds the head lock while doing so.

    Returns:
        The stored own checkpoint.
    """
    size, head_root = repository.lock_head(session)
    root = head_root if head_root is not None else store.stored_root(session, size)
    now = node.now()
    body = CheckpointBody(
        origin=node.settings.origin,
        party=node.party,
        tree_size=size,
        root_hash=root.hex(),
        signed_at=now.replace(microsecond=0),
    )
    return repository.add_checkpoint(
        session,
        Checkpoint(
            origin=body.origin,
            party=body.party,
            own=True,
            tree_size=body.tree_size,
            root_hash=body.root_hash,
            signed_at=body.signed_at,
            stored_at=now,
            jws=sign_body(body, node.signing_key),
            consistent=True,
        ),
    )


def checkpoint_due(session: Session, node: Node, *, force: bool = False) -> bool:
    """Return whether the tree grew enough since the last own checkpoint to sign a new one.

    Due when there is none yet; when ``checkpoint_every_entries`` entries were
    added; or when ``checkpoint_every_seconds`` passed and at least one entry
    outside the ledger's own events was added. ``force``: when anything was
    added at all.
    """
    last = repository.latest_own_checkpoint(session)
    if last is None:
        return True
    size = repository.tree_size(session)
    if size <= last.tree_size:
        return False
    settings = node.settings
    if force or size - last.tree_size >= settings.checkpoint_every_entries:
        return True
    elapsed = node.now() - last.signed_at
    if elapsed < timedelta(seconds=settings.checkpoint_every_seconds):
        return False
    return repository.has_entries_outside(session, LEDGER_DOMAIN, last.tree_size)


def checkpoint_if_due(node: Node, *, force: bool = False) -> Checkpoint | None:
    """Sign a checkpoint in its own transaction when :func:`checkpoint_due`; return it or None.

    The decision is taken again under the head lock, so processes sharing one
    database do not sign the same tree twice.
    """
    with node.transaction() as session:
        if not checkpoint_due(session, node, force=force):
            return None
    with node.transaction() as session:
        repository.lock_head(session)
        if not checkpoint_due(session, node, force=force):
            return None
        return sign_checkpoint(session, node)


def latest_checkpoint_jws(session: Session) -> str:
    """Return the newest own checkpoint JWS.

    Raises:
        NoCheckpointError: none was signed yet.
    """
    checkpoint = repository.latest_own_checkpoint(session)
    if checkpoint is None:
        raise NoCheckpointError("this node has not signed a ledger checkpoint yet")
    return checkpoint.jws
