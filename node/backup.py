"""``bianmin node backup``: a consistent copy of a node's SQLite file while it keeps working
(issue 7), checked by reopening it before it is called a backup."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from node.enrolment import check_home
from node.kernel.errors import ConfigError, UsageError
from node.store.db import storage_error

__all__ = ["backup_node"]


def backup_node(home: Path, out: Path) -> dict[str, object]:
    check_home(home)
    if out.exists():
        raise UsageError(f"{out} exists; give a new file name", code="exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        return _copy(home, out, tmp)
    except BaseException as exc:  # a full disk, Ctrl-C, a failed check: no half backup stays
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError | sqlite3.OperationalError):
            problem = storage_error(exc, where=out)
            if problem is not None:
                raise problem from exc
        raise


def _copy(home: Path, out: Path, tmp: Path) -> dict[str, object]:
    source = sqlite3.connect(home / "node.db")
    try:
        target = sqlite3.connect(tmp)
        try:
            source.backup(target, pages=1024)  # page batches: the node is not blocked long
        finally:
            target.close()
    finally:
        source.close()
    check = sqlite3.connect(tmp)
    try:
        integrity = check.execute("PRAGMA integrity_check").fetchone()[0]
        records = check.execute("SELECT count(*) FROM records").fetchone()[0]
        cases = check.execute("SELECT count(*) FROM cases").fetchone()[0]
        schema = check.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"the backup does not open as a node database: {exc}") from exc
    finally:
        check.close()
    if integrity != "ok":
        raise ConfigError(f"the backup failed SQLite's integrity check: {integrity}")
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(out)
    return {"out": str(out), "size": out.stat().st_size, "records": records, "cases": cases,
            "schema": schema, "integrity": integrity}
