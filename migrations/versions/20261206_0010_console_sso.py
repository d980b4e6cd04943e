"""console sso: officers' OpenID Connect identity, sessions' sign-in method, pending sign-in flows

An officer who signs in through the agency's identity provider is known by the
provider's issuer and subject (unique together). A console session records how
it was opened (``password_totp`` or ``oidc``), so sign-out knows whether to
send the browser on to the provider's end-session endpoint. A pending
OpenID Connect sign-in (state, nonce, PKCE verifier) waits in
``console_sso_flows`` until the provider sends the browser back, and is
deleted when used, so a state (and the code that came with it) counts once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.db import UTCDateTime


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oidc_issuer', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('oidc_subject', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_officers_oidc_issuer_oidc_subject'), ['oidc_issuer', 'oidc_subject'])
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('sign_in_method', sa.String(length=16), nullable=False, server_default='password_totp')
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_console_sessions_sign_in_method'), "sign_in_method IN ('password_totp', 'oidc')"
        )
    op.create_table(
        'console_sso_flows',
        sa.Column('state_sha256', sa.String(length=64), nullable=False),
        sa.Column('browser_sha256', sa.String(length=64), nullable=False),
        sa.Column('nonce', sa.String(length=128), nullable=False),
        sa.Column('code_verifier', sa.String(length=128), nullable=False),
        sa.Column('next_path', sa.String(length=500), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('state_sha256', name=op.f('pk_console_sso_flows')),
    )
    with op.batch_alter_table('console_sso_flows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sso_flows_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_sso_flows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sso_flows_expires_at'))
    op.drop_table('console_sso_flows')
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_console_sessions_sign_in_method'), type_='check')
        batch_op.drop_column('sign_in_method')
    with op.batch_alter_table('officers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_officers_oidc_issuer_oidc_subject'), type_='unique')
        batch_op.drop_column('oidc_subject')
        batch_op.drop_column('oidc_issuer')
