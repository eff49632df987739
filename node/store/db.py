"""Opening databases the same way on every tier (DESIGN §9).

* SQLite: WAL, ``synchronous=FULL`` (a receipt handed to a villager must survive a power cut),
  a busy timeout so the CLI and a serving process can share a file, and ``BEGIN IMMEDIATE`` for
  write transactions so two writers queue instead of failing half-way.
* PostgreSQL (the hub in production): the same SQLAlchemy constructs; appends lock the log's
  head row (``SELECT ... FOR UPDATE``), which is what SQLite's write lock gives for free.
* The schema is whatever Alembic's migrations say; opening a database upgrades it to head.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from node.kernel.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["Database", "sqlite_url"]

BUSY_TIMEOUT_MS = 30_000
# Alembic keeps the running migration's context in module globals (``alembic.op``,
# ``alembic.context``): two migrations at once in one process would use each other's
# connection. One at a time.
_MIGRATING = threading.Lock()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """An engine plus the two ways in: ``read()`` and ``write()`` transactions."""

    def __init__(self, url: str, *, migrations: str, pool_size: int = 5) -> None:
        self.url = url
        self.migrations = migrations  # e.g. "node:migrations"
        self.is_sqlite = url.startswith("sqlite")
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._lock_path: Path | None = None
        try:
            if self.is_sqlite:
                self.engine = create_engine(url)
                _sqlite_setup(self.engine)
                database = self.engine.url.database
                if database and database != ":memory:" and not database.startswith("file:"):
                    self._lock_path = Path(f"{database}-writer.lock")
            else:
                self.engine = create_engine(url, pool_size=pool_size, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise ConfigError(f"cannot open database {self.safe_url}: {exc}") from exc

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True) if hasattr(
            self, "engine") else self.url

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._writer(), self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _writer(self) -> Iterator[None]:
        """SQLite has one writer at a time. Its busy handler makes a waiting writer poll,
        sleeping up to 100 ms between tries, so writers queued on it leave the disk and the
        cores idle; writers queued here (a lock between threads, then ``flock`` on a file
        beside the database between processes) start the moment the previous one commits.
        Anything that writes without this queue (an older bianmin, the sqlite3 shell) is still
        waited for by the busy timeout."""
        if self._lock_path is None:
            yield
            return
        with self._thread_lock:
            if self._lock_fd is None:
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _alembic(self, conn: Connection) -> Config:
        from alembic.config import Config  # noqa: PLC0415 -- alembic is slow to import

        cfg = Config()
        cfg.set_main_option("script_location", self.migrations)
        cfg.attributes["connection"] = conn
        return cfg

    def upgrade(self) -> None:
        """Bring the schema to the newest migration. Every command opens its database this
        way, so the common case -- already at head -- is answered with one query and without
        importing Alembic (a quarter of a second on a village PC)."""
        if self.revision() == self.expected_head():
            return
        from alembic import command  # noqa: PLC0415

        try:
            with _MIGRATING, self.engine.begin() as conn:
                command.upgrade(self._alembic(conn), "head")
        except OperationalError as exc:
            raise ConfigError(f"cannot prepare database {self.safe_url}: {exc.orig}") from exc

    def revision(self) -> str | None:
        """The schema revision the database is at (None for a new database)."""
        try:
            with self.engine.connect() as conn:
                value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None
        return None if value is None else str(value)

    def expected_head(self) -> str | None:
        """The newest revision shipped, from the migration file names (``0003_....py``):
        revisions are numbered in sequence, which a structure test checks against Alembic."""
        package, _sep, folder = self.migrations.partition(":")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        versions = Path(next(iter(spec.submodule_search_locations))) / folder / "versions"
        numbers = [m.group(1) for p in versions.glob("*.py")
                   if (m := re.match(r"^(\d{4})_", p.name))]
        return max(numbers) if numbers else None

    def head_revision(self) -> str | None:
        """The head according to Alembic itself (slow; for tests and tooling)."""
        from alembic.config import Config  # noqa: PLC0415
        from alembic.script import ScriptDirectory  # noqa: PLC0415

        cfg = Config()
        cfg.set_main_option("script_location", self.migrations)
        return ScriptDirectory.from_config(cfg).get_current_head()

    def close(self) -> None:
        self.engine.dispose()
        with self._thread_lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
