"""No party is written into the gateway: which parties exist is the trust bundle's to say.

Searches every text file under gateway/ (outside gateway/demo/, whose
scenario is about PA, CO and US by design) for a quoted "PA", "CO" or "US",
and the exported JSON Schemas for any list of parties. A line may stay only
when the allow-list below names it with its reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = ROOT / "gateway"
QUOTED_PARTY = re.compile(r"""(["'])(PA|CO|US)\1""")
FOUNDERS = {"PA", "CO", "US"}

# (path under gateway/, the exact line, stripped) → why it may name a party
ALLOWED = {
    (
        "trust/bundle.py",
        '"parties": {"PA": {"cas": ["-----BEGIN CERTIFICATE-----..."],',
    ): "documentation: the file format example in the module docstring",
    (
        "evidence/bundle.py",
        '"exported_by": "CO", "exported_at": "2027-01-05T10:00:00Z",',
    ): "documentation: the evidence bundle format example in the module docstring",
    (
        "evidence/bundle.py",
        '"ledger": {"party": "CO", "checkpoint": "<compact checkpoint JWS>",',
    ): "documentation: the evidence bundle format example in the module docstring",
}


def _text_files() -> list[Path]:
    files = []
    for path in sorted(GATEWAY.rglob("*")):
        relative = path.relative_to(GATEWAY)
        if not path.is_file() or relative.parts[0] == "demo" or "__pycache__" in relative.parts:
            continue
        try:
            path.read_text("utf-8")
        except UnicodeDecodeError:
            continue  # binary (images, fonts): no literal to find
        files.append(path)
    return files


def party_literals() -> list[tuple[str, int, str]]:
    """Return (path under gateway/, line number, line) of every quoted party code outside the allow-list."""
    found = []
    for path in _text_files():
        relative = path.relative_to(GATEWAY).as_posix()
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if QUOTED_PARTY.search(line) and (relative, line.strip()) not in ALLOWED:
                found.append((relative, number, line.strip()))
    return found


def test_no_party_code_is_written_into_the_gateway() -> None:
    assert party_literals() == []


def test_the_search_finds_a_party_literal_where_there_is_one() -> None:
    # The search itself must be able to fail: a Literal of parties, as there used to be.
    for line, found in [
        ('PartyCode = Literal["PA", "CO", "US"]', True),
        ("if party == 'US':", True),
        ('party: PartyCode = "CR"', False),
        ('PA\'s record-signing key, "PA,CO,US"', False),
    ]:
        assert bool(QUOTED_PARTY.search(line)) is found, line


def test_every_allowed_line_still_exists() -> None:
    # A stale entry would allow a literal that comes back on the same line.
    present = {
        (path.relative_to(GATEWAY).as_posix(), line.strip())
        for path in _text_files()
        for line in path.read_text("utf-8").splitlines()
    }
    assert set(ALLOWED) <= present


def _enums(node: Any) -> list[list[Any]]:
    if isinstance(node, dict):
        own = [node["enum"]] if isinstance(node.get("enum"), list) else []
        return own + [e for value in node.values() for e in _enums(value)]
    if isinstance(node, list):
        return [e for value in node for e in _enums(value)]
    return []


def test_the_json_schemas_give_the_party_code_pattern_not_a_list_of_parties() -> None:
    schemas = sorted((ROOT / "schemas").glob("*.schema.json"))
    assert schemas
    for path in schemas:
        document = json.loads(path.read_text("utf-8"))
        assert not [e for e in _enums(document) if FOUNDERS & set(map(str, e))], path.name
    envelope = json.loads((ROOT / "schemas" / "record.schema.json").read_text("utf-8"))
    assert '"pattern": "^[A-Z]{2}$"' in json.dumps(envelope)
