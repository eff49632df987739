"""A village box that is stolen or wiped -- keys and all -- comes back (issue 12): the county
makes a key-replacement token, ``node recover --token`` re-enrols the node under new keys,
fetches its signed log back from the upstream and continues it with a ``KeyReplaced`` record
the county authorized for exactly that place; the stolen box's keys open nothing any more."""

from __future__ import annotations

import shutil

import pytest

from bianmin.procs import run
from node.cli_support import clock
from node.desk.status import status_line
from node.service import open_node
from tests.e2e.helpers import TEMP_RELIEF, hub, take

pytestmark = pytest.mark.e2e


def cases(home) -> dict[str, str]:
    return {c["case_id"]: c["state"]
            for c in run("node", "cases", "--home", str(home), "--json").json()["cases"]}


def recover(federation, home, token, check=True):
    return run("node", "recover", "--home", str(home), "--upstream", federation.sync_at,
               "--enrol", federation.enrol_at, "--token", token, "--json", check=check)


def test_a_stolen_box_is_replaced_and_its_log_continues(federation, intake):
    v1 = federation.enrol("V001")
    ids = [intake(v1, name=f"村民{k}", id17=f"36011219580301{k:02d}1").json()["case_id"]
           for k in (1, 2)]
    run("node", "sync", "--home", str(v1))
    hub(federation, "decide", ids[0], "--approve", "--reason", "符合条件", "--operator", "刘芳")
    run("node", "sync", "--home", str(v1))
    before = cases(v1)
    stolen = federation.root / "stolen"
    shutil.copytree(v1, stolen)  # the thief has the box, its keys with it
    shutil.rmtree(v1)

    # a new token replaces the keys; an unknown node or a missing reason get none
    refused = hub(federation, "token", "--node-id", "V009", "--replace-keys", "被盗",
                  "--json", check=False)
    assert refused.returncode == 1
    assert refused.json()["error"]["code"] == "not_enrolled"
    tok = hub(federation, "token", "--node-id", "V001", "--replace-keys", "服务站电脑被盗",
              "--json").json()
    assert tok["replaces_keys"] is True
    new_box = federation.root / "new-box"
    done = recover(federation, new_box, tok["token"]).json()
    assert done["caught_up"] is True
    assert done["keys_replaced"] is True
    assert done["recovered"] == 4  # two intakes of two records each
    assert cases(new_box) == before
    assert not (new_box / "keys" / "key-replacement.json").exists()  # the leave is spent

    # the desk goes on under the new key, and the county takes it
    third = intake(new_box, name="村民3", id17="36011219580301031").json()["case_id"]
    pushed = run("node", "sync", "--home", str(new_box), "--json").json()
    assert pushed["pushed"] == 2
    at_hub = {c["case_id"] for c in hub(federation, "cases", "--json").json()["cases"]}
    assert at_hub == {*ids, third}
    assert hub(federation, "audit", "verify", "--json").json()["clean"] is True

    # the stolen box: its TLS certificate opens nothing, its key signs nothing
    intake(stolen, name="假村民", id17="36011219900101101")
    thief = run("node", "sync", "--home", str(stolen), "--json", check=False)
    assert thief.returncode != 0
    assert thief.json()["error"]["code"] == "retired_certificate"
    # which its status says, and its desk, plainly
    status = run("node", "status", "--home", str(stolen), "--json").json()
    assert "retired_certificate" in status["last_failure"]["reason"]
    with open_node(stolen, clock()) as service:
        line = status_line(service)
    assert line.tone == "bad"
    assert "旧证书已作废" in line.text
    at_hub_after = {c["case_id"] for c in hub(federation, "cases", "--json").json()["cases"]}
    assert at_hub_after == at_hub
    # and the token worked once
    again = recover(federation, str(federation.root / "again"), tok["token"], check=False)
    assert again.returncode == 1
    assert again.json()["error"]["code"] == "token_used"
    assert not (federation.root / "again").exists()


def test_tokens_do_not_cross(federation):
    v1 = federation.enrol("V001")
    replacing = hub(federation, "token", "--node-id", "V001", "--replace-keys", "硬盘损坏",
                    "--json").json()["token"]
    init = run("node", "init", "--home", str(federation.root / "box"), "--upstream",
               federation.sync_at, "--enrol", federation.enrol_at, "--token", replacing,
               "--json", check=False)
    assert init.returncode == 1
    assert init.json()["error"]["code"] == "replacement_token"
    assert not (federation.root / "box").exists()
    # and the county changed nothing: the old box still syncs, the token is still good
    assert run("node", "sync", "--home", str(v1)).returncode == 0
    ordinary = hub(federation, "token", "--node-id", "V002", "--tier", "village",
                   "--json").json()["token"]
    wrong_way = recover(federation, str(federation.root / "box2"), ordinary, check=False)
    assert wrong_way.returncode == 1
    assert wrong_way.json()["error"]["code"] == "not_a_replacement"
    done = recover(federation, str(federation.root / "box3"), replacing).json()
    assert done["keys_replaced"] is True


def test_a_village_behind_a_township_replaces_lost_keys_through_it(federation, tree):
    """The usual network (village -> township -> county): the new box re-enrols through the
    township's relay and syncs with the township, which takes the ``KeyReplaced`` and from then
    on refuses the lost box's TLS certificate itself, before anything of it can be relayed."""
    v11 = tree.village("V011")
    first = take(v11, TEMP_RELIEF)
    run("node", "sync", "--home", str(v11))
    tree.sync()
    stolen = federation.root / "stolen-v011"
    shutil.copytree(v11, stolen)
    shutil.rmtree(v11)

    tok = hub(federation, "token", "--node-id", "V011", "--replace-keys", "服务站电脑被盗",
              "--json").json()["token"]
    assert tree.proc is not None
    new_box = federation.root / "v011-new"
    done = run("node", "recover", "--home", str(new_box), "--upstream", tree.address,
               "--enrol", tree.proc.info["enrol"], "--token", tok, "--json").json()
    assert done["keys_replaced"] is True
    assert done["recovered"] == 2
    second = take(new_box, TEMP_RELIEF, name="乙", id17="36011219700101101")
    run("node", "sync", "--home", str(new_box))

    # the lost box: its township no longer lets it in
    take(stolen, TEMP_RELIEF, name="假村民", id17="36011219900101101")
    thief = run("node", "sync", "--home", str(stolen), "--json", check=False)
    assert thief.returncode != 0
    assert thief.json()["error"]["code"] == "retired_certificate"

    tree.sync()
    at_hub = {c["case_id"] for c in hub(federation, "cases", "--json").json()["cases"]}
    assert at_hub == {first, second}
    assert hub(federation, "audit", "verify", "--json").json()["clean"] is True
    assert set(tree.cases()) == {first, second}
