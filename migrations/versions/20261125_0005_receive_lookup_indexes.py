"""receive lookup: single-column indexes on records.jws_sha256 and accepted_record_id

Receiving a record looks up earlier rows by digest, by accepted record_id and
by refers_to in one OR query. With an index of its own for each term the plan
cannot depend on table statistics: on a fresh PostgreSQL database, before
autovacuum had analysed it, the planner answered the two (direction, ...)
terms from the direction index, reading every incoming row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 23:35:00
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_records_jws_sha256'), ['jws_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_records_accepted_record_id'), ['accepted_record_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_records_accepted_record_id'))
        batch_op.drop_index(batch_op.f('ix_records_jws_sha256'))
