"""The JSON Schema (2020-12) documents of the records domain, as committed in ``schemas/``.

Partners that do not run this gateway validate records and receipts with any
JSON Schema tool, so the files are generated from the pydantic models
(``gateway schemas export``) and a test fails when the committed copies drift.
The schemas describe the closed shape of each document; rules that span fields
(arrival after departure, no flags about minors, ...) are enforced only by the
models.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

from pydantic.json_schema import JsonSchemaValue

from gateway.records.schemas import RECORD_ADAPTER, RECORD_CLASSES, Receipt
from gateway.terms.schemas import Terms

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URI: Final = "https://mou-gateway.example/schemas/"


@dataclass(frozen=True, slots=True)
class SchemaEntry:
    """One exported file: its name, the function that builds its schema, an optional title."""

    file_name: str
    build: Callable[[], JsonSchemaValue]
    title: str | None = None


def schema_entries() -> list[SchemaEntry]:
    """Return every schema the gateway exports; add new documents (e.g. terms) here."""
    entries = [
        SchemaEntry(f"{record_type.value}.schema.json", record_class.model_json_schema)
        for record_type, record_class in RECORD_CLASSES.items()
    ]
    entries.append(SchemaEntry("record.schema.json", RECORD_ADAPTER.json_schema, title="Record"))
    entries.append(SchemaEntry("receipt.schema.json", Receipt.model_json_schema))
    entries.append(SchemaEntry("terms.schema.json", partial(Terms.model_json_schema, by_alias=True)))
    return entries


def schema_documents() -> dict[str, JsonSchemaValue]:
    """Return file name → JSON Schema document, with ``$schema`` and a stable ``$id``."""
    documents: dict[str, JsonSchemaValue] = {}
    for entry in schema_entries():
        if entry.file_name in documents:
            raise ValueError(f"two schemas would be written to {entry.file_name}")
        document: JsonSchemaValue = {
            "$schema": SCHEMA_DIALECT,
            "$id": SCHEMA_BASE_URI + entry.file_name,
            **entry.build(),
        }
        if entry.title is not None:
            document["title"] = entry.title
        documents[entry.file_name] = document
    return documents


def render_schema(document: JsonSchemaValue) -> str:
    """Return the exact text written for ``document``: sorted keys, indent 2, final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schemas(out_dir: Path) -> list[Path]:
    """Write every schema document into ``out_dir`` (created if missing).

    Returns the written paths, sorted by file name; raises OSError when a file
    cannot be written. Files that are no longer exported are left in place.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for file_name, document in sorted(schema_documents().items()):
        path = out_dir / file_name
        path.write_text(render_schema(document), encoding="utf-8", newline="\n")
        written.append(path)
    return written
