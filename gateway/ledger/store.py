"""The database :class:`~gateway.ledger.tree.NodeStore`, and a per-process cache of the right edge.

Level 0 of the tree is served from ``ledger_entries.leaf_hash`` (the entry row
already carries it); levels >= 1 live in ``ledger_nodes``. An append then
writes the entry, on average one node, and the head row.

Opening the tree for an append needs its right edge (one node per set bit of
the size, about 20 for a million entries). Rather than read it on every
append, each process keeps the edge it last computed per database engine,
tagged with the tree size *and root* it belongs to. An appender holds the head
row lock and reads ``(size, root_hash)`` from it anyway, so a cached edge is
used only when both match: a rolled-back append, or an append by another
process, changes the head and the edge is re-read (one query). Matching on the
size alone would not do: after a rollback, another writer can reach the same
size with other leaves. The cache is only ever a shortcut: a wrong entry could
at worst cause a re-read, never a wrong tree, because the root it is checked
against is the hash of the edge itself.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from gateway.ledger import repository
from gateway.ledger.errors import LedgerStoreError
from gateway.ledger.merkle import EMPTY_ROOT
from gateway.ledger.tree import MerkleTree, NodeId, right_edge


class DatabaseNodeStore:
    """A :class:`~gateway.ledger.tree.NodeStore` over the caller's session (never commits).

    ``known`` seeds hashes already read (the cached right edge). Hashes read or
    written are remembered for the life of the store, so a node is fetched at
    most once; :meth:`prefetch` fetches many in one query. Writes of level >= 1
    are buffered until :meth:`take_writes`; level-0 writes are dropped because the
    entry row holds the leaf hash.
    """

    def __init__(self, session: Session, known: dict[NodeId, bytes] | None = None) -> None:
        self._session = session
        self._seen: dict[NodeId, bytes] = dict(known or {})
        self._pending: list[tuple[int, int, bytes]] = []

    def get(self, level: int, index: int) -> bytes | None:
        """Return the hash stored at ``(level, index)``, or ``None`` if there is none."""
        key = (level, index)
        if key not in self._seen:
            self.prefetch([key])
        return self._seen.get(key)

    def put(self, level: int, index: int, node_hash: bytes) -> None:
        """Buffer the hash of a complete subtree; a known, equal hash is a no-op.

        Raises:
            LedgerStoreError: a different hash is already known at ``(level, index)``.
        """
        key = (level, index)
        existing = self._seen.get(key)
        if existing is not None:
            if existing != node_hash:
                raise LedgerStoreError(
                    f"node at level {level}, index {index} is already {existing.hex()}, "
                    f"refusing to overwrite it with {node_hash.hex()}"
                )
            return
        self._seen[key] = node_hash
        if level > 0:
            self._pending.append((level, index, node_hash))

    def prefetch(self, ids: Iterable[NodeId]) -> None:
        """Read every not yet known node of ``ids`` in (at most) two queries."""
        missing = [key for key in ids if key not in self._seen]
        if missing:
            self._seen.update(repository.get_nodes(self._session, missing))

    def take_writes(self) -> list[tuple[int, int, bytes]]:
        """Return the buffered ``(level, index, hash)`` writes of level >= 1, and forget them."""
        pending, self._pending = self._pending, []
        return pending

    def known(self, ids: Iterable[NodeId]) -> tuple[bytes, ...]:
        """Return the hashes of ``ids``, all of which must be known (read or written)."""
        return tuple(self._seen[key] for key in ids)


@dataclass(frozen=True, slots=True)
class _RightEdge:
    size: int
    root: bytes
    hashes: tuple[bytes, ...]


class RightEdgeCache:
    """The last right edge computed per engine in this process; see the module docstring."""

    def __init__(self) -> None:
        self._edges: weakref.WeakKeyDictionary[Engine, _RightEdge] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, engine: Engine, size: int, root: bytes | None) -> dict[NodeId, bytes] | None:
        """Return the cached edge of the tree ``(size, root)``, or ``None``."""
        with self._lock:
            edge = self._edges.get(engine)
        if edge is None or root is None or edge.size != size or edge.root != root:
            return None
        return dict(zip(right_edge(size), edge.hashes, strict=True))

    def put(self, engine: Engine, size: int, root: bytes, hashes: tuple[bytes, ...]) -> None:
        with self._lock:
            self._edges[engine] = _RightEdge(size, root, hashes)

    def clear(self) -> None:
        with self._lock:
            self._edges.clear()


RIGHT_EDGES = RightEdgeCache()
"""The process's cache. A module global on purpose: it only saves reads (see above)."""


def engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def open_for_append(
    session: Session, size: int, root: bytes | None, cache: RightEdgeCache = RIGHT_EDGES
) -> tuple[MerkleTree, DatabaseNodeStore]:
    """Return the tree of the locked head ``(size, root)`` ready to append, and its store.

    Raises:
        LedgerStoreError: the stored right edge is missing a node or does not
            hash to the head's root (the nodes were changed; appending on top
            would extend a tree nobody signed).
    """
    known = cache.get(engine_of(session), size, root)
    store = DatabaseNodeStore(session, known)
    tree = MerkleTree(store, size)
    if known is None and size > 0:
        store.prefetch(right_edge(size))
        if root is not None and tree.root() != root:
            raise LedgerStoreError(
                f"the stored right edge of the tree of size {size} does not hash to the head's root {root.hex()}"
            )
    return tree, store


def remember(
    session: Session,
    tree: MerkleTree,
    store: DatabaseNodeStore,
    cache: RightEdgeCache = RIGHT_EDGES,
) -> bytes:
    """Cache the tree's right edge for the next append in this process; return its root."""
    root = tree.root()
    cache.put(engine_of(session), tree.size, root, store.known(right_edge(tree.size)))
    return root


def open_for_reading(session: Session) -> tuple[MerkleTree, DatabaseNodeStore]:
    """Return the committed tree (no lock: committed nodes never change) and its store."""
    size, _root = repository.read_head(session)
    store = DatabaseNodeStore(session)
    return MerkleTree(store, size), store


def stored_root(session: Session, size: int) -> bytes:
    """Return the root of the first ``size`` entries from the stored nodes.

    Raises:
        ProofRequestError: ``size`` is outside the committed tree.
        LedgerStoreError: a node is missing.
    """
    tree, store = open_for_reading(session)
    if size == 0:
        return EMPTY_ROOT
    if 0 < size <= tree.size:
        store.prefetch(right_edge(size))
    return tree.root(size)
