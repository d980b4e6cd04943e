"""The committed JSON Schemas in schemas/ are exactly what the models export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gateway.records.schemas import RecordType
from gateway.terms.export import (
    SCHEMA_BASE_URI,
    SCHEMA_DIALECT,
    export_schemas,
    render_schema,
    schema_documents,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
EXPECTED = sorted([f"{t.value}.schema.json" for t in RecordType] + ["record.schema.json", "receipt.schema.json"])


def test_every_record_type_envelope_and_receipt_is_exported() -> None:
    assert set(EXPECTED) <= set(schema_documents())


def test_committed_schemas_match_the_models() -> None:
    drifted = [
        name
        for name, document in schema_documents().items()
        if not (SCHEMAS / name).is_file() or (SCHEMAS / name).read_bytes() != render_schema(document).encode("utf-8")
    ]
    assert not drifted, f"schemas/ is out of date ({', '.join(drifted)}): run `gateway schemas export`"


def test_no_stale_schema_is_committed() -> None:
    stale = sorted({p.name for p in SCHEMAS.glob("*.schema.json")} - set(schema_documents()))
    assert not stale, f"schemas/ holds schemas no model exports: {stale}; delete them"


@pytest.mark.parametrize("name", EXPECTED)
def test_document_is_a_2020_12_schema_with_a_stable_id(name: str) -> None:
    document = schema_documents()[name]
    assert document["$schema"] == SCHEMA_DIALECT == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == SCHEMA_BASE_URI + name
    Draft202012Validator.check_schema(document)


def _object_schemas(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found += _object_schemas(value)
    elif isinstance(node, list):
        for value in node:
            found += _object_schemas(value)
    return found


@pytest.mark.parametrize("name", EXPECTED)
def test_every_object_is_closed(name: str) -> None:
    objects = _object_schemas(schema_documents()[name])
    assert objects
    open_objects = [o.get("title") for o in objects if o.get("additionalProperties") is not False]
    assert open_objects == []


def test_union_dispatches_on_record_type() -> None:
    union = schema_documents()["record.schema.json"]
    assert union["title"] == "Record"
    assert sorted(union["discriminator"]["mapping"]) == sorted(t.value for t in RecordType)
    assert len(union["oneOf"]) == len(RecordType)


def test_export_writes_rendered_documents(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "schemas"
    written = export_schemas(out)
    documents = schema_documents()
    assert [p.name for p in written] == sorted(documents)
    for path in written:
        assert path.parent == out
        assert path.read_bytes() == render_schema(documents[path.name]).encode("utf-8")


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in export_schemas(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in export_schemas(tmp_path / "b")}
    assert first == second


def test_rendering_sorts_keys_indents_and_ends_with_a_newline() -> None:
    text = render_schema({"b": 1, "a": {"d": "Medellín", "c": [2]}})
    assert text == ('{\n  "a": {\n    "c": [\n      2\n    ],\n    "d": "Medellín"\n  },\n  "b": 1\n}\n')
