"""Alembic environment for the hub's database: run with a connection from ``node.store.db``."""

from alembic import context

from county_hub.schema import HubBase

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=HubBase.metadata,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
