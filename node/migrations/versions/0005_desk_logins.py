"""the desk's logins: village agents' and township clerks' accounts and their sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00

The desk in a browser (issue 11) logs its agents in with local accounts (``bianmin node
account add``); sessions are rows, so a restarted ``node run`` keeps them.
"""

from collections.abc import Sequence

from alembic import op

from node.migrations.helpers_web import create_login_tables

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_login_tables()


def downgrade() -> None:
    op.drop_table('web_sessions')
    op.drop_table('accounts')
