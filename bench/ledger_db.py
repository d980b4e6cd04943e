"""Benchmark of the audit ledger as the gateway runs it: ``append_event`` on SQLite and PostgreSQL.

For each backend, on a fresh migrated database:

1. preload   ``--preload`` entries (batched; the tree size the figures are measured at)
   baseline  transactions inserting one small row each: the commit cost alone
2. appends   ``--entries`` appends, one per committed transaction (the hot path:
             every received record commits its own event), right-edge cache warm
3. batched   the same, ``--batch`` appends per transaction (tree cost without commit cost)
4. cold      appends with the right-edge cache cleared before each (what every
             append would cost without it: one extra query)
5. proofs    ``--proofs`` random inclusion and consistency proofs read from the database
6. verify    ``gateway audit verify``'s recomputation of the whole ledger

next to the in-memory tree (``bench/ledger.py``'s figure) for the same number
of appends. The last line printed is one JSON object with every figure.

    .venv/bin/python bench/ledger_db.py [--entries N] [--preload M] [--batch B]
                                        [--proofs P] [--backends sqlite,postgres]

PostgreSQL is reached at ``--postgres-dsn`` (default: the test suite's server);
a temporary database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import BigInteger, Column, Engine, LargeBinary, MetaData, Table, insert
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.ledger import proofs, repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.ledger.service import append_event
from gateway.ledger.store import RIGHT_EDGES
from gateway.ledger.tree import InMemoryNodeStore, MerkleTree
from gateway.ledger.verification import verify_ledger
from gateway.migrate import upgrade

T0 = datetime(2026, 1, 1, tzinfo=UTC)
clock = time.perf_counter


def append_one(session: Session, number: int) -> int:
    """Append an event shaped like a received record's."""
    return append_event(
        session,
        AuditEvent.RECORD_RECEIVED,
        actor="party:CO",
        subject=str(uuid.UUID(int=number)),
        at=T0 + timedelta(milliseconds=number),
        detail={"jws_sha256": f"{number:064x}", "reason_code": None},
    )


def appends(
    sessions: sessionmaker[Session],
    start: int,
    count: int,
    per_transaction: int,
    before: Callable[[], None] | None = None,
) -> float:
    """Append ``count`` events; return appends per second."""
    began = clock()
    number = start
    while number < start + count:
        with transaction(sessions) as session:
            for _ in range(min(per_transaction, start + count - number)):
                if before is not None:
                    before()
                append_one(session, number)
                number += 1
    return count / (clock() - began)


def baseline(engine: Engine, count: int) -> float:
    """Return transactions/s that insert one 100-byte row each: the commit cost alone."""
    scratch = Table(
        "bench_baseline", MetaData(), Column("id", BigInteger, primary_key=True), Column("payload", LargeBinary)
    )
    scratch.create(engine)
    sessions = make_sessionmaker(engine)
    began = clock()
    for number in range(count):
        with transaction(sessions) as session:
            session.execute(insert(scratch).values(id=number, payload=b"x" * 100))
    return count / (clock() - began)


def summary_ms(samples: list[float]) -> dict[str, float]:
    p99 = statistics.quantiles(samples, n=100, method="inclusive")[98]
    return {"mean_ms": round(statistics.fmean(samples) * 1000, 3), "p99_ms": round(p99 * 1000, 3)}


def bench_proofs(sessions: sessionmaker[Session], count: int, rng: random.Random) -> dict[str, object]:
    """Time proofs served from the database (what the partner endpoints do), and check them."""
    inclusion: list[float] = []
    consistency: list[float] = []
    with transaction(sessions) as session:
        size = repository.tree_size(session)
        leaves = {entry.index: bytes(entry.leaf_hash) for entry in repository.entries(session, size - count, size)}
        for _ in range(count):
            index = rng.randrange(size - count, size)
            began = clock()
            answer = proofs.inclusion_proof(session, index, size)
            inclusion.append(clock() - began)
            verify_inclusion(
                leaves[index], index, size, [bytes.fromhex(n) for n in answer.proof], bytes.fromhex(answer.root_hash)
            )
            first = rng.randrange(1, size)
            began = clock()
            step = proofs.consistency_proof(session, first, size)
            consistency.append(clock() - began)
            verify_consistency(
                first, size, bytes.fromhex(step.first_root), bytes.fromhex(step.second_root),
                [bytes.fromhex(node) for node in step.proof],
            )  # fmt: skip
    return {"inclusion": summary_ms(inclusion), "consistency": summary_ms(consistency)}


