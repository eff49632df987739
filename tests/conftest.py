"""Shared fixtures: real ``bianmin`` processes on 127.0.0.1 with OS-chosen ports, and a real
PostgreSQL server for the hub where a test asks for both databases.

Every process a fixture starts is stopped at teardown; every wait is bounded. PostgreSQL: the
URL in ``BIANMIN_TEST_PG_URL``, or a throwaway cluster this test session starts itself
(``tests/pgcluster.py``) when PostgreSQL is installed. Without PostgreSQL the PostgreSQL half
of the tests is skipped, with the reason -- except under CI, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from bianmin.demo import resident_id, sample_catalog, sample_operators
from bianmin.procs import Run, ServerProcess, run
from tests import pgcluster
from tests.incli import setup

COUNTY = "360112"
NO_POSTGRES = ("PostgreSQL is not installed here (no initdb): install the postgresql package, "
               "or set BIANMIN_TEST_PG_URL, to run the PostgreSQL half of the tests")


def pytest_configure(config: pytest.Config) -> None:
    # servers under test stop at once instead of draining for the default 2 s; the health
    # tests set the drain they check
    os.environ.setdefault("BIANMIN_SERVE__DRAIN_S", "0")
    # every serving process under test serves its pages on an OS-chosen port (issue 11)
    os.environ.setdefault("BIANMIN_WEB__LISTEN", "127.0.0.1:0")
    # the operator commands of the workflow tests act from the hub's own shell, as the trail
    # then says (issue 11); tests/e2e/test_operator_auth.py checks tokens and refusals
    os.environ.setdefault("BIANMIN_LOCAL_ADMIN", "1")
    config.addinivalue_line("markers", "both_databases: run once on SQLite, once on PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hub_backend" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_databases") is not None
        metafunc.parametrize("hub_backend", ["sqlite", "postgresql"] if both else ["sqlite"],
                             indirect=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server for this test session (one per xdist worker)."""
    url = os.environ.get("BIANMIN_TEST_PG_URL")
    if url:
        yield url
        return
    if pgcluster.find_bin() is None:
        if os.environ.get("CI"):
            pytest.fail(NO_POSTGRES + " -- CI must run them all")
        pytest.skip(NO_POSTGRES)
    cluster = pgcluster.start()
    try:
        yield cluster.url
    finally:
        pgcluster.stop(cluster)


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def hub_backend(request: pytest.FixtureRequest) -> str:
    """The hub's database: a SQLite URL ("" = the default file) or a fresh PostgreSQL one."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_database"))
    return ""


class Sql:
    """Direct SQL on the hub's database in tests, the same on SQLite and PostgreSQL
    (``?`` placeholders)."""

    def __init__(self, conn: Connection, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self.postgres:
            sql = sql.replace("?", "%s")
        return self.conn.exec_driver_sql(sql, tuple(params))


@dataclass
class Federation:
    """A hub home (and, once started, its process) plus helpers to enrol villages."""

    root: Path
    hub_home: Path
    hub: ServerProcess | None = None
    sync_at: str = ""
    enrol_at: str = ""
    db_url: str = ""  # empty: SQLite hub.db in the hub's home

    def start_hub(self, *, same_ports: bool = False) -> ServerProcess:
        listen = self.sync_at if same_ports else "127.0.0.1:0"
        enrol = self.enrol_at if same_ports else "127.0.0.1:0"
        self.hub = ServerProcess(["hub", "serve", "--home", str(self.hub_home), "--listen",
                                  listen, "--enrol-listen", enrol, "--json"],
                                 log=self.root / "hub.log")
        self.sync_at, self.enrol_at = self.hub.sync_address, self.hub.enrol_address
        return self.hub

    def stop_hub(self) -> None:
        if self.hub is not None:
            self.hub.stop()
            self.hub = None

    def token(self, node_id: str, tier: str = "village") -> dict[str, str]:
        return setup("hub", "token", "--home", str(self.hub_home), "--node-id", node_id,
                     "--tier", tier, "--json").json()  # type: ignore[no-any-return]

    def enrol(self, node_id: str) -> Path:
        home = self.root / node_id.lower()
        tok = self.token(node_id)
        setup("node", "init", "--home", str(home), "--upstream", self.sync_at, "--enrol",
              self.enrol_at, "--token", tok["token"], "--json")
        return home

    @contextmanager
    def hub_db(self) -> Iterator[Sql]:
        """A transaction on the hub's database (committed at the end of the block)."""
        url = self.db_url or f"sqlite:///{self.hub_home / 'hub.db'}"
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                yield Sql(conn, postgres=bool(self.db_url))
        finally:
            engine.dispose()


@pytest.fixture
def federation(tmp_path: Path, hub_backend: str) -> Iterator[Federation]:
    hub_home = tmp_path / "county"
    db = ["--db", hub_backend] if hub_backend else []
    setup("hub", "init", "--home", str(hub_home), "--county-code", COUNTY, "--name", "新建区",
          "--catalog", str(sample_catalog()), "--json", *db)
    setup("hub", "operator", "import", str(sample_operators()), "--home", str(hub_home))
    fed = Federation(root=tmp_path, hub_home=hub_home, db_url=hub_backend)
    fed.start_hub()
    try:
        yield fed
    finally:
        fed.stop_hub()


DIBAO_MATERIALS = ["application", "id_card", "hukou", "income_proof", "assets_statement"]


@pytest.fixture
def intake() -> Callable[..., Run]:
    """``bianmin node intake`` of a 最低生活保障 (MZ-001) case, complete unless told."""

    def _intake(home: Path, *, name: str = "张秀英", id17: str = "36011219580301102",
                materials: list[str] | None = None, check: bool = True,
                item: str = "MZ-001", fields: list[str] | None = None) -> Run:
        argv = ["node", "intake", "--home", str(home), "--item", item, "--applicant-name",
                name, "--applicant-id", resident_id(id17), "--json"]
        for m in DIBAO_MATERIALS if materials is None else materials:
            argv += ["--material", m]
        for f in (["household_size=3", "monthly_income_yuan=1200"] if fields is None
                  else fields):
            argv += ["--field", f]
        return run(*argv, check=check)

    return _intake
