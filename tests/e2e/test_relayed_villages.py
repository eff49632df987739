"""Villages behind a township are seen by the county's monitoring (issue 12): the township
relays each village's signed heartbeat with its log, with when it came, and the county checks
it as the village's, so silence, claimed heads and clocks -- behind as well as ahead -- work
for every village wherever it sits; ``township nodes`` shows the township's own villages."""

from __future__ import annotations

import pytest

from bianmin.demo import resident_id
from bianmin.procs import run
from node.cli_support import clock
from node.service import open_node
from sync import CallRefused
from tests.e2e.helpers import TEMP_RELIEF, client_of, hub

pytestmark = pytest.mark.e2e

THREE_DAYS_BEHIND = {"BIANMIN_UNSAFE_CLOCK_OFFSET_S": str(-3 * 86_400)}


def nodes(federation) -> dict[str, dict]:
    return {n["node_id"]: n for n in hub(federation, "nodes", "--json").json()["nodes"]}


def test_the_county_sees_a_village_behind_its_township(federation, tree):
    v11, v12 = tree.village("V011"), tree.village("V012")
    assert nodes(federation)["V011"]["last_heartbeat"] is None
    case_id = run("node", "intake", "--home", str(v11), "--applicant-name", "甲",
                  "--applicant-id", resident_id("36011219580301102"), *TEMP_RELIEF, "--json",
                  env=THREE_DAYS_BEHIND).json()["case_id"]
    run("node", "sync", "--home", str(v11), env=THREE_DAYS_BEHIND)
    run("node", "sync", "--home", str(v12))
    tree.sync()

    seen = nodes(federation)
    for village in ("V011", "V012"):
        assert seen[village]["last_heartbeat"] is not None, village
        assert not seen[village]["silent"], village
    assert seen["V011"]["clock_skew_s"] == pytest.approx(-3 * 86_400, abs=120)
    assert seen["V011"]["clock_flagged"]
    assert abs(seen["V012"]["clock_skew_s"]) < 120
    assert not seen["V012"]["clock_flagged"]
    text = hub(federation, "nodes").stdout
    assert "V011" in text
    assert "CLOCK 3 d behind the county's" in text
    # the case that village took is flagged, as one taken by a clock running ahead would be
    cases = {c["case_id"]: c for c in hub(federation, "cases", "--json").json()["cases"]}
    assert any("behind" in flag for flag in cases[case_id]["flags"])

    # the township's own view of its villages
    villages = {v["node_id"]: v for v in run("township", "nodes", "--home", str(tree.home),
                                            "--json").json()["villages"]}
    assert set(villages) == {"V011", "V012"}
    assert villages["V011"]["clock_skew_s"] == pytest.approx(-3 * 86_400, abs=120)
    assert villages["V011"]["heartbeat_relayed"] is True
    assert villages["V011"]["held_seq"] == villages["V011"]["relayed_seq"] == 2


def test_a_township_cannot_relay_a_heartbeat_another_node_signed(federation, tree):
    """The county checks a relayed heartbeat as the village's own: one signed by the township
    (or by another village) for V011 is refused."""
    v11 = tree.village("V011")
    run("node", "sync", "--home", str(v11))
    tree.sync()
    before = nodes(federation)["V011"]["last_heartbeat"]
    with open_node(tree.home, clock()) as township:
        own_beat = township.heartbeat()  # T01's own heartbeat, offered as V011's
    with client_of(tree.home, federation.sync_at) as client, \
            pytest.raises(CallRefused) as refused:
        client.push("V011", [], own_beat)
    assert refused.value.code == "wrong_log"
    assert nodes(federation)["V011"]["last_heartbeat"] == before


def test_a_village_that_reaches_only_its_township_enrols_through_it(federation, tree):
    """The township passes the enrolment through to the county (end-to-end TLS, the county's
    CA pinned by the token): the village needs no route to the county."""
    assert tree.proc is not None
    relay = tree.proc.info["enrol"]
    assert relay
    assert relay != federation.enrol_at
    tok = run("hub", "token", "--home", str(federation.hub_home), "--node-id", "V011",
              "--tier", "village", "--parent", "T01", "--json").json()["token"]
    home = federation.root / "v011"
    enrolled = run("node", "init", "--home", str(home), "--upstream", tree.address,
                   "--enrol", relay, "--token", tok, "--json").json()
    assert enrolled["node_id"] == "V011"
    case_id = run("node", "intake", "--home", str(home), "--applicant-name", "甲",
                  "--applicant-id", resident_id("36011219580301102"), *TEMP_RELIEF,
                  "--json").json()["case_id"]
    run("node", "sync", "--home", str(home))
    tree.sync()
    cases = {c["case_id"] for c in hub(federation, "cases", "--json").json()["cases"]}
    assert case_id in cases
    # a used token stays used, through the relay too
    again = run("node", "init", "--home", str(federation.root / "again"), "--upstream",
                tree.address, "--enrol", relay, "--token", tok, "--json", check=False)
    assert again.returncode == 1
    assert again.json()["error"]["code"] == "token_used"


def take_case(home, name="甲", id17="36011219580301102") -> str:
    return run("node", "intake", "--home", str(home), "--applicant-name", name,
               "--applicant-id", resident_id(id17), *TEMP_RELIEF, "--json").json()["case_id"]


def test_a_village_behind_a_township_rotates_its_key_and_recovers_through_it(federation,
                                                                           tree):
    v11 = tree.village("V011")
    first = take_case(v11)
    run("node", "sync", "--home", str(v11))
    rotated = run("node", "rotate-key", "--home", str(v11), "--json").json()  # via T01
    second = take_case(v11, name="乙", id17="36011219700101101")
    run("node", "sync", "--home", str(v11))
    tree.sync()
    at_hub = {c["case_id"] for c in hub(federation, "cases", "--json").json()["cases"]}
    assert {first, second} <= at_hub  # the records signed with the new key are taken
    assert hub(federation, "audit", "verify", "--json").json()["clean"] is True
    assert rotated["key_id"]

    # the box loses its database: it comes back from its township
    before = {c["case_id"]: c["state"] for c in run(
        "node", "cases", "--home", str(v11), "--json").json()["cases"]}
    (v11 / "node.db").write_bytes(b"")
    done = run("node", "recover", "--home", str(v11), "--json").json()
    assert done["caught_up"] is True
    after = {c["case_id"]: c["state"] for c in run(
        "node", "cases", "--home", str(v11), "--json").json()["cases"]}
    assert after == before


def test_a_township_cannot_rotate_its_villages_key_on_its_own(federation, tree):
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    from node.kernel.identity import make_csr, new_records_key, rotation_message  # noqa: PLC0415
    from sync import RotateKey  # noqa: PLC0415

    v11 = tree.village("V011")
    run("node", "sync", "--home", str(v11))
    stolen = new_records_key()  # the township's choice of V011's next key
    csr = make_csr(stolen, "V011").public_bytes(serialization.Encoding.DER)
    with open_node(tree.home, clock()) as township:
        forged = township.signer.sign(rotation_message("V011", csr))  # signed by T01, not V011
    with client_of(tree.home, federation.sync_at) as client:
        for request in (RotateKey(records_csr=csr, node_id="V011"),
                        RotateKey(records_csr=csr, node_id="V011", authorization=forged)):
            with pytest.raises(CallRefused) as refused:
                client.rotate_key(request)
            assert refused.value.code == "bad_authorization"
        with pytest.raises(CallRefused) as refused:  # nor another township's village's
            client.rotate_key(RotateKey(records_csr=csr, node_id="V001"))
        assert refused.value.code == "wrong_log"
