"""Records anyone can verify (issue 3): keys over time, the signed catalog, gaps and
heartbeats, audit and export."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess

import pytest

from bianmin.demo import resident_id, sample_catalog
from bianmin.procs import run
from node.kernel.clock import FixedClock
from node.kernel.payloads import Heartbeat
from node.kernel.records import parse_record
from node.kernel.wire import encode_heartbeat
from sync import WireRecord
from tests.e2e.helpers import client_of, forge, records_of, signer_of

pytestmark = pytest.mark.e2e

DAY_S = 86_400


def hub(federation, *args, check=True):
    return run("hub", *args, "--home", str(federation.hub_home), check=check)


@pytest.mark.both_databases
def test_rotated_key_continues_the_log_and_old_records_still_verify(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    run("node", "sync", "--home", str(v1))
    old_signer = signer_of(v1)
    rotated = run("node", "rotate-key", "--home", str(v1), "--json").json()
    assert rotated["key_id"] != old_signer.key_id.hex()
    intake(v1, name="李建国", id17="36011219710815203")
    assert run("node", "sync", "--home", str(v1), "--json").json()["pushed"] == 3
    audit = run("hub", "audit", "verify", "--home", str(federation.hub_home), "--json").json()
    assert audit["clean"] is True
    assert audit["records"] >= 5
    # the old key is retired: a record it signs after the rotation is refused
    last = records_of(v1, "V001")[-1]
    head = parse_record(last.body, last.signature)
    stale = forge(head.payload, log_id="V001", signer=old_signer, prev=head)
    with client_of(v1, federation.sync_at) as client:
        result = client.push("V001", [stale])
    assert result.outcomes[0].reason_code == "retired_key"


@pytest.mark.both_databases
def test_audit_reports_every_problem_and_exits_1(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    intake(v1, name="李建国", id17="36011219710815203")
    run("node", "sync", "--home", str(v1))
    assert hub(federation, "audit", "verify").returncode == 0
    with federation.hub_db() as db:
        for seq in (1, 3):
            body = bytearray(db.execute("SELECT body FROM records WHERE log_id='V001' AND seq=?",
                                        (seq,)).fetchone()[0])
            body[-5] ^= 0x20
            db.execute("UPDATE records SET body=? WHERE log_id='V001' AND seq=?",
                       (bytes(body), seq))
    report = run("hub", "audit", "verify", "--home", str(federation.hub_home), "--json",
                 check=False)
    assert report.returncode == 1
    problems = report.json()["problems"]
    assert {(p["log_id"], p["seq"]) for p in problems} >= {("V001", 1), ("V001", 3)}
    assert {"hash_mismatch"} <= {p["code"] for p in problems}
    text = hub(federation, "audit", "verify", check=False)
    assert "problem(s)" in text.stdout
    assert "V001#1" in text.stdout
    assert "V001#3" in text.stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")
def test_exported_case_verifies_with_openssl_alone(federation, intake, tmp_path):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    hub(federation, "decide", case_id, "--approve", "--reason", "符合条件", "--operator", "刘芳")
    out = tmp_path / "export"
    exported = run("hub", "export", case_id, "--out", str(out), "--home",
                   str(federation.hub_home), "--json").json()
    assert [r["log_id"] for r in exported["records"]] == ["V001", "V001", "HUB", "HUB"]
    guide = (out / "VERIFY.md").read_text(encoding="utf-8")
    commands = [line for block in re.findall(r"```sh\n(.*?)```", guide, re.S)
                for line in block.splitlines() if line.strip()]
    assert any("pkeyutl -verify" in c and "-rawin" in c for c in commands)
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=out, capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    # and a tampered export fails the same commands
    body = bytearray((out / "001-body.bin").read_bytes())
    body[-3] ^= 0x01
    (out / "001-body.bin").write_bytes(bytes(body))
    verify_first = next(c for c in commands if "001-body.bin -sigfile" in c)
    done = subprocess.run(["bash", "-c", verify_first], cwd=out, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode != 0


def test_hub_names_the_records_it_is_missing_from_the_heartbeat(federation, intake):
    v1 = federation.enrol("V001")
    intake(v1)
    intake(v1, name="李建国", id17="36011219710815203")
    records = records_of(v1, "V001")
    signer = signer_of(v1)
    last = parse_record(records[-1].body, records[-1].signature)
    body = encode_heartbeat(Heartbeat(node_id="V001", head_seq=4, head_hash=last.hash,
                                      sent_at=FixedClock(dt.datetime.now(dt.UTC)).now(),
                                      key_id=signer.key_id))
    with client_of(v1, federation.sync_at) as client:
        client.push("V001", records[:2], WireRecord(body=body, signature=signer.sign(body)))
    nodes = {n["node_id"]: n for n in hub(federation, "nodes", "--json").json()["nodes"]}
    assert nodes["V001"]["head_seq"] == 4
    assert nodes["V001"]["synced_seq"] == 2
    assert nodes["V001"]["backlog"] == 2
    assert nodes["V001"]["missing"] == [3, 4]
    assert nodes["V001"]["silent"] is False
    assert "missing 3-4 from V001" in hub(federation, "nodes").stdout
    run("node", "sync", "--home", str(v1))
    nodes = {n["node_id"]: n for n in hub(federation, "nodes", "--json").json()["nodes"]}
    assert nodes["V001"]["missing"] is None


def test_expired_catalog_is_flagged_but_intake_continues(federation, intake):
    hub(federation, "catalog", "publish", str(sample_catalog()), "--valid-days", "1")
    v1 = federation.enrol("V001")
    later = {"BIANMIN_UNSAFE_CLOCK_OFFSET_S": str(3 * DAY_S)}
    case = run("node", "intake", "--home", str(v1), "--item", "MZ-003", "--applicant-name",
               "王桂兰", "--applicant-id", resident_id("36011219400122302"), "--material",
               "id_card", "--material", "bank_card", "--json", env=later)
    assert case.json()["catalog_expired"] is True
    status = run("node", "status", "--home", str(v1), "--json", env=later).json()
    assert status["catalog"]["expired"] is True
    assert "EXPIRED" in run("node", "status", "--home", str(v1), env=later).stdout
    run("node", "sync", "--home", str(v1))
    flags = hub(federation, "cases", "--json").json()["cases"][0]["flags"]
    assert any("after it expired" in f for f in flags)


def test_hub_flags_a_case_pre_reviewed_under_an_older_catalog(federation, intake, tmp_path):
    v1 = federation.enrol("V001")  # holds catalog version 1
    stricter = tmp_path / "v2.toml"
    stricter.write_text(sample_catalog().read_text(encoding="utf-8").replace(
        '{ code = "disability_cert", name = "残疾人证（如有）", required = false }',
        '{ code = "disability_cert", name = "残疾人证（如有）", required = true }'),
        encoding="utf-8")
    hub(federation, "catalog", "publish", str(stricter))
    intake(v1)  # offline: still pre-reviewed under version 1, complete
    run("node", "sync", "--home", str(v1))
    case = hub(federation, "cases", "--json").json()["cases"][0]
    assert case["complete"] is True
    assert case["flags"] == ["under the current catalog version 2 it is missing disability_cert"]


def test_result_slip_code_matches_the_hubs_decision(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    run("node", "sync", "--home", str(v1))
    decided = run("hub", "decide", case_id, "--approve", "--reason", "ok", "--operator", "刘芳",
                  "--home", str(federation.hub_home), "--json").json()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", decided["verification_code"])
    run("node", "sync", "--home", str(v1))
    shown = run("node", "show", case_id, "--home", str(v1), "--json").json()
    assert shown["verification_code"] == decided["verification_code"]
    assert json.dumps(shown, ensure_ascii=False).count(decided["verification_code"]) == 1
