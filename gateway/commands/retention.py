"""``gateway retention``: run the retention job, list records due for review, place and release legal holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from gateway.commands.common import ConfigOption, settings_from, stderr, stdout
from gateway.node import Node, build_node
from gateway.records.signing import rfc3339
from gateway.retention.scheduler import run_retention_pass
from gateway.retention.service import place_legal_hold, release_legal_hold, retention_counts, review_due

app = typer.Typer(help="Retention: delete expired record bodies, review dates, legal holds.", no_args_is_help=True)

RecordId = Annotated[str, typer.Argument(help="Record id (UUID).")]


def _table(title: str | None, *columns: str) -> Table:
    """A table whose first column (a record id) is never folded, so it can be copied."""
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, no_wrap=index == 0)
    return table


@contextmanager
def _node(config: ConfigOption) -> Iterator[Node]:
    node = build_node(settings_from(config))
    try:
        yield node
    finally:
        node.close()


@app.command("run")
def run(config: ConfigOption = None) -> None:
    """Delete the bodies of expired records now (envelopes, digests and the ledger stay)."""
    with _node(config) as node:
        report = run_retention_pass(node, actor="cli")
    deleted = _table("bodies deleted", "record", "direction", "type")
    for item in report.deleted:
        deleted.add_row(item.record_id, item.direction, item.record_type)
    held = _table("kept under legal hold", "record", "direction", "type", "expired", "held by", "reason")
    for hold in report.held:
        held.add_row(hold.record_id, hold.direction, hold.record_type, hold.expires_at, hold.held_by, hold.reason)
    notices = _table("deletion notices queued", "notice", "about record", "to")
    for notice in report.notices:
        notices.add_row(notice.notice_record_id, notice.about_record_id, ",".join(notice.recipients))
    for table, rows in ((deleted, report.deleted), (held, report.held), (notices, report.notices)):
        if rows:
            stdout.print(table)
    for error in report.errors:
        stderr.print(f"[yellow]warning:[/yellow] {escape(str(error))}", soft_wrap=True, markup=True)
    stdout.print(
        f"retention as of {rfc3339(report.as_of)}: {len(report.deleted)} bodies deleted, "
        f"{len(report.held)} kept under legal hold, {len(report.notices)} deletion notices queued",
        soft_wrap=True,
    )


@app.command("due")
def due(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
) -> None:
    """List records past their review date that have not expired yet, expiring soonest first."""
    with _node(config) as node, node.transaction() as session:
        items = review_due(session, node, limit=limit)
        counts = retention_counts(session, node)
    table = _table(None, "record", "direction", "type", "from", "review due", "expires", "days left", "hold")
    for item in items:
        table.add_row(
            item.record_id,
            item.direction,
            item.record_type,
            item.originator_party or "-",
            item.review_due or "-",
            item.expires_at or "-",
            str(item.days_left) if item.days_left is not None else "-",
            "held" if item.legal_hold else "",
        )
    if items:
        stdout.print(table)
    stdout.print(
        f"{counts.review_due} records past their review date; {counts.expired_held} expired but held", soft_wrap=True
    )


@app.command("hold")
def hold(
    record_id: RecordId,
    reason: Annotated[str, typer.Option("--reason", help="Why the record must be kept (case, court order).")],
    config: ConfigOption = None,
) -> None:
    """Place a legal hold: retention keeps every copy of the record at this node until it is released."""
    with _node(config) as node, node.transaction() as session:
        change = place_legal_hold(session, node, record_id, reason=reason, actor="cli")
    stdout.print(f"legal hold placed on {record_id} ({', '.join(change.directions)}): {change.reason}", soft_wrap=True)


@app.command("release")
def release(record_id: RecordId, config: ConfigOption = None) -> None:
    """Release a legal hold; an expired record's body is deleted at the next retention run."""
    with _node(config) as node, node.transaction() as session:
        change = release_legal_hold(session, node, record_id, actor="cli")
    stdout.print(f"legal hold released on {record_id} ({', '.join(change.directions)})", soft_wrap=True)
