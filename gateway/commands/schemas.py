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
    """Write JSON Schema 2020-12 files, one per record type plus envelope, receipt, terms."""
    from gateway.records.export import export_schemas

    for path in export_schemas(out):
        stdout.print(f"wrote {path}")
