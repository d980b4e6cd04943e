"""ORM classes of the audit ledger: entries, stored Merkle subtrees, checkpoints, witnesses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, UTCDateTime


class LedgerHead(Base):
    """A single row holding the tree size and root; locking it serializes appends.

    ``root_hash`` is the RFC 9162 root of the first ``size`` entries. Besides
    saving a recomputation, it tells an appender whether the right edge it
    cached in memory still belongs to this tree (see ``gateway.ledger.store``).
    """

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class LedgerEntry(Base):
    """One audit event: a leaf of the RFC 9162 Merkle tree. Ids only, no personal data."""

    __tablename__ = "ledger_entries"

    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail_sha256: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerNode(Base):
    """Hash of a complete subtree of level >= 1.

    ``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``;
    level 0 (the leaf hashes) is served from ``ledger_entries.leaf_hash``.
    """

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(Base):
    """A signed checkpoint: own (``origin`` = this node) or witnessed from a partner.

    A witnessed checkpoint keeps the consistency proof that linked it to the
    previous consistent checkpoint of the same party (``proof_from`` is that
    checkpoint's tree size, ``proof`` the hashes in hex, comma separated), so
    ``gateway audit verify`` can re-check the whole chain offline. A
    checkpoint that failed the check is kept too (``consistent`` false, the
    reason in ``note``): two signed, contradicting checkpoints prove a fork.
    """

    __tablename__ = "checkpoints"
    __table_args__ = (Index("ix_checkpoints_party_own_size", "party", "own", "tree_size"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(64), index=True)
    party: Mapped[str] = mapped_column(String(2))
    own: Mapped[bool] = mapped_column()
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())
    jws: Mapped[str] = mapped_column(Text)
    consistent: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str | None] = mapped_column(String(300))
    proof_from: Mapped[int | None] = mapped_column(BigInteger)
    proof: Mapped[str | None] = mapped_column(Text)


class WitnessStatus(Base):
    """What this node last saw of one partner's ledger; one row per partner party.

    ``state`` is ``ok``, ``unreachable``, ``error`` (an answer that proves
    nothing, e.g. no proof) or ``fork``. ``alarm`` stays set once a fork was
    seen: it is evidence for people to act on, not a transient condition.
    """

    __tablename__ = "witness_status"

    party: Mapped[str] = mapped_column(String(2), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(300))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    witnessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    origin: Mapped[str | None] = mapped_column(String(64))
    tree_size: Mapped[int | None] = mapped_column(BigInteger)
    root_hash: Mapped[str | None] = mapped_column(String(64))
    last_jws_sha256: Mapped[str | None] = mapped_column(String(64))
    alarm: Mapped[str | None] = mapped_column(String(300))
    alarm_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
