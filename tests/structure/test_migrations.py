"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from county_hub.hub import MIGRATIONS as HUB_MIGRATIONS
from county_hub.schema import HubBase
from node.db import Database, sqlite_url
from node.enrolment import NODE_MIGRATIONS
from node.schema import NodeBase


@pytest.mark.parametrize(("migrations", "metadata"), [
    (NODE_MIGRATIONS, NodeBase.metadata),
    (HUB_MIGRATIONS, HubBase.metadata),
], ids=["node", "hub"])
def test_migrations_at_head_match_the_models(tmp_path, migrations, metadata):
    db = Database(sqlite_url(tmp_path / "x.db"), migrations=migrations)
    db.upgrade()
    assert db.revision() == db.head_revision()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    db.close()
    assert diff == []


def test_upgrading_twice_is_harmless(tmp_path):
    db = Database(sqlite_url(tmp_path / "x.db"), migrations=NODE_MIGRATIONS)
    db.upgrade()
    db.upgrade()
    assert db.revision() == db.head_revision()
    db.close()
