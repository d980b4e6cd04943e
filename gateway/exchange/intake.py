"""Group commit for single-record POSTs.

Every ``POST /v1/exchange/records`` used to cost one transaction of its own:
three lookups, a ledger append, an insert and a commit, most of it per-statement
overhead rather than work. The intake hands records that arrive while another
group is being written to the batch path together, in one transaction, and
answers each request with its own receipt, exactly as ``records:batch`` does
for one item. A record that arrives when nothing is in flight is written at
once, alone: grouping never waits for company, it only takes what queued up
behind the group before it (the way databases group commits).

Failure keeps the single-record semantics: an item's own problem (malformed,
conflict) is that item's answer only; a group that fails as a whole for a
reason other than a lost race on a unique index is retried item by item, so
one poisonous record cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.edge import transact
from gateway.exchange.service import BatchResult, Outcome, receive_batch
from gateway.node import Node

log = logging.getLogger(__name__)

MAX_GROUP = 100


@dataclass
class _Waiting:
    raw: bytes
    peer: str
    answer: asyncio.Future[Outcome] = field(repr=False)


class ReceiveIntake:
    """Queue of single records waiting to be received; one group in flight at a time per node."""

    def __init__(self, node: Node, max_group: int = MAX_GROUP) -> None:
        self.node = node
        self.max_group = max_group
        self._queue: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def receive(self, raw: bytes, peer: str) -> Outcome:
        """Receive one record from ``peer``; returns its outcome or raises its problem."""
        loop = asyncio.get_running_loop()
        writer = self._writer
        if writer is not None and writer.get_loop() is not loop:
            # A writer (and callers) of another event loop, one that was closed
            # (a test client): nobody can be answered there any more.
            self._queue = [w for w in self._queue if w.answer.get_loop() is loop]
            writer = None
        waiting = _Waiting(raw, peer, loop.create_future())
        self._queue.append(waiting)
        if writer is None or writer.done():
            self._writer = loop.create_task(self._write_groups())
        return await waiting.answer

    async def _write_groups(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self.max_group], self._queue[self.max_group :]
            try:
                results = await run_in_threadpool(receive_group, self.node, [(w.raw, w.peer) for w in group])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                results = [exc] * len(group)
            except BaseException:
                # Cancelled (the server is stopping): nobody is left waiting for an
                # answer that may or may not have been committed.
                for waiting in group + self._queue:
                    waiting.answer.cancel()
                raise
            for waiting, result in zip(group, results, strict=True):
                if waiting.answer.done():  # the client went away
                    continue
                if isinstance(result, Outcome):
                    waiting.answer.set_result(result)
                else:
                    waiting.answer.set_exception(result)


def receive_group(node: Node, items: list[tuple[bytes, str]]) -> list[Outcome | Exception]:
    """Receive ``(raw, peer)`` items in one transaction; one outcome or exception per item."""
    try:
        # transact retries once when a concurrent request (another process) won
        # a unique index: the retry finds its rows and answers those items as replays.
        return transact(node, lambda session: _receive_in(session, node, items))
    except Exception as exc:  # noqa: BLE001 - isolate the item that caused it
        failure: Exception = exc
    if len(items) == 1:
        return [failure]
    log.warning("a group of %d records failed (%s); receiving them one by one", len(items), type(failure).__name__)
    return [receive_group(node, [item])[0] for item in items]


def _receive_in(session: Session, node: Node, items: list[tuple[bytes, str]]) -> list[Outcome | Exception]:
    by_peer: dict[str, list[int]] = {}
    for position, (_, peer) in enumerate(items):
        by_peer.setdefault(peer, []).append(position)
    results: dict[int, BatchResult] = {}
    for peer, positions in by_peer.items():
        outcomes = receive_batch(session, node, [items[p][0] for p in positions], peer)
        results.update(zip(positions, outcomes, strict=True))
    return [results[position] for position in range(len(items))]