@contextmanager
def database(backend: str, dsn: str) -> Iterator[Engine]:
    """Yield an engine on a fresh, migrated database of ``backend``; removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ledger-bench-") as directory:
            engine = make_engine(f"sqlite:///{Path(directory) / 'bench.sqlite3'}")
            upgrade(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    name = f"ledger_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    url = f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/{name}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, object]:
    with database(backend, args.postgres_dsn) as engine:
        sessions = make_sessionmaker(engine)
        RIGHT_EDGES.clear()
        began = clock()
        appends(sessions, 0, args.preload, per_transaction=5000)
        preload_s = clock() - began
        size = args.preload
        print(f"  {backend}: preloaded {size:,} entries in {preload_s:.1f} s", file=sys.stderr, flush=True)
        bare = baseline(engine, args.entries)
        single = appends(sessions, size, args.entries, per_transaction=1)
        size += args.entries
        batched = appends(sessions, size, args.entries, per_transaction=args.batch)
        size += args.entries
        cold_count = max(args.entries // 5, 10)
        cold = appends(sessions, size, cold_count, per_transaction=1, before=RIGHT_EDGES.clear)
        size += cold_count
        proof_figures = bench_proofs(sessions, args.proofs, random.Random(args.seed))
        began = clock()
        with transaction(sessions) as session:
            report = verify_ledger(session, None)
        verify_s = clock() - began
        assert report.entries == size
        return {
            "tree_size": size,
            "preload_appends_per_s": round(args.preload / preload_s) if args.preload else None,
            "bare_one_insert_transactions_per_s": round(bare),
            "appends_per_s": round(single),
            "batched_appends_per_s": round(batched),
            "cold_cache_appends_per_s": round(cold),
            "proofs": proof_figures,
            "verify_seconds": round(verify_s, 2),
        }


def bench_memory(count: int) -> float:
    tree = MerkleTree(InMemoryNodeStore())
    leaves = [leaf_hash(b"entry %d" % n) for n in range(count)]
    began = clock()
    for leaf in leaves:
        tree.append_leaf_hash(leaf)
    return count / (clock() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=2000, help="timed appends of each kind")
    parser.add_argument("--preload", type=int, default=100_000, help="entries before timing")
    parser.add_argument("--batch", type=int, default=100, help="appends per transaction, batched run")
    parser.add_argument("--proofs", type=int, default=200, help="random proofs of each kind")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-dsn", default="host=127.0.0.1 port=5432 user=postgres dbname=test")
    parser.add_argument("--seed", type=int, default=9162)
    args = parser.parse_args(argv)
    if args.entries < 10 or args.proofs < 2:
        parser.error("--entries must be at least 10 and --proofs at least 2")

    figures: dict[str, object] = {"entries": args.entries, "preload": args.preload, "batch": args.batch}
    memory = bench_memory(args.entries + args.preload)
    figures["in_memory_appends_per_s"] = round(memory)
    print(f"in-memory tree: {memory:,.0f} appends/s")
    for backend in args.backends.split(","):
        try:
            result = bench_backend(backend, args)
        except psycopg.OperationalError as exc:
            print(f"{backend}: skipped ({exc})".splitlines()[0])
            continue
        figures[backend] = result
        print(
            f"{backend} at {result['tree_size']:,} entries: {result['appends_per_s']:,} appends/s "
            f"(1 per transaction; bare 1-insert transactions: {result['bare_one_insert_transactions_per_s']:,}/s), {result['batched_appends_per_s']:,}/s ({args.batch} per transaction), "
            f"{result['cold_cache_appends_per_s']:,}/s with a cold right-edge cache; "
            f"inclusion proof {result['proofs']['inclusion']['mean_ms']} ms mean "  # type: ignore[index]
            f"(p99 {result['proofs']['inclusion']['p99_ms']}), "  # type: ignore[index]
            f"consistency {result['proofs']['consistency']['mean_ms']} ms mean "  # type: ignore[index]
            f"(p99 {result['proofs']['consistency']['p99_ms']}); "  # type: ignore[index]
            f"audit verify {result['verify_seconds']} s",
            flush=True,
        )
    figures["python"] = sys.version.split()[0]
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
