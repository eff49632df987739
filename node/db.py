"""Opening databases the same way on every tier (DESIGN §9).

* SQLite: WAL, ``synchronous=FULL`` (a receipt handed to a villager must survive a power cut),
  a busy timeout so the CLI and a serving process can share a file, and ``BEGIN IMMEDIATE`` for
  write transactions so two writers queue instead of failing half-way.
* PostgreSQL (the hub in production): the same SQLAlchemy constructs; appends lock the log's
  head row (``SELECT ... FOR UPDATE``), which is what SQLite's write lock gives for free.
* The schema is whatever Alembic's migrations say; opening a database upgrades it to head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from node.errors import ConfigError

__all__ = ["Database", "sqlite_url"]

BUSY_TIMEOUT_MS = 30_000


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
        try:
            if self.is_sqlite:
                self.engine = create_engine(url)
                _sqlite_setup(self.engine)
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
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _alembic(self, conn: Connection) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", self.migrations)
        cfg.attributes["connection"] = conn
        return cfg

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is already there)."""
        try:
            with self.engine.begin() as conn:
                command.upgrade(self._alembic(conn), "head")
        except OperationalError as exc:
            raise ConfigError(f"cannot prepare database {self.safe_url}: {exc.orig}") from exc

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        cfg = Config()
        cfg.set_main_option("script_location", self.migrations)
        return ScriptDirectory.from_config(cfg).get_current_head()

    def close(self) -> None:
        self.engine.dispose()
