"""Who may say what (node/kernel/authority.py), rule by rule, through the one receive path on the
in-memory store: a pushed record that breaks a rule stands in its log without effect -- its
verdict names the rule, it is kept byte for byte as evidence, raises an alarm naming its writer,
changes no case, and the county tells the writer with a signed refusal -- and the records after
it go on being taken (issue 12: one bad record never blocks a log)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from node.kernel.authority import AUTHORITY, REASONS, TABLE, Audience, Log, Speaker, audience_for
from node.kernel.identity import HUB_NODE_ID
from node.kernel.payloads import (
    Accepted,
    ActionRefused,
    CalendarPublished,
    CatalogPublished,
    Concluded,
    Decision,
    DecisionConfirmed,
    Delegation,
    MaterialRef,
    NodeRevoked,
    Outcome,
    Supplemented,
    Withdrawn,
)
from node.kernel.workflow import State
from node.receive import Refused
from sync.pb import records_pb2 as pb
from tests.unit.world import NOW, County, Village, reviewed, submission

OUTCOMES = {"accepted": "accepted", "refused": "refused", "already_had": "already_had"}


@pytest.fixture
def county(tmp_path: Path) -> County:
    return County(tmp_path)


def verdicts(result) -> list[tuple[int, str, str]]:  # type: ignore[no-untyped-def]
    return [(v.seq, v.verdict.value, v.reason_code) for v in result.verdicts]


def taken(county: County, node_id: str, number: int = 1, **kwargs) -> str:  # type: ignore[no-untyped-def]
    """A case ``node_id`` takes and the county receives, honestly."""
    log = county.logs[node_id]
    case = submission(node_id, number, **kwargs)
    result = county.push(log.next(case), log.next(reviewed(case.case_id)))
    assert [v.verdict.value for v in result.verdicts] == ["accepted", "accepted"]
    return case.case_id


def refused_with(county: County, code: str, writer: str, seq: int | None = None) -> None:
    """The refusal's trace: evidence of that reason, the alarm it raises, naming the writer,
    and, for an authority rule's refusal, the county's signed refusal to the writer."""
    assert any(e["reason_code"] == code for e in county.evidence())
    kind = REASONS[code].alarm
    assert kind is not None
    assert (kind, writer) in county.alarms()
    if code not in AUTHORITY:
        return
    answers = [r.payload for r in county.hub_records() if isinstance(r.payload, ActionRefused)
               and r.payload.refused_log_id == writer
               and (seq is None or r.payload.refused_seq == seq)]
    assert answers
    assert f"[{code}]" in answers[-1].reason


def void(seq: int, code: str) -> tuple[int, str, str]:
    """The verdict of a record that stands in its log without effect."""
    return (seq, "accepted", code)


# -- 1. which logs may carry what -----------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    Accepted(case_id="360112-V001-20261201-0001", operator="刘芳", department="区民政局"),
    NodeRevoked(node_id="V001", from_seq=1, reason="x", operator="x"),
    Delegation(township="T01", items=("MZ-002",), valid_from=NOW, valid_until=NOW,
               catalog_version=1, operator="x"),
    DecisionConfirmed(case_id="360112-V001-20261201-0001", decision_log_id="T01",
                      decision_seq=1, decision_hash=b"x"),
    CalendarPublished(name="x", holidays=("2026-10-01",), workdays=()),
], ids=lambda p: type(p).__name__)
def test_a_village_log_may_not_carry_the_countys_records(county: County, payload) -> None:  # type: ignore[no-untyped-def]
    case_id = taken(county, "V001")
    before = county.case(case_id)
    log = county.logs["V003"]
    result = county.push(log.next(payload))
    assert verdicts(result) == [void(1, "forbidden_payload")]
    assert "may be carried only in a HUB log" in result.verdicts[0].message
    assert county.stored("V003") == 1  # in its log, without effect
    assert county.case(case_id) == before
    refused_with(county, "forbidden_payload", "V003")


def test_a_village_log_may_not_carry_a_catalog(county: County) -> None:
    catalog = county.catalog.payload
    assert isinstance(catalog, CatalogPublished)
    result = county.push(county.logs["V003"].next(dataclasses.replace(catalog, version=1)))
    assert verdicts(result) == [void(1, "forbidden_payload")]
    refused_with(county, "forbidden_payload", "V003")


def test_a_village_may_not_decide(county: County) -> None:
    case_id = taken(county, "V003")
    result = county.push(county.logs["V003"].next(Decision(
        case_id=case_id, outcome=Outcome.APPROVE, reason="自批", operator="村干部")))
    assert verdicts(result) == [void(3, "forbidden_payload")]
    assert county.case(case_id).state is State.RECEIVED


# -- 2. case ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"county": "360113"}, "of county 360113"),
    ({"day": "20261120"}, "is dated 2026-11-20"),
    ({"day": "20261203"}, "is dated 2026-12-03"),
], ids=["another_county", "dated_days_before", "dated_after"])
def test_a_case_id_must_be_this_countys_and_dated_when_signed(county: County, kwargs,  # type: ignore[no-untyped-def]
                                                             why: str) -> None:
    log = county.logs["V001"]
    result = county.push(log.next(submission("V001", **kwargs)))
    assert verdicts(result) == [void(1, "bad_case_id")]
    assert why in result.verdicts[0].message
    refused_with(county, "bad_case_id", "V001")


def test_an_intake_that_straddles_midnight_keeps_its_case_id(county: County) -> None:
    log = county.logs["V001"]
    result = county.push(log.next(submission("V001", day="20261130")))  # signed 00:10 CST 12-01
    assert verdicts(result) == [(1, "accepted", "")]


def test_a_malformed_case_id_is_refused(county: County) -> None:
    payload = dataclasses.replace(submission("V001"), case_id="360112-V001-2026-1")
    result = county.push(county.logs["V001"].next(payload))
    assert verdicts(result) == [void(1, "bad_case_id")]


# -- 3. the origin speaks for the applicant -------------------------------------------------------


def test_a_case_id_naming_another_village_is_refused(county: County) -> None:
    result = county.push(county.logs["V003"].next(submission("V001")))
    assert verdicts(result) == [void(1, "not_case_origin")]
    assert "names node V001, but V003 submitted it" in result.verdicts[0].message
    assert county.case("360112-V001-20261201-0001") is None
    refused_with(county, "not_case_origin", "V003")


def test_another_villages_existing_case_id_cannot_be_submitted_again(county: County) -> None:
    case_id = taken(county, "V001")
    before = county.case(case_id)
    result = county.push(county.logs["V003"].next(submission("V001")))
    assert verdicts(result)[0][2] == "not_case_origin"
    assert county.case(case_id) == before


@pytest.mark.parametrize("action", ["withdrawn", "pre_reviewed", "concluded", "supplemented"])
def test_a_village_may_not_act_on_another_villages_case(county: County, action: str) -> None:
    case_id = taken(county, "V001")
    before = county.case(case_id)
    payload = {"withdrawn": Withdrawn(case_id=case_id, reason="不办了"),
               "pre_reviewed": reviewed(case_id, complete=False),
               "concluded": Concluded(case_id=case_id),
               "supplemented": Supplemented(case_id=case_id, materials=(), complete=True,
                                            missing=())}[action]
    result = county.push(county.logs["V003"].next(payload))
    assert verdicts(result) == [void(1, "not_case_origin")]
    assert "was taken by V001; V003 may not speak for it" in result.verdicts[0].message
    assert county.case(case_id) == before
    refused_with(county, "not_case_origin", "V003")


def test_a_case_is_submitted_once(county: County) -> None:
    taken(county, "V001")
    result = county.push(county.logs["V001"].next(submission("V001", name="别人")))
    assert verdicts(result) == [void(3, "duplicate_case")]


def test_an_action_on_a_case_never_submitted_is_refused(county: County) -> None:
    result = county.push(county.logs["V001"].next(Withdrawn(
        case_id="360112-V001-20261201-0009", reason="x")))
    assert verdicts(result) == [void(1, "unknown_case")]


def test_a_record_without_effect_does_not_stop_the_batch(county: County) -> None:
    log = county.logs["V001"]
    case = submission("V001")
    first, second = log.next(case), log.next(Accepted(case_id=case.case_id, operator="x",
                                                      department="x"))
    third = log.next(reviewed(case.case_id))
    result = county.push(first, second, third)
    assert verdicts(result) == [(1, "accepted", ""), void(2, "forbidden_payload"),
                                (3, "accepted", "")]
    assert county.stored("V001") == 3
    assert result.head.seq == 3
    assert county.case(case.case_id).state is State.RECEIVED  # not accepted by the village
    refused_with(county, "forbidden_payload", "V001", seq=2)
    again = county.push(first, second, third)  # a resend changes nothing, alarms nothing new
    assert [v.verdict.value for v in again.verdicts] == ["already_had"] * 3
    assert len([e for e in county.evidence() if e["reason_code"] == "forbidden_payload"]) == 1


def test_a_refused_pull_is_still_refused_whole(county: County, tmp_path: Path) -> None:
    """Below the county, a pulled batch breaking a rule means the upstream (or the link)
    cannot be trusted: nothing of it is applied, as before."""
    village = Village(county, "V001", tmp_path / "v")
    forged = county.hub_record(Accepted(case_id="360112-V003-20261201-0001", operator="x",
                                        department="x"))
    with pytest.raises(Refused):
        village.take(forged)


# -- 5, 6. township decisions ---------------------------------------------------------------------


def township_decision(county: County, case_id: str, *, grant: bytes, township: str = "T01",
                      at: dt.datetime = NOW):  # type: ignore[no-untyped-def]
    return county.logs[township].next(Decision(case_id=case_id, outcome=Outcome.APPROVE,
                                               reason="符合条件", operator="赵敏",
                                               department=township, delegation=grant), at=at)


def test_a_township_decides_its_villages_delegated_case(county: County) -> None:
    grant = county.grant("T01", "MZ-002")
    case_id = taken(county, "V011", item="MZ-002")
    result = county.push(township_decision(county, case_id, grant=grant.hash))
    assert verdicts(result) == [(1, "accepted", "")]
    assert county.case(case_id).state is State.APPROVED
    confirmed = [r.payload for r in county.hub_records()
                 if isinstance(r.payload, DecisionConfirmed)]
    assert [c.case_id for c in confirmed] == [case_id]


def test_a_township_may_not_decide_a_case_of_a_village_not_its_own(county: County) -> None:
    grant = county.grant("T01", "MZ-002")
    case_id = taken(county, "V001", item="MZ-002")  # a county village's case
    result = county.push(township_decision(county, case_id, grant=grant.hash))
    assert verdicts(result) == [void(1, "not_its_village")]
    assert county.case(case_id).state is State.RECEIVED
    refused_with(county, "not_its_village", "T01")


def test_a_township_may_not_decide_a_county_item(county: County) -> None:
    grant = county.grant("T01", "MZ-002")
    case_id = taken(county, "V011", item="MZ-001")
    result = county.push(township_decision(county, case_id, grant=grant.hash))
    assert verdicts(result) == [void(1, "not_delegated")]
    assert "decided by the county" in result.verdicts[0].message


@pytest.mark.parametrize("cited", ["nothing", "another_township", "another_item"])
def test_a_township_decision_must_cite_its_own_grant_for_the_item(county: County,
                                                                 cited: str) -> None:
    grants = {"another_township": county.grant("T02", "MZ-002").hash,
              "another_item": county.grant("T01", "MZ-003").hash, "nothing": b"\x01" * 32}
    case_id = taken(county, "V011", item="MZ-002")
    result = county.push(township_decision(county, case_id, grant=grants[cited]))
    assert verdicts(result) == [void(1, "not_delegated")]
    assert county.case(case_id).state is State.RECEIVED


def test_a_township_cannot_backdate_a_decision_past_a_withdrawn_grant(county: County) -> None:
    grant = county.grant("T01", "MZ-002")
    case_id = taken(county, "V011", item="MZ-002")
    county.clock.advance(dt.timedelta(hours=2))
    county.end_grant("T01")  # withdrawn; the county had seen nothing of T01's log
    county.clock.advance(dt.timedelta(hours=2))
    backdated = township_decision(county, case_id, grant=grant.hash,
                                  at=NOW + dt.timedelta(hours=1))
    result = county.push(backdated)
    assert verdicts(result) == [void(1, "not_delegated")]
    assert "received this decision at" in result.verdicts[0].message
    assert "own timestamp does not count" in result.verdicts[0].message
    assert county.case(case_id).state is State.RECEIVED
    refused_with(county, "not_delegated", "T01")


def test_a_decision_the_county_had_seen_before_the_grant_ended_stands(county: County) -> None:
    grant = county.grant("T01", "MZ-002")
    case_id = taken(county, "V011", item="MZ-002")
    decision = township_decision(county, case_id, grant=grant.hash)
    county.end_grant("T01", seen_seq=decision.seq)  # a heartbeat had claimed it in time
    county.clock.advance(dt.timedelta(days=1))
    assert verdicts(county.push(decision)) == [(1, "accepted", "")]


def test_a_decision_on_a_case_not_yet_at_the_county_is_held_not_refused(county: County) -> None:
    grant = county.grant("T01", "MZ-002")
    result = county.push(township_decision(county, "360112-V011-20261201-0001",
                                           grant=grant.hash))
    assert verdicts(result) == [(1, "refused", "case_pending")]
    assert county.evidence() == []
    assert county.alarms() == []


def test_a_township_may_refuse_only_its_villages_actions(county: County) -> None:
    case_id = taken(county, "V001")
    result = county.push(county.logs["T01"].next(ActionRefused(
        case_id=case_id, refused_log_id="V001", refused_seq=1, reason="x")))
    assert verdicts(result) == [void(1, "not_its_village")]


# -- 9. attachments -------------------------------------------------------------------------------


def test_a_case_may_not_name_another_villages_scan(county: County) -> None:
    scan = county.upload("V001", b"\xff\xd8 V001's scan of a citizen's id card")
    named = (MaterialRef(code="id_card", sha256=scan, size=40),)
    result = county.push(county.logs["V003"].next(submission("V003", materials=named)))
    assert verdicts(result) == [void(1, "blob_not_yours")]
    assert "did not upload" in result.verdicts[0].message
    refused_with(county, "blob_not_yours", "V003")
    own = county.push(county.logs["V001"].next(submission("V001", materials=named)))
    assert verdicts(own) == [(1, "accepted", "")]


def test_a_scan_that_never_arrived_does_not_stop_the_log(county: County) -> None:
    """Issue 12: the record stands, the case lacks that material at the county, a signed
    refusal tells the desk to attach it again, and the records after it are taken."""
    named = (MaterialRef(code="id_card", sha256=b"\x07" * 32, size=40),)
    log = county.logs["V001"]
    case = submission("V001", materials=named)
    result = county.push(log.next(case), log.next(reviewed(case.case_id)),
                         log.next(submission("V001", 2)))
    assert verdicts(result) == [(1, "accepted", ""), (2, "accepted", ""), (3, "accepted", "")]
    held = county.case(case.case_id)
    assert held.complete is False
    assert "id_card" in held.missing
    assert "scan missing: id_card" in held.flags
    refusals = [r.payload for r in county.hub_records() if isinstance(r.payload, ActionRefused)]
    assert [(a.case_id, a.refused_seq) for a in refusals] == [(case.case_id, 1)]
    assert "[scan_missing]" in refusals[0].reason
    assert county.evidence() == []
    assert county.alarms() == []
    # the desk attaches a scan that does arrive: the case is whole again
    scan = county.upload("V001", b"\xff\xd8 the real scan")
    fixed = Supplemented(case_id=case.case_id, materials=(MaterialRef(code="id_card",
                                                                        sha256=scan, size=15),),
                         complete=True, missing=())
    assert verdicts(county.push(log.next(fixed))) == [(4, "accepted", "")]
    held = county.case(case.case_id)
    assert held.complete is True
    assert held.missing == ()
    assert not any(f.startswith("scan missing") for f in held.flags)


# -- 10. time is flagged, never refused -----------------------------------------------------------


def test_a_record_dated_before_the_one_before_it_is_flagged_not_refused(county: County) -> None:
    log = county.logs["V001"]
    case = submission("V001")
    first = log.next(case)
    earlier = log.next(reviewed(case.case_id), at=NOW - dt.timedelta(hours=3))
    assert verdicts(county.push(first, earlier)) == [(1, "accepted", ""), (2, "accepted", "")]
    assert any("went back" in f for f in county.case(case.case_id).flags)


def test_a_record_dated_1990_is_flagged(county: County) -> None:
    log = county.logs["V001"]
    case = dataclasses.replace(submission("V001", day="19900101"))
    result = county.push(log.next(case, at=dt.datetime(1990, 1, 1, 2, tzinfo=dt.UTC)))
    assert verdicts(result) == [(1, "accepted", "")]
    assert any("before its signing key was certified" in f
               for f in county.case(case.case_id).flags)


def test_a_record_from_the_future_is_flagged(county: County) -> None:
    log = county.logs["V001"]
    case = submission("V001", day="20261204")
    result = county.push(log.next(case, at=NOW + dt.timedelta(days=3)))
    assert verdicts(result) == [(1, "accepted", "")]
    assert any("ahead of this receiver's clock" in f for f in county.case(case.case_id).flags)


def test_a_time_that_is_no_date_is_malformed_kept_and_alarmed(county: County) -> None:
    record = county.logs["V001"].next(submission("V001"))
    body = pb.RecordBody()
    body.ParseFromString(record.body)
    body.recorded_at_ms = 2**62
    raw = body.SerializeToString(deterministic=True)
    signer = county.logs["V001"].signer
    result = county.receiver.receive(_inbound("V001", [(raw, signer.sign(raw))]))
    assert verdicts(result) == [(0, "refused", "malformed_body")]
    refused_with(county, "malformed_body", "V001")


def _inbound(log_id: str, raw):  # type: ignore[no-untyped-def]
    from node.receive import Inbound  # noqa: PLC0415

    return Inbound(peer=log_id, log_id=log_id, raw=raw)


# -- below the county: a village checks its township's decisions ----------------------------------


def test_a_village_refuses_a_township_decision_citing_no_grant_it_holds(
        county: County, tmp_path: Path) -> None:
    village = Village(county, "V011", tmp_path)
    case = submission("V011", item="MZ-002")
    village.own(case, reviewed(case.case_id))
    with pytest.raises(Refused) as caught:
        village.take(township_decision(county, case.case_id, grant=b"\x09" * 32))
    assert caught.value.code == "not_delegated"
    assert village.case(case.case_id).state is State.SUBMITTED
    assert ("unauthorized_decision", "T01") in village.alarms()


def test_a_village_shows_its_townships_decision_as_provisional_until_confirmed(
        county: County, tmp_path: Path) -> None:
    village = Village(county, "V011", tmp_path)
    case = submission("V011", item="MZ-002")
    village.own(case, reviewed(case.case_id))
    grant = county.grant("T01", "MZ-002")
    decision = township_decision(county, case.case_id, grant=grant.hash)
    village.take(grant, decision)
    held = village.case(case.case_id)
    assert held.state is State.APPROVED
    assert held.pending is not None
    assert held.pending.record == str(decision)
    confirm = county.hub_record(DecisionConfirmed(
        case_id=case.case_id, decision_log_id="T01", decision_seq=decision.seq,
        decision_hash=decision.hash))
    village.take(confirm)
    assert village.case(case.case_id).pending is None
    assert village.case(case.case_id).state is State.APPROVED


@pytest.mark.parametrize("order", ["decision_first", "refusal_first"])
def test_a_county_refusal_of_the_townships_decision_undoes_it_at_the_village(
        county: County, tmp_path: Path, order: str) -> None:
    village = Village(county, "V011", tmp_path)
    case = submission("V011", item="MZ-002")
    village.own(case, reviewed(case.case_id))
    grant = county.grant("T01", "MZ-002")
    decision = township_decision(county, case.case_id, grant=grant.hash)
    refusal = county.hub_record(ActionRefused(
        case_id=case.case_id, refused_log_id="T01", refused_seq=decision.seq,
        reason="the grant was withdrawn before the decision reached the county"))
    village.take(grant)
    if order == "decision_first":
        village.take(decision)
        village.take(refusal)
    else:
        village.take(refusal)
        village.take(decision)
    held = village.case(case.case_id)
    assert held.state is State.SUBMITTED or held.state is State.RECEIVED
    assert held.outcome == ""
    assert "refused upstream" in held.reason
    assert any("T01#1 refused upstream" in f for f in held.flags)


def test_a_village_refuses_a_county_record_about_a_case_not_its_own(
        county: County, tmp_path: Path) -> None:
    village = Village(county, "V001", tmp_path)
    decision = county.hub_record(Decision(case_id="360112-V003-20261201-0001",
                                            outcome=Outcome.APPROVE, reason="x", operator="x"))
    with pytest.raises(Refused) as caught:
        village.take(decision)
    assert caught.value.code == "not_my_case"


def test_a_village_refuses_a_townships_own_submission_sent_down(
        county: County, tmp_path: Path) -> None:
    village = Village(county, "V011", tmp_path)
    with pytest.raises(Refused) as caught:
        village.take(county.logs["T01"].next(submission("T01")))
    assert caught.value.code == "unexpected_record"


# -- the table itself -----------------------------------------------------------------------------


def test_every_payload_has_a_rule_with_a_log_and_an_audience() -> None:
    from node.kernel.wire import PAYLOADS  # noqa: PLC0415

    assert set(TABLE) == set(PAYLOADS)
    for rule in TABLE.values():
        assert rule.logs
        assert rule.writes


def test_every_refusal_the_rules_give_has_a_reason_a_clerk_can_read() -> None:
    for code, reason in REASONS.items():
        assert reason.means, code
        assert reason.evidence or reason.alarm is None, code


def test_decisions_reach_the_cases_origin_and_grants_the_townships_group() -> None:
    decision = Decision(case_id="360112-V011-20261201-0001", outcome=Outcome.APPROVE,
                        reason="x", operator="x")
    assert audience_for(decision, HUB_NODE_ID) == "V011"
    assert audience_for(decision, HUB_NODE_ID, lambda _c: "V012") == "V012"
    grant = Delegation(township="T01", items=(), valid_from=NOW, valid_until=NOW,
                       catalog_version=1, operator="x")
    assert audience_for(grant, HUB_NODE_ID) == "@T01"
    assert TABLE[Accepted].audience is Audience.COUNTY
    assert TABLE[Decision].speaker is Speaker.DECIDER
    assert Log.TOWNSHIP in TABLE[Decision].logs
