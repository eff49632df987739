"""Who may say what (issue 10), tried against the real processes by an attacker holding one
enrolled node's own keys over its own mutual-TLS connection: every record that breaks a rule
has no effect -- it stands in its writer's log (issue 12: one bad record never blocks a log),
changes no case, is kept as evidence, raises an alarm naming its writer, and is answered with
the county's signed refusal -- and the hub goes on serving an honest node. Then the same
forgeries planted straight into a hub database, with no refusal to answer them, make
``hub audit verify`` fail, naming each one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from bianmin.demo import resident_id
from bianmin.procs import run
from node.kernel.clock import FixedClock
from node.kernel.payloads import (
    Accepted,
    Applicant,
    CaseSubmitted,
    CatalogPublished,
    Concluded,
    Decision,
    MaterialRef,
    NodeRevoked,
    Outcome,
    PreReviewed,
    Withdrawn,
)
from node.kernel.records import LogHead, parse_record, seal
from sync import BlobChunk, CallRefused, WireRecord
from sync.pb import records_pb2 as pb
from tests.e2e.helpers import (
    TEMP_RELIEF,
    client_of,
    hub,
    node_state,
    signer_of,
    take,
)

pytestmark = pytest.mark.e2e


class Writer:
    """An enrolled node's own key and log head: what the attacker holds."""

    def __init__(self, home: Path, log_id: str, head: LogHead | None = None) -> None:
        self.home, self.log_id = home, log_id
        self.signer = signer_of(home)
        self.head = head or LogHead()

    def next(self, payload: object, *, at: dt.datetime | None = None) -> WireRecord:
        record = seal(payload, log_id=self.log_id, head=self.head,  # type: ignore[arg-type]
                      signer=self.signer, clock=FixedClock(at or dt.datetime.now(dt.UTC)))
        self.head = record.head
        return WireRecord(body=record.body, signature=record.signature, seq=record.seq)


def township_head(home: Path) -> LogHead:
    with sqlite3.connect(home / "node.db") as db:
        row = db.execute("SELECT seq, hash FROM log_heads WHERE log_id='T01'").fetchone()
    return LogHead() if row is None else LogHead(seq=row[0], hash=row[1])


def push(federation, home: Path, log_id: str, *records: WireRecord):  # type: ignore[no-untyped-def]
    with client_of(home, federation.sync_at) as client:
        return client.push(log_id, list(records))


def codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [o.reason_code for o in result.outcomes]


def without_effect(result) -> list[str]:  # type: ignore[no-untyped-def]
    """The reason codes of records taken into the log without effect (all of them must be)."""
    assert {o.status for o in result.outcomes} == {"accepted"}, result
    return codes(result)


def alarms(federation) -> list[dict]:
    return hub(federation, "alarms", "--json").json()["alarms"]


def evidence(federation) -> dict[str, int]:
    return hub(federation, "refusals", "--json").json()["counts"]


def hub_case(federation, case_id: str) -> dict:
    cases = {c["case_id"]: c for c in hub(federation, "cases", "--json").json()["cases"]}
    return cases[case_id]


def stored(federation, log_id: str) -> int:
    with federation.hub_db() as db:
        return db.execute("SELECT count(*) FROM records WHERE log_id = ?",
                          (log_id,)).fetchone()[0]


def today() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).strftime("%Y%m%d")


def submission(case_id: str, *, materials: tuple[MaterialRef, ...] = ()) -> CaseSubmitted:
    return CaseSubmitted(case_id=case_id, item_code="MZ-003",
                         applicant=Applicant(name="王桂兰",
                                             id_number=resident_id("36011219400122302")),
                         materials=materials, fields=(), catalog_version=1,
                         catalog_hash=b"\0" * 32)


def honest_still_served(federation, intake) -> None:  # type: ignore[no-untyped-def]
    assert federation.hub is not None
    assert federation.hub.alive()
    fresh = federation.enrol("V099")
    intake(fresh, name="孙丽", id17="36011219900101202")
    assert run("node", "sync", "--home", str(fresh), "--json").json()["pushed"] == 2


