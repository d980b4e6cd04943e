"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proof verification.

Pure functions, no storage: the hashes of RFC 9162 section 2.1.1 and the
verification algorithms of sections 2.1.3.2 (inclusion) and 2.1.4.2
(consistency). A partner or the offline ``gateway audit verify`` can check a
proof with this module alone; building trees and proofs is in
:mod:`gateway.ledger.tree`.

Hashes are raw 32-byte SHA-256 digests. Leaf and interior hashes are domain
separated (``0x00`` / ``0x01`` prefix) so a leaf can never be passed off as an
interior node (second-preimage attack on plain Merkle trees).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

# The errors live in errors.py with the rest of the domain's; re-exported here
# because verifiers import them together with the functions that raise them.
from gateway.ledger.errors import LedgerStoreError as LedgerStoreError
from gateway.ledger.errors import ProofError as ProofError
from gateway.ledger.errors import ProofRequestError as ProofRequestError

HASH_SIZE = 32
"""Length in bytes of every hash of the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}): the root of the empty tree, the SHA-256 of the empty string."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || entry)`` of one log entry."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_from_inclusion_proof(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes:
    """Return the root that ``proof`` yields for ``leaf`` at ``index`` in a tree of ``tree_size``.

    Steps 1-3 of :func:`verify_inclusion`; the caller compares the result
    with a root it trusts.

    Raises:
        ProofError: the index is outside the tree, a hash is not 32 bytes, or
            the proof has the wrong number of nodes for (index, tree_size).
    """
    # 1. range: the leaf must lie inside the tree.
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    # 2. hash sizes.
    _require_hash("leaf hash", leaf)
    for position, node in enumerate(proof):
        _require_hash(f"proof node {position}", node)
    # 3. walk the audit path from the leaf up (RFC 9162 section 2.1.3.2).
    #    fn is the node's index at the current level, sn the last index there.
    fn, sn = index, tree_size - 1
    computed = leaf
    for node in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof has {len(proof)} nodes, more than index {index} in a tree of size {tree_size} needs"
            )
        if fn & 1 or fn == sn:
            computed = node_hash(node, computed)
            # A right-edge node without a sibling is promoted unchanged: skip the
            # levels where it is a left child with nothing to its right.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            computed = node_hash(computed, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"inclusion proof has {len(proof)} nodes, fewer than index {index} in a tree of size {tree_size} needs"
        )
    return computed


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` is the leaf hash at ``index`` of the tree of ``tree_size`` with ``root``.

    1. range      — ``0 <= index < tree_size``
    2. hash sizes — the leaf hash, the root and every proof node are 32 bytes
    3. path       — RFC 9162 section 2.1.3.2 consumes exactly the whole proof
    4. root       — the recomputed root equals ``root``

    ``leaf`` is a leaf *hash* (:func:`leaf_hash` of the entry), not the entry.

    Returns:
        None when the proof verifies.

    Raises:
        ProofError: at the first step that fails, saying which.
    """
    computed = root_from_inclusion_proof(leaf, index, tree_size, proof)
    _require_hash("root", root)
    if computed != root:
        raise ProofError(
            f"inclusion proof for index {index} yields root {computed.hex()}, "
            f"not {root.hex()} of the tree of size {tree_size}"
        )


def verify_consistency(
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of ``second_size`` and ``second_root`` extends that of ``first_size``.

    1. sizes      — ``0 <= first_size <= second_size``
    2. hash sizes — both roots and every proof node are 32 bytes
    3. trivial    — an empty first tree (whose root must be :data:`EMPTY_ROOT`)
                    or equal sizes (equal roots) take an empty proof
    4. path       — RFC 9162 section 2.1.4.2 consumes exactly the whole proof
    5. roots      — the two recomputed roots equal ``first_root`` and ``second_root``

    Returns:
        None when the proof verifies.

    Raises:
        ProofError: at the first step that fails, saying which.
    """
    # 1. sizes: a log only grows.
    if not 0 <= first_size <= second_size:
        raise ProofError(f"tree size {first_size} cannot precede tree size {second_size} in an append-only log")
    # 2. hash sizes.
    _require_hash("first root", first_root)
    _require_hash("second root", second_root)
    for position, node in enumerate(proof):
        _require_hash(f"proof node {position}", node)
    # 3. trivial cases, which RFC 9162 leaves to the caller. Stricter than
    #    some verifiers: the empty tree must have the empty-tree root, so a
    #    checkpoint of size 0 cannot carry an arbitrary value.
    if first_size == 0 or first_size == second_size:
        if proof:
            raise ProofError(
                f"consistency proof from size {first_size} to {second_size} must be empty, it has {len(proof)} nodes"
            )
        if first_size == 0 and first_root != EMPTY_ROOT:
            raise ProofError("the root of an empty tree must be SHA-256 of the empty string")
        if first_size == second_size and first_root != second_root:
            raise ProofError(f"two different roots for the same tree size {first_size}")
        return
    # 4. path (RFC 9162 section 2.1.4.2).
    if not proof:
        raise ProofError(f"consistency proof from size {first_size} to {second_size} is empty")
    path = list(proof)
    if first_size & (first_size - 1) == 0:
        # The first tree is a complete subtree of the second; its root is the
        # starting node, so the proof leaves it out.
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_computed = second_computed = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof has {len(proof)} nodes, more than sizes {first_size} to {second_size} need"
            )
        if fn & 1 or fn == sn:
            first_computed = node_hash(node, first_computed)
            second_computed = node_hash(node, second_computed)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            second_computed = node_hash(second_computed, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"consistency proof has {len(proof)} nodes, fewer than sizes {first_size} to {second_size} need"
        )
    # 5. roots.
    if first_computed != first_root:
        raise ProofError(
            f"consistency proof yields root {first_computed.hex()} for size {first_size}, not {first_root.hex()}"
        )
    if second_computed != second_root:
        raise ProofError(
            f"consistency proof yields root {second_computed.hex()} for size {second_size}, not {second_root.hex()}"
        )


def _require_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {len(value)}")
