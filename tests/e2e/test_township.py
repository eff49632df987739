"""Three tiers (issue 5): a township relays its villages' records verbatim, serves them
decisions while the county is away, and decides the items the county delegates to it."""

from __future__ import annotations

import json
import signal
import sqlite3

import pytest
from grpc_health.v1 import health_pb2

from bianmin.procs import ServerProcess, run
from sync import CallRefused, Refusal
from tests.e2e.helpers import (
    TEMP_RELIEF,
    Tree,
    channel_of,
    client_of,
    hub,
    node_state,
    records_of,
    take,
    wait_for_health,
)

pytestmark = pytest.mark.e2e

@pytest.mark.both_databases
def test_three_tiers_with_the_county_down_then_converging(federation, tree, intake):
    hub(federation, "delegation", "grant", "T01", "--item", "MZ-002", "--operator", "陈工")
    v11, v12 = tree.village("V011"), tree.village("V012")
    tree.sync()  # the township learns its delegation
    federation.stop_hub()

    delegated = take(v11, TEMP_RELIEF)
    county_item = intake(v12, name="乙", id17="36011219710815203").json()["case_id"]
    for home in (v11, v12):
        assert run("node", "sync", "--home", str(home), "--json").json()["received"] == 1
    held = tree.cases()
    assert held[delegated]["decided_by"] == "township"
    assert held[county_item]["decided_by"] == "county"

    refused = run("township", "decide", county_item, "--approve", "--reason", "ok",
                  "--operator", "乡镇-赵", "--home", str(tree.home), "--json", check=False)
    assert json.loads(refused.stdout)["error"]["code"] == "not_delegated"
    run("township", "decide", delegated, "--approve", "--reason", "情况属实", "--operator",
        "乡镇-赵", "--home", str(tree.home))
    run("node", "sync", "--home", str(v11))
    assert node_state(v11, delegated)["state"] == "approved"  # while the county is down
    run("node", "sync", "--home", str(v12))
    assert node_state(v12, county_item)["state"] == "received"  # waits for the county

    tree.stop()  # (its own sync loop would relay some of the four before the sync below)
    federation.start_hub(same_ports=True)
    report = tree.sync()
    assert report["relayed"] == 4
    tree.start()
    at_hub = {c["case_id"]: c for c in hub(federation, "cases", "--json").json()["cases"]}
    assert at_hub[delegated]["state"] == "approved"
    assert at_hub[delegated]["operator"] == "乡镇-赵"
    assert at_hub[county_item]["state"] == "received"
    hub(federation, "decide", county_item, "--approve", "--reason", "符合条件", "--operator",
        "刘芳")
    tree.sync()
    run("node", "sync", "--home", str(v12))
    assert node_state(v12, county_item)["state"] == "approved"
    # the county holds the villages' own records, verified end to end, and the township's log
    with federation.hub_db() as db:
        held_logs = dict(db.execute("SELECT log_id, count(*) FROM records GROUP BY log_id").all())
    assert held_logs["V011"] == 2
    assert held_logs["V012"] == 2
    assert held_logs["T01"] == 1
    assert [r.body for r in records_of(v11, "V011")] == _bodies(federation, "V011")
    audit = hub(federation, "audit", "verify", "--json").json()
    assert audit["clean"], audit["problems"]
    assert hub(federation, "alarms", "--json").json()["alarms"] == []


def _bodies(federation, log_id: str) -> list[bytes]:
    with federation.hub_db() as db:
        return [r[0] for r in db.execute("SELECT body FROM records WHERE log_id = ? ORDER BY seq",
                                         (log_id,))]


def test_a_township_relaying_a_village_not_its_own_is_refused_with_an_alarm(federation, tree,
                                                                            intake):
    direct = federation.enrol("V001")  # a village directly under the county
    intake(direct)
    with client_of(tree.home, federation.sync_at) as client, \
            pytest.raises(CallRefused) as refused:
        client.push("V001", records_of(direct, "V001"))
    assert "may relay only its own villages" in str(refused.value)
    alarms = hub(federation, "alarms", "--json").json()["alarms"]
    assert alarms[0]["kind"] == "impersonation"
    assert alarms[0]["peer"] == "T01"
    assert _bodies(federation, "V001") == []


