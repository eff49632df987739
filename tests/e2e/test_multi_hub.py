"""Several hub processes on one PostgreSQL (issue 7, DESIGN §9): the hub keeps no state outside
the database, so two ``hub serve`` processes can take any node's calls; uniqueness of
``(log_id, seq)`` and the locked log heads make concurrent ingest safe."""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bianmin.backlog import make_backlog
from bianmin.demo import sample_catalog, sample_operators
from bianmin.procs import ServerProcess, run
from county_hub.hub import Hub
from county_hub.workflow import act
from node.kernel.clock import SystemClock
from node.kernel.records import parse_record
from node.kernel.workflow import Action
from sync import CallRefused
from tests.e2e.helpers import client_of, forge, point_node_at, records_of, signer_of
from tests.incli import setup

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

NODES = 10  # each pushes to one hub process or both, at once


def log_at_node(home: Path, log_id: str) -> list[tuple[int, bytes]]:
    with sqlite3.connect(home / "node.db") as db:
        return [(q, bytes(h)) for q, h in db.execute(
            "SELECT seq, hash FROM records WHERE log_id = ? ORDER BY seq", (log_id,))]


def test_two_hub_processes_on_one_postgresql(tmp_path, pg_database):
    rng = random.Random(27)
    county = tmp_path / "county"
    setup("hub", "init", "--home", str(county), "--county-code", "360112", "--name", "新建区",
          "--catalog", str(sample_catalog()), "--db", pg_database)
    setup("hub", "operator", "import", str(sample_operators()), "--home", str(county))
    hubs = [ServerProcess(["hub", "serve", "--home", str(county), "--listen", "127.0.0.1:0",
                           "--enrol-listen", "127.0.0.1:0", "--json"],
                          log=tmp_path / f"hub{n}.log") for n in (1, 2)]
    try:
        def enrol(n: int) -> Path:
            node_id = f"V{n:03d}"
            home = tmp_path / node_id.lower()
            via = hubs[n % 2]
            tok = run("hub", "token", "--home", str(county), "--node-id", node_id, "--tier",
                      "village", "--json").json()["token"]
            run("node", "init", "--home", str(home), "--upstream", via.sync_address,
                "--enrol", via.enrol_address, "--token", tok)
            make_backlog(home, cases=5, seed=n)
            return home

        with ThreadPoolExecutor(max_workers=4) as pool:
            homes = list(pool.map(enrol, range(1, NODES + 1)))

        def sync_at(home: Path, hub: ServerProcess) -> None:
            point_node_at(home, hub.sync_address)
            run("node", "sync", "--home", str(home))

        def push_around(home: Path) -> None:
            first = rng.choice(hubs)
            sync_at(home, first)
            if rng.random() < 0.5:  # some records are sent to both processes
                sync_at(home, hubs[1 - hubs.index(first)])

        with ThreadPoolExecutor(max_workers=8) as pool:  # all nodes at once, both hubs
            list(pool.map(push_around, homes))

        engine_url = pg_database
        from sqlalchemy import create_engine  # noqa: PLC0415

        engine = create_engine(engine_url)
        with engine.connect() as conn:
            for home in homes:
                node_id = home.name.upper()
                at_hub = [(q, bytes(h)) for q, h in conn.exec_driver_sql(
                    "SELECT seq, hash FROM records WHERE log_id = %s ORDER BY seq",
                    (node_id,))]
                assert at_hub == log_at_node(home, node_id)  # each record exactly once
            assert conn.exec_driver_sql("SELECT count(*) FROM cases").scalar() == NODES * 5

        # a fork is caught whichever process takes it
        victim = homes[0]
        original = records_of(victim, "V001")[0]
        parsed = parse_record(original.body, original.signature)
        fork = forge(dataclasses.replace(parsed.payload, fields=(("household_size", "9"),
                                                                 ("monthly_income_yuan", "1"))),
                     log_id="V001", signer=signer_of(victim))
        with client_of(victim, hubs[1].sync_address) as client:
            assert client.push("V001", [fork]).outcomes[0].reason_code == "fork"
        # ...and the alarm one process raised holds the node at the other one too
        with client_of(victim, hubs[0].sync_address) as client, \
                pytest.raises(CallRefused, match="held"):
            client.push("V001", [fork])

        # decisions made through the database reach every node through either process
        with Hub.open(county, SystemClock()) as hub_api:
            with hub_api.store.reading() as r:
                cases = r.cases.list()
            for case in cases:
                if case.origin != "V001":  # V001 is held by its fork alarm
                    act(hub_api, case.case_id, Action.APPROVE, operator="刘芳",
                        reason="符合条件")
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda h: sync_at(h, rng.choice(hubs)), homes[1:]))
        for home in homes[1:]:
            decided = run("node", "cases", "--home", str(home), "--json").json()["cases"]
            assert {c["state"] for c in decided} == {"approved"}
        with engine.connect() as conn:
            alarms = conn.exec_driver_sql(
                "SELECT kind, node_id FROM alarms WHERE resolved_at_ms IS NULL").all()
        engine.dispose()
        assert {(k, n) for k, n in alarms} == {("fork", "V001")}
    finally:
        for hub in hubs:
            hub.stop()
