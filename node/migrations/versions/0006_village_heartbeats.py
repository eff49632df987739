"""a township keeps its villages' latest heartbeats, to relay them to the county

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:30:00

Villages behind a township were invisible to the county's monitoring (issue 12): the township
relayed their records but not their heartbeats. It now keeps each village's latest signed
heartbeat and when it came, and relays it with the village's log.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'village_heartbeats',
        sa.Column('node_id', sa.String(length=32), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.Column('signature', sa.LargeBinary(), nullable=False),
        sa.Column('received_at_ms', sa.BigInteger(), nullable=False),
        sa.Column('relayed', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('node_id'),
    )


def downgrade() -> None:
    op.drop_table('village_heartbeats')