def test_a_township_altering_a_relayed_record_is_caught_by_the_county(federation, tree):
    v11 = tree.village("V011")
    take(v11, TEMP_RELIEF)
    federation.stop_hub()  # the record waits at the township...
    run("node", "sync", "--home", str(v11))
    tree.stop()  # (so that its own sync loop cannot relay the record before the sync below)
    with sqlite3.connect(tree.home / "node.db") as db:
        body = bytearray(db.execute("SELECT body FROM records WHERE log_id='V011' AND seq=1"
                                    ).fetchone()[0])
        body[body.find("甲".encode()) + 2] ^= 0x01  # the township rewrites the applicant
        db.execute("UPDATE records SET body=? WHERE log_id='V011' AND seq=1", (bytes(body),))
    federation.start_hub(same_ports=True)  # ...and is forwarded, altered
    failed = run("township", "sync", "--home", str(tree.home), "--json", check=False)
    assert failed.returncode == 1
    alarms = hub(federation, "alarms", "--json").json()["alarms"]
    assert alarms[0]["node_id"] == "V011"
    assert alarms[0]["peer"] == "T01"  # the alarm names the township that brought it
    assert _bodies(federation, "V011") == []
    with federation.hub_db() as db:
        assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 0


def test_decisions_after_the_delegation_is_withdrawn_have_no_effect(federation, tree):
    hub(federation, "delegation", "grant", "T01", "--item", "MZ-002", "--operator", "陈工")
    v11 = tree.village("V011")
    tree.sync()
    first = take(v11, TEMP_RELIEF)
    second = take(v11, TEMP_RELIEF, name="丙", id17="36011219850607401")
    run("node", "sync", "--home", str(v11))
    run("township", "decide", first, "--approve", "--reason", "ok", "--operator", "乡镇-赵",
        "--home", str(tree.home))
    tree.sync()  # the first decision reaches the county while the delegation is in force
    tree.stop()  # (its own sync loop would hear of the withdrawal below at once)
    hub(federation, "delegation", "withdraw", "T01", "--reason", "整改期间收回",
        "--operator", "陈工")
    # the township has not heard of the withdrawal yet and decides the second case
    run("township", "decide", second, "--approve", "--reason", "ok", "--operator", "乡镇-赵",
        "--home", str(tree.home))
    late = run("township", "sync", "--home", str(tree.home), "--json")
    assert late.returncode == 0  # the township's log is not blocked by it (issue 12)
    at_hub = {c["case_id"]: c for c in hub(federation, "cases", "--json").json()["cases"]}
    assert at_hub[first]["state"] == "approved"
    assert at_hub[second]["state"] == "received"
    kinds = [a["kind"] for a in hub(federation, "alarms", "--json").json()["alarms"]]
    assert "unauthorized_decision" in kinds
    assert hub(federation, "refusals", "--json").json()["counts"]["not_delegated"] == 1
    # the county decides the case itself; the township's log goes on being taken
    hub(federation, "decide", second, "--reject", "--reason", "不符合", "--operator", "赵敏")
    assert run("township", "sync", "--home", str(tree.home)).returncode == 0
    # and once it knows, the township itself refuses
    tree.start()
    third = take(v11, TEMP_RELIEF, name="丁", id17="36011219620122302")
    run("node", "sync", "--home", str(v11))
    refused = run("township", "decide", third, "--approve", "--reason", "ok", "--operator",
                  "乡镇-赵", "--home", str(tree.home), "--json", check=False)
    assert json.loads(refused.stdout)["error"]["code"] == "no_delegation"


