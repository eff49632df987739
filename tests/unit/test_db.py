"""``node.store.db``: SQLite writers queue on a lock beside the database file, across threads and
processes, and the lock is released whatever happens in the transaction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.store.db import Database, sqlite_url

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
