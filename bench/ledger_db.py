"""Benchmark of the audit ledger as the gateway runs it: ``append_event`` on SQLite and PostgreSQL.

For each backend, on a fresh migrated database:

1. preload   ``--preload`` entries written in bulk, exactly as that many appends would
             (the tree size the figures are measured at; not timed as appends)
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
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Column, Engine, LargeBinary, MetaData, Table, insert, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.ledger import proofs, repository
from gateway.ledger.events import AuditEvent
from gateway.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from gateway.ledger.models import LedgerEntry, LedgerHead, LedgerNode
from gateway.ledger.service import append_event, detail_digest, entry_bytes
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


def entry_values(number: int) -> dict[str, object]:
    """Return the row ``append_one(number)`` would write, leaf hash included."""
    subject = str(uuid.UUID(int=number))
    at = T0 + timedelta(milliseconds=number)
    digest = detail_digest({"jws_sha256": f"{number:064x}", "reason_code": None})
    event = AuditEvent.RECORD_RECEIVED.value
    leaf = leaf_hash(entry_bytes(number, event, "party:CO", subject, at, digest))
    return {
        "index": number, "event": event, "actor": "party:CO", "subject": subject, "at": at,
        "detail_sha256": digest, "leaf_hash": leaf,
    }  # fmt: skip


class _Collecting(InMemoryNodeStore):
    """An in-memory store that also lists the nodes of level >= 1 written since the last drain."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[dict[str, object]] = []

    def put(self, level: int, index: int, node_hash: bytes) -> None:
        super().put(level, index, node_hash)
        if level:
            self.written.append({"level": level, "index": index, "hash": node_hash})


def preload(engine: Engine, count: int, chunk: int = 20_000) -> None:
    """Write ``count`` entries, their nodes and the head in bulk, as ``count`` appends would."""
    store = _Collecting()
    tree = MerkleTree(store)
    with engine.begin() as connection:
        for start in range(0, count, chunk):
            rows = [entry_values(number) for number in range(start, min(start + chunk, count))]
            for row in rows:
                tree.append_leaf_hash(row["leaf_hash"])  # type: ignore[arg-type]
            connection.execute(insert(LedgerEntry), rows)
            if store.written:
                connection.execute(insert(LedgerNode), store.written)
                store.written = []
            print(f"    preloaded {tree.size:,} / {count:,}", file=sys.stderr, flush=True)
        connection.execute(update(LedgerHead).values(size=tree.size, root_hash=tree.root()))


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
    user, host, port = params.get("user", "postgres"), params.get("host", "127.0.0.1"), params.get("port", 5432)
    url = f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with database(backend, args.postgres_dsn) as engine:
        sessions = make_sessionmaker(engine)
        RIGHT_EDGES.clear()
        began = clock()
        preload(engine, args.preload)
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
            "preload_seconds": round(preload_s, 1),
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


def report_lines(backend: str, result: dict[str, Any], batch: int) -> str:
    proof = result["proofs"]
    return "\n".join(
        [
            f"{backend} at {result['tree_size']:,} entries:",
            f"  appends, 1 per transaction:   {result['appends_per_s']:>9,}/s"
            f"   (bare 1-insert transactions: {result['bare_one_insert_transactions_per_s']:,}/s)",
            f"  appends, {batch} per transaction: {result['batched_appends_per_s']:>9,}/s",
            f"  appends, cold right-edge cache: {result['cold_cache_appends_per_s']:>7,}/s",
            f"  inclusion proof from the DB:  {proof['inclusion']['mean_ms']} ms mean,"
            f" p99 {proof['inclusion']['p99_ms']} ms",
            f"  consistency proof from the DB: {proof['consistency']['mean_ms']} ms mean,"
            f" p99 {proof['consistency']['p99_ms']} ms",
            f"  audit verify (whole ledger):  {result['verify_seconds']} s",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=2000, help="timed appends of each kind")
    parser.add_argument("--preload", type=int, default=1_000_000, help="entries before timing")
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
        print(report_lines(backend, result, args.batch), flush=True)
    figures["python"] = sys.version.split()[0]
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