def test_a_village_falls_back_to_the_county_and_records_are_stored_once(federation, tree,
                                                                        intake):
    v11 = tree.village("V011", fallback=True)
    case_id = intake(v11).json()["case_id"]
    tree.stop()
    fell_back = run("node", "sync", "--home", str(v11), "--json")
    assert "trying the county directly" in fell_back.stderr
    assert fell_back.json()["received"] == 1
    tree.start()
    run("node", "sync", "--home", str(v11))  # the same records reach the township too
    tree.sync()
    with federation.hub_db() as db:
        assert db.execute("SELECT count(*) FROM records WHERE log_id='V011'").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 1
    hub(federation, "decide", case_id, "--approve", "--reason", "ok", "--operator", "刘芳")
    tree.sync()
    run("node", "sync", "--home", str(v11))
    assert node_state(v11, case_id)["state"] == "approved"


def test_a_village_of_another_township_is_refused(federation, tree):
    other_tok = federation.token("T02", tier="township")["token"]
    t02 = federation.root / "t02"
    run("township", "init", "--home", str(t02), "--upstream", federation.sync_at, "--enrol",
        federation.enrol_at, "--token", other_tok)
    tok = run("hub", "token", "--home", str(federation.hub_home), "--node-id", "V021",
              "--tier", "village", "--parent", "T02", "--json").json()["token"]
    v21 = federation.root / "v021"
    run("node", "init", "--home", str(v21), "--upstream", tree.address, "--enrol",
        federation.enrol_at, "--token", tok, check=False)
    # its own node will not even talk to T01: it expects its own township's certificate
    wrong = run("node", "sync", "--home", str(v21), "--json", check=False)
    assert wrong.returncode == 1
    # and T01 refuses a village that is not its own, whatever the client checks
    with client_of(v21, tree.address, expected="T01") as client, \
            pytest.raises(CallRefused) as refused:
        client.push("V021", [])
    assert "not a village of township T01" in str(refused.value)


def test_the_township_reports_health_and_drains_before_it_stops(federation):
    t = Tree(federation)
    t.proc = ServerProcess(["township", "serve", "--home", str(t.home), "--listen",
                            "127.0.0.1:0", "--json"], log=federation.root / "t01.log",
                           env={"BIANMIN_SERVE__DRAIN_S": "3"})
    try:
        t.address = t.proc.sync_address
        v11 = t.village("V011")
        with channel_of(v11, t.address, expected="T01") as channel:
            serving = health_pb2.HealthCheckResponse.SERVING
            assert wait_for_health(channel, serving, 5) == serving
            t.proc.proc.send_signal(signal.SIGTERM)
            not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
            assert wait_for_health(channel, not_serving, 3) == not_serving
        assert t.proc.proc.wait(timeout=30) == 0
    finally:
        t.stop()


def test_oversized_pushes_are_refused_at_either_tier_before_anything_is_kept(federation, tree):
    v11 = tree.village("V011")
    take(v11, TEMP_RELIEF)
    too_many = records_of(v11, "V011")[:1] * 5_001
    for address, expected in ((tree.address, "T01"), (federation.sync_at, "HUB")):
        # another village's log, and too large: refused for its size, nothing kept as evidence
        with client_of(v11, address, expected) as client, \
                pytest.raises(CallRefused) as refused:
            client.push("V012", too_many)
        assert refused.value.refusal is Refusal.INVALID_ARGUMENT
        assert "a push carries at most 5000 records; this one has 5001" in str(refused.value)
        with client_of(v11, address, expected) as client, \
                pytest.raises(CallRefused) as refused:
            client.blob_status([bytes(32)] * 5_001)
        assert refused.value.refusal is Refusal.INVALID_ARGUMENT
        assert "ask for at most 5000 attachments at a time" in str(refused.value)
    assert hub(federation, "alarms", "--json").json()["alarms"] == []
    with sqlite3.connect(tree.home / "node.db") as db:
        assert db.execute("SELECT count(*) FROM evidence").fetchone()[0] == 0


def test_a_withdrawal_relayed_through_the_township_shows_its_reason_there(federation, tree):
    v11 = tree.village("V011")
    case_id = take(v11, TEMP_RELIEF)
    run("node", "sync", "--home", str(v11))
    run("node", "withdraw", case_id, "--reason", "申请人已外出务工", "--home", str(v11))
    run("node", "sync", "--home", str(v11))
    held = tree.cases()[case_id]
    assert held["state"] == "withdrawn"
    assert held["reason"] == "申请人已外出务工"
