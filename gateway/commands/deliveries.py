"""``gateway deliveries``: inspect the outbox and retry dead deliveries."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from gateway.commands.common import ConfigOption, settings_from, stdout
from gateway.exchange import repository
from gateway.exchange.worker import retry_delivery
from gateway.node import build_node
from gateway.records.signing import rfc3339

app = typer.Typer(help="The outbox: deliveries to partners.", no_args_is_help=True)


@app.command("list")
def list_deliveries(
    config: ConfigOption = None,
    status: Annotated[str | None, typer.Option(help="pending, delivered, rejected or dead.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
) -> None:
    """List deliveries, newest first, with their status and last error."""
    node = build_node(settings_from(config))
    table = Table("id", "record", "type", "to", "status", "attempts", "updated", "last error")
    with node.transaction() as session:
        for delivery, record in repository.listing(session, status, limit):
            updated = delivery.delivered_at or delivery.last_attempt_at or delivery.created_at
            table.add_row(
                str(delivery.pk),
                record.record_id or "-",
                record.record_type or "-",
                delivery.recipient,
                delivery.status,
                str(delivery.attempts),
                rfc3339(updated),
                (delivery.last_error or "")[:60],
            )
        counts = repository.count_by_status(session)
    stdout.print(table)
    stdout.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no deliveries")
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
