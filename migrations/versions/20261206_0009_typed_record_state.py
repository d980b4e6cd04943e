"""typed record state: enums stored as strings with CHECK constraints; no compound status values

Direction, record type, verification, record status and delivery status are
now enums (gateway/records/states.py), each stored as its string value with a
CHECK constraint (``ck_<table>_<column>``).

Existing rows are converted:
- ``status = 'rejected'`` meant two things: an incoming record that failed
  verification (now ``failed_verification``) and one an officer or client
  rejected (stays ``rejected``). ``verification = 'invalid'`` tells them apart.
- an outgoing record answered by a partner held ``'<decision>:<party>'``
  (e.g. ``acknowledged:CO``); the party moves to the new column
  ``answered_by`` and the status keeps the decision (``acknowledged``).
- ``status`` widens to 20 characters (``failed_verification``).

The downgrade restores the old values (the compound ones included).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The value sets as of this revision (a migration never imports the models: they move on).
DIRECTIONS = ('out', 'in')
VERIFICATIONS = ('valid', 'invalid')
RECORD_STATUSES = ('new', 'sent', 'acknowledged', 'queried', 'rejected', 'failed_verification', 'answered')
DELIVERY_STATUSES = ('pending', 'delivered', 'rejected', 'dead', 'cancelled')
RECORD_TYPES = (
    'criminal_network_flag',
    'removal_manifest',
    'removal_confirmation',
    'acknowledgement',
    'correction',
    'retraction',
    'application_acknowledgement',
    'deletion_notice',
    'onward_sharing_request',
    'onward_sharing_consent',
    'discrepancy_report',
    'discrepancy_response',
)
RECORD_CHECKS = {
    'direction': DIRECTIONS,
    'record_type': RECORD_TYPES,
    'verification': VERIFICATIONS,
    'status': RECORD_STATUSES,
}

records = sa.table(
    'records',
    sa.column('pk', sa.Integer),
    sa.column('verification', sa.String),
    sa.column('status', sa.String),
    sa.column('answered_by', sa.String),
)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_by', sa.String(length=2), nullable=True))
        batch_op.alter_column('status', existing_type=sa.String(length=16), type_=sa.String(length=20),
                              existing_nullable=False)

    connection = op.get_bind()
    connection.execute(
        records.update()
        .where(records.c.verification == 'invalid')
        .values(status='failed_verification')
    )
    compound = connection.execute(
        sa.select(records.c.pk, records.c.status).where(records.c.status.like('%:%'))
    ).all()
    for pk, status in compound:
        decision, _, party = status.partition(':')
        connection.execute(
            records.update().where(records.c.pk == pk).values(status=decision, answered_by=party[:2] or None)
        )

    with op.batch_alter_table('records', schema=None) as batch_op:
        for column, values in RECORD_CHECKS.items():
            batch_op.create_check_constraint(batch_op.f(f'ck_records_{column}'), _in(column, values))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_deliveries_status'), _in('status', DELIVERY_STATUSES))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_deliveries_status'), type_='check')
    with op.batch_alter_table('records', schema=None) as batch_op:
        for column in RECORD_CHECKS:
            batch_op.drop_constraint(batch_op.f(f'ck_records_{column}'), type_='check')

    connection = op.get_bind()
    connection.execute(
        records.update().where(records.c.status == 'failed_verification').values(status='rejected')
    )
    answered = connection.execute(
        sa.select(records.c.pk, records.c.status, records.c.answered_by).where(records.c.answered_by.is_not(None))
    ).all()
    for pk, status, party in answered:
        connection.execute(records.update().where(records.c.pk == pk).values(status=f'{status}:{party}'))

    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=20), type_=sa.String(length=16),
                              existing_nullable=False)
        batch_op.drop_column('answered_by')
