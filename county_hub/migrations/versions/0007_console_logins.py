"""the console's logins: accounts, sessions and personal tokens, rate-limited entrances, and
how each trail line's operator was authenticated

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:00:00

Operators log in to the county console (issue 11) with Argon2id passwords and an optional TOTP
second factor; sessions and the CLI's personal tokens are rows (any hub process serves any
request). ``rate_hits`` counts tries at the public status lookup and at logins across
processes. Every trail line says how its operator was authenticated (``via``): lines written
before this release were typed at the hub's shell, and say ``local-admin``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from node.migrations.helpers import add_not_null
from node.migrations.helpers_web import create_login_tables

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_login_tables()
    op.create_table('rate_hits',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('bucket', sa.String(length=96), nullable=False),
                    sa.Column('at_ms', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    with op.batch_alter_table('rate_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_hits_bucket'), ['bucket'], unique=False)
        batch_op.create_index(batch_op.f('ix_rate_hits_at_ms'), ['at_ms'], unique=False)
    add_not_null('trail', sa.Column('via', sa.String(length=16)), "")
    op.execute(sa.text("UPDATE trail SET via = 'local-admin' WHERE operator != ''"))


def downgrade() -> None:
    with op.batch_alter_table('trail', schema=None) as batch_op:
        batch_op.drop_column('via')
    op.drop_table('rate_hits')
    op.drop_table('web_sessions')
    op.drop_table('accounts')
