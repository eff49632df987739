"""Shared fixtures: real ``bianmin`` processes on 127.0.0.1 with OS-chosen ports.

Every process a fixture starts is stopped at teardown; every wait is bounded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bianmin.demo import resident_id, sample_catalog, sample_operators
from bianmin.procs import Run, ServerProcess, run

COUNTY = "360112"


@dataclass
class Federation:
    """A hub home (and, once started, its process) plus helpers to enrol villages."""

    root: Path
    hub_home: Path
    hub: ServerProcess | None = None
    sync_at: str = ""
    enrol_at: str = ""

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
        return run("hub", "token", "--home", str(self.hub_home), "--node-id", node_id,
                   "--tier", tier, "--json").json()  # type: ignore[no-any-return]

    def enrol(self, node_id: str) -> Path:
        home = self.root / node_id.lower()
        tok = self.token(node_id)
        run("node", "init", "--home", str(home), "--upstream", self.sync_at, "--enrol",
            self.enrol_at, "--token", tok["token"], "--json")
        return home

    def hub_db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.hub_home / "hub.db")


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    hub_home = tmp_path / "county"
    run("hub", "init", "--home", str(hub_home), "--county-code", COUNTY, "--name", "新建区",
        "--catalog", str(sample_catalog()), "--json")
    run("hub", "operator", "import", str(sample_operators()), "--home", str(hub_home))
    fed = Federation(root=tmp_path, hub_home=hub_home)
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