def test_a_village_cannot_withdraw_review_or_conclude_another_villages_case(federation,
                                                                          intake):
    v1, v3 = federation.enrol("V001"), federation.enrol("V003")
    case_id = intake(v1).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    before = hub_case(federation, case_id)
    attacker = Writer(v3, "V003")
    for payload in (Withdrawn(case_id=case_id, reason="不办了"),
                    PreReviewed(case_id=case_id, complete=False, missing=("hukou",),
                                catalog_version=1, catalog_hash=b"\0" * 32),
                    Concluded(case_id=case_id)):
        result = push(federation, v3, "V003", attacker.next(payload))
        assert without_effect(result) == ["not_case_origin"], result
    after = hub_case(federation, case_id)
    assert (after["state"], after["complete"]) == (before["state"], before["complete"])
    assert stored(federation, "V003") == 3  # in V003's log, without effect
    assert evidence(federation)["not_case_origin"] == 3
    assert {(a["kind"], a["node_id"]) for a in alarms(federation)} == {
        ("impersonation", "V003")}
    # the log goes on: V003's next honest record is taken
    own = push(federation, v3, "V003", attacker.next(submission(f"360112-V003-{today()}-0001")))
    assert [(o.status, o.reason_code) for o in own.outcomes] == [("accepted", "")]
    refusals = hub(federation, "refusals", "--json").json()
    assert refusals["answered"]["not_case_origin"] == 3
    audit = run("hub", "audit", "verify", "--home", str(federation.hub_home), "--json").json()
    assert (audit["clean"], audit["without_effect"]) == (True, 3)
    honest_still_served(federation, intake)


def test_a_village_cannot_file_a_case_under_another_villages_id(federation, intake):
    v1, v3 = federation.enrol("V001"), federation.enrol("V003")
    existing = intake(v1).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    attacker = Writer(v3, "V003")
    fresh_id = f"360112-V001-{today()}-0042"
    result = push(federation, v3, "V003", attacker.next(submission(fresh_id)))
    assert without_effect(result) == ["not_case_origin"]
    result = push(federation, v3, "V003", attacker.next(submission(existing)))
    assert without_effect(result) == ["not_case_origin"]
    assert fresh_id not in {c["case_id"] for c in hub(federation, "cases", "--json").json()[
        "cases"]}
    # the export of V001's case carries only V001's own records
    exported = hub(federation, "export", existing, "--out",
                   str(federation.root / "export"), "--json").json()["records"]
    assert {r["log_id"] for r in exported} == {"V001"}
    honest_still_served(federation, intake)


@pytest.mark.parametrize("payload", ["accepted", "revoked", "catalog"])
def test_a_village_log_cannot_carry_the_countys_records(federation, intake, payload):
    v3 = federation.enrol("V003")
    case_id = f"360112-V003-{today()}-0001"
    now = dt.datetime.now(dt.UTC)
    with federation.hub_db() as db:
        body, sig = db.execute("SELECT body, signature FROM records WHERE log_id='CATALOG'"
                               ).fetchone()
    catalog = parse_record(bytes(body), bytes(sig)).payload
    assert isinstance(catalog, CatalogPublished)
    forged = {"accepted": Accepted(case_id=case_id, operator="刘芳", department="区民政局"),
              "revoked": NodeRevoked(node_id="V001", from_seq=1, reason="x", operator="x"),
              "catalog": dataclasses.replace(catalog, version=1, issued_at=now)}[payload]
    result = push(federation, v3, "V003", Writer(v3, "V003").next(forged))
    assert without_effect(result) == ["forbidden_payload"]
    assert hub(federation, "cases", "--json").json()["cases"] == []
    assert not any(n["revoked"] for n in hub(federation, "nodes", "--json").json()["nodes"])
    assert alarms(federation)[0]["kind"] == "unauthorized"
    assert alarms(federation)[0]["node_id"] == "V003"
    honest_still_served(federation, intake)


def test_a_case_cannot_name_another_villages_scan(federation, intake, tmp_path):
    v1, v3 = federation.enrol("V001"), federation.enrol("V003")
    scan = tmp_path / "id.jpg"
    scan.write_bytes(b"\xff\xd8\xff\xe0 another citizen's identity card \xff\xd9")
    intake(v1, materials=["application", f"id_card={scan}", "hukou", "income_proof",
                          "assets_statement"])
    run("node", "sync", "--home", str(v1))
    digest = hashlib.sha256(scan.read_bytes()).digest()
    with client_of(v3, federation.sync_at) as client:
        state = client.blob_status([digest])[0]
        assert not state.complete  # held for V001's log, not for V003's
    named = (MaterialRef(code="id_card", sha256=digest, size=scan.stat().st_size),)
    result = push(federation, v3, "V003",
                  Writer(v3, "V003").next(submission(f"360112-V003-{today()}-0001",
                                                     materials=named)))
    assert without_effect(result) == ["blob_not_yours"]
    assert f"360112-V003-{today()}-0001" not in {
        c["case_id"] for c in hub(federation, "cases", "--json").json()["cases"]}
    assert alarms(federation)[0]["node_id"] == "V003"
    # uploading the very bytes proves the file is held, and the claim follows
    with client_of(v3, federation.sync_at) as client:
        client.put_blob([BlobChunk(sha256=digest, size=scan.stat().st_size, offset=0,
                                   data=scan.read_bytes())])
        assert client.blob_status([digest])[0].complete
    honest_still_served(federation, intake)


