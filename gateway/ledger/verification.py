"""``gateway audit verify``: recompute the ledger from the database and check everything stored.

1. entries     — indices run 0, 1, 2, ... without gaps; each leaf hash,
                 recomputed from the entry's fields, equals the stored one
2. head        — the head's size is the number of entries, its root the
                 recomputed root
3. nodes       — every stored subtree hash equals the recomputed one; none
                 missing, none extra
4. own         — every own checkpoint: signature (at its signing time), row
                 equal to its signed payload, root equal to the recomputed
                 root of its size
5. witnessed   — every partner checkpoint: signature, row equal to payload,
                 and each consistent one linked to the previous one by its
                 stored consistency proof

The tree is recomputed from the entry fields (not from the stored hashes) in
memory: ``O(n)`` time, about 140 MiB per million entries. Every finding is
kept; the first bad entry index is the lowest one a finding pins down. A
mismatch found only above the leaves (a node, the head, a checkpoint) narrows
the change to a range of entries; the range starts after the largest own
checkpoint that still matches, since that prefix is signed and intact.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from gateway.ledger import repository
from gateway.ledger.checkpoints import parse_checkpoint_body, unsafe_checkpoint_body
from gateway.ledger.errors import LedgerTamperedError, ProofError
from gateway.ledger.merkle import verify_consistency
from gateway.ledger.models import Checkpoint
from gateway.ledger.schemas import CheckpointBody
from gateway.ledger.service import fields_leaf_hash
from gateway.ledger.tree import InMemoryNodeStore, MerkleTree
from gateway.trust.bundle import TrustBundle
from gateway.trust.errors import TrustError
from gateway.trust.jws import CHECKPOINT_TYP
from gateway.trust.verify import verify_compact

Progress = Callable[[int, int], None]
"""Called with (entries done, entries in the head) while step 1 runs."""


@dataclass(frozen=True)
class LedgerReport:
    """A ledger that passed every step."""

    entries: int
    root_hash: str
    nodes: int
    own_checkpoints: int
    witnessed: dict[str, int]
    forks: list[str]
    signatures_checked: bool


@dataclass
class _Finding:
    text: str
    start: int | None  # first entry that may be bad; None: no entry
    end: int | None = None  # exclusive end of the range; None: exactly ``start``


@dataclass
class _Findings:
    items: list[_Finding] = field(default_factory=list)

    def exact(self, index: int, text: str) -> None:
        self.items.append(_Finding(text, index))

    def within(self, start: int, end: int, text: str) -> None:
        self.items.append(_Finding(text, start, end))

    def other(self, text: str) -> None:
        self.items.append(_Finding(text, None))

    def first_bad_index(self, proven: int) -> int | None:
        exact = sorted(f.start for f in self.items if f.start is not None and f.end is None)
        candidates = list(exact)
        # A range holding an exactly known bad entry, or a narrower range, is
        # explained by it (a changed leaf makes all its ancestors differ); a
        # range inside the signed, matching prefix is a changed hash row, not
        # a changed entry.
        ranges: list[tuple[int, int]] = []
        for f in self.items:
            if f.start is None or f.end is None:
                continue
            position = bisect.bisect_left(exact, f.start)
            if position < len(exact) and exact[position] < f.end:
                continue
            start = max(f.start, proven)
            if start < f.end:
                ranges.append((start, f.end))
        narrowest: list[tuple[int, int]] = []
        for start, end in sorted(ranges, key=lambda r: (r[1] - r[0], r[0])):
            if not any(start <= inner_start and inner_end <= end for inner_start, inner_end in narrowest):
                narrowest.append((start, end))
                if len(narrowest) > 100:  # mass damage: the exact findings tell more
                    break
        candidates += [start for start, _end in narrowest]
        return min(candidates) if candidates else None


def verify_ledger(session: Session, bundle: TrustBundle | None, *, progress: Progress | None = None) -> LedgerReport:
    """Run the steps of the module docstring over the ledger in ``session``'s database.

    ``bundle`` checks the checkpoint signatures; without one they are skipped
    (the report says so) and only the hashes are checked.

    Returns:
        The report of a ledger that passed.

    Raises:
        LedgerTamperedError: naming the first bad entry index and every finding.
    """
    findings = _Findings()
    head_size, head_root = repository.read_head(session)
    memory = InMemoryNodeStore()
    tree = MerkleTree(memory)
    _check_entries(session, tree, head_size, findings, progress)
    nodes = _check_nodes(session, memory, tree.size, findings)
    proven, own = _check_own_checkpoints(session, tree, bundle, findings)
    witnessed, forks = _check_witnessed(session, bundle, findings)
    if tree.size == head_size and head_root is not None and tree.root() != head_root:
        text = f"the head's root {head_root.hex()} is not the entries' root"
        # The head is derived data: it points at entries only when nothing else does.
        if findings.items:
            findings.other(text)
        else:
            findings.within(0, head_size, text)
    if findings.items:
        first = findings.first_bad_index(proven)
        lead = next(
            (f.text for f in findings.items if first is not None and f.start == first),
            findings.items[0].text,
        )
        more = len(findings.items) - 1
        detail = (f"first bad entry index {first}: " if first is not None else "") + lead
        raise LedgerTamperedError(
            detail + (f" (and {more} more finding(s))" if more else ""),
            first_bad_index=first,
            problems=[f.text for f in findings.items],
        )
    return LedgerReport(
        entries=tree.size,
        root_hash=tree.root().hex(),
        nodes=nodes,
        own_checkpoints=own,
        witnessed=witnessed,
        forks=forks,
        signatures_checked=bundle is not None,
    )


def _check_entries(
    session: Session,
    tree: MerkleTree,
    head_size: int,
    findings: _Findings,
    progress: Progress | None,
) -> None:
    # 1. entries, in index order, leaf hashes recomputed from their fields.
    expected = 0
    # Rows are unpacked by position: a row's ``.index`` is tuple.index, not the column.
    for index, event, actor, subject, at, detail_sha256, stored in repository.stream_entry_rows(session):
        if index != expected:
            missing = (
                f"entry {expected} is missing"
                if index == expected + 1
                else f"entries {expected} to {index - 1} are missing"
            )
            findings.exact(expected, missing)
            expected = index
        recomputed = fields_leaf_hash(index, event, actor, subject, at, detail_sha256)
        if recomputed != bytes(stored):
            findings.exact(
                index,
                f"entry {index} was changed or moved: its fields hash to "
                f"{recomputed.hex()}, its stored leaf hash is {bytes(stored).hex()}",
            )
        tree.append_leaf_hash(recomputed)
        expected += 1
        if progress is not None and expected % 10_000 == 0:
            progress(expected, head_size)
    if progress is not None:
        progress(expected, head_size)
    # 2. head size (its root is compared by the caller).
    if expected < head_size:
        findings.exact(expected, f"entries {expected} to {head_size - 1} are missing (head size)")
    elif expected > head_size:
        findings.exact(head_size, f"entries from {head_size} on lie beyond the head's size")


def _check_nodes(session: Session, memory: InMemoryNodeStore, size: int, findings: _Findings) -> int:
    # 3. stored subtree hashes against the recomputed ones.
    next_index: dict[int, int] = {}
    count = 0
    for level, index, stored in repository.stream_node_rows(session):
        count += 1
        span = (index << level, (index + 1) << level)
        if level < 1 or index >= size >> level:
            findings.within(*span, f"node ({level}, {index}) should not exist in a tree of {size}")
            continue
        expected = next_index.get(level, 0)
        if index > expected:
            findings.within(expected << level, index << level, f"nodes ({level}, {expected}..{index - 1}) missing")
        next_index[level] = index + 1
        if memory.get(level, index) != bytes(stored):
            findings.within(*span, f"node ({level}, {index}) does not match entries {span[0]}..")
    for level in range(1, size.bit_length()):
        expected = next_index.get(level, 0)
        if expected < size >> level:
            findings.within(
                expected << level,
                (size >> level) << level,
                f"nodes ({level}, {expected}..{(size >> level) - 1}) missing",
            )
    return count


def _signed_body(
    checkpoint: Checkpoint, bundle: TrustBundle | None, findings: _Findings, what: str
) -> CheckpointBody | None:
    """Return the checkpoint's payload (verified when there is a bundle) or None if unusable."""
    try:
        if bundle is not None:
            body = verify_compact(
                checkpoint.jws,
                bundle=bundle,
                at=checkpoint.signed_at,
                typ=CHECKPOINT_TYP,
                parse=parse_checkpoint_body,
                claimed_party=lambda b: b.party,
            ).payload
        else:
            body = unsafe_checkpoint_body(checkpoint.jws)
    except TrustError as exc:
        findings.other(f"{what}: signature or payload refused: {exc}")
        return None
    row: dict[str, Any] = {
        "origin": checkpoint.origin,
        "party": checkpoint.party,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "signed_at": checkpoint.signed_at,
    }
    if body.model_dump() != row:
        findings.other(f"{what}: the row differs from its signed payload")
    return body


