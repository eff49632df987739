"""one case view at every tier, attachment claims, the end of a grant as the county saw it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00

The county's cases table gets the columns the node's has (``CaseColumns``). Attachments that
node logs already name become those logs' claims. A delegation remembers how far the county
had seen the township's log when it ended; delegation records are addressed to the township
and its villages (``@T01``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from node.migrations.helpers import add_not_null_columns, create_blob_claims, group_audience

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_not_null_columns('cases', [
        (sa.Column('catalog_expired', sa.Boolean()), False),
        (sa.Column('last_own_seq', sa.BigInteger()), 0),
        (sa.Column('provisional', sa.String(length=64)), ""),
    ])
    conn = op.get_bind()
    conn.execute(sa.text(
        "UPDATE cases SET last_own_seq = COALESCE((SELECT max(cr.seq) FROM case_records cr "
        "WHERE cr.case_id = cases.case_id AND cr.log_id = cases.origin_node), 0)"))
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seen_seq_at_end', sa.BigInteger(), nullable=True))
    create_blob_claims(conn)
    group_audience(conn)


def downgrade() -> None:
    op.drop_table('blob_claims')
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.drop_column('seen_seq_at_end')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name in ('catalog_expired', 'last_own_seq', 'provisional'):
            batch_op.drop_column(name)
