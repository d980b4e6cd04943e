"""client agency: an API client belongs to one agency of this party

A correction or retraction of a record needs a client of the agency that issued
it (the record's originator.agency) or the admin scope. Clients created before
this revision have no agency (NULL): they keep every other right, and may amend
records only once an agency is set (`gateway clients set-agency`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_clients', schema=None) as batch_op:
        batch_op.drop_column('agency')
