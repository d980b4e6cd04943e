"""``gateway schemas``: export the JSON Schemas of every record type."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.commands.common import stdout

app = typer.Typer(help="JSON Schemas of the record types, receipts and terms.", no_args_is_help=True)


@app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="Directory to write the schemas into.")] = Path("schemas"),
) -> None:
    """Write JSON Schema 2020-12 files (record types, envelope, receipt, terms) and the partner OpenAPI document."""
    from gateway.terms.export import export_schemas

    for path in export_schemas(out):
        stdout.print(f"wrote {path}")
    from gateway.exchange.openapi import write_partner_openapi

    stdout.print(f"wrote {write_partner_openapi(out)}")
