"""RFC 9162 Merkle tree: CT test vectors, a naive reference, bit flips and store access counts.

The reference below is the RFC's recursive definition written with list
slices and its own SHA-256 calls, so it shares no code with the library.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import GatewayError, InputError
from gateway.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    LedgerStoreError,
    ProofError,
    ProofRequestError,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from gateway.ledger.tree import (
    InMemoryNodeStore,
    MerkleTree,
    NodeId,
    NodeStore,
    consistency_path,
    in_memory_tree,
    inclusion_path,
    merkle_tree_hash,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def load_vectors(name: str) -> dict[str, Any]:
    with (VECTORS / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


TREE_HEADS = load_vectors("rfc9162_tree_heads.json")
INCLUSION = load_vectors("rfc9162_inclusion_proofs.json")["proofs"]
CONSISTENCY = load_vectors("rfc9162_consistency_proofs.json")["proofs"]
PROOF_NODES = load_vectors("rfc9162_proof_nodes.json")

LEAVES = [bytes.fromhex(leaf) for leaf in TREE_HEADS["leaves_hex"]]
ROOTS = {head["size"]: bytes.fromhex(head["root"]) for head in TREE_HEADS["roots"]}
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


# --- naive reference: RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1 as written ---


def ref_leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = ref_split(len(d))
    return ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_split(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], known: bool) -> list[bytes]:
    if m == len(d):
        return [] if known else [ref_mth(d)]
    k = ref_split(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], known), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def entries(count: int) -> list[bytes]:
    return [b"audit event %d" % number for number in range(count)]


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


class RecordingStore:
    """Wraps a store and records every key read and written."""

    def __init__(self, inner: NodeStore | None = None) -> None:
        self.inner: NodeStore = inner if inner is not None else InMemoryNodeStore()
        self.reads: list[NodeId] = []
        self.writes: list[NodeId] = []

    def get(self, level: int, index: int) -> bytes | None:
        self.reads.append((level, index))
        return self.inner.get(level, index)

    def put(self, level: int, index: int, node_hash: bytes) -> None:
        self.writes.append((level, index))
        self.inner.put(level, index, node_hash)


def vector_tree() -> MerkleTree:
    return in_memory_tree(leaf_hash(leaf) for leaf in LEAVES)


# --- hashing ---


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert leaf_hash(b"a" * 64) != node_hash(b"a" * 32, b"a" * 32)
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# --- CT vectors ---


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_tree_head_matches_vector(size: int) -> None:
    leaf_hashes = [leaf_hash(leaf) for leaf in LEAVES[:size]]
    assert merkle_tree_hash(leaf_hashes) == ROOTS[size]
    assert vector_tree().root(size) == ROOTS[size]


def test_incremental_roots_match_vectors() -> None:
    tree = MerkleTree(InMemoryNodeStore())
    assert tree.root() == ROOTS[0]
    for size, leaf in enumerate(LEAVES, start=1):
        assert tree.append(leaf) == size - 1
        assert tree.root() == ROOTS[size]


def _id_inclusion(vector: dict[str, Any]) -> str:
    return f"index{vector['index']}-size{vector['size']}"


def _id_consistency(vector: dict[str, Any]) -> str:
    return f"{vector['first']}-to-{vector['second']}"


@pytest.mark.parametrize("vector", INCLUSION, ids=_id_inclusion)
def test_inclusion_proof_matches_vector_and_verifies(vector: dict[str, Any]) -> None:
    index, size = vector["index"], vector["size"]
    expected = [bytes.fromhex(node) for node in vector["proof"]]
    leaf_hashes = [leaf_hash(leaf) for leaf in LEAVES]
    assert vector_tree().inclusion_proof(index, size) == expected
    assert inclusion_path(index, leaf_hashes[:size]) == expected
    assert root_from_inclusion_proof(leaf_hashes[index], index, size, expected) == ROOTS[size]
    verify_inclusion(leaf_hashes[index], index, size, expected, ROOTS[size])


@pytest.mark.parametrize("vector", CONSISTENCY, ids=_id_consistency)
def test_consistency_proof_matches_vector_and_verifies(vector: dict[str, Any]) -> None:
    first, second = vector["first"], vector["second"]
    expected = [bytes.fromhex(node) for node in vector["proof"]]
    leaf_hashes = [leaf_hash(leaf) for leaf in LEAVES]
    assert vector_tree().consistency_proof(first, second) == expected
    assert consistency_path(first, leaf_hashes[:second]) == expected
    verify_consistency(first, second, ROOTS[first], ROOTS[second], expected)


InclusionProbe = tuple[str, bytes, int, int, list[bytes], bytes]


def corrupted_inclusion_probes() -> list[InclusionProbe]:
    """The corruptions the CT reference tests apply to every known-good inclusion proof."""
    probes: list[InclusionProbe] = []
    for vector in INCLUSION:
        index, size = vector["index"], vector["size"]
        proof = [bytes.fromhex(node) for node in vector["proof"]]
        root, leaf = ROOTS[size], leaf_hash(LEAVES[index])
        name = _id_inclusion(vector)
        cases: list[tuple[str, bytes, int, int, list[bytes], bytes]] = [
            ("index-1", leaf, index - 1, size, proof, root),
            ("index+1", leaf, index + 1, size, proof, root),
            ("index^2", leaf, index ^ 2, size, proof, root),
            ("size*2", leaf, index, size * 2, proof, root),
            ("size/2", leaf, index, size // 2, proof, root),
            ("wrong-leaf", b"WrongLeaf", index, size, proof, root),
            ("other-leaf", SOME_HASH, index, size, proof, root),
            ("empty-root", leaf, index, size, proof, EMPTY_ROOT),
            ("random-root", leaf, index, size, proof, SOME_HASH),
            ("trailing-garbage", leaf, index, size, [*proof, b""], root),
            ("trailing-root", leaf, index, size, [*proof, root], root),
            ("preceding-garbage", leaf, index, size, [b"", *proof], root),
            ("preceding-root", leaf, index, size, [root, *proof], root),
        ]
        cases += [
            (
                f"flip-proof{i}",
                leaf,
                index,
                size,
                [*proof[:i], flip(node, 3), *proof[i + 1 :]],
                root,
            )
            for i, node in enumerate(proof)
        ]
        if proof:
            cases.append(("removed-node", leaf, index, size, proof[:-1], root))
        if len(proof) > 1:
            cases.append(("inserted-node", leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root))
        probes += [(f"{name}-{case[0]}", *case[1:]) for case in cases]
    return probes


@pytest.mark.parametrize(
    ("leaf", "index", "size", "proof", "root"),
    [probe[1:] for probe in corrupted_inclusion_probes()],
    ids=[probe[0] for probe in corrupted_inclusion_probes()],
)
def test_corrupted_inclusion_proof_is_rejected(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


ConsistencyProbe = tuple[str, int, int, bytes, bytes, list[bytes]]


def corrupted_consistency_probes() -> list[ConsistencyProbe]:
    """The corruptions the CT reference tests apply to every non-empty consistency proof."""
    probes: list[ConsistencyProbe] = []
    for vector in CONSISTENCY:
        first, second = vector["first"], vector["second"]
        proof = [bytes.fromhex(node) for node in vector["proof"]]
        if not proof:
            continue
        root1, root2 = ROOTS[first], ROOTS[second]
        cases: list[tuple[str, int, int, bytes, bytes, list[bytes]]] = [
            ("first-1", first - 1, second, root1, root2, proof),
            ("first+1", first + 1, second, root1, root2, proof),
            ("first^2", first ^ 2, second, root1, root2, proof),
            ("second*2", first, second * 2, root1, root2, proof),
            ("second/2", first, second // 2, root1, root2, proof),
            ("wrong-root1", first, second, b"WrongRoot", root2, proof),
            ("wrong-root2", first, second, root1, b"WrongRoot", proof),
            ("other-root1", first, second, SOME_HASH, root2, proof),
            ("other-root2", first, second, root1, SOME_HASH, proof),
            ("swapped-roots", first, second, root2, root1, proof),
            ("empty-proof", first, second, root1, root2, []),
            ("trailing-garbage", first, second, root1, root2, [*proof, b""]),
            ("trailing-root1", first, second, root1, root2, [*proof, root1]),
            ("trailing-root2", first, second, root1, root2, [*proof, root2]),
            ("preceding-garbage", first, second, root1, root2, [b"", *proof]),
            ("preceding-root1", first, second, root1, root2, [root1, *proof]),
            ("preceding-root2", first, second, root1, root2, [root2, *proof]),
            ("preceding-proof0", first, second, root1, root2, [proof[0], *proof]),
            ("truncated", first, second, root1, root2, proof[:-1]),
        ]
        cases += [
            (
                f"flip-proof{i}",
                first,
                second,
                root1,
                root2,
                [*proof[:i], flip(node, 4), *proof[i + 1 :]],
            )
            for i, node in enumerate(proof)
        ]
        probes += [(f"{_id_consistency(vector)}-{case[0]}", *case[1:]) for case in cases]
    return probes


@pytest.mark.parametrize(
    ("first", "second", "root1", "root2", "proof"),
    [probe[1:] for probe in corrupted_consistency_probes()],
    ids=[probe[0] for probe in corrupted_consistency_probes()],
)
def test_corrupted_consistency_proof_is_rejected(
    first: int, second: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> None:
    with pytest.raises(ProofError):
        verify_consistency(first, second, root1, root2, proof)


@pytest.mark.parametrize("vector", PROOF_NODES["inclusion"], ids=_id_inclusion)
def test_inclusion_proof_reads_only_its_complete_subtrees(vector: dict[str, Any]) -> None:
    store = RecordingStore()
    tree = MerkleTree(store)
    for entry in entries(128):
        tree.append(entry)
    store.reads.clear()
    proof = tree.inclusion_proof(vector["index"], vector["size"])
    groups = [[(level, index) for level, index in group] for group in vector["nodes"]]
    assert store.reads == [node for group in groups for node in group]
    assert len(proof) == len(groups)


@pytest.mark.parametrize("vector", PROOF_NODES["consistency"], ids=_id_consistency)
def test_consistency_proof_reads_only_its_complete_subtrees(vector: dict[str, Any]) -> None:
    store = RecordingStore()
    tree = MerkleTree(store)
    for entry in entries(128):
        tree.append(entry)
    store.reads.clear()
    proof = tree.consistency_proof(vector["first"], vector["second"])
    groups = [[(level, index) for level, index in group] for group in vector["nodes"]]
    assert store.reads == [node for group in groups for node in group]
    assert len(proof) == len(groups)


# --- verification edge cases ---


@pytest.mark.parametrize(
    ("first", "second", "root1", "root2", "proof", "message"),
    [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], None),
        (0, 5, EMPTY_ROOT, SOME_HASH, [], None),
        (1, 1, SOME_HASH, SOME_HASH, [], None),
        (0, 0, SOME_HASH, SOME_HASH, [], "root of an empty tree"),
        (0, 3, SOME_HASH, SOME_HASH, [], "root of an empty tree"),
        (1, 1, SOME_HASH, EMPTY_ROOT, [], "two different roots for the same tree size 1"),
        (1, 0, SOME_HASH, SOME_HASH, [], "cannot precede"),
        (2, 1, SOME_HASH, SOME_HASH, [], "cannot precede"),
        (-1, 1, SOME_HASH, SOME_HASH, [], "cannot precede"),
        (1, 2, SOME_HASH, EMPTY_ROOT, [], "from size 1 to 2 is empty"),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "must be empty, it has 1 nodes"),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "must be empty"),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "must be empty"),
        (1, 2, SOME_HASH[:31], SOME_HASH, [SOME_HASH], "first root must be 32 bytes, got 31"),
        (1, 2, SOME_HASH, SOME_HASH + b"\x00", [SOME_HASH], "second root must be 32 bytes"),
        (1, 2, SOME_HASH, SOME_HASH, [SOME_HASH, b"short"], "proof node 1 must be 32 bytes"),
    ],
)
def test_consistency_edge_cases(
    first: int, second: int, root1: bytes, root2: bytes, proof: list[bytes], message: str | None
) -> None:
    if message is None:
        verify_consistency(first, second, root1, root2, proof)
    else:
        with pytest.raises(ProofError, match=message):
            verify_consistency(first, second, root1, root2, proof)


@pytest.mark.parametrize("vector", [v for v in CONSISTENCY if v["proof"]], ids=_id_consistency)
def test_consistency_proof_of_wrong_length_is_named_as_such(vector: dict[str, Any]) -> None:
    first, second = vector["first"], vector["second"]
    proof = [bytes.fromhex(node) for node in vector["proof"]]
    with pytest.raises(ProofError, match=f"more than sizes {first} to {second} need"):
        verify_consistency(first, second, ROOTS[first], ROOTS[second], [*proof, SOME_HASH])
    if len(proof) > 1:
        with pytest.raises(ProofError, match=f"fewer than sizes {first} to {second} need"):
            verify_consistency(first, second, ROOTS[first], ROOTS[second], proof[:-1])


@pytest.mark.parametrize(
    ("leaf", "index", "size", "proof", "root", "message"),
    [
        (SOME_HASH, 0, 1, [], SOME_HASH, None),
        (SOME_HASH, 0, 1, [], EMPTY_ROOT, "yields root abacaba0"),
        (b"", 0, 1, [], SOME_HASH, "leaf hash must be 32 bytes, got 0"),
        (SOME_HASH, 0, 1, [], b"", "root must be 32 bytes, got 0"),
        (SOME_HASH, 0, 0, [], SOME_HASH, "leaf index 0 is outside a tree of size 0"),
        (SOME_HASH, 1, 1, [], SOME_HASH, "outside"),
        (SOME_HASH, -1, 1, [], SOME_HASH, "outside"),
        (SOME_HASH, 0, 1, [SOME_HASH], SOME_HASH, "more than index 0"),
        (SOME_HASH, 0, 2, [], SOME_HASH, "fewer than index 0"),
        (SOME_HASH, 0, 2, [SOME_HASH[:16]], SOME_HASH, "proof node 0 must be 32 bytes"),
    ],
)
def test_inclusion_edge_cases(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, message: str | None
) -> None:
    if message is None:
        verify_inclusion(leaf, index, size, proof, root)
    else:
        with pytest.raises(ProofError, match=message):
            verify_inclusion(leaf, index, size, proof, root)


def test_errors_are_gateway_problems() -> None:
    assert issubclass(ProofError, GatewayError)
    assert (ProofError.slug, ProofError.status) == ("invalid-proof", 422)
    assert ProofError.type_uri().endswith("/problems/invalid-proof")
    assert issubclass(ProofRequestError, InputError)
    assert (ProofRequestError.slug, ProofRequestError.status) == ("invalid-proof-request", 400)
    assert (LedgerStoreError.slug, LedgerStoreError.status) == ("ledger-store", 500)


# --- stored tree against the naive reference ---


def test_incremental_root_equals_naive_mth_for_every_size_up_to_70() -> None:
    tree = MerkleTree(InMemoryNodeStore())
    leaf_hashes: list[bytes] = []
    for entry in entries(70):
        tree.append(entry)
        leaf_hashes.append(ref_leaf(entry))
        assert tree.root() == ref_mth(leaf_hashes), f"size {len(leaf_hashes)}"
    # Past sizes come from stored subtrees, not from the in-memory right edge.
    for size in range(71):
        assert tree.root(size) == ref_mth(leaf_hashes[:size]), f"past size {size}"
        assert merkle_tree_hash(leaf_hashes[:size]) == ref_mth(leaf_hashes[:size])


@functools.cache
def built_tree(size: int) -> tuple[MerkleTree, tuple[bytes, ...]]:
    tree = MerkleTree(InMemoryNodeStore())
    for entry in entries(size):
        tree.append(entry)
    return tree, tuple(ref_leaf(entry) for entry in entries(size))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=300))
def test_inclusion_proofs_match_reference_verify_and_catch_bit_flips(data: st.DataObject, size: int) -> None:
    tree, leaf_hashes = built_tree(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    bit = st.integers(min_value=0, max_value=HASH_SIZE * 8 - 1)
    proof = tree.inclusion_proof(index)
    root = tree.root()
    leaf = leaf_hashes[index]
    assert proof == ref_path(index, leaf_hashes)
    assert root == ref_mth(leaf_hashes)
    verify_inclusion(leaf, index, size, proof, root)
    for position in range(len(proof)):
        flipped = [*proof]
        flipped[position] = flip(proof[position], data.draw(bit, label=f"bit of node {position}"))
        with pytest.raises(ProofError, match="yields root"):
            verify_inclusion(leaf, index, size, flipped, root)
    bad_root = flip(root, data.draw(bit, label="bit of root"))
    with pytest.raises(ProofError, match="yields root"):
        verify_inclusion(leaf, index, size, proof, bad_root)
    bad_leaf = flip(leaf, data.draw(bit, label="bit of leaf"))
    with pytest.raises(ProofError, match="yields root"):
        verify_inclusion(bad_leaf, index, size, proof, root)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), second=st.integers(min_value=1, max_value=300))
def test_consistency_proofs_match_reference_verify_and_catch_bit_flips(data: st.DataObject, second: int) -> None:
    tree, leaf_hashes = built_tree(second)
    first = data.draw(st.integers(min_value=1, max_value=second), label="first")
    bit = st.integers(min_value=0, max_value=HASH_SIZE * 8 - 1)
    proof = tree.consistency_proof(first)
    root1, root2 = tree.root(first), tree.root()
    assert proof == ref_subproof(first, leaf_hashes, True)
    assert (root1, root2) == (ref_mth(leaf_hashes[:first]), ref_mth(leaf_hashes))
    verify_consistency(first, second, root1, root2, proof)
    for position in range(len(proof)):
        flipped = [*proof]
        flipped[position] = flip(proof[position], data.draw(bit, label=f"bit of node {position}"))
        with pytest.raises(ProofError, match="yields root"):
            verify_consistency(first, second, root1, root2, flipped)
    bad_root1 = flip(root1, data.draw(bit, label="bit of first root"))
    with pytest.raises(ProofError, match=r"yields root|two different roots"):
        verify_consistency(first, second, bad_root1, root2, proof)
    bad_root2 = flip(root2, data.draw(bit, label="bit of second root"))
    with pytest.raises(ProofError, match=r"yields root|two different roots"):
        verify_consistency(first, second, root1, bad_root2, proof)


# --- store access: O(log n) reads, amortized O(1) writes ---


@functools.cache
def recorded_tree() -> tuple[MerkleTree, RecordingStore]:
    store = RecordingStore()
    tree = MerkleTree(store)
    for entry in entries(5000):
        tree.append(entry)
    return tree, store


@settings(max_examples=200, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=5000))
def test_roots_and_proofs_read_logarithmically_many_nodes(data: st.DataObject, size: int) -> None:
    tree, store = recorded_tree()
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    first = data.draw(st.integers(min_value=0, max_value=size), label="first")
    depth = size.bit_length()
    store.reads.clear()
    tree.root(size)
    # The current root comes from the in-memory right edge; a past one from
    # one stored subtree per set bit of its size.
    assert len(store.reads) == (0 if size == tree.size else bin(size).count("1"))
    store.reads.clear()
    tree.inclusion_proof(index, size)
    assert len(store.reads) <= 2 * depth
    store.reads.clear()
    tree.consistency_proof(first, size)
    assert len(store.reads) <= 2 * depth + 1


def test_appends_write_each_complete_subtree_once_and_read_nothing() -> None:
    store = RecordingStore()
    tree = MerkleTree(store)
    for count, entry in enumerate(entries(1000), start=1):
        before = len(store.writes)
        index = tree.append(entry)
        trailing_ones = (index ^ (index + 1)).bit_length() - 1
        assert len(store.writes) - before == 1 + trailing_ones
        assert len(store.writes) == 2 * count - bin(count).count("1")
    assert store.reads == []
    assert len(set(store.writes)) == len(store.writes)


@settings(max_examples=50, deadline=None)
@given(existing=st.integers(min_value=0, max_value=200), added=st.integers(min_value=1, max_value=20))
def test_reopened_tree_continues_where_the_store_left_off(existing: int, added: int) -> None:
    store = RecordingStore()
    first_writer = MerkleTree(store)
    for entry in entries(existing):
        first_writer.append(entry)
    reopened = MerkleTree(store, existing)
    store.reads.clear()
    for entry in entries(existing + added)[existing:]:
        reopened.append(entry)
    # Only the right edge of the old tree is read, once.
    assert len(store.reads) == bin(existing).count("1")
    full = [ref_leaf(entry) for entry in entries(existing + added)]
    assert reopened.size == existing + added
    assert reopened.root() == ref_mth(full)
    assert reopened.root(existing) == first_writer.root()


class FailingStore(InMemoryNodeStore):
    """Fails the next put after ``arm()``; stands in for a database error."""

    armed = False

    def arm(self) -> None:
        self.armed = True

    def put(self, level: int, index: int, node_hash: bytes) -> None:
        if self.armed and level > 0:
            self.armed = False
            raise LedgerStoreError("simulated write failure")
        super().put(level, index, node_hash)


def test_failed_write_leaves_the_tree_unchanged_and_retry_succeeds() -> None:
    store = FailingStore()
    tree = MerkleTree(store)
    for entry in entries(7):
        tree.append(entry)
    root_before = tree.root()
    store.arm()
    with pytest.raises(LedgerStoreError, match="simulated"):
        tree.append(b"eighth")  # completes three subtrees; the first of them fails
    assert tree.size == 7
    assert tree.root() == root_before
    assert tree.append(b"eighth") == 7
    assert tree.root() == ref_mth([*(ref_leaf(entry) for entry in entries(7)), ref_leaf(b"eighth")])


def test_missing_or_malformed_stored_node_is_a_store_error() -> None:
    with pytest.raises(LedgerStoreError, match="level 2, index 0 of a tree of size 5 is missing"):
        MerkleTree(InMemoryNodeStore(), 5).root()
    with pytest.raises(LedgerStoreError, match="is missing"):
        MerkleTree(InMemoryNodeStore(), 5).append(b"sixth")
    store = InMemoryNodeStore()
    store.put(0, 0, b"\x00" * 31)
    with pytest.raises(LedgerStoreError, match="is 31 bytes, not 32"):
        MerkleTree(store, 1).root()


@pytest.mark.parametrize(
    ("request_proof", "message"),
    [
        (lambda tree: tree.inclusion_proof(5), "leaf index 5 is outside a tree of size 5"),
        (lambda tree: tree.inclusion_proof(-1), "leaf index -1 is outside"),
        (lambda tree: tree.inclusion_proof(3, 3), "leaf index 3 is outside a tree of size 3"),
        (lambda tree: tree.inclusion_proof(0, 6), "tree size 6 is outside 0..5"),
        (lambda tree: tree.consistency_proof(3, 2), "from tree size 3 to 2"),
        (lambda tree: tree.consistency_proof(-1), "from tree size -1 to 5"),
        (lambda tree: tree.consistency_proof(1, 6), "tree size 6 is outside 0..5"),
        (lambda tree: tree.root(6), "tree size 6 is outside 0..5"),
        (lambda tree: tree.root(-1), "tree size -1 is outside 0..5"),
    ],
)
def test_out_of_range_requests_are_rejected(request_proof: Callable[[MerkleTree], object], message: str) -> None:
    tree, _ = built_tree(5)
    with pytest.raises(ProofRequestError, match=message):
        request_proof(tree)


def test_tree_and_leaf_inputs_are_checked() -> None:
    with pytest.raises(ProofRequestError, match="must not be negative"):
        MerkleTree(InMemoryNodeStore(), -1)
    with pytest.raises(InputError, match="leaf hash is 32 bytes, got 5"):
        MerkleTree(InMemoryNodeStore()).append_leaf_hash(b"entry")
    assert merkle_tree_hash([]) == EMPTY_ROOT
    assert MerkleTree(InMemoryNodeStore()).consistency_proof(0) == []


def test_in_memory_store_keeps_nodes_immutable() -> None:
    store = InMemoryNodeStore()
    store.put(0, 5, SOME_HASH)
    store.put(0, 5, SOME_HASH)  # a retried write of the same hash is fine
    assert store.get(0, 5) == SOME_HASH
    assert store.get(0, 3) is None
    assert store.get(1, 0) is None
    assert store.get(0, -1) is None
    assert len(store) == 1
    with pytest.raises(LedgerStoreError, match="refusing to overwrite"):
        store.put(0, 5, EMPTY_ROOT)
    store.put(0, 3, EMPTY_ROOT)  # fills a gap
    assert store.get(0, 3) == EMPTY_ROOT
    assert len(store) == 2
