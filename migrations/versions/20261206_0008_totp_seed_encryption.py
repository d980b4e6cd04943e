"""totp seed encryption: room for AES-GCM encrypted seeds; an index for the sign-in throttle

Officers' TOTP seeds are stored encrypted (``v1:`` + base64url of nonce,
ciphertext and tag: 83 characters for a 32-character seed), under a key from
the settings that a migration does not have. This revision only widens the
column; the agency listener encrypts seeds still stored in clear when it starts
(gateway.console.service.encrypt_plain_seeds), and refuses to start without
the key.

Sign-in throttling counts failures per source address, hence the index on
console_login_attempts.remote_addr.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.alter_column(
            'totp_secret', existing_type=sa.String(length=64), type_=sa.String(length=255), existing_nullable=False
        )
    with op.batch_alter_table('console_login_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_login_attempts_remote_addr'), ['remote_addr'], unique=False)


def downgrade() -> None:
    # Encrypted seeds do not fit 64 characters: a downgrade needs the officers re-enrolled.
    with op.batch_alter_table('console_login_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_login_attempts_remote_addr'))
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.alter_column(
            'totp_secret', existing_type=sa.String(length=255), type_=sa.String(length=64), existing_nullable=False
        )
