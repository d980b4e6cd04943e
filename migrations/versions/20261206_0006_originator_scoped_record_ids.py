"""originator-scoped record ids: a valid record is unique per (originator party, record_id)

Record ids are minted by the originating node, so two parties can hold the
same id (a partner may even copy another party's id on purpose). Unique per
(direction, accepted_record_id), the first copy of an id blocked every later
one: a partner could make another originator's genuine record conflict.
A record's identity is its originator and its id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 03:20:00
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows satisfy the new constraint: an accepted incoming record never
    # names this node as its originator (the peer must be the originator), and
    # outgoing ids were already unique.
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_records_direction_accepted_record_id'), type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_records_originator_party_accepted_record_id'), ['originator_party', 'accepted_record_id']
        )


def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_records_originator_party_accepted_record_id'), type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_records_direction_accepted_record_id'), ['direction', 'accepted_record_id']
        )
