"""The ``gateway`` command line. Sub-commands live in ``gateway/commands/``."""

from __future__ import annotations

import sys

import click
import typer

from gateway.commands import clients, database, deliveries, demo, node, pki, records, schemas
from gateway.commands.common import stderr
from gateway.errors import GatewayError

app = typer.Typer(
    help="MOU Gateway: signed-record exchange between PA, CO and US.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(pki.app, name="pki")
app.command("sign")(records.sign)
app.command("verify")(records.verify)
app.add_typer(database.app, name="db")
app.add_typer(schemas.app, name="schemas")
app.add_typer(clients.app, name="clients")
app.add_typer(deliveries.app, name="deliveries")
app.command("serve")(node.serve)
app.command("worker")(node.worker)
app.command("send")(node.send)
app.command("demo")(demo.demo)


def main() -> None:
    """Entry point: run the CLI, turning gateway errors into one-line messages."""
    try:
        app(standalone_mode=False)
    except GatewayError as exc:
        stderr.print(f"[red]error:[/red] {exc.cli_message()}", soft_wrap=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        stderr.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
