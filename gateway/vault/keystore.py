"""The key store: wrapped data keys in a small database of their own.

Kept apart from the records database on purpose: a backup of the records
database holds sealed bodies only, and a data key destroyed here (retention,
retraction) is gone for every such backup, old or new. The key store is
backed up on its own, on a short rotation (deploy/README.md says how the two
relate). Its schema is two tables, created on first open; it has no
migrations of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from gateway.db import UTCDateTime

metadata = MetaData()

data_keys = Table(
    "data_keys",
    metadata,
    Column("key_ref", String(36), primary_key=True),
    Column("kek_id", String(32), nullable=False),
    Column("wrapped", LargeBinary(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One row: which key-encryption key the store is wrapped under, and a value
# wrapped under it, so a wrong key file is refused at start, not at first read.
kek_check = Table(
    "kek_check",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("kek_id", String(32), nullable=False),
    Column("check_wrapped", LargeBinary(128), nullable=False),
)

CHECK_REF = "kek-check"


class KeyStore:
    """Wrapped data keys by reference; every method is its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)

    def check_row(self) -> tuple[str, bytes] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(kek_check.c.kek_id, kek_check.c.check_wrapped)).first()
        return (row.kek_id, row.check_wrapped) if row is not None else None

    def set_check(self, kek_id: str, check_wrapped: bytes) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(kek_check))
            connection.execute(insert(kek_check).values(pk=1, kek_id=kek_id, check_wrapped=check_wrapped))

    def put_many(self, kek_id: str, wrapped: Iterable[tuple[str, bytes]]) -> None:
        rows = [
            {"key_ref": ref, "kek_id": kek_id, "wrapped": value, "created_at": datetime.now(UTC)}
            for ref, value in wrapped
        ]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(insert(data_keys), rows)

    def get(self, key_ref: str) -> bytes | None:
        with self.engine.connect() as connection:
            return connection.execute(select(data_keys.c.wrapped).where(data_keys.c.key_ref == key_ref)).scalar()

    def delete(self, key_refs: Iterable[str]) -> int:
        """Destroy the wrapped keys ``key_refs``; returns how many there were."""
        refs = list(key_refs)
        if not refs:
            return 0
        with self.engine.begin() as connection:
            return connection.execute(delete(data_keys).where(data_keys.c.key_ref.in_(refs))).rowcount

    def batches(self, size: int) -> Iterator[list[tuple[str, str, bytes]]]:
        """Every wrapped key (reference, KEK id, wrapped), in batches of ``size`` ordered by reference."""
        after = ""
        while True:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    select(data_keys.c.key_ref, data_keys.c.kek_id, data_keys.c.wrapped)
                    .where(data_keys.c.key_ref > after)
                    .order_by(data_keys.c.key_ref)
                    .limit(size)
                ).all()
            if not rows:
                return
            yield [(row.key_ref, row.kek_id, row.wrapped) for row in rows]
            after = rows[-1].key_ref

    def replace_wrapped(self, kek_id: str, rewrapped: list[tuple[str, bytes]]) -> None:
        with self.engine.begin() as connection:
            for ref, value in rewrapped:
                connection.execute(
                    update(data_keys).where(data_keys.c.key_ref == ref).values(kek_id=kek_id, wrapped=value)
                )

    def count(self) -> int:
        from sqlalchemy import func

        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(data_keys)).scalar_one())
