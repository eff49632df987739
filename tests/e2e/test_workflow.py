"""County workflow and supervision (issue 6) with real processes: supplements, joint approval,
operators, withdrawals, deadlines, statistics and the audit trail."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from bianmin.demo import sample_calendar
from bianmin.procs import run
from node.kernel.clock import CST
from node.kernel.deadlines import add_working_days, parse_calendar_toml

pytestmark = pytest.mark.e2e


def hub(federation, *args, check=True):
    return run("hub", *args, "--home", str(federation.hub_home), check=check)


def hub_json(federation, *args):
    return hub(federation, *args, "--json").json()


def sync(home):
    return run("node", "sync", "--home", str(home), "--json").json()


def node_case(home, case_id):
    return run("node", "show", case_id, "--home", str(home), "--json").json()


def hub_case(federation, case_id):
    return {c["case_id"]: c for c in hub_json(federation, "cases")["cases"]}[case_id]


def error_of(result) -> dict:
    assert result.returncode == 1, result.stderr
    return json.loads(result.stdout)["error"]


@pytest.mark.both_databases
def test_supplement_round_trip_village_county_village_county(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1, materials=["application", "id_card", "income_proof",
                                    "assets_statement"]).json()["case_id"]
    sync(v1)
    assert hub_case(federation, case_id)["complete"] is False
    hub(federation, "request-supplement", case_id, "--material", "hukou", "--reason",
        "请补交户口簿复印件", "--operator", "刘芳")
    assert hub_case(federation, case_id)["state"] == "supplement_requested"

    assert sync(v1)["pulled"] == 1
    at_node = node_case(v1, case_id)
    assert at_node["state"] == "supplement_requested"
    assert at_node["requested"] == ["hukou"]
    assert "supplement requested by 刘芳: hukou" in at_node["history"][-1]["event"]

    supplemented = run("node", "supplement", case_id, "--material", "hukou", "--home", str(v1),
                       "--json").json()
    assert supplemented["pre_review"] == {"complete": True, "missing": []}
    assert supplemented["state"] == "supplemented"
    sync(v1)
    at_hub = hub_case(federation, case_id)
    assert at_hub["state"] == "supplemented"
    assert at_hub["complete"] is True

    hub(federation, "accept", case_id, "--operator", "刘芳")
    hub(federation, "decide", case_id, "--approve", "--reason", "符合条件", "--operator", "刘芳")
    sync(v1)
    assert node_case(v1, case_id)["state"] == "approved"
    run("node", "conclude", case_id, "--home", str(v1))
    sync(v1)
    assert hub_case(federation, case_id)["state"] == "concluded"


@pytest.mark.both_databases
def test_joint_item_needs_every_department_and_any_unfavourable_opinion_rejects(
        federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1, item="ZJ-001", materials=["application", "id_card", "hukou",
                                                   "village_opinion", "site_plan"],
                     fields=["area_m2=120"]).json()["case_id"]
    sync(v1)
    hub(federation, "accept", case_id, "--operator", "李娜")
    hub(federation, "opinion", case_id, "--department", "乡镇自然资源所", "--favourable",
        "--reason", "符合国土空间规划", "--operator", "李娜")
    early = hub(federation, "decide", case_id, "--approve", "--reason", "ok", "--operator",
                "李娜", "--json", check=False)
    refusal = error_of(early)
    assert refusal["code"] == "joint_approval_pending"
    assert "乡镇农业农村办" in refusal["message"]
    hub(federation, "opinion", case_id, "--department", "乡镇农业农村办", "--unfavourable",
        "--reason", "占用永久基本农田", "--operator", "周杰")
    at_hub = hub_case(federation, case_id)
    assert at_hub["state"] == "rejected"
    assert at_hub["reason"] == "乡镇农业农村办: 占用永久基本农田"
    sync(v1)
    at_node = node_case(v1, case_id)
    assert at_node["state"] == "rejected"
    assert at_node["reason"] == "乡镇农业农村办: 占用永久基本农田"
    # opinions stay at the county: the village sees only the decision
    assert [e["log_id"] for e in at_node["history"]] == ["V001", "V001", "HUB"]


def test_only_operators_of_the_items_department_may_act(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    sync(v1)
    other = hub(federation, "accept", case_id, "--operator", "张伟", "--json", check=False)
    assert error_of(other)["code"] == "wrong_department"
    assert "区林业局" in error_of(other)["message"]
    supervisor = hub(federation, "accept", case_id, "--operator", "孙丽", "--json", check=False)
    assert error_of(supervisor)["code"] == "supervisor_cannot_act"
    stranger = hub(federation, "accept", case_id, "--operator", "无名氏", "--json", check=False)
    assert error_of(stranger)["code"] == "unknown_operator"
    hub(federation, "operator", "disable", "刘芳")
    disabled = hub(federation, "accept", case_id, "--operator", "刘芳", "--json", check=False)
    assert error_of(disabled)["code"] == "operator_disabled"
    hub(federation, "operator", "add", "钱敏", "--department", "区民政局", "--role", "head")
    hub(federation, "accept", case_id, "--operator", "钱敏")
    assert hub_case(federation, case_id)["state"] == "accepted"
    assert all(c["state"] == "accepted" for c in hub_json(federation, "cases")["cases"])


def test_withdrawal_before_a_decision_closes_the_case(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    sync(v1)
    run("node", "withdraw", case_id, "--reason", "申请人已外出务工", "--home", str(v1))
    sync(v1)
    assert hub_case(federation, case_id)["state"] == "withdrawn"
    late = hub(federation, "decide", case_id, "--approve", "--reason", "ok", "--operator",
               "刘芳", "--json", check=False)
    assert error_of(late)["code"] == "withdrawn"


def test_a_withdrawal_after_the_decision_is_refused_and_the_reason_flows_back(
        federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    sync(v1)
    hub(federation, "decide", case_id, "--approve", "--reason", "符合条件", "--operator", "刘芳")
    # the village, not yet synced, records the applicant's withdrawal
    run("node", "withdraw", case_id, "--reason", "不想办了", "--home", str(v1))
    assert node_case(v1, case_id)["state"] == "withdrawn"
    sync(v1)  # pushes the withdrawal (refused upstream), pulls the decision
    sync(v1)  # pulls the refusal
    at_node = node_case(v1, case_id)
    assert at_node["state"] == "approved"
    assert any("refused upstream" in e["event"] and "already approved" in e["event"]
               for e in at_node["history"])
    assert hub_case(federation, case_id)["state"] == "approved"


def test_an_incomplete_case_cannot_be_accepted_until_supplemented(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1, materials=["application"]).json()["case_id"]
    sync(v1)
    refused = hub(federation, "accept", case_id, "--operator", "刘芳", "--json", check=False)
    assert error_of(refused)["code"] == "case_incomplete"
    hub(federation, "not-accept", case_id, "--reason", "不符合申请条件", "--operator", "刘芳")
    sync(v1)
    assert node_case(v1, case_id)["state"] == "not_accepted"


@pytest.mark.both_databases
def test_overdue_cases_turn_yellow_then_red_then_breach_as_the_days_pass(federation, intake):
    hub(federation, "calendar", "load", str(sample_calendar()))
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]  # MZ-001: promised 20, statutory 30 working days
    sync(v1)
    calendar = parse_calendar_toml(sample_calendar().read_text(encoding="utf-8"))
    received = dt.datetime.now(CST).date()

    def colour_after(working_days: int) -> dict:
        as_of = add_working_days(received, working_days, calendar)
        rows = hub_json(federation, "supervise", "--as-of", as_of.isoformat())["cases"]
        return {r["case_id"]: r for r in rows}[case_id]

    assert colour_after(0)["colour"] == "on_time"
    assert colour_after(0)["days_left"] == 20
    assert colour_after(17)["colour"] == "on_time"
    assert colour_after(18)["colour"] == "yellow"
    assert colour_after(20)["colour"] == "yellow"
    assert colour_after(21)["colour"] == "red"
    assert colour_after(31)["colour"] == "statutory_breach"
    text = hub(federation, "supervise", "--as-of",
               add_working_days(received, 21, calendar).isoformat()).stdout
    assert "RED" in text
    assert case_id in text


def test_a_supplement_request_pauses_the_clock(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    sync(v1)
    hub(federation, "request-supplement", case_id, "--material", "hukou", "--reason",
        "复印件不清晰", "--operator", "刘芳")
    today = dt.datetime.now(CST).date()
    later = (today + dt.timedelta(days=60)).isoformat()
    paused = {r["case_id"]: r for r in hub_json(federation, "supervise", "--as-of",
                                                later)["cases"]}[case_id]
    assert paused["paused"] is True
    assert paused["colour"] == "on_time"  # the paused weeks do not count
    assert "[paused" in hub(federation, "supervise", "--as-of", later).stdout


@pytest.mark.both_databases
def test_stats_by_item_node_and_department_in_three_formats(federation, intake):
    v1, v2 = federation.enrol("V001"), federation.enrol("V002")
    a = intake(v1).json()["case_id"]
    b = intake(v2, name="赵志强", id17="36011219850607401").json()["case_id"]
    for home in (v1, v2):
        sync(home)
    hub(federation, "decide", a, "--approve", "--reason", "ok", "--operator", "刘芳")
    hub(federation, "request-supplement", b, "--material", "hukou", "--reason", "x",
        "--operator", "刘芳")
    by_node = {r["node"]: r for r in hub_json(federation, "stats", "--by", "node")["rows"]}
    assert by_node["V001"]["approved"] == 1
    assert by_node["V001"]["on_time_rate"] == 1.0
    assert by_node["V002"]["supplements"] == 1
    assert by_node["V002"]["on_time_rate"] is None
    by_item = hub_json(federation, "stats", "--by", "item")["rows"]
    assert by_item[0]["item"].startswith("MZ-001")
    assert by_item[0]["received"] == 2
    by_dept = hub(federation, "stats", "--by", "department", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(by_dept)))
    assert rows[0]["department"] == "区民政局"
    assert rows[0]["received"] == "2"
    table = hub(federation, "stats").stdout
    assert "MZ-001" in table
    empty = hub_json(federation, "stats", "--from", "2030-01-01")
    assert empty["rows"] == []


def test_the_audit_trail_answers_by_case_operator_and_node(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    sync(v1)
    hub(federation, "accept", case_id, "--operator", "刘芳")
    hub(federation, "decide", case_id, "--reject", "--reason", "收入超标", "--operator", "刘芳")
    by_case = hub_json(federation, "trail", "--case", case_id)["trail"]
    assert [r["kind"] for r in by_case] == ["Received", "Accepted", "Decision"]
    assert by_case[-1]["record"].startswith("HUB#")
    by_operator = hub_json(federation, "trail", "--operator", "刘芳")["trail"]
    assert {r["kind"] for r in by_operator} == {"OperatorAdded", "Accepted", "Decision"}
    today = dt.datetime.now(CST).date().isoformat()
    by_node = hub_json(federation, "trail", "--node", "V001", "--from", today, "--to",
                       today)["trail"]
    assert len(by_node) >= 3
    assert hub_json(federation, "trail", "--from", "2030-01-01")["trail"] == []
