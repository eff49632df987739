"""the reason of the last failed sync round, for 'node status' and the desk

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:30:00

``node status`` said only "the last attempt failed" (issue 12). A sync mark may now carry a
line of text: ``last_failure_ms`` keeps when the last round failed and why, in the words the
command printed then.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sync_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sync_state', schema=None) as batch_op:
        batch_op.drop_column('note')
