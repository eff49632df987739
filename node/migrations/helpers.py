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
