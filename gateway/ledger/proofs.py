"""RFC 9162 proofs from the stored tree: for partners (API) and for ``gateway audit prove``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gateway.ledger import repository, store
from gateway.ledger.errors import LedgerStoreError, ProofRequestError, RecordNotInLedgerError
from gateway.ledger.schemas import ConsistencyProof, InclusionProof
from gateway.ledger.service import entry_document, entry_leaf_hash
from gateway.ledger.tree import consistency_proof_nodes, inclusion_proof_nodes, right_edge


def _check_size(size: int, committed: int) -> None:
    if not 0 <= size <= committed:
        raise ProofRequestError(f"tree size {size} is outside the ledger's 0..{committed} entries")


def inclusion_proof(session: Session, index: int, tree_size: int) -> InclusionProof:
    """Return the inclusion proof of entry ``index`` in the tree of ``tree_size``.

    Raises:
        ProofRequestError: ``index`` or ``tree_size`` is outside the committed tree.
        LedgerStoreError: a stored node is missing.
    """
    tree, nodes = store.open_for_reading(session)
    _check_size(tree_size, tree.size)
    nodes.prefetch([*inclusion_proof_nodes(index, tree_size), *right_edge(tree_size)])
    proof = tree.inclusion_proof(index, tree_size)
    return InclusionProof(
        index=index,
        tree_size=tree_size,
        root_hash=tree.root(tree_size).hex(),
        proof=[node.hex() for node in proof],
    )


def consistency_proof(session: Session, first: int, second: int) -> ConsistencyProof:
    """Return the consistency proof from tree size ``first`` to ``second``.

    Raises:
        ProofRequestError: ``first > second`` or ``second`` is beyond the committed tree.
        LedgerStoreError: a stored node is missing.
    """
    tree, nodes = store.open_for_reading(session)
    _check_size(second, tree.size)
    nodes.prefetch([*consistency_proof_nodes(first, second), *right_edge(first), *right_edge(second)])
    proof = tree.consistency_proof(first, second)
    return ConsistencyProof(
        first=first,
        second=second,
        first_root=tree.root(first).hex(),
        second_root=tree.root(second).hex(),
        proof=[node.hex() for node in proof],
    )


@dataclass(frozen=True)
class SubjectProofs:
    """Inclusion proofs of every entry about one subject, against one tree head."""

    subject: str
    tree_size: int
    root_hash: str
    checkpoint: str | None
    proofs: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "hashing": (
                "RFC 9162 (SHA-256): leaf_hash = SHA-256(0x00 || RFC 8785 JSON of entry), "
                "node = SHA-256(0x01 || left || right)"
            ),
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "checkpoint": self.checkpoint,
            "proofs": self.proofs,
        }


def prove_subject(session: Session, subject: str) -> SubjectProofs:
    """Return inclusion proofs for every entry whose subject is ``subject`` (a record id).

    The proofs are against the newest own checkpoint that contains all those
    entries, whose JWS is included so the root is signed; when no checkpoint
    covers them yet, against the current tree (``checkpoint`` is then None).

    Raises:
        RecordNotInLedgerError: no entry has this subject.
        LedgerStoreError: the stored tree does not give the checkpoint's root.
    """
    entries = repository.entries_for_subject(session, subject)
    if not entries:
        raise RecordNotInLedgerError(f"no ledger entry has subject {subject!r}")
    last_index = entries[-1].index
    checkpoint = repository.latest_covering_checkpoint(session, last_index)
    tree, nodes = store.open_for_reading(session)
    size = checkpoint.tree_size if checkpoint is not None else tree.size
    if size > tree.size:
        raise LedgerStoreError(f"checkpoint of size {size} is larger than the ledger ({tree.size} entries)")
    wanted = list(right_edge(size))
    for entry in entries:
        wanted += inclusion_proof_nodes(entry.index, size)
    nodes.prefetch(wanted)
    root = tree.root(size).hex()
    if checkpoint is not None and checkpoint.root_hash != root:
        raise LedgerStoreError(
            f"the stored tree of size {size} has root {root}, not the signed checkpoint's {checkpoint.root_hash}"
        )
    proofs = [
        {
            "event": entry.event,
            "leaf_index": entry.index,
            "entry": entry_document(entry),
            "leaf_hash": entry_leaf_hash(entry).hex(),
            "tree_size": size,
            "root_hash": root,
            "proof": [node.hex() for node in tree.inclusion_proof(entry.index, size)],
        }
        for entry in entries
    ]
    return SubjectProofs(subject, size, root, checkpoint.jws if checkpoint is not None else None, proofs)
