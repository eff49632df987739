"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from county_hub.hub import MIGRATIONS as HUB_MIGRATIONS
from county_hub.schema import HubBase
from node.enrolment import NODE_MIGRATIONS
from node.store.db import Database, sqlite_url
from node.store.schema import NodeBase


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


def _at(db: Database, revision: str) -> None:
    from alembic import command  # noqa: PLC0415

    with db.engine.begin() as conn:
        command.upgrade(db._alembic(conn), revision)


def test_a_node_database_from_the_first_release_keeps_its_data_after_upgrade(tmp_path):
    db = Database(sqlite_url(tmp_path / "old.db"), migrations=NODE_MIGRATIONS)
    _at(db, "0001")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO log_heads (log_id, seq, hash) VALUES ('V001', 7, x'AB')")
        conn.exec_driver_sql(
            "INSERT INTO cases (case_id, item_code, item_name, applicant_name, applicant_id, "
            "state, complete, missing, reason, operator, last_own_seq, submitted_at_ms, "
            "updated_at_ms, catalog_version) VALUES ('360112-V001-20251127-0001', 'MZ-001', "
            "'最低生活保障审批', '张三', '360112195803011025', 'approved', 1, '', 'ok', '刘芳', 2, "
            "1, 2, 1)")
    db.upgrade()
    with db.engine.connect() as conn:
        head = conn.exec_driver_sql("SELECT seq, hash, key_id FROM log_heads").one()
        case = conn.exec_driver_sql("SELECT state, catalog_expired FROM cases").one()
    db.close()
    assert tuple(head) == (7, b"\xab", b"")
    assert tuple(case) == ("approved", 0)


def test_a_hub_database_from_the_first_release_keeps_its_data_after_upgrade(tmp_path):
    db = Database(sqlite_url(tmp_path / "old.db"), migrations=HUB_MIGRATIONS)
    _at(db, "0001")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO nodes (node_id, tier, name, parent, tls_fingerprint, "
                             "enrolled_at_ms) VALUES ('V001', 'village', 'v', 'HUB', 'ff', 1)")
    db.upgrade()
    with db.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT node_id, claimed_seq, claimed_hash FROM nodes").one()
    db.close()
    assert tuple(row) == ("V001", 0, b"")


@pytest.mark.parametrize("migrations", [NODE_MIGRATIONS, HUB_MIGRATIONS], ids=["node", "hub"])
def test_the_fast_head_check_agrees_with_alembic(tmp_path, migrations):
    db = Database(sqlite_url(tmp_path / "x.db"), migrations=migrations)
    assert db.expected_head() == db.head_revision()
    db.close()


@pytest.mark.postgres
@pytest.mark.parametrize(("migrations", "metadata"), [
    (NODE_MIGRATIONS, NodeBase.metadata),
    (HUB_MIGRATIONS, HubBase.metadata),
], ids=["node", "hub"])
def test_migrations_run_on_postgresql_and_match_the_models(pg_database, migrations, metadata):
    db = Database(pg_database, migrations=migrations)
    db.upgrade()
    assert db.revision() == db.head_revision()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    db.close()
    assert diff == []


@pytest.mark.postgres
def test_a_postgresql_hub_database_from_the_first_release_keeps_its_data(pg_database):
    db = Database(pg_database, migrations=HUB_MIGRATIONS)
    _at(db, "0001")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO nodes (node_id, tier, name, parent, tls_fingerprint, "
                             "enrolled_at_ms) VALUES ('V001', 'village', 'v', 'HUB', 'ff', 1)")
        conn.exec_driver_sql("INSERT INTO log_heads (log_id, seq, hash) VALUES ('V001', 4, "
                             "'\\xab'::bytea)")
    db.upgrade()
    with db.engine.connect() as conn:
        node = conn.exec_driver_sql("SELECT claimed_seq, claimed_hash FROM nodes").one()
        head = conn.exec_driver_sql("SELECT seq, key_id FROM log_heads").one()
    db.close()
    assert (node[0], bytes(node[1])) == (0, b"")
    assert (head[0], bytes(head[1])) == (4, b"")