def test_a_township_cannot_decide_a_county_villages_case_under_a_borrowed_id(federation,
                                                                           tree, intake):
    hub(federation, "delegation", "grant", "T01", "--item", "MZ-003", "--operator", "陈工")
    tree.sync()
    v1 = federation.enrol("V001")  # under the county, not the township
    forged_id = f"360112-V011-{today()}-0001"  # an id that names the township's village
    refused = push(federation, v1, "V001", Writer(v1, "V001").next(submission(forged_id)))
    assert without_effect(refused) == ["not_case_origin"]
    v1 = federation.enrol("V002")  # V001's own log now holds the forgery; an honest desk
    case_id = intake(v1, item="MZ-003", materials=["id_card", "bank_card"],
                     fields=[]).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    with sqlite3.connect(tree.home / "node.db") as db:
        grant = db.execute("SELECT hash FROM records WHERE log_id='HUB' ORDER BY seq DESC "
                           "LIMIT 1").fetchone()[0]
    tree.stop()
    township = Writer(tree.home, "T01", township_head(tree.home))
    decision = township.next(Decision(case_id=case_id, outcome=Outcome.APPROVE, reason="准予",
                                      operator="赵敏", department="T01", delegation=grant))
    result = push(federation, tree.home, "T01", decision)
    assert without_effect(result) == ["not_its_village"]
    assert hub_case(federation, case_id)["state"] == "received"
    assert alarms(federation)[-1]["kind"] == "unauthorized_decision"
    assert alarms(federation)[-1]["node_id"] == "T01"


def test_a_township_cannot_backdate_a_decision_past_a_withdrawn_grant(federation, tree):
    hub(federation, "delegation", "grant", "T01", "--item", "MZ-002", "--operator", "陈工")
    v11 = tree.village("V011")
    tree.sync()
    case_id = take(v11, TEMP_RELIEF)
    run("node", "sync", "--home", str(v11))
    tree.sync()
    tree.stop()
    hub(federation, "delegation", "withdraw", "T01", "--reason", "整改", "--operator", "陈工")
    with sqlite3.connect(tree.home / "node.db") as db:
        grant = db.execute("SELECT hash FROM records WHERE log_id='HUB' ORDER BY seq DESC "
                           "LIMIT 1").fetchone()[0]
    township = Writer(tree.home, "T01", township_head(tree.home))
    a_day_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    decision = township.next(Decision(case_id=case_id, outcome=Outcome.APPROVE, reason="准予",
                                      operator="赵敏", department="T01", delegation=grant),
                             at=a_day_ago)
    result = push(federation, tree.home, "T01", decision)
    assert without_effect(result) == ["not_delegated"]
    assert "own timestamp does not count" in result.outcomes[0].message
    assert hub_case(federation, case_id)["state"] == "received"
    assert alarms(federation)[-1]["kind"] == "unauthorized_decision"


def _with_time(record: WireRecord, signer, ms: int) -> WireRecord:  # type: ignore[no-untyped-def]
    body = pb.RecordBody()
    body.ParseFromString(record.body)
    body.recorded_at_ms = ms
    raw = body.SerializeToString(deterministic=True)
    return WireRecord(body=raw, signature=signer.sign(raw), seq=record.seq)


def test_a_time_that_is_no_date_is_evidence_with_an_alarm_not_an_internal_error(federation,
                                                                              intake):
    v1 = federation.enrol("V001")
    writer = Writer(v1, "V001")
    record = _with_time(writer.next(submission(f"360112-V001-{today()}-0001")), writer.signer,
                        2**62)
    result = push(federation, v1, "V001", record)
    assert codes(result) == ["malformed_body"]
    assert "not a date" in result.outcomes[0].message
    assert alarms(federation)[0]["kind"] == "tampering"
    # a heartbeat of the same kind
    beat = pb.Heartbeat(node_id="V001", head_seq=0, head_hash=b"\0" * 32, sent_at_ms=2**62,
                        key_id=writer.signer.key_id).SerializeToString(deterministic=True)
    with client_of(v1, federation.sync_at) as client, \
            pytest.raises(CallRefused, match="not a date"):
        client.push("V001", [], WireRecord(body=beat, signature=writer.signer.sign(beat)))
    assert evidence(federation)["malformed_body"] == 2
    honest_still_served(federation, intake)


