"""Errors of the audit ledger: proofs, the node store, checkpoints, witnessing, tampering."""

from __future__ import annotations

from gateway.errors import GatewayError, InputError, NotFoundError


class ProofError(GatewayError):
    """An inclusion or consistency proof does not verify, or is malformed."""

    slug = "invalid-proof"
    title = "Merkle proof does not verify"
    status = 422


class ProofRequestError(InputError):
    """A root or proof was asked for an index or size the tree cannot answer."""

    slug = "invalid-proof-request"
    title = "Tree index or size out of range"
    status = 400


class LedgerStoreError(GatewayError):
    """The node store lacks a node the tree needs, or holds a conflicting one."""

    slug = "ledger-store"
    title = "Ledger node store inconsistent"
    status = 500
    hint = "run `gateway audit verify` to recompute the tree from the ledger entries"


class NoCheckpointError(NotFoundError):
    """This node has not signed a checkpoint yet."""

    slug = "no-checkpoint"
    title = "No checkpoint signed yet"


class RecordNotInLedgerError(NotFoundError):
    """No ledger entry has the given subject (record id)."""

    slug = "not-in-ledger"
    title = "No ledger entry for this subject"


class LedgerTamperedError(GatewayError):
    """The ledger in the database does not match itself or its signed checkpoints.

    ``first_bad_index`` is the lowest entry index that was changed, deleted or
    moved, or the first entry of the narrowest range that must hold the change
    when only a hash above the entries betrays it; None when no entry is
    affected (e.g. only a stored node or checkpoint row was changed).
    ``problems`` lists every finding, in the order found.
    """

    slug = "ledger-tampered"
    title = "Ledger tampered"
    status = 500
    hint = "compare the database with a backup and with the partners' witnessed checkpoints"

    def __init__(self, detail: str, *, first_bad_index: int | None, problems: list[str] | None = None) -> None:
        super().__init__(detail)
        self.first_bad_index = first_bad_index
        self.problems = problems or [detail]
