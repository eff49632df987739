"""``node.store.db``: SQLite writers queue on a lock beside the database file, across threads and
processes, and the lock is released whatever happens in the transaction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from node.store.db import Database, sqlite_url
from node.store.sql import write_many

PROBE = ("import fcntl, os, sys\n"
         "fd = os.open(sys.argv[1], os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n")


def another_process_can_write(lock: Path) -> bool:
    probe = subprocess.run([sys.executable, "-c", PROBE, str(lock)], capture_output=True,
                           text=True, timeout=30, check=False)
    assert probe.returncode == 0 or "BlockingIOError" in probe.stderr, probe.stderr
    return probe.returncode == 0


def test_a_write_holds_the_writer_lock_that_other_processes_queue_on(tmp_path):
    db = Database(sqlite_url(tmp_path / "x.db"), migrations="node:migrations")
    lock = tmp_path / "x.db-writer.lock"
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            assert lock.stat().st_mode & 0o777 == 0o600
            assert not another_process_can_write(lock)
        assert another_process_can_write(lock)

        def fails_half_way() -> None:
            with db.write() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                raise RuntimeError("half-way")

        with pytest.raises(RuntimeError):
            fails_half_way()
        assert another_process_can_write(lock)
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        db.close()


# -- write_many: a batch handed to the driver as it is --------------------------------------

def _batch_table() -> tuple[sa.MetaData, sa.Table]:
    meta = sa.MetaData()
    table = sa.Table("batch", meta, sa.Column("k", sa.String(16), primary_key=True),
                     sa.Column("n", sa.BigInteger), sa.Column("ok", sa.Boolean),
                     sa.Column("blob", sa.LargeBinary), sa.Column("at", sa.DateTime))
    return meta, table


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_write_many_stores_what_execute_would_and_refuses_a_converted_column(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = (sqlite_url(tmp_path / "t.db") if backend == "sqlite"
           else str(request.getfixturevalue("pg_database")))
    engine = sa.create_engine(url)
    meta, t = _batch_table()
    meta.create_all(engine)
    rows = [{"k": f"c{i}", "n": 2**40 + i, "ok": i % 2 == 0, "blob": bytes([i, 0, 255])}
            for i in range(3)]
    try:
        with engine.begin() as conn:
            write_many(conn, sa.insert(t), rows, key="batch")
            write_many(conn, sa.insert(t), [], key="batch")  # nothing to write: no statement
            write_many(conn, sa.update(t).where(t.c.k == sa.bindparam("b_k"))
                       .values(n=sa.bindparam("b_n")), [{"b_k": "c1", "b_n": 7}],
                       key="batch-n")
            write_many(conn, sa.insert(t), [{"k": "c3"}], key="batch-k")  # a single column
        with engine.connect() as conn:
            got = [tuple(r) for r in conn.execute(sa.select(t.c.k, t.c.n, t.c.ok, t.c.blob)
                                                  .order_by(t.c.k))]
        assert got == [("c0", 2**40, True, bytes([0, 0, 255])), ("c1", 7, False, b"\x01\x00\xff"),
                       ("c2", 2**40 + 2, True, bytes([2, 0, 255])), ("c3", None, None, None)]
        # a column whose values SQLAlchemy must convert is not written behind its back
        with pytest.raises(TypeError, match=r"batch-at\.at is not a plain column"), \
                engine.begin() as conn:
            write_many(conn, sa.insert(t), [{"k": "c9", "at": None}], key="batch-at")
    finally:
        engine.dispose()
