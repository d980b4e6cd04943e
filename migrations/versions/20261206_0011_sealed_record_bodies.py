"""sealed record bodies: the data key that seals each record's JWS at rest

A record's signed JWS is stored sealed (AES-256-GCM) under a data key of its
own; ``records.body_key`` names that key in the node's key store, a separate
small database (see gateway/vault/ and deploy/README.md). NULL means a row
written before this revision, still in the clear: the node reads both kinds,
so this revision only adds a nullable column (no table rewrite, no downtime),
and ``gateway keys seal-existing`` then seals the older rows in batches of
their own transactions (resumable: it picks up the rows still NULL).
``records.body_facts`` keeps, in the clear, the few body fields of lifecycle
answers the oversight report counts (an acknowledgement's outcome and
applied_at, a consent's decision): codes and times, never a person.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 06:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_key', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('body_facts', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('body_facts')
        batch_op.drop_column('body_key')
