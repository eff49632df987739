"""Every refusal the design promises (STYLE §18, issue 3): each attack is tried against real
processes; the record is refused, nothing of it is stored, the refusal is recorded (with an
alarm where it looks like an attack) and the server keeps serving."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from bianmin.demo import resident_id, sample_catalog
from bianmin.procs import ServerProcess, run
from node.kernel.catalog import parse_catalog_toml
from node.kernel.payloads import (
    Applicant,
    CaseSubmitted,
    CatalogPublished,
    Decision,
    Outcome,
)
from node.kernel.records import MAX_BODY_BYTES, parse_record
from sync import CallRefused, PullBatch, Unreachable, WireRecord
from tests.e2e.helpers import (
    FakeUpstream,
    client_of,
    forge,
    point_node_at,
    records_of,
    signer_of,
)

pytestmark = pytest.mark.e2e


def stored(federation, log_id: str) -> int:
    with federation.hub_db() as db:
        return db.execute("SELECT count(*) FROM records WHERE log_id = ?",
                          (log_id,)).fetchone()[0]


def hub_cases(federation) -> int:
    with federation.hub_db() as db:
        return db.execute("SELECT count(*) FROM cases").fetchone()[0]


def alarms(federation) -> list[dict]:
    return run("hub", "alarms", "--home", str(federation.hub_home), "--json").json()["alarms"]


def refusal_counts(federation) -> dict[str, int]:
    return run("hub", "refusals", "--home", str(federation.hub_home), "--json").json()["counts"]


def still_serving(federation, home: Path, intake) -> None:
    """The hub is alive and a legitimate sync of a fresh village still goes through."""
    assert federation.hub is not None
    assert federation.hub.alive()
    fresh = federation.enrol("V099")
    intake(fresh, name="孙丽", id17="36011219900101202")
    assert run("node", "sync", "--home", str(fresh), "--json").json()["pushed"] == 2


def submitted(case_id: str = "360112-V001-20261127-0001") -> CaseSubmitted:
    return CaseSubmitted(case_id=case_id, item_code="MZ-003",
                         applicant=Applicant(name="王桂兰",
                                             id_number=resident_id("36011219400122302")),
                         materials=(), fields=(), catalog_version=1, catalog_hash=b"\0" * 32)


@pytest.mark.both_databases
def test_tampered_body_byte_is_refused(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    first, second = records_of(v1, "V001")
    body = bytearray(first.body)
    body[body.find("张秀英".encode()) + 2] ^= 0x01
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [WireRecord(body=bytes(body), signature=first.signature,
                                                 seq=1), second])
    assert [o.reason_code for o in result.outcomes] == ["bad_signature", "after_refusal"]
    assert stored(federation, "V001") == 0
    assert hub_cases(federation) == 0
    assert [a["kind"] for a in alarms(federation)] == ["forgery"]
    assert refusal_counts(federation) == {"bad_signature": 1}
    still_serving(federation, v1, intake)


def test_signature_by_another_nodes_key_is_refused(federation, intake):
    v1, v2 = federation.enrol("V001"), federation.enrol("V002")
    forged = forge(submitted(), log_id="V001", signer=signer_of(v2))
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [forged])
    assert result.outcomes[0].reason_code == "wrong_signer"
    assert stored(federation, "V001") == 0
    assert alarms(federation)[0]["kind"] == "forgery"
    still_serving(federation, v1, intake)


def test_record_pushed_for_another_nodes_log_is_refused(federation, intake):
    v1, v2 = federation.enrol("V001"), federation.enrol("V002")
    intake(v1)
    with client_of(v2, federation.sync_at) as client, pytest.raises(CallRefused) as refused:
        client.push("V001", records_of(v1, "V001"))
    assert "may only push its own log" in str(refused.value)
    assert stored(federation, "V001") == 0
    found = alarms(federation)
    assert found[0]["kind"] == "impersonation"
    assert found[0]["peer"] == "V002"
    assert refusal_counts(federation) == {"wrong_log": 2}
    still_serving(federation, v1, intake)


@pytest.mark.both_databases
def test_replayed_old_batch_is_idempotent(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    run("node", "sync", "--home", str(v1))
    old = records_of(v1, "V001")
    with client_of(v1, federation.sync_at) as client:
        for _ in range(3):
            result = client.push("V001", old)
            assert result.committed_seq == 2
            assert {o.status for o in result.outcomes} == {"already_had"}
    assert stored(federation, "V001") == 2
    assert hub_cases(federation) == 1
    assert alarms(federation) == []


def test_reordered_records_are_refused(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    first, second = records_of(v1, "V001")
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [second, first])
    assert result.committed_seq == 0
    assert [o.reason_code for o in result.outcomes] == ["gap", "after_refusal"]
    assert stored(federation, "V001") == 0
    assert refusal_counts(federation) == {"gap": 1}
    assert run("node", "sync", "--home", str(v1), "--json").json()["pushed"] == 2


def test_dropped_middle_record_is_refused(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    intake(v1, name="李建国", id17="36011219710815203")
    r1, _r2, r3, r4 = records_of(v1, "V001")
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [r1, r3, r4])
    assert result.committed_seq == 1  # what came before the hole is kept
    assert [o.reason_code for o in result.outcomes] == ["", "gap", "after_refusal"]
    assert stored(federation, "V001") == 1
    assert "records 2-2 are missing" in result.outcomes[1].message


@pytest.mark.both_databases
def test_fork_is_refused_kept_as_evidence_and_holds_the_node(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    run("node", "sync", "--home", str(v1))
    first = records_of(v1, "V001")[0]
    original = parse_record(first.body, first.signature)
    other = dataclasses.replace(original.payload, applicant=Applicant(
        name="冒名者", id_number=resident_id("36011219400122302")))
    fork = forge(other, log_id="V001", signer=signer_of(v1))
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [fork])
        assert result.outcomes[0].reason_code == "fork"
        alarm = alarms(federation)[0]
        assert alarm["kind"] == "fork"
        with federation.hub_db() as db:
            kept = db.execute("SELECT body FROM evidence WHERE reason_code='fork'").fetchone()
        assert kept[0] == fork.body  # the second version is kept byte for byte
        assert stored(federation, "V001") == 2  # the first version stays
        # further pushes of that node are held until an operator resolves the alarm
        with pytest.raises(CallRefused) as held:
            client.push("V001", [])
        assert "held" in str(held.value)
    run("hub", "alarms", "resolve", str(alarm["id"]), "--home", str(federation.hub_home),
        "--operator", "县信息中心-陈工", "--note", "node restored from an old image; rewiped")
    assert run("node", "sync", "--home", str(v1), "--json").json()["pushed"] == 0


def test_record_signed_after_revocation_is_refused(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    run("node", "sync", "--home", str(v1))
    run("hub", "revoke", "V001", "--home", str(federation.hub_home), "--reason",
        "设备被盗", "--operator", "陈工")
    intake(v1, name="李建国", id17="36011219710815203")
    refused = run("node", "sync", "--home", str(v1), "--json", check=False)
    assert refused.returncode == 1
    assert "revoked" in json.loads(refused.stdout)["error"]["message"]
    assert stored(federation, "V001") == 2  # earlier records stay valid
    audit = run("hub", "audit", "verify", "--home", str(federation.hub_home), "--json")
    assert audit.json()["clean"] is True
    still_serving(federation, v1, intake)


def test_certificate_from_another_county_ca_is_refused_in_the_handshake(federation, intake,
                                                                        tmp_path):
    other_hub = tmp_path / "other-county"
    other_catalog = tmp_path / "other.toml"
    other_catalog.write_text(sample_catalog().read_text(encoding="utf-8").replace(
        'county_code = "360112"', 'county_code = "360113"'), encoding="utf-8")
    run("hub", "init", "--home", str(other_hub), "--county-code", "360113", "--name", "另一区",
        "--catalog", str(other_catalog))

    with ServerProcess(["hub", "serve", "--home", str(other_hub), "--listen", "127.0.0.1:0",
                        "--enrol-listen", "127.0.0.1:0", "--json"]) as other:
        tok = run("hub", "token", "--home", str(other_hub), "--node-id", "V001", "--tier",
                  "village", "--json").json()["token"]
        stranger = tmp_path / "stranger"
        run("node", "init", "--home", str(stranger), "--upstream", other.sync_address,
            "--enrol", other.enrol_address, "--token", tok)
    with client_of(stranger, federation.sync_at) as client, pytest.raises(Unreachable) as cut:
        client.push("V001", [])
    assert "handshake" in str(cut.value) or "unreachable" in str(cut.value)
    point_node_at(stranger, federation.sync_at)
    result = run("node", "sync", "--home", str(stranger), check=False)
    assert result.returncode == 3  # not reached: queued, nothing lost (docs/operations.md)
    assert "hub unreachable at" in result.stdout
    assert stored(federation, "V001") == 0
    still_serving(federation, stranger, intake)


def test_catalog_signed_by_a_node_key_is_refused_by_the_node(federation, intake):
    v1 = federation.enrol("V001")
    catalog = parse_catalog_toml(sample_catalog().read_text(encoding="utf-8"))
    status_before = run("node", "status", "--home", str(v1), "--json").json()
    v1_key = signer_of(v1)
    now = dt.datetime.now(dt.UTC)
    forged = forge(CatalogPublished(version=2, issued_at=now,
                                    expires_at=now + dt.timedelta(days=30), catalog=catalog),
                   log_id="CATALOG", signer=v1_key, seq=2)
    outcome = _pull_from_fake(federation, v1, [PullBatch(
        records=(forged,), certificates=(), cursors={"CATALOG": 2})])
    assert outcome.returncode == 1
    assert "CATALOG#2" in outcome.stderr
    after = run("node", "status", "--home", str(v1), "--json").json()
    assert after["catalog"]["version"] == status_before["catalog"]["version"] == 1
    assert after["open_alarms"] == 1


def test_rolled_back_catalog_is_refused_by_the_node(federation, intake, tmp_path):
    v1 = federation.enrol("V001")
    hub = str(federation.hub_home)
    run("hub", "catalog", "publish", str(sample_catalog()), "--home", hub)  # version 2
    run("node", "sync", "--home", str(v1))
    assert run("node", "status", "--home", str(v1), "--json").json()["catalog"]["version"] == 2
    # the real, validly signed version 1, replayed as if it were new, and a version-1 body
    # re-signed at position 3 by a thief of the catalog key would still need to chain: both
    # are refused, and the node keeps version 2
    with sqlite3.connect(federation.hub_home / "hub.db") as db:
        body, sig = db.execute("SELECT body, signature FROM records WHERE log_id='CATALOG' "
                               "AND seq=1").fetchone()
    old = WireRecord(body=body, signature=sig, seq=1)
    catalog_key = signer_of(federation.hub_home, "catalog")
    stale = parse_record(body, sig).payload
    relabelled = forge(stale, log_id="CATALOG", signer=catalog_key, seq=3)  # version 1 at seq 3
    outcome = _pull_from_fake(federation, v1, [
        PullBatch(records=(old,), certificates=(), cursors={"CATALOG": 1}),
        PullBatch(records=(relabelled,), certificates=(), cursors={"CATALOG": 3}),
    ])
    assert outcome.returncode == 1
    status = run("node", "status", "--home", str(v1), "--json").json()
    assert status["catalog"]["version"] == 2


def test_forged_decision_pushed_down_is_refused_by_the_node(federation, intake):
    v1, v2 = federation.enrol("V001"), federation.enrol("V002")
    case_id = intake(v1).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    forged = forge(Decision(case_id=case_id, outcome=Outcome.APPROVE, reason="好的",
                            operator="假冒者"), log_id="HUB", signer=signer_of(v2), seq=5)
    outcome = _pull_from_fake(federation, v1, [PullBatch(records=(forged,), certificates=(),
                                                         cursors={"HUB": 5})])
    assert outcome.returncode == 1
    assert "HUB#5" in outcome.stderr
    shown = run("node", "show", "--home", str(v1), case_id, "--json").json()
    assert shown["state"] == "received"
    status = run("node", "status", "--home", str(v1), "--json").json()
    assert status["open_alarms"] == 1


def test_unknown_field_in_signed_body_is_refused(federation, intake):
    v1 = federation.enrol("V001")
    extended = forge(submitted(), log_id="V001", signer=signer_of(v1),
                     body_tail=b"\x98\x06\x01")  # field 99, a varint: not in this schema
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [extended])
    assert result.outcomes[0].reason_code == "unknown_field"
    assert stored(federation, "V001") == 0
    assert alarms(federation)[0]["kind"] == "tampering"
    still_serving(federation, v1, intake)


def test_oversized_record_is_refused(federation, intake):
    v1 = federation.enrol("V001")
    big = dataclasses.replace(submitted(), fields=tuple(  # each field within its own bound
        (f"note_{n}", "字" * 4000) for n in range(MAX_BODY_BYTES // 12_000 + 1)))
    huge = forge(big, log_id="V001", signer=signer_of(v1))
    assert len(huge.body) > MAX_BODY_BYTES
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [huge])
        assert result.outcomes[0].reason_code == "oversized"
        # a message over the transport bound is refused before it is even read
        with pytest.raises(CallRefused) as too_big:
            client.push("V001", [huge] * 200)
        assert too_big.value.refusal.value == "resource_exhausted"
    assert stored(federation, "V001") == 0
    still_serving(federation, v1, intake)


def test_expired_and_reused_tokens_are_refused(federation):
    token = federation.token("V001")["token"]
    common = ["--upstream", federation.sync_at, "--enrol", federation.enrol_at, "--json"]
    assert run("node", "init", "--home", str(federation.root / "a"), "--token", token,
               *common).returncode == 0
    reused = run("node", "init", "--home", str(federation.root / "b"), "--token", token,
                 *common, check=False)
    assert "already used" in json.loads(reused.stdout)["error"]["message"]
    expired = federation.token("V002")["token"]
    with federation.hub_db() as db:
        db.execute("UPDATE tokens SET expires_at_ms = 0 WHERE node_id = 'V002'")
    late = run("node", "init", "--home", str(federation.root / "c"), "--token", expired,
               *common, check=False)
    assert "expired" in json.loads(late.stdout)["error"]["message"]
    assert federation.hub is not None
    assert federation.hub.alive()


def _pull_from_fake(federation, home: Path, batches: list[PullBatch]):
    """Run a real ``node sync`` against a fake upstream serving ``batches``."""
    federation.stop_hub()
    fake = FakeUpstream(federation.hub_home, lambda _cursors: batches)
    try:
        point_node_at(home, fake.address)
        return run("node", "sync", "--home", str(home), check=False)
    finally:
        fake.stop()
