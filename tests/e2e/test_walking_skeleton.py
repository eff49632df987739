"""One case from a village to the county and back, with real processes over mutual TLS."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bianmin.demo import resident_id
from bianmin.procs import run
from tests.e2e.helpers import client_of, records_of

pytestmark = pytest.mark.e2e


def cases_at(home: Path, tier: str = "node") -> dict[str, dict[str, object]]:
    return {c["case_id"]: c for c in
            run(tier, "cases", "--home", str(home), "--json").json()["cases"]}


@pytest.mark.both_databases
def test_a_case_taken_offline_reaches_the_county_and_its_decision_comes_back(
        federation, intake):
    v1 = federation.enrol("V001")
    federation.stop_hub()

    complete = intake(v1).json()
    incomplete = intake(v1, name="李建国", id17="36011219710815203",
                        materials=["application", "id_card"]).json()
    assert complete["case_id"].startswith("360112-V001-")
    assert complete["case_id"].endswith("-0001")
    assert incomplete["case_id"].endswith("-0002")
    assert complete["pre_review"] == {"complete": True, "missing": []}
    assert incomplete["pre_review"] == {
        "complete": False, "missing": ["hukou", "income_proof", "assets_statement"]}
    assert {c["state"] for c in cases_at(v1).values()} == {"submitted", "incomplete"}

    federation.start_hub(same_ports=True)
    report = run("node", "sync", "--home", str(v1), "--json").json()
    assert report["pushed"] == 4  # two records per case: submitted and pre-reviewed
    assert report["received"] == 2

    at_hub = cases_at(federation.hub_home, "hub")
    assert set(at_hub) == {complete["case_id"], incomplete["case_id"]}
    assert at_hub[incomplete["case_id"]]["complete"] is False
    assert all(c["state"] == "received" for c in at_hub.values())

    run("hub", "decide", "--home", str(federation.hub_home), complete["case_id"],
        "--approve", "--reason", "符合条件", "--operator", "刘芳")
    run("hub", "not-accept", "--home", str(federation.hub_home), incomplete["case_id"],
        "--reason", "家庭收入超过标准", "--operator", "刘芳")

    down = run("node", "sync", "--home", str(v1), "--json").json()
    assert down["decisions"] == 2
    at_node = cases_at(v1)
    assert at_node[complete["case_id"]]["state"] == "approved"
    assert at_node[incomplete["case_id"]]["state"] == "not_accepted"
    assert at_node[incomplete["case_id"]]["reason"] == "家庭收入超过标准"

    shown = run("node", "show", "--home", str(v1), incomplete["case_id"], "--json").json()
    assert shown["state"] == "not_accepted"
    assert [e["log_id"] for e in shown["history"]] == ["V001", "V001", "HUB"]
    assert "not accepted by 刘芳" in shown["history"][-1]["event"]

    again = run("node", "sync", "--home", str(v1), "--json").json()
    assert again == {"pushed": 0, "received": 0, "pulled": 0, "decisions": 0,
                     "catalog_version": 0, "blobs": 0, "blob_bytes": 0,
                     "no_effect": [], "lost_scans": []}


def test_sync_with_the_hub_down_fails_clearly_and_the_next_sync_completes(federation, intake):
    v1 = federation.enrol("V001")
    address = federation.sync_at
    federation.stop_hub()
    case_id = intake(v1).json()["case_id"]

    failed = run("node", "sync", "--home", str(v1), check=False)
    assert failed.returncode == 3  # queued, nothing lost -- not a refusal (docs/operations.md)
    assert f"hub unreachable at {address}" in failed.stdout
    assert "2 record(s) of 1 case(s)" in failed.stdout
    assert "queued here, safe" in failed.stdout
    assert "error" not in failed.stderr
    assert "Traceback" not in failed.stderr
    status = run("node", "status", "--home", str(v1), "--json").json()
    assert status["unsynced_records"] == 2

    failed_json = run("node", "sync", "--home", str(v1), "--json", check=False)
    assert failed_json.returncode == 3
    assert json.loads(failed_json.stdout)["reachable"] is False

    federation.start_hub(same_ports=True)
    assert run("node", "sync", "--home", str(v1), "--json").json()["pushed"] == 2
    assert run("node", "status", "--home", str(v1), "--json").json()["unsynced_records"] == 0
    assert case_id in cases_at(federation.hub_home, "hub")


@pytest.mark.both_databases
def test_repeated_records_are_acknowledged_and_stored_once(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    run("node", "sync", "--home", str(v1))
    with client_of(v1, federation.sync_at) as client:
        replay = client.push("V001", records_of(v1, "V001"))
    assert replay.committed_seq == 2
    assert [o.status for o in replay.outcomes] == ["already_had", "already_had"]
    with federation.hub_db() as db:
        stored = db.execute("SELECT count(*) FROM records WHERE log_id = 'V001'").fetchone()[0]
        cases = db.execute("SELECT count(*) FROM cases").fetchone()[0]
    assert stored == 2
    assert cases == 1


def test_a_lost_ack_is_recovered_from_the_hub_without_resending(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    run("node", "sync", "--home", str(v1))
    # Forget the ack, as if it had been lost on the way back.
    with sqlite3.connect(v1 / "node.db") as db:
        db.execute("UPDATE sync_state SET value = 0 WHERE name = 'pushed'")
    again = run("node", "sync", "--home", str(v1), "--json").json()
    assert again["pushed"] == 0
    assert run("node", "status", "--home", str(v1), "--json").json()["unsynced_records"] == 0


@pytest.mark.both_databases
def test_two_villages_each_see_only_their_own_decisions(federation, intake):
    v1, v2 = federation.enrol("V001"), federation.enrol("V002")
    c1 = intake(v1).json()["case_id"]
    c2 = intake(v2, name="赵志强", id17="36011219850607401").json()["case_id"]
    for home in (v1, v2):
        run("node", "sync", "--home", str(home))
    for case_id in (c1, c2):
        run("hub", "decide", "--home", str(federation.hub_home), case_id, "--approve",
            "--reason", "ok", "--operator", "刘芳")
    assert run("node", "sync", "--home", str(v1), "--json").json()["decisions"] == 1
    assert run("node", "sync", "--home", str(v2), "--json").json()["decisions"] == 1
    assert set(cases_at(v1)) == {c1}
    assert set(cases_at(v2)) == {c2}


def test_an_incomplete_case_cannot_be_approved(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1, materials=["application"]).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    refused = run("hub", "decide", "--home", str(federation.hub_home), case_id, "--approve",
                  "--reason", "ok", "--operator", "刘芳", "--json", check=False)
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "case_incomplete"
    assert "missing: id_card, hukou" in error["message"]
    also = run("hub", "decide", "--home", str(federation.hub_home), case_id, "--reject",
               "--reason", "no", "--operator", "刘芳", "--json", check=False)
    assert json.loads(also.stdout)["error"]["code"] == "case_incomplete"
    assert cases_at(federation.hub_home, "hub")[case_id]["state"] == "received"


def test_a_decision_is_final(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    hub = str(federation.hub_home)
    run("hub", "decide", "--home", hub, case_id, "--approve", "--reason", "ok",
        "--operator", "刘芳")
    second = run("hub", "decide", "--home", hub, case_id, "--reject", "--reason", "no",
                 "--operator", "刘芳", check=False)
    assert second.returncode == 1
    assert "already approved" in second.stderr


def test_hub_serve_stops_cleanly_on_sigterm(federation):
    assert federation.hub is not None
    assert list(federation.hub_home.glob("serve-*.json"))
    assert federation.hub.stop() == 0
    assert not list(federation.hub_home.glob("serve-*.json"))


def test_intake_refuses_malformed_input_and_stores_nothing(federation, intake):
    v1 = federation.enrol("V001")
    bad = {
        "unknown item": {"item": "XX-999"},
        "item not taken at a village": {"item": "SC-001", "materials": [], "fields": []},
        "unknown material": {"materials": ["application", "passport"]},
        "field out of range": {"fields": ["household_size=0", "monthly_income_yuan=1"]},
        "field not a number": {"fields": ["household_size=three",
                                           "monthly_income_yuan=1"]},
    }
    for label, kwargs in bad.items():
        result = intake(v1, check=False, **kwargs)
        assert result.returncode == 1, label
        error = json.loads(result.stdout)["error"]
        assert error["message"], label
        assert "Traceback" not in result.stderr, label
    wrong_id = run("node", "intake", "--home", str(v1), "--item", "MZ-001",
                   "--applicant-name", "张三", "--applicant-id", resident_id(
                       "36011219580301102")[:-1] + "0", "--field", "household_size=3",
                   "--field", "monthly_income_yuan=1", check=False)
    assert "check digit" in wrong_id.stderr
    assert cases_at(v1) == {}
    status = run("node", "status", "--home", str(v1), "--json").json()
    assert status["log_head"] == 0


def test_usage_errors_exit_2(federation):
    missing = run("node", "intake", "--home", str(federation.root / "nowhere"), check=False)
    assert missing.returncode == 2
    no_home = run("node", "cases", check=False)
    assert no_home.returncode == 2
    assert "--home" in no_home.stderr


def test_commands_on_a_missing_home_fail_with_a_clear_line(tmp_path):
    result = run("node", "cases", "--home", str(tmp_path / "nothing"), "--json", check=False)
    assert result.returncode == 1
    assert "is not a node home" in json.loads(result.stdout)["error"]["message"]
    assert "Traceback" not in result.stderr
