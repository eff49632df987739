"""key-replacement tokens: a node that lost its keys re-enrols and its log continues

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 08:30:00

A token can now be made for a node that is already enrolled, to replace its keys after they
were lost (issue 12): ``replaces_keys`` says so and ``reason`` is the operator's why, which the
county's authorization and the node's ``KeyReplaced`` record carry. Tokens made before this
release are ordinary enrolment tokens.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from node.migrations.helpers import add_not_null_columns

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_not_null_columns("tokens", [(sa.Column("replaces_keys", sa.Boolean()), False),
                                    (sa.Column("reason", sa.String()), "")])


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("replaces_keys")
