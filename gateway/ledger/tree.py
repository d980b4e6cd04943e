"""An append-only RFC 9162 Merkle tree kept as complete subtrees in a :class:`NodeStore`.

Layout
------
Node ``(level, index)`` is the hash of the *complete* (perfect) subtree over
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf
hashes. Such a node never changes once the tree has grown past its last leaf,
so it is written once and only read afterwards. Incomplete right-edge subtrees
are never stored: they are folded from complete ones when needed.

Every range the RFC's recursive split produces starts at a multiple of the
smallest power of two not below its length, so it decomposes into at most
``log2(n) + 1`` complete subtrees (the binary digits of its length, largest
first), and folding them from the right gives exactly its RFC hash. Hence:

- ``append``: one leaf hash plus one node per subtree it completes (amortized
  two writes, at most ``log2(n) + 1``), and no reads once the right edge
  (the "frontier", ``O(log n)`` nodes) is loaded.
- ``root(size)``, ``inclusion_proof``, ``consistency_proof``: at most
  ``2 * b + 1`` reads each, ``b`` being the bit length of the size (41 for a
  million leaves), for any past size as well as the current one.

Proofs are byte-for-byte the RFC 9162 ``PATH`` and ``PROOF`` lists, so
:func:`gateway.ledger.merkle.verify_inclusion` and
:func:`~gateway.ledger.merkle.verify_consistency` (or any CT verifier) check them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway.errors import InputError
from gateway.ledger.errors import LedgerStoreError, ProofRequestError
from gateway.ledger.merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash

NodeId = tuple[int, int]
"""``(level, index)`` of a complete subtree; see the module docstring."""


class NodeStore(Protocol):
    """Where a :class:`MerkleTree` keeps the hashes of its complete subtrees.

    Contract for implementations (the database one stores rows
    ``(level, index, hash)`` with primary key ``(level, index)``):

    - Keys are ``level >= 0`` and ``index >= 0``; values are 32-byte hashes.
      ``(0, i)`` is the *leaf hash* of entry ``i`` (``SHA-256(0x00 || entry)``),
      so a store may serve level 0 from the entries table instead.
    - Nodes are immutable. ``put`` of a key that already exists always carries
      the same hash (a retried write); a store may ignore it, and should raise
      :class:`~gateway.ledger.merkle.LedgerStoreError` if the hash differs.
    - ``get`` returns ``None`` for a missing key; it never raises for that.
    - The tree never commits. Its writes belong to the caller's transaction,
      together with the entry and the new tree size. After a rollback, throw
      the :class:`MerkleTree` away and build a new one at the committed size.
    - One writer at a time: appends must be serialized by the caller (e.g.
      lock the row holding the tree size). Readers need no lock, because a
      node a root or proof of a committed size reads is never rewritten.
    - Reads per call are ``O(log n)`` single-key lookups (see the module
      docstring); there are about ``2n`` rows for ``n`` leaves.
    """

    def get(self, level: int, index: int) -> bytes | None:
        """Return the hash stored at ``(level, index)``, or ``None`` if there is none."""
        ...

    def put(self, level: int, index: int, node_hash: bytes) -> None:
        """Store the hash of the complete subtree at ``(level, index)``."""
        ...


class InMemoryNodeStore:
    """A :class:`NodeStore` in lists, one per level, for tests, benchmarks and recomputation."""

    def __init__(self) -> None:
        # Lists rather than a dict keyed by tuples: the tree writes each level
        # left to right, and a million-leaf tree then takes about 140 MiB, not 370.
        self._levels: list[list[bytes | None]] = []

    def get(self, level: int, index: int) -> bytes | None:
        """Return the hash stored at ``(level, index)``, or ``None`` if there is none."""
        if level < 0 or index < 0 or level >= len(self._levels):
            return None
        row = self._levels[level]
        return row[index] if index < len(row) else None

    def put(self, level: int, index: int, node_hash: bytes) -> None:
        """Store a hash; re-storing the same hash is a no-op.

        Raises:
            LedgerStoreError: a different hash is already stored at ``(level, index)``.
        """
        if level < 0 or index < 0:
            raise LedgerStoreError(f"no node at level {level}, index {index}")
        while len(self._levels) <= level:
            self._levels.append([])
        row = self._levels[level]
        if index >= len(row):
            row.extend([None] * (index - len(row)))
            row.append(node_hash)
            return
        existing = row[index]
        if existing is None:
            row[index] = node_hash
        elif existing != node_hash:
            raise LedgerStoreError(
                f"node at level {level}, index {index} is already {existing.hex()}, "
                f"refusing to overwrite it with {node_hash.hex()}"
            )

    def __len__(self) -> int:
        """Return the number of stored nodes."""
        return sum(sum(node is not None for node in row) for row in self._levels)


class MerkleTree:
    """An append-only RFC 9162 Merkle tree over a :class:`NodeStore`.

    ``MerkleTree(store, size)`` opens a tree that already holds ``size``
    leaves in ``store`` (``0`` for a new one); the caller keeps the size
    (e.g. in the ledger head row). Not thread-safe: one writer at a time.
    """

    def __init__(self, store: NodeStore, size: int = 0) -> None:
        if size < 0:
            raise ProofRequestError(f"tree size must not be negative, got {size}")
        self._store = store
        self._size = size
        # Hashes of the complete subtrees that make up the current tree, largest
        # (leftmost) first: one per set bit of the size. Loaded on first append.
        self._frontier: list[bytes] | None = [] if size == 0 else None

    @property
    def size(self) -> int:
        """The number of leaves in the tree."""
        return self._size

    def append(self, entry: bytes) -> int:
        """Append one log entry (hashed here with :func:`~gateway.ledger.merkle.leaf_hash`).

        Returns:
            The index of the new leaf.

        Raises:
            LedgerStoreError: the store lacks a node of the current right edge,
                or refuses a write; the tree is then left as it was.
        """
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, leaf: bytes) -> int:
        """Append a leaf by its leaf hash, storing it and every subtree it completes.

        Returns:
            The index of the new leaf.

        Raises:
            InputError: ``leaf`` is not 32 bytes.
            LedgerStoreError: the store lacks a node of the current right edge,
                or refuses a write; the tree is then left as it was.
        """
        if len(leaf) != HASH_SIZE:
            raise InputError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf)}")
        frontier = self._load_frontier()
        index = self._size
        new_nodes = [(0, index, leaf)]
        node, level, position, merged = leaf, 0, index, 0
        # Each trailing 1 bit of the index is a complete left sibling on the
        # frontier that this leaf now pairs with.
        while position & 1:
            merged += 1
            node = node_hash(frontier[-merged], node)
            level += 1
            position >>= 1
            new_nodes.append((level, position, node))
        # Write everything before changing this object, so a failing put leaves
        # it describing the previous, still valid tree.
        for node_level, node_index, node_value in new_nodes:
            self._store.put(node_level, node_index, node_value)
        if merged:
            del frontier[-merged:]
        frontier.append(node)
        self._size = index + 1
        return index

    def root(self, size: int | None = None) -> bytes:
        """Return the RFC 9162 root ``MTH`` of the first ``size`` leaves (default: all).

        Raises:
            ProofRequestError: ``size`` is negative or larger than the tree.
            LedgerStoreError: the store lacks a node the root needs.
        """
        size = self._checked_size(size)
        if size == 0:
            return EMPTY_ROOT
        if size == self._size and self._frontier is not None:
            return _fold(self._frontier)
        return _fold([self._node(*node) for node in _complete_subtrees(0, size)])

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the RFC 9162 inclusion proof ``PATH`` of leaf ``index`` in the tree of ``size``.

        Returns:
            The audit path, leaf to root (empty for a one-leaf tree).

        Raises:
            ProofRequestError: ``size`` is out of range or ``index >= size``.
            LedgerStoreError: the store lacks a node the proof needs.
        """
        size = self._checked_size(size)
        if not 0 <= index < size:
            raise ProofRequestError(f"leaf index {index} is outside a tree of size {size}")
        return [self._subtree(nodes) for nodes in _inclusion_layout(index, size)]

    def consistency_proof(self, first_size: int, second_size: int | None = None) -> list[bytes]:
        """Return the RFC 9162 consistency proof ``PROOF`` from ``first_size`` to ``second_size``.

        ``second_size`` defaults to the current size. The proof is empty when
        ``first_size`` is 0 or equals ``second_size``.

        Raises:
            ProofRequestError: a size is out of range or ``first_size > second_size``.
            LedgerStoreError: the store lacks a node the proof needs.
        """
        second_size = self._checked_size(second_size)
        if not 0 <= first_size <= second_size:
            raise ProofRequestError(f"no consistency proof from tree size {first_size} to {second_size}")
        return [self._subtree(nodes) for nodes in _consistency_layout(first_size, second_size)]

    def _checked_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise ProofRequestError(f"tree size {size} is outside 0..{self._size}")
        return size

    def _load_frontier(self) -> list[bytes]:
        if self._frontier is None:
            self._frontier = [self._node(*node) for node in _complete_subtrees(0, self._size)]
        return self._frontier

    def _subtree(self, nodes: Sequence[NodeId]) -> bytes:
        return _fold([self._node(level, index) for level, index in nodes])

    def _node(self, level: int, index: int) -> bytes:
        node = self._store.get(level, index)
        if node is None or len(node) != HASH_SIZE:
            raise LedgerStoreError(
                f"node at level {level}, index {index} of a tree of size {self._size} "
                + ("is missing" if node is None else f"is {len(node)} bytes, not {HASH_SIZE}")
            )
        return node


