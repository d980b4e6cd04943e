"""``gateway deliveries``: inspect the outbox and retry dead deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.commands.common import ConfigOption, settings_from, stderr, stdout
from gateway.commands.output import OutputFormat, OutputOption, print_rows
from gateway.exchange import repository
from gateway.exchange.worker import retry_delivery
from gateway.node import build_node
from gateway.records.signing import rfc3339

app = typer.Typer(help="The outbox: deliveries to partners.", no_args_is_help=True)


@app.command("list")
def list_deliveries(
    config: ConfigOption = None,
    status: Annotated[str | None, typer.Option(help="pending, delivered, rejected or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Newest N deliveries.")] = 50,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List deliveries, newest first, with their status and last error (the counts go to stderr)."""
    node = build_node(settings_from(config))
    rows = []
    with node.transaction() as session:
        for delivery, record in repository.listing(session, status, limit):
            updated = delivery.delivered_at or delivery.last_attempt_at or delivery.created_at
            rows.append(
                (
                    delivery.pk,
                    record.record_id or "",
                    record.record_type or "",
                    delivery.recipient,
                    str(delivery.status),
                    delivery.attempts,
                    rfc3339(updated),
                    delivery.last_error or "",
                )
            )
        counts = repository.count_by_status(session)
    print_rows(["id", "record", "type", "to", "status", "attempts", "updated", "last error"], rows, output)
    stderr.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no deliveries", soft_wrap=True)
    node.close()


@app.command("retry")
def retry(
    delivery_id: Annotated[int, typer.Argument(help="Delivery id (from `deliveries list`).")],
    config: ConfigOption = None,
) -> None:
    """Queue a dead delivery again (a running worker picks it up)."""
    node = build_node(settings_from(config))
    delivery = retry_delivery(node, delivery_id, actor="cli")
    stdout.print(f"delivery {delivery.pk} to {delivery.recipient} queued again")
    node.close()
