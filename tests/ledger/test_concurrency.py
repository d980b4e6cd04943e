"""Appenders racing on one database: the tree stays gap-free and consistent.

Threads with their own engines (a cache each), threads sharing one engine (one
cache), and separate processes. Every writer appends in short transactions,
some of which roll back, so the cached right edges go stale all the time.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select

from gateway.db import make_engine, make_sessionmaker, transaction
from gateway.ledger.events import AuditEvent
from gateway.ledger.models import LedgerEntry
from gateway.ledger.service import append_event
from gateway.ledger.verification import verify_ledger
from tests.ledger.conftest import T0

PER_WRITER = 60


def append_as(engine: Engine, writer: str, count: int = PER_WRITER) -> None:
    """Append ``count`` events of ``writer`` in short transactions.

    Every fifth transaction is followed by one that appends and rolls back;
    every third holds two events with a rolled-back savepoint between them.
    """
    sessions = make_sessionmaker(engine)
    number = 0
    while number < count:
        with transaction(sessions) as session:
            append_event(session, AuditEvent.RECORD_SENT, actor=writer, subject=f"{writer}-{number}", at=T0)
            number += 1
            if number % 3 == 0 and number < count:
                savepoint = session.begin_nested()
                append_event(session, AuditEvent.RECORD_SENT, actor=writer, subject="rolled-back", at=T0)
                savepoint.rollback()
                append_event(session, AuditEvent.RECORD_SENT, actor=writer, subject=f"{writer}-{number}", at=T0)
                number += 1
        if number % 5 == 0:
            with sessions() as session:
                session.begin()
                append_event(session, AuditEvent.RECORD_SENT, actor=writer, subject="rolled-back", at=T0)
                session.rollback()


def _process_writer(url: str, writer: str) -> None:
    engine = make_engine(url)
    try:
        append_as(engine, writer)
    finally:
        engine.dispose()


def run_threads(targets: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def run(target: Callable[[], None]) -> None:
        try:
            start.wait()
            target()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]


def assert_gap_free_and_consistent(url: str, writers: list[str]) -> None:
    engine = make_engine(url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            report = verify_ledger(session, None)
            entries = list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.index)))
    finally:
        engine.dispose()
    assert report.entries == len(writers) * PER_WRITER
    assert [entry.index for entry in entries] == list(range(report.entries))
    assert "rolled-back" not in {entry.subject for entry in entries}
    for writer in writers:
        # Each writer's own events keep their order.
        mine = [entry.subject for entry in entries if entry.actor == writer]
        assert mine == [f"{writer}-{number}" for number in range(PER_WRITER)]


def test_threads_with_their_own_engines(database_url: str) -> None:
    engines = [make_engine(database_url) for _ in range(2)]
    try:
        run_threads([lambda e=engine, n=n: append_as(e, f"w{n}") for n, engine in enumerate(engines)])
    finally:
        for engine in engines:
            engine.dispose()
    assert_gap_free_and_consistent(database_url, ["w0", "w1"])


def test_threads_sharing_one_engine(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        run_threads([lambda n=n: append_as(engine, f"t{n}") for n in range(3)])
    finally:
        engine.dispose()
    assert_gap_free_and_consistent(database_url, ["t0", "t1", "t2"])


@pytest.mark.postgres
def test_two_processes_on_postgresql(backend: str, database_url: str) -> None:
    if backend != "postgres":
        pytest.skip("separate processes are the PostgreSQL deployment (several serve/worker)")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_process_writer, args=(database_url, f"p{n}")) for n in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0, 0]
    assert_gap_free_and_consistent(database_url, ["p0", "p1"])