def in_memory_tree(leaf_hashes: Iterable[bytes]) -> MerkleTree:
    """Return a tree over an :class:`InMemoryNodeStore` holding ``leaf_hashes`` in order.

    To check many roots or proofs of one log (e.g. every stored checkpoint),
    build this once (``O(n)``) and ask it (``O(log n)`` each).

    Raises:
        InputError: a leaf hash is not 32 bytes.
    """
    tree = MerkleTree(InMemoryNodeStore())
    for leaf in leaf_hashes:
        tree.append_leaf_hash(leaf)
    return tree


def merkle_tree_hash(leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the RFC 9162 ``MTH`` (root) of a list of leaf hashes; :data:`EMPTY_ROOT` if empty.

    Raises:
        InputError: a leaf hash is not 32 bytes.
    """
    return in_memory_tree(leaf_hashes).root()


def inclusion_path(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the RFC 9162 ``PATH(index, D[n])`` over a list of leaf hashes.

    Raises:
        ProofRequestError: ``index`` is outside the list.
        InputError: a leaf hash is not 32 bytes.
    """
    return in_memory_tree(leaf_hashes).inclusion_proof(index)


def consistency_path(first_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the RFC 9162 ``PROOF(first_size, D[n])`` over a list of leaf hashes.

    Raises:
        ProofRequestError: ``first_size`` is negative or longer than the list.
        InputError: a leaf hash is not 32 bytes.
    """
    return in_memory_tree(leaf_hashes).consistency_proof(first_size)


def right_edge(size: int) -> list[NodeId]:
    """Return the complete subtrees that make up a tree of ``size`` leaves, largest first.

    Their hashes are what :class:`MerkleTree` reads to append or to compute
    ``root(size)``; a store can fetch them in one query beforehand.

    Raises:
        ProofRequestError: ``size`` is negative.
    """
    if size < 0:
        raise ProofRequestError(f"tree size must not be negative, got {size}")
    return _complete_subtrees(0, size)


def inclusion_proof_nodes(index: int, size: int) -> list[NodeId]:
    """Return every node :meth:`MerkleTree.inclusion_proof` reads for ``(index, size)``.

    Raises:
        ProofRequestError: ``size`` is negative or ``index`` is outside it.
    """
    if not 0 <= index < size:
        raise ProofRequestError(f"leaf index {index} is outside a tree of size {size}")
    return [node for nodes in _inclusion_layout(index, size) for node in nodes]


def consistency_proof_nodes(first_size: int, second_size: int) -> list[NodeId]:
    """Return every node :meth:`MerkleTree.consistency_proof` reads for the two sizes.

    Raises:
        ProofRequestError: ``first_size`` is negative or larger than ``second_size``.
    """
    if not 0 <= first_size <= second_size:
        raise ProofRequestError(f"no consistency proof from tree size {first_size} to {second_size}")
    return [node for nodes in _consistency_layout(first_size, second_size) for node in nodes]


def _fold(hashes: Sequence[bytes]) -> bytes:
    # Complete subtrees left to right, largest first: RFC 9162 pairs the
    # largest power-of-two prefix with the rest, so fold from the right.
    result = hashes[-1]
    for position in range(len(hashes) - 2, -1, -1):
        result = node_hash(hashes[position], result)
    return result


def _split(size: int) -> int:
    # The RFC's k: the largest power of two strictly less than size (size >= 2).
    return 1 << ((size - 1).bit_length() - 1)


def _complete_subtrees(start: int, end: int) -> list[NodeId]:
    # The complete subtrees covering [start, end), largest first. Valid for
    # ranges of the RFC split, whose start is aligned to their size's power.
    nodes: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _inclusion_layout(index: int, size: int) -> list[list[NodeId]]:
    # RFC 9162 PATH, unrolled: walk down from the root, noting at each split the
    # sibling range not containing the leaf. Only a sibling on the right can be
    # incomplete, and after it the walk is inside a complete subtree, so only
    # one sibling needs more than one stored node.
    siblings: list[list[NodeId]] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            siblings.append(_complete_subtrees(middle, end))
            end = middle
        else:
            siblings.append(_complete_subtrees(start, middle))
            start = middle
    siblings.reverse()
    return siblings


def _consistency_layout(first_size: int, second_size: int) -> list[list[NodeId]]:
    # RFC 9162 SUBPROOF(m, D[n], b), unrolled like _inclusion_layout; "known"
    # is the RFC's b: the current range is a prefix the verifier knows the root of.
    if first_size in (0, second_size):
        return []
    nodes: list[list[NodeId]] = []
    start, end, known = 0, second_size, True
    first_end = first_size
    while first_end != end:
        middle = start + _split(end - start)
        if first_end <= middle:
            nodes.append(_complete_subtrees(middle, end))
            end = middle
        else:
            nodes.append(_complete_subtrees(start, middle))
            start, known = middle, False
    if not known:
        nodes.append(_complete_subtrees(start, end))
    nodes.reverse()
    return nodes