def test_a_record_dated_1990_is_stored_with_a_flag(federation):
    v1 = federation.enrol("V001")
    writer = Writer(v1, "V001")
    old = dt.datetime(1990, 5, 1, 2, tzinfo=dt.UTC)
    case_id = "360112-V001-19900501-0001"
    result = push(federation, v1, "V001", writer.next(submission(case_id), at=old))
    assert codes(result) == [""]
    flags = hub_case(federation, case_id)["flags"]
    assert any("before its signing key was certified" in f for f in flags)
    trail = hub(federation, "trail", "--case", case_id, "--json").json()["trail"]
    assert any(t["kind"] == "Flagged" for t in trail)


def test_a_village_shows_an_unconfirmed_township_decision_and_a_county_refusal_plainly(
        federation, tree):
    """A township that has not heard of the withdrawal decides: the village shows the decision
    as the township's, not yet confirmed; the county refuses it, and the village shows that."""
    hub(federation, "delegation", "grant", "T01", "--item", "MZ-002", "--operator", "陈工")
    v11 = tree.village("V011")
    tree.sync()
    first = take(v11, TEMP_RELIEF)
    second = take(v11, TEMP_RELIEF, name="丙", id17="36011219850607401")
    run("node", "sync", "--home", str(v11))
    run("township", "decide", first, "--approve", "--reason", "ok", "--operator", "乡镇-赵",
        "--home", str(tree.home))
    tree.sync()
    tree.stop()
    hub(federation, "delegation", "withdraw", "T01", "--reason", "整改期间收回",
        "--operator", "陈工")
    run("township", "decide", second, "--approve", "--reason", "ok", "--operator", "乡镇-赵",
        "--home", str(tree.home))
    federation.stop_hub()  # the village hears of the decision before the county does
    tree.start()
    run("node", "sync", "--home", str(v11))
    shown = node_state(v11, second)
    assert shown["state"] == "approved"
    assert shown["provisional"] is True
    assert "not yet confirmed by the county" in run("node", "show", second, "--home",
                                                    str(v11)).stdout
    tree.stop()
    federation.start_hub(same_ports=True)
    run("township", "sync", "--home", str(tree.home), check=False)  # the county refuses it
    tree.start()
    run("node", "sync", "--home", str(v11))
    confirmed = node_state(v11, first)
    assert (confirmed["state"], confirmed["provisional"]) == ("approved", False)
    refused = node_state(v11, second)
    assert refused["state"] != "approved"
    assert refused["provisional"] is False
    assert "refused upstream" in refused["reason"]


def test_audit_names_each_forgery_planted_into_the_hub_database(federation, tree, intake):
    """Someone with the database and one village's key writes, well chained and well signed,
    what the hub would refuse; audit runs the same verifier and rules and names each one."""
    v1, v3 = federation.enrol("V001"), federation.enrol("V003")
    case_id = intake(v1).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    federation.stop_hub()
    attacker = Writer(v3, "V003")
    now = dt.datetime.now(dt.UTC)
    planted = [
        attacker.next(Withdrawn(case_id=case_id, reason="冒名撤回")),
        attacker.next(submission(f"360112-V001-{today()}-0077")),
        attacker.next(Accepted(case_id=case_id, operator="刘芳", department="区民政局")),
    ]
    last = _with_time(attacker.next(submission(f"360112-V003-{today()}-0001")),
                      attacker.signer, 2**62)
    with federation.hub_db() as db:
        for n, record in enumerate([*planted, last], start=1):
            db.execute("INSERT INTO records (log_id, seq, hash, body, signature, audience, "
                       "stored_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       ("V003", n, hashlib.sha256(record.body).digest(), record.body,
                        record.signature, None, int(now.timestamp() * 1000)))
        db.execute("UPDATE log_heads SET seq = 4, hash = ? WHERE log_id = 'V003'",
                   (hashlib.sha256(last.body).digest(),))
    audit = run("hub", "audit", "verify", "--home", str(federation.hub_home), "--json",
                check=False)
    assert audit.returncode == 1
    found = {(p["log_id"], p["seq"], p["code"]) for p in json.loads(audit.stdout)["problems"]}
    assert ("V003", 1, "not_case_origin") in found
    assert ("V003", 2, "not_case_origin") in found
    assert ("V003", 3, "forbidden_payload") in found
    assert ("V003", 4, "malformed_body") in found
    assert not any(p[0] == "V001" for p in found)
    text = run("hub", "audit", "verify", "--home", str(federation.hub_home), check=False)
    assert "V003#1" in text.stdout
    assert "V003#3" in text.stdout

