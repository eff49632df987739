"""A village box restored from an old backup, or whose database was lost, comes back from its
upstream (issue 12): ``node restore FILE`` and ``node recover`` fetch the node's own signed
log back, check it as the node's own and rebuild its cases, and the node signs nothing until
it has caught up (a record at a seq the county already holds would fork its log)."""

from __future__ import annotations

import json

import pytest

from bianmin.procs import run

pytestmark = pytest.mark.e2e


def hub(federation, *args):
    return run("hub", *args, "--home", str(federation.hub_home))


def states(home) -> dict[str, str]:
    cases = run("node", "cases", "--home", str(home), "--json").json()["cases"]
    return {c["case_id"]: c["state"] for c in cases}


def sync(home):
    return run("node", "sync", "--home", str(home), "--json").json()


def people(n: int) -> list[tuple[str, str]]:
    return [(f"村民{k}", f"36011219580301{k:02d}1") for k in range(1, n + 1)]


def a_working_village(federation, intake):
    """V001 with four cases: one concluded after its approval, one sent back for a
    supplement and supplemented, one rejected, one only taken."""
    v1 = federation.enrol("V001")
    ids = [intake(v1, name=name, id17=id17).json()["case_id"] for name, id17 in people(4)]
    sync(v1)
    hub(federation, "decide", ids[0], "--approve", "--reason", "符合条件", "--operator", "刘芳")
    hub(federation, "request-supplement", ids[1], "--material", "hukou", "--reason", "请补交",
        "--operator", "刘芳")
    hub(federation, "decide", ids[2], "--reject", "--reason", "不符合", "--operator", "刘芳")
    sync(v1)
    run("node", "conclude", ids[0], "--home", str(v1))
    run("node", "supplement", ids[1], "--material", "hukou", "--home", str(v1))
    sync(v1)
    return v1, ids


def test_a_lost_database_is_rebuilt_from_the_upstream(federation, intake):
    v1, ids = a_working_village(federation, intake)
    before = states(v1)
    assert before[ids[0]] == "concluded"
    assert before[ids[1]] == "supplemented"
    (v1 / "node.db").write_bytes(b"")  # the disk lost it
    done = run("node", "recover", "--home", str(v1), "--json").json()
    assert done["caught_up"] is True
    assert done["recovered"] == 2 * 4 + 2  # four intakes of two records, 办结, supplement
    assert done["not_reprojected"] == []
    assert states(v1) == before
    assert any(p.name.startswith("node.db.damaged-") for p in v1.iterdir())  # kept, not gone
    # the desk goes on: the next case number is not one the county already holds
    name, id17 = "村民9", "36011219580309101"
    new = intake(v1, name=name, id17=id17).json()["case_id"]
    assert new not in ids
    assert sync(v1)["pushed"] == 2
    at_hub = {c["case_id"] for c in run("hub", "cases", "--home", str(federation.hub_home),
                                        "--json").json()["cases"]}
    assert at_hub == {*ids, new}


def test_a_node_restored_from_an_old_backup_catches_up(federation, intake):
    v1 = federation.enrol("V001")
    first = intake(v1, name="村民1", id17="36011219580301101").json()["case_id"]
    sync(v1)
    run("node", "backup", "--home", str(v1), "--out", str(federation.root / "old.db"))
    later = [intake(v1, name=n, id17=i).json()["case_id"] for n, i in people(3)[1:]]
    sync(v1)
    hub(federation, "decide", later[0], "--approve", "--reason", "符合条件", "--operator", "刘芳")
    before = {**states(v1), later[0]: "approved"}

    # restored while the county is away: it signs nothing until it has caught up
    federation.stop_hub()
    offline = run("node", "restore", str(federation.root / "old.db"), "--home", str(v1),
                  "--json", check=False)
    assert offline.returncode == 3
    assert offline.json()["caught_up"] is False
    assert set(states(v1)) == {first}  # what the backup held
    refused = intake(v1, name="村民8", id17="36011219580308101", check=False)
    assert refused.returncode == 1
    assert refused.json()["error"]["code"] == "catching_up"

    federation.start_hub(same_ports=True)
    caught = sync(v1)
    assert caught["recovered"] == 4
    assert states(v1) == before
    new = intake(v1, name="村民8", id17="36011219580308101").json()["case_id"]
    assert new not in (first, *later)
    assert sync(v1)["pushed"] == 2


def test_a_backup_of_another_node_is_refused(federation, intake):
    v1, v3 = federation.enrol("V001"), federation.enrol("V003")
    intake(v3)
    run("node", "backup", "--home", str(v3), "--out", str(federation.root / "v3.db"))
    before = (v1 / "node.db").read_bytes()
    refused = run("node", "restore", str(federation.root / "v3.db"), "--home", str(v1),
                  "--json", check=False)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "wrong_node"
    assert (v1 / "node.db").read_bytes() == before
    not_a_db = federation.root / "notes.txt"
    not_a_db.write_text("not a database", encoding="utf-8")
    refused = run("node", "restore", str(not_a_db), "--home", str(v1), "--json", check=False)
    assert refused.returncode == 4
    assert (v1 / "node.db").read_bytes() == before
