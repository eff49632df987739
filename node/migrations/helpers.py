"""Helpers for hand-adjusted migrations of both the node's and the hub's database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def add_not_null(table: str, column: sa.Column[Any], fill: object) -> None:
    """Add a NOT NULL column to a table that may hold rows: add it nullable, fill, tighten.
    Works on SQLite (batch mode) and PostgreSQL alike."""
    name, kind = column.name, column.type
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column(name, kind, nullable=True))
    op.execute(sa.table(table, sa.column(name, kind)).update().values({name: fill}))
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(name, existing_type=kind, nullable=False)


def add_not_null_columns(table: str, columns: list[tuple[sa.Column[Any], object]]) -> None:
    """``add_not_null`` for several columns at once: one table rebuild to add them nullable,
    one fill, one rebuild to tighten (SQLite rebuilds the whole table in batch mode)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column, _fill in columns:
            batch_op.add_column(sa.Column(column.name, column.type, nullable=True))
    op.execute(sa.table(table, *(sa.column(c.name, c.type) for c, _f in columns)).update()
               .values({c.name: fill for c, fill in columns}))
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column, _fill in columns:
            batch_op.alter_column(column.name, existing_type=column.type, nullable=False)


def create_blob_claims(conn: sa.Connection) -> None:
    """The ``blob_claims`` table (both databases), filled from what node logs already name."""
    op.create_table('blob_claims',
                    sa.Column('sha256', sa.LargeBinary(), nullable=False),
                    sa.Column('log_id', sa.String(length=32), nullable=False),
                    sa.Column('claimed_at_ms', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('sha256', 'log_id'))
    claims = claimed_blobs(conn)
    if claims:
        op.bulk_insert(sa.table('blob_claims', sa.column('sha256', sa.LargeBinary()),
                                sa.column('log_id', sa.String()),
                                sa.column('claimed_at_ms', sa.BigInteger())), claims)


def claimed_blobs(conn: sa.Connection) -> list[dict[str, object]]:
    """``blob_claims`` rows for the attachments that node logs' records already name: each log
    may go on naming the files it named before the claims existed. Read with the generated
    protobuf classes (the v1 wire format), not the application's code, which may change."""
    from sync.pb import records_pb2  # noqa: PLC0415

    rows: dict[tuple[bytes, str], dict[str, object]] = {}
    result = conn.execute(sa.text("SELECT log_id, body, stored_at_ms FROM records WHERE "
                                  "log_id NOT IN ('HUB', 'CATALOG')"))
    for log_id, body, stored_at in result:
        parsed = records_pb2.RecordBody()
        try:
            parsed.ParseFromString(bytes(body))
        except Exception:  # noqa: S112 -- a body that never parsed names nothing
            continue
        kind = parsed.WhichOneof("payload")
        if kind not in ("case_submitted", "supplemented"):
            continue
        for material in getattr(parsed, kind).materials:
            if material.sha256:
                rows.setdefault((bytes(material.sha256), log_id), {
                    "sha256": bytes(material.sha256), "log_id": log_id,
                    "claimed_at_ms": stored_at})
    return list(rows.values())


def group_audience(conn: sa.Connection) -> None:
    """Delegation records travel to the township and its villages (audience ``@T01``), no
    longer to the township alone (``T01``)."""
    from sync.pb import records_pb2  # noqa: PLC0415

    found = conn.execute(sa.text("SELECT seq, body, audience FROM records WHERE log_id = 'HUB' "
                                 "AND audience IS NOT NULL")).all()
    for seq, body, audience in found:
        parsed = records_pb2.RecordBody()
        try:
            parsed.ParseFromString(bytes(body))
        except Exception:  # noqa: S112
            continue
        if parsed.WhichOneof("payload") in ("delegation", "delegation_withdrawn") and \
                not str(audience).startswith("@"):
            conn.execute(sa.text("UPDATE records SET audience = :a WHERE log_id = 'HUB' AND "
                                 "seq = :s"), {"a": f"@{audience}", "s": seq})
