"""Opening databases the same way on every tier (DESIGN §9).

* SQLite: WAL, ``synchronous=FULL`` (a receipt handed to a villager must survive a power cut),
  a busy timeout so the CLI and a serving process can share a file, and ``BEGIN IMMEDIATE`` for
  write transactions so two writers queue instead of failing half-way.
* PostgreSQL (the hub in production): the same SQLAlchemy constructs; appends lock the log's
  head row (``SELECT ... FOR UPDATE``), which is what SQLite's write lock gives for free.
* The schema is whatever Alembic's migrations say; opening a database upgrades it to head.
* A SQLite file that is missing, empty, or not SQLite's is refused before anything writes to
  it (an empty file would otherwise open as a new, empty database: the node would look new);
  when it looks wrong, or SQLite reports damage, ``PRAGMA quick_check`` says what is wrong and
  the error says how to restore (``storage_error``, also used at every command's boundary).
"""

from __future__ import annotations

import errno
import fcntl
import importlib.util
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError

from node.kernel.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["Database", "sqlite_url", "storage_error"]

SQLITE_HEADER = b"SQLite format 3\x00"
# what SQLite says, by the words of its messages, and what that means for the person at the
# keyboard (sqlite3 exposes no error codes before Python 3.11.4's sqlite_errorcode)
_SQLITE_MEANING = (("database or disk is full", "disk_full"),
                   ("attempt to write a readonly database", "read_only"),
                   ("database disk image is malformed", "damaged_database"),
                   ("file is not a database", "damaged_database"),
                   ("disk i/o error", "disk_error"),
                   ("unable to open database file", "disk_error"))
_ERRNO_MEANING = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full",
                  errno.EROFS: "read_only", errno.EACCES: "no_permission",
                  errno.EPERM: "no_permission", errno.EIO: "disk_error"}


def storage_error(exc: BaseException, *, where: Path | str,
                  restore: str = "") -> StorageError | None:
    """What a failure of the disk or of SQLite means, as one line a clerk can act on (None:
    the failure is not one of those). ``where``: the folder or database concerned;
    ``restore``: how this tier restores a damaged database."""
    meaning: str | None = None
    if isinstance(exc, DBAPIError | sqlite3.Error):
        text = str(exc.orig if isinstance(exc, DBAPIError) else exc).lower()
        meaning = next((m for words, m in _SQLITE_MEANING if words in text), None)
    elif isinstance(exc, OSError) and exc.errno is not None:
        meaning = _ERRNO_MEANING.get(exc.errno)
    if meaning is None:
        return None
    if meaning in ("disk_error", "damaged_database"):
        meaning = disk_state(Path(where)) or meaning
    nothing = "nothing was changed"
    message = {
        "disk_full": f"the disk holding {where} is full; {nothing}. Free some space (old "
                     "backups, downloads, the recycle bin) and run the command again",
        "read_only": f"{where} is on a disk that is mounted read-only (a failing disk is often "
                     f"remounted so); {nothing}. Copy the folder to a working disk "
                     "('cp -a') and use it from there, or remount the disk read-write",
        "no_permission": f"no permission to read or write in {where}; {nothing}. Run bianmin as "
                         "the user who owns the folder",
        "disk_error": f"the disk could not read or write {where} (an I/O error: the disk may "
                      f"be failing); {nothing}. Copy the latest backup off this disk now",
        "damaged_database": f"the database {where} is damaged ({exc.__class__.__name__}: "
                            f"{str(getattr(exc, 'orig', None) or exc).strip()}); {nothing}. "
                            f"{restore or 'Restore it from the latest backup'}",
    }[meaning]
    return StorageError(message, code=meaning)


def disk_state(path: Path) -> str | None:
    """Why the disk holding ``path`` cannot be written, if that is the reason: "disk_full"
    (SQLite reports a full disk as a "disk I/O error" when it cannot even create its shared
    memory file) or "read_only"; None when it has room and is writable."""
    folder = path if path.is_dir() else path.parent
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY:
        return "read_only"
    if stats.f_bavail * stats.f_frsize < 64 * 1024:
        return "disk_full"
    return None