def _check_own_checkpoints(
    session: Session, tree: MerkleTree, bundle: TrustBundle | None, findings: _Findings
) -> tuple[int, int]:
    # 4. own checkpoints against the recomputed tree. Returns (proven prefix, count).
    results: list[tuple[int, bool]] = []
    rows = repository.checkpoints(session, own=True)
    for checkpoint in rows:
        what = f"own checkpoint #{checkpoint.pk} (size {checkpoint.tree_size})"
        body = _signed_body(checkpoint, bundle, findings, what)
        if body is None:
            continue
        if body.tree_size > tree.size:
            findings.exact(tree.size, f"{what} covers {body.tree_size} entries; {tree.size} are stored")
            continue
        matches = tree.root(body.tree_size).hex() == body.root_hash
        results.append((body.tree_size, matches))
    proven = max((size for size, ok in results if ok), default=0)
    good_sizes = sorted(size for size, ok in results if ok)
    for size, ok in results:
        if not ok:
            below = bisect.bisect_left(good_sizes, size)
            start = good_sizes[below - 1] if below else 0
            findings.within(start, size, f"own checkpoint of size {size} does not match entries {start}..")
    return proven, len(rows)


def _check_witnessed(
    session: Session, bundle: TrustBundle | None, findings: _Findings
) -> tuple[dict[str, int], list[str]]:
    # 5. partner checkpoints: signatures, and the chain of stored consistency proofs.
    counts: dict[str, int] = {}
    forks: list[str] = []
    previous: dict[str, CheckpointBody] = {}
    for checkpoint in repository.checkpoints(session, own=False):
        party = checkpoint.party
        counts[party] = counts.get(party, 0) + 1
        what = f"checkpoint #{checkpoint.pk} of {party} (size {checkpoint.tree_size})"
        body = _signed_body(checkpoint, bundle, findings, what)
        if body is None:
            continue
        if not checkpoint.consistent:
            forks.append(f"{party}: {what}: {checkpoint.note or 'inconsistent'}")
            continue
        before = previous.get(party)
        previous[party] = body
        if before is None:
            continue
        try:
            proof = (
                [bytes.fromhex(node) for node in checkpoint.proof.split(",") if node]
                if checkpoint.proof is not None
                else []
            )
            if body.tree_size > before.tree_size and checkpoint.proof_from != before.tree_size:
                raise ProofError(f"its stored proof starts at size {checkpoint.proof_from}")
            verify_consistency(
                before.tree_size,
                body.tree_size,
                bytes.fromhex(before.root_hash),
                bytes.fromhex(body.root_hash),
                proof,
            )
        except (ProofError, ValueError) as exc:
            findings.other(f"{what} does not extend size {before.tree_size}: {exc}")
    return counts, forks
