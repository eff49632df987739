"""Alembic environment for a node's database: run with a connection from ``node.store.db``."""

from alembic import context

from node.store.schema import NodeBase

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=NodeBase.metadata,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