def check_sqlite_file(path: Path, *, restore: str) -> None:
    """Refuse a database file that is missing, empty or not SQLite's; when its size is not
    a whole number of pages, let ``PRAGMA quick_check`` say whether it is damaged."""
    if not path.exists():
        raise StorageError(f"the database {path} is missing; nothing was changed. {restore}",
                           code="database_missing")
    with path.open("rb") as f:
        header = f.read(100)
    size = path.stat().st_size
    if size == 0:
        raise StorageError(f"the database {path} is empty (0 bytes: cut short by a full disk, "
                           f"a crash or a bad copy); nothing was changed. {restore}",
                           code="damaged_database")
    if not header.startswith(SQLITE_HEADER):
        raise StorageError(f"{path} is not a SQLite database (its first bytes are wrong: "
                           f"damaged, or another file copied over it); nothing was changed. "
                           f"{restore}", code="damaged_database")
    page = int.from_bytes(header[16:18], "big") if len(header) >= 18 else 0
    page = 65_536 if page == 1 else page
    if page < 512 or size % page:
        quick_check(path, restore=restore)


def quick_check(path: Path, *, restore: str) -> None:
    """``PRAGMA quick_check`` on ``path`` (read only); a damaged database is refused."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        rows = [str(exc)]
    except UnicodeDecodeError:  # SQLite's message quoted bytes of the damaged page
        rows = ["SQLite cannot read it (its error message is garbled by the damage)"]
    if rows != ["ok"]:
        words = "; ".join(rows).lower()
        if "disk i/o error" in words or "unable to open" in words:
            problem = storage_error(sqlite3.OperationalError(words), where=path, restore=restore)
            if problem is not None:
                raise problem
        raise StorageError(f"the database {path} is damaged (SQLite's quick_check: "
                           f"{'; '.join(rows)[:300]}); nothing was changed. {restore}",
                           code="damaged_database")

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

    def __init__(self, url: str, *, migrations: str, pool_size: int = 5,
                 restore: str = "") -> None:
        self.url = url
        self.migrations = migrations  # e.g. "node:migrations"
        self.restore = restore  # how this tier restores a damaged database, for the errors
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

    @property
    def path(self) -> Path | None:
        """The SQLite file (None: PostgreSQL, or SQLite in memory)."""
        return None if self._lock_path is None else Path(str(self._lock_path).removesuffix(
            "-writer.lock"))

    def check(self, *, thorough: bool = False) -> None:
        """Refuse a SQLite file that is missing, empty or damaged (``thorough``: always run
        ``PRAGMA quick_check``, as serving processes do once at start)."""
        if self.path is None:
            return
        check_sqlite_file(self.path, restore=self.restore)
        if thorough:
            quick_check(self.path, restore=self.restore)

    def upgrade(self) -> None:
        """Bring the schema to the newest migration. Every command opens its database this
        way, so the common case -- already at head -- is answered with one query and without
        importing Alembic (a quarter of a second on a village PC)."""
        try:
            current = self.revision()
        except Exception as exc:  # damaged where the header could not show it, or unreachable
            if self.path is not None and self.path.exists():
                quick_check(self.path, restore=self.restore)  # (SQLite's own failures on a
                # damaged file are not always DatabaseError: a garbled message, say)
            found = storage_error(exc, where=self.path or self.safe_url, restore=self.restore)
            if found is not None:
                raise found from exc
            if isinstance(exc, DBAPIError):
                raise ConfigError(f"cannot open database {self.safe_url}: {exc.orig}") from exc
            raise
        if current == self.expected_head():
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
        except (OperationalError, ProgrammingError) as exc:
            if "no such table" in str(exc.orig) or isinstance(exc, ProgrammingError):
                return None
            raise
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
