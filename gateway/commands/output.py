"""One style for every list the CLI prints: a table on a terminal, plain columns in a pipe, or JSON/TSV.

Nothing is ever cut short: ids, hashes and times are what operators paste
into the next command. On a terminal long cells wrap inside their column;
piped, every row is one full-width line of columns separated by two spaces
(so ``grep`` and ``awk`` see whole values); ``--output json`` and ``--output
tsv`` are for scripts. Cell text is never read as Rich markup.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

Cell = object  # str, int, bool, None; anything else is shown as str()


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    TSV = "tsv"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table (wraps on a terminal, plain columns when piped), json or tsv.",
        case_sensitive=False,
        show_default=True,
    ),
]


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _tsv(value: Cell) -> str:
    # TSV has no quoting: a tab or newline inside a value would split it.
    return _text(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def render_rows(headers: Sequence[str], rows: Sequence[Sequence[Cell]], output: OutputFormat) -> str:
    """Return ``rows`` under ``headers`` in ``output``'s format, ending with a newline (empty for no rows).

    ``table`` is the plain column form used when stdout is not a terminal.
    """
    if output is OutputFormat.JSON:
        keys = [h.lower().replace(" ", "_") for h in headers]
        records = [dict(zip(keys, row, strict=True)) for row in rows]
        return json.dumps(records, indent=2, ensure_ascii=False, default=str) + "\n"
    if output is OutputFormat.TSV:
        lines = ["\t".join(headers), *("\t".join(_tsv(c) for c in row) for row in rows)]
        return "\n".join(lines) + "\n"
    if not rows:
        return ""
    texts = [[_tsv(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in texts)) for i, h in enumerate(headers)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [list(headers), *texts]]
    return "\n".join(lines) + "\n"


def print_rows(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], output: OutputFormat = OutputFormat.TABLE
) -> None:
    """Print ``rows`` to stdout: a wrapping Rich table on a terminal, else :func:`render_rows`."""
    if output is OutputFormat.TABLE and sys.stdout.isatty() and rows:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(*headers, highlight=False)
        for column in table.columns:
            column.overflow = "fold"  # wrap long ids and hashes; never an ellipsis
        for row in rows:
            table.add_row(*(Text(_text(c)) for c in row))  # Text: a cell's [brackets] are not markup
        Console(highlight=False).print(table)
        return
    sys.stdout.write(render_rows(headers, rows, output))
    sys.stdout.flush()


def rfc3339_utc(moment: datetime) -> str:
    """Return ``moment`` as RFC 3339 UTC to the second (``2026-12-06T05:38:47Z``), never shortened."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
