"""one case view at every tier, attachment claims, delegations for the township's villages

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:00:00

The node's cases table gets the county's columns (``CaseColumns``: one projector writes every
tier's view), filled from what the node knows: the origin from the case id, who decides and the
departments from the catalog the node holds, the receipt from the submission. Attachments the
node's relayed villages named become their claims. Delegation records are addressed to the
township and its villages (``@T01``); a village pulls the county's log again from the start
once, so that it holds the grants it checks its township's decisions against.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from node.migrations.helpers import add_not_null_columns, create_blob_claims, group_audience

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _catalog_items(conn: sa.Connection) -> dict[str, tuple[str, str]]:
    """item code -> (decided_by, departments) in the newest catalog the node holds."""
    from sync.pb import records_pb2  # noqa: PLC0415

    row = conn.execute(sa.text("SELECT body FROM records WHERE log_id = 'CATALOG' "
                               "ORDER BY seq DESC LIMIT 1")).first()
    if row is None:
        return {}
    body = records_pb2.RecordBody()
    body.ParseFromString(bytes(row[0]))
    return {i.code: (i.decided_by or "county", ",".join(i.departments))
            for i in body.catalog_published.catalog.items}


def upgrade() -> None:
    add_not_null_columns('cases', [
        (sa.Column('origin_node', sa.String(length=32)), ""),
        (sa.Column('decided_by', sa.String(length=16)), "county"),
        (sa.Column('departments', sa.Text()), ""),
        (sa.Column('department', sa.String()), ""),
        (sa.Column('outcome', sa.String(length=16)), ""),
        (sa.Column('received_at_ms', sa.BigInteger()), 0),
        (sa.Column('flags', sa.Text()), ""),
        (sa.Column('supplements', sa.Integer()), 0),
        (sa.Column('provisional', sa.String(length=64)), ""),
    ])
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_at_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('accepted_at_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('concluded_at_ms', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_origin_node'), ['origin_node'], unique=False)
    conn = op.get_bind()
    items = _catalog_items(conn)
    for case_id, item_code, state, submitted in conn.execute(sa.text(
            "SELECT case_id, item_code, state, submitted_at_ms FROM cases")).all():
        parts = case_id.split("-")
        decided_by, departments = items.get(item_code, ("county", ""))
        outcome = state if state in ("approved", "rejected", "not_accepted") else ""
        conn.execute(sa.text(
            "UPDATE cases SET origin_node = :o, decided_by = :d, departments = :p, "
            "received_at_ms = :r, outcome = :x WHERE case_id = :c"),
            {"o": parts[1] if len(parts) == 4 else "", "d": decided_by, "p": departments,
             "r": submitted, "x": outcome, "c": case_id})

    create_blob_claims(conn)
    group_audience(conn)
    conn.execute(sa.text("UPDATE sync_state SET value = 0 WHERE name = 'cursor:HUB'"))


def downgrade() -> None:
    op.drop_table('blob_claims')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_origin_node'))
        for name in ('origin_node', 'decided_by', 'departments', 'department', 'outcome',
                     'received_at_ms', 'flags', 'supplements', 'provisional', 'decided_at_ms',
                     'accepted_at_ms', 'concluded_at_ms'):
            batch_op.drop_column(name)
