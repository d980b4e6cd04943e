"""The ``gateway`` command line. Sub-commands live in ``gateway/commands/``."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape
from typer.exceptions import TyperException

from gateway.commands import (
    audit,
    clients,
    conformance,
    database,
    deliveries,
    demo,
    doctor,
    evidence,
    node,
    officers,
    pki,
    records,
    report,
    retention,
    schemas,
    terms,
)
from gateway.commands.common import stderr
from gateway.database_errors import describe_database_error, is_database_unavailable
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
app.add_typer(officers.app, name="officers")
app.add_typer(deliveries.app, name="deliveries")
app.command("serve")(node.serve)
app.command("worker")(node.worker)
app.command("send")(node.send)
app.command("demo")(demo.demo)
app.add_typer(terms.app, name="terms")
app.add_typer(audit.app, name="audit")
app.add_typer(evidence.app, name="evidence")
app.add_typer(retention.app, name="retention")
app.command("report")(report.report)
app.command("doctor")(doctor.doctor)
app.add_typer(conformance.app, name="conformance")


def main() -> None:
    """Entry point: run the CLI, turning gateway errors into one-line messages."""
    try:
        # Outside standalone mode click returns (not raises) the code of typer.Exit.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except GatewayError as exc:
        stderr.print(f"[red]error:[/red] {escape(exc.cli_message())}", soft_wrap=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("aborted")
        sys.exit(130)
    except TyperException as exc:
        # typer bundles its own click: usage errors and bad parameters land here.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            stderr.print(f"error: {escape(str(exc))}")
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except Exception as exc:
        # The database away (refused, missing, lost) at any command: one line, not a traceback.
        if not is_database_unavailable(exc):
            raise
        stderr.print(f"[red]error:[/red] {escape(describe_database_error(exc).cli_message())}", soft_wrap=True)
        sys.exit(1)
