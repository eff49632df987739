"""The pages' login tables (issue 11), the same at the node and at the county."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_login_tables() -> None:
    """``accounts`` and ``web_sessions`` (``node.store.schema`` ``AccountColumns``,
    ``WebSessionColumns``)."""
    op.create_table('accounts',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('display_name', sa.String(), nullable=False),
                    sa.Column('role', sa.String(length=16), nullable=False),
                    sa.Column('password_hash', sa.Text(), nullable=False),
                    sa.Column('totp_secret', sa.String(length=64), nullable=False),
                    sa.Column('failed_logins', sa.Integer(), nullable=False),
                    sa.Column('locked_until_ms', sa.BigInteger(), nullable=True),
                    sa.Column('active', sa.Boolean(), nullable=False),
                    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
                    sa.Column('last_login_ms', sa.BigInteger(), nullable=True),
                    sa.PrimaryKeyConstraint('name'))
    op.create_table('web_sessions',
                    sa.Column('token_hash', sa.String(length=64), nullable=False),
                    sa.Column('account', sa.String(length=64), nullable=False),
                    sa.Column('kind', sa.String(length=8), nullable=False),
                    sa.Column('stage', sa.String(length=8), nullable=False),
                    sa.Column('csrf', sa.String(length=64), nullable=False),
                    sa.Column('remote', sa.String(length=64), nullable=False),
                    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
                    sa.Column('last_seen_ms', sa.BigInteger(), nullable=False),
                    sa.Column('expires_at_ms', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('token_hash'))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_account'), ['account'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at_ms'), ['expires_at_ms'],
                              unique=False)
