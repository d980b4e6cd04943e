"""Benchmark of the audit ledger's RFC 9162 Merkle tree over the in-memory node store.

Builds a tree of ``--entries`` leaves (default 1,000,000) and reports appends
per second, then times ``--proofs`` random inclusion proofs and consistency
proofs against the current tree head, generation and verification apart and
together (mean and p99). The last line printed is one JSON object with every
figure, for scripts.

    .venv/bin/python bench/ledger.py [--entries N] [--proofs P] [--seed S]

The in-memory store measures the tree's own cost (hashing, layout, Python
overhead); a database store adds one lookup per node read, ``O(log n)`` per
proof, and the writes of one append to its transaction.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time

from gateway.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.ledger.tree import InMemoryNodeStore, MerkleTree


def entry(number: int) -> bytes:
    """Return the synthetic log entry of leaf ``number`` (about 100 bytes, like an audit event)."""
    return b'{"event":"exchange:record:received","index":%d,"subject":"%032x"}' % (number, number)


clock = time.perf_counter_ns


def summary(samples_ns: list[int]) -> dict[str, float]:
    """Return mean and p99 of nanosecond samples, in microseconds."""
    p99 = statistics.quantiles(samples_ns, n=100, method="inclusive")[98]
    return {
        "mean_us": round(statistics.fmean(samples_ns) / 1000, 2),
        "p99_us": round(p99 / 1000, 2),
    }


def build(entries: int) -> tuple[MerkleTree, float]:
    """Return a tree of ``entries`` leaves and the seconds its appends took."""
    tree = MerkleTree(InMemoryNodeStore())
    append = tree.append
    step = max(entries // 10, 1)
    elapsed = 0.0
    for chunk_start in range(0, entries, step):
        # Entries are made outside the timed loop so only hashing and storing count.
        chunk = [entry(number) for number in range(chunk_start, min(chunk_start + step, entries))]
        start = time.perf_counter()
        for item in chunk:
            append(item)
        elapsed += time.perf_counter() - start
        print(f"  appended {tree.size:>10,} / {entries:,}", file=sys.stderr, flush=True)
    return tree, elapsed


def bench_inclusion(tree: MerkleTree, proofs: int, rng: random.Random) -> dict[str, object]:
    """Time inclusion proofs of random leaves in the current tree."""
    size, root = tree.size, tree.root()
    generate: list[int] = []
    verify: list[int] = []
    total: list[int] = []
    lengths: list[int] = []
    for _ in range(proofs):
        index = rng.randrange(size)
        leaf = leaf_hash(entry(index))
        start = clock()
        proof = tree.inclusion_proof(index)
        made = clock()
        verify_inclusion(leaf, index, size, proof, root)
        checked = clock()
        generate.append(made - start)
        verify.append(checked - made)
        total.append(checked - start)
        lengths.append(len(proof))
    return {
        "generate": summary(generate),
        "verify": summary(verify),
        "total": summary(total),
        "mean_proof_nodes": round(statistics.fmean(lengths), 2),
    }


def bench_consistency(tree: MerkleTree, proofs: int, rng: random.Random) -> dict[str, object]:
    """Time consistency proofs from random past sizes to the current tree."""
    size, root = tree.size, tree.root()
    past_root: list[int] = []
    generate: list[int] = []
    verify: list[int] = []
    total: list[int] = []
    lengths: list[int] = []
    for _ in range(proofs):
        first = rng.randrange(1, size)
        # The verifier already holds the old root (a stored checkpoint); it is
        # timed apart as the cost of serving a past tree head.
        start = clock()
        first_root = tree.root(first)
        rooted = clock()
        proof = tree.consistency_proof(first)
        made = clock()
        verify_consistency(first, size, first_root, root, proof)
        checked = clock()
        past_root.append(rooted - start)
        generate.append(made - rooted)
        verify.append(checked - made)
        total.append(checked - rooted)
        lengths.append(len(proof))
    return {
        "past_root": summary(past_root),
        "generate": summary(generate),
        "verify": summary(verify),
        "total": summary(total),
        "mean_proof_nodes": round(statistics.fmean(lengths), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=1_000_000, help="leaves to append")
    parser.add_argument("--proofs", type=int, default=1000, help="random proofs of each kind")
    parser.add_argument("--seed", type=int, default=9162, help="seed of the random indices")
    args = parser.parse_args(argv)
    if args.entries < 2 or args.proofs < 2:
        parser.error("--entries and --proofs must be at least 2")

    print(f"building a tree of {args.entries:,} entries (in-memory store)", flush=True)
    tree, seconds = build(args.entries)
    appends_per_s = args.entries / seconds
    print(f"appends: {seconds:.2f} s, {appends_per_s:,.0f} appends/s", flush=True)

    rng = random.Random(args.seed)
    inclusion = bench_inclusion(tree, args.proofs, rng)
    consistency = bench_consistency(tree, args.proofs, rng)
    for name, figures in (("inclusion", inclusion), ("consistency", consistency)):
        for part, value in figures.items():
            if isinstance(value, dict):
                print(
                    f"{name} {part}: mean {value['mean_us']:.1f} us, p99 {value['p99_us']:.1f} us",
                )
        print(f"{name} proof nodes: {figures['mean_proof_nodes']} on average")
    # ru_maxrss is in KiB on Linux.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_mib:,.0f} MiB")

    print(
        json.dumps(
            {
                "entries": args.entries,
                "proofs": args.proofs,
                "seed": args.seed,
                "append_seconds": round(seconds, 3),
                "appends_per_s": round(appends_per_s),
                "inclusion": inclusion,
                "consistency": consistency,
                "peak_memory_mib": round(peak_mib),
                "python": sys.version.split()[0],
            },
            sort_keys=True,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
