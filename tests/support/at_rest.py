"""What a database at rest must not hold: the people in the records, in any encoding."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

PERSONAL_KEYS = ("family_names", "given_names", "number")  # names and travel document numbers


def personal_strings(document: Any) -> set[str]:
    """Every name and document number in ``document`` (a record or draft, walked whole)."""
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if key in PERSONAL_KEYS and isinstance(value, str) and len(value) >= 5:
                found.add(value)
            else:
                found |= personal_strings(value)
    elif isinstance(document, list):
        for item in document:
            found |= personal_strings(item)
    return found


def _base64_variants(raw: bytes) -> set[bytes]:
    """``raw`` as base64 and base64url at each of the three byte alignments it can have inside a longer text."""
    variants: set[bytes] = set()
    for offset in range(3):
        padded = b"\0" * offset + raw
        determined = len(padded) * 8 // 6  # characters fixed by these bytes alone
        skip = (offset * 8 + 5) // 6  # characters that mix in the unknown bytes before
        for encoder in (base64.b64encode, base64.urlsafe_b64encode):
            variants.add(encoder(padded).rstrip(b"=")[skip:determined])
    return {v for v in variants if len(v) >= 6}


def encodings(value: str) -> set[bytes]:
    """Plain UTF-8, JSON-escaped, \\u-escaped, hex (bytea), base64 and base64url of ``value``."""
    raw = value.encode("utf-8")
    forms = {raw, json.dumps(value)[1:-1].encode("ascii"), raw.hex().encode("ascii"), raw.hex().upper().encode("ascii")}
    forms |= _base64_variants(raw)
    return forms


def leaks(blob: bytes, values: Iterable[str]) -> list[str]:
    """The values of ``values`` found in ``blob``, each with the first encoding it was found in."""
    found = []
    for value in values:
        for form in sorted(encodings(value)):
            if form in blob:
                found.append(f"{value!r} as {form[:40]!r}")
                break
    return found


def database_bytes(url: str, workdir: Path) -> bytes:
    """The database behind ``url`` as it rests: SQLite's files (with WAL and journal), or a pg_dump."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(str(parsed.database))
        return b"".join(
            Path(f"{path}{suffix}").read_bytes()
            for suffix in ("", "-wal", "-journal")
            if Path(f"{path}{suffix}").exists()
        )
    dump = workdir / f"{parsed.database}.sql"
    libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(["/usr/bin/pg_dump", "--dbname", libpq, "--file", str(dump)], check=True, timeout=120)
    return dump.read_bytes()


def copy_database(url: str, workdir: Path) -> Path:
    """A backup of the database behind ``url``: an SQLite online backup, or a plain pg_dump."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        copy = workdir / "backup.sqlite3"
        with sqlite3.connect(str(parsed.database)) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        return copy
    dump = workdir / "backup.sql"
    libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(["/usr/bin/pg_dump", "--dbname", libpq, "--file", str(dump)], check=True, timeout=120)
    return dump


def restore_database(backup: Path, empty_url: str) -> None:
    """Restore ``backup`` (from copy_database) into the empty PostgreSQL database ``empty_url``."""
    libpq = make_url(empty_url).set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(
        ["/usr/bin/psql", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", libpq, "-f", str(backup)],
        check=True,
        timeout=120,
        capture_output=True,
    )
