"""Who may say what (DESIGN §4): the authority table. Pure.

A valid signature proves *who* wrote a record; this table says whether that writer *may* say
it. The rules, which the data below encodes and nothing else in the code re-decides:

1. Logs. Each payload type names the logs that may carry it: a node's own log (a village's or
   a township's), the county's log ``HUB``, the catalog's log ``CATALOG``.
2. Case ids. ``{county}-{node}-{YYYYMMDD}-{NNNN}``: this county's code; the node part is the log
   that submits the case; the date is the submitter's own local date (China Standard Time)
   when it signed the submission, or the day before (an intake that straddled midnight); the
   daily number is 0001-9999. Desks check it at intake, every receiver on arrival.
3. The origin speaks for the applicant: a pre-review, supplement, withdrawal or conclusion
   names a case that the writer's own log submitted, and a case id is submitted once.
4. The county accepts, declines, asks for supplements, gives opinions and confirms
   townships' decisions (``HUB``).
5. Decisions come from the deciding tier: the county; or a township, for a case its own desk
   or one of its villages took, on an item the catalog lets townships decide, citing a grant
   (``Delegation``) the county made to that township for that item. At the county the grant
   must cover the decision at a time the township cannot choose (rule 6); below it, a node
   checks the grant it holds covers the item at the time the decision claims, and shows the
   decision as provisional until the county confirms it.
6. The county judges a township's decision by its own receipt: the grant was in force when the
   county received the decision, or the county had already seen the township's log reach the
   decision's seq (a committed record, or a signed heartbeat) before the grant ended -- proof
   that the decision existed in time. The township's own timestamp proves nothing.
7. A refusal of a node's action (``ActionRefused``) comes from the county, or from the
   township whose own desk or village took the case.
8. Catalog versions only in ``CATALOG``, version = seq. Revocations, delegations and the
   working-day calendar only in ``HUB``. Key rotations only in a node's own log.
9. A record names only attachments its own log uploaded (the receiver holds that log's claim
   on the file). A scan that never arrived (a failed scanner, a lost disk) does not stop the
   log: the record stands, the case lacks that material until the desk attaches it again, and
   the county says so with a signed refusal that flows down (an effect, not an authority,
   refusal: ``scan_missing``).
10. Time is flagged, never refused for skew alone: a record dated before the record before it
    in its log, before its signer's certificate was issued, or ahead of the receiver's clock by
    more than the tolerance. A time that is no date at all is ``malformed_body``
    (``node.kernel.wire``).

``judge_batch`` applies them to the well-signed, well-placed records of one log's batch (in
order: a case submitted early in the batch is known to the records after it) and returns a
``Judgement`` per record. The receive path (``node.receive``) refuses at the first refusal,
keeps the record as evidence and raises the alarm ``REASONS`` names; ``hub audit verify``
re-runs the same function over everything stored.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from node.kernel.case_id import CaseId, parse_case_id
from node.kernel.clock import CST
from node.kernel.errors import UsageError
from node.kernel.identity import CATALOG_LOG_ID, HUB_NODE_ID
from node.kernel.payloads import (
    Accepted,
    ActionRefused,
    CalendarPublished,
    CaseSubmitted,
    CatalogPublished,
    Concluded,
    Decision,
    DecisionConfirmed,
    Delegation,
    DelegationWithdrawn,
    KeyReplaced,
    KeyRotated,
    MaterialRef,
    NodeRevoked,
    NotAccepted,
    Opinion,
    Payload,
    PreReviewed,
    Supplemented,
    SupplementRequested,
    Withdrawn,
    referenced_blobs,
)
from node.kernel.projector import Case
from node.kernel.records import Record

__all__ = [
    "AUTHORITY",
    "EFFECTS",
    "HOLDS",
    "REASONS",
    "TABLE",
    "Audience",
    "CaseInfo",
    "Facts",
    "GrantInfo",
    "Judgement",
    "Log",
    "NodeInfo",
    "Reason",
    "Rule",
    "Speaker",
    "audience_for",
    "audience_of",
    "check_case_id",
    "judge_batch",
]


class Log(enum.StrEnum):
    """The kinds of log a payload may be carried in (rule 1)."""

    VILLAGE = "village"
    TOWNSHIP = "township"
    HUB = "HUB"
    CATALOG = "CATALOG"


class Speaker(enum.StrEnum):
    """Who may speak about the case a payload names."""

    NOBODY = "-"  # not about a case
    SUBMITTER = "submitter"  # the log its case id names, once (rules 2, 3)
    ORIGIN = "origin"  # the log that submitted the case (rule 3)
    COUNTY = "county"  # the county hub (rule 4)
    DECIDER = "decider"  # the county, or the township whose grant covers it (rules 5, 6)
    OVERSEER = "overseer"  # the county, or the township of the case's origin (rule 7)


class Audience(enum.StrEnum):
    """Where a record travels once written (pulls serve it to these nodes)."""

    UPSTREAM = "upstream"  # a node's own records go up only: its township, the county
    COUNTY = "county"  # stays at the county
    ORIGIN = "origin"  # the node that took the case (through its township, if any)
    TOWNSHIP = "township"  # the township the record names, and its villages
    EVERYONE = "everyone"


@dataclass(frozen=True, kw_only=True)
class Rule:
    logs: frozenset[Log]
    speaker: Speaker
    audience: Audience
    writes: str  # what it is, for the protocol's documentation


NODE_LOGS = frozenset({Log.VILLAGE, Log.TOWNSHIP})
_HUB = frozenset({Log.HUB})

TABLE: dict[type, Rule] = {
    CaseSubmitted: Rule(logs=NODE_LOGS, speaker=Speaker.SUBMITTER, audience=Audience.UPSTREAM,
                        writes="an application taken at the desk"),
    PreReviewed: Rule(logs=NODE_LOGS, speaker=Speaker.ORIGIN, audience=Audience.UPSTREAM,
                      writes="the desk's check against the catalog"),
    Supplemented: Rule(logs=NODE_LOGS, speaker=Speaker.ORIGIN, audience=Audience.UPSTREAM,
                       writes="materials the applicant brought later"),
    Withdrawn: Rule(logs=NODE_LOGS, speaker=Speaker.ORIGIN, audience=Audience.UPSTREAM,
                    writes="the applicant stops the case"),
    Concluded: Rule(logs=NODE_LOGS, speaker=Speaker.ORIGIN, audience=Audience.UPSTREAM,
                    writes="the result handed over at the desk"),
    KeyRotated: Rule(logs=NODE_LOGS, speaker=Speaker.NOBODY, audience=Audience.UPSTREAM,
                     writes="the log continues under a new key"),
    KeyReplaced: Rule(logs=NODE_LOGS, speaker=Speaker.NOBODY, audience=Audience.UPSTREAM,
                      writes="the log continues under new keys after the old ones were lost"),
    Accepted: Rule(logs=_HUB, speaker=Speaker.COUNTY, audience=Audience.COUNTY,
                   writes="the county takes the case into processing"),
    Opinion: Rule(logs=_HUB, speaker=Speaker.COUNTY, audience=Audience.COUNTY,
                  writes="one department's view on a joint item"),
    NotAccepted: Rule(logs=_HUB, speaker=Speaker.COUNTY, audience=Audience.ORIGIN,
                      writes="the county declines the case"),
    SupplementRequested: Rule(logs=_HUB, speaker=Speaker.COUNTY, audience=Audience.ORIGIN,
                              writes="the county asks for more materials"),
    DecisionConfirmed: Rule(logs=_HUB, speaker=Speaker.COUNTY, audience=Audience.ORIGIN,
                            writes="the county confirms a township's decision"),
    Decision: Rule(logs=frozenset({Log.HUB, Log.TOWNSHIP}), speaker=Speaker.DECIDER,
                   audience=Audience.ORIGIN, writes="approval or rejection"),
    ActionRefused: Rule(logs=frozenset({Log.HUB, Log.TOWNSHIP}), speaker=Speaker.OVERSEER,
                        audience=Audience.ORIGIN,
                        writes="a node's record that could not take effect"),
    CatalogPublished: Rule(logs=frozenset({Log.CATALOG}), speaker=Speaker.NOBODY,
                           audience=Audience.EVERYONE, writes="a catalog version"),
    NodeRevoked: Rule(logs=_HUB, speaker=Speaker.NOBODY, audience=Audience.EVERYONE,
                      writes="a node's keys withdrawn from a seq on"),
    Delegation: Rule(logs=_HUB, speaker=Speaker.NOBODY, audience=Audience.TOWNSHIP,
                     writes="a township may decide these items"),
    DelegationWithdrawn: Rule(logs=_HUB, speaker=Speaker.NOBODY, audience=Audience.TOWNSHIP,
                              writes="a township's delegated powers end"),
    CalendarPublished: Rule(logs=_HUB, speaker=Speaker.NOBODY, audience=Audience.EVERYONE,
                            writes="the working-day calendar deadlines count in"),
}


@dataclass(frozen=True, kw_only=True)
class Reason:
    """A refusal reason: what a clerk reads, whether the record is kept as evidence, and the
    alarm it raises (None: none)."""

    means: str
    alarm: str | None
    evidence: bool = True


# Every reason a receiver refuses a record for (the chain's, the wire's and this table's).
REASONS: dict[str, Reason] = {
    # the record on its own (node.kernel.chain, node.kernel.wire)
    "malformed_body": Reason(means="the body does not parse, is not canonical, or holds a "
                                   "value no record may hold", alarm="tampering"),
    "unknown_field": Reason(means="the body has fields this version does not know",
                            alarm="tampering"),
    "oversized": Reason(means="the body is over the size bound", alarm="tampering"),
    "bad_signature": Reason(means="the signature does not match the body", alarm="forgery"),
    "unknown_key": Reason(means="no certificate of the county CA names the signing key",
                          alarm="forgery"),
    "wrong_signer": Reason(means="signed by another node's key, or a key for another purpose",
                           alarm="forgery"),
    "wrong_log": Reason(means="sent as part of a log that is not its own",
                        alarm="impersonation"),
    # its place in the log
    "fork": Reason(means="a different record is stored at the same position", alarm="fork"),
    "gap": Reason(means="records before it are missing", alarm=None),
    "broken_chain": Reason(means="its previous hash is not the hash of the record before it",
                           alarm="tampering"),
    "revoked": Reason(means="signed after its log's keys were revoked", alarm="revoked_key"),
    "retired_key": Reason(means="signed by a key its log had rotated away, or that the "
                                "county replaced after the node lost it",
                          alarm="retired_key"),
    "bad_replacement": Reason(means="a key replacement without the county's authorization for "
                                    "that place in the log", alarm="forgery"),
    "bad_rotation": Reason(means="a key rotation naming a certificate the county CA did not "
                                 "issue to this node", alarm="forgery"),
    "after_refusal": Reason(means="not applied because an earlier record in the batch was "
                                  "refused", alarm=None, evidence=False),
    # who may say what (this module)
    "forbidden_payload": Reason(means="this kind of record may not be carried in this log",
                                alarm="unauthorized"),
    "bad_case_id": Reason(means="the case id is malformed, of another county, or dated "
                                "otherwise than its submission", alarm="unauthorized"),
    "not_case_origin": Reason(means="the record speaks for a case another node took",
                              alarm="impersonation"),
    "duplicate_case": Reason(means="the case id was submitted before", alarm="unauthorized"),
    "unknown_case": Reason(means="the record names a case its log never submitted",
                           alarm="unauthorized"),
    "not_my_case": Reason(means="the upstream sent a record about a case that is not this "
                                "node's", alarm="unauthorized"),
    "not_delegated": Reason(means="a township decided what no grant in force lets it decide",
                            alarm="unauthorized_decision"),
    "not_its_village": Reason(means="a township spoke for a case its villages did not take",
                              alarm="unauthorized_decision"),
    "bad_catalog": Reason(means="a catalog version out of its place in the catalog log",
                          alarm="tampering"),
    "unexpected_record": Reason(means="a record that travels only up the tree (or stays at "
                                      "the county) arrived from elsewhere",
                                alarm="unauthorized"),
    "blob_not_yours": Reason(means="the record names an attachment its log did not upload",
                             alarm="unauthorized"),
    # fine but early: held back, not evidence
    "case_pending": Reason(means="a township's decision on a case that has not reached the "
                                 "county yet", alarm=None, evidence=False),
}
HOLDS = frozenset(code for code, r in REASONS.items() if not r.evidence)

# Why an authentic, allowed record had no effect: the codes of the signed ``ActionRefused``
# the county (or a township, for its items) sends down. The record stays in its log and the
# records after it go on being taken (issue 12).
EFFECTS: dict[str, str] = {
    "scan_missing": "the scan of a material never arrived: attach it again (a supplement)",
    "already_decided": "the case was decided before this action arrived",
    "withdrawn": "the applicant had withdrawn the case",
    "invalid_transition": "the action is not allowed in the state the case is in upstream",
    "case_incomplete": "the case lacks required materials",
    "already_accepted": "the case was accepted already",
    "not_accepted_yet": "the case is not accepted yet",
    "not_delegated": "the township's decision did not stand at the county",
}
# the refusals this table gives (the others are the verifier's)
AUTHORITY = frozenset({"forbidden_payload", "bad_case_id", "not_case_origin", "duplicate_case",
                       "unknown_case", "not_my_case", "not_delegated", "not_its_village",
                       "bad_catalog", "unexpected_record", "blob_not_yours"})


# -- facts a receiver knows ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NodeInfo:
    node_id: str
    tier: str  # village | township
    parent: str  # the township a village belongs to, or HUB


@dataclass(frozen=True, kw_only=True)
class CaseInfo:
    case_id: str
    origin: str
    item_code: str
    decided_by: str  # county | township: the catalog's word for the case's item

    @classmethod
    def of(cls, case: Case | None) -> CaseInfo | None:
        """What the rules need of a case a tier holds."""
        if case is None:
            return None
        return cls(case_id=case.case_id, origin=case.origin, item_code=case.item_code,
                   decided_by=case.decided_by)


@dataclass(frozen=True, kw_only=True)
class GrantInfo:
    record_hash: bytes
    township: str
    items: tuple[str, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime
    ended_at: dt.datetime | None = None  # replaced or withdrawn (as far as the receiver knows)
    seen_seq_at_end: int | None = None  # the county: the township's log it had seen by then


class Facts(Protocol):
    """What a receiver knows when it judges a batch (a snapshot of its store)."""

    county_code: str
    receiver: str  # "HUB" at the county, else the node's id
    now: dt.datetime  # the receiver's clock: its receipt time
    skew_tolerance: dt.timedelta

    def node(self, node_id: str) -> NodeInfo | None: ...

    def prefetch(self, case_ids: Sequence[str]) -> None:
        """Look up these cases at once (a batch asks about many; one query, not one each)."""
        ...

    def case(self, case_id: str) -> CaseInfo | None: ...

    def grant(self, record_hash: bytes) -> GrantInfo | None: ...

    def attachments(self, log_id: str, hashes: Sequence[bytes]) -> tuple[set[bytes], set[bytes]]:
        """(complete here, claimed by ``log_id``) among ``hashes``."""
        ...

    def not_before(self, key_id: bytes) -> dt.datetime | None:
        """When the signing key's certificate became valid."""
        ...


@dataclass(frozen=True, kw_only=True)
class Judgement:
    seq: int
    code: str = ""  # "" : it may stand
    message: str = ""
    flags: tuple[str, ...] = ()
    missing_scans: tuple[str, ...] = ()  # materials whose scans never arrived (rule 9)

    @property
    def allowed(self) -> bool:
        return not self.code

    @property
    def held(self) -> bool:
        return self.code in HOLDS


def log_kind(log_id: str, facts: Facts) -> Log | None:
    if log_id == HUB_NODE_ID:
        return Log.HUB
    if log_id == CATALOG_LOG_ID:
        return Log.CATALOG
    node = facts.node(log_id)
    if node is None:
        return None
    return Log.TOWNSHIP if node.tier == "township" else Log.VILLAGE


def check_case_id(case_id: str, *, county_code: str, submitter: str,
                  signed_at: dt.datetime) -> CaseId:
    """Rule 2, for a desk about to sign and for every receiver: ``UsageError`` (code
    ``bad_case_id`` or ``not_case_origin``) saying what is wrong."""
    parsed = parse_case_id(case_id)
    if parsed.county_code != county_code:
        raise UsageError(f"case id {case_id} is of county {parsed.county_code}, not of this "
                         f"county ({county_code})", code="bad_case_id")
    if parsed.node_id != submitter:
        raise UsageError(f"case id {case_id} names node {parsed.node_id}, but {submitter} "
                         "submitted it: a node numbers only its own cases",
                         code="not_case_origin")
    local = signed_at.astimezone(CST).date()
    if not parsed.day <= local <= parsed.day + dt.timedelta(days=1):
        raise UsageError(f"case id {case_id} is dated {parsed.day.isoformat()}, but its "
                         f"submission was signed on {local.isoformat()} (China Standard Time)",
                         code="bad_case_id")
    return parsed


# -- judging a batch ------------------------------------------------------------------------


@dataclass
class _Batch:
    """What the records earlier in the batch established, for the ones after them, and what
    the whole batch shares (looked up once, not once per record)."""

    facts: Facts
    log_id: str
    new_cases: dict[str, CaseInfo] = field(default_factory=dict)
    _kinds: dict[str, Log | None] = field(default_factory=dict)
    _earliest: dict[bytes, dt.datetime | None] = field(default_factory=dict)

    def case(self, case_id: str) -> CaseInfo | None:
        return self.new_cases.get(case_id) or self.facts.case(case_id)

    def kind(self, log_id: str) -> Log | None:
        if log_id not in self._kinds:
            self._kinds[log_id] = log_kind(log_id, self.facts)
        return self._kinds[log_id]

    def earliest(self, key_id: bytes) -> dt.datetime | None:
        """The earliest time a record signed by ``key_id`` may claim unflagged (rule 10)."""
        if key_id not in self._earliest:
            issued = self.facts.not_before(key_id)
            self._earliest[key_id] = (None if issued is None
                                      else issued - self.facts.skew_tolerance)
        return self._earliest[key_id]


def judge_batch(records: Sequence[Record], facts: Facts, *,
                previous_time: dt.datetime | None = None,
                items: Mapping[str, str] | None = None) -> list[Judgement]:
    """The judgement on each of one log's records, in order (see the module docstring).
    ``previous_time``: the time of the record before the first one (rule 10). ``items``:
    item code -> who decides it, for cases submitted in this batch (from the catalog the
    case cites)."""
    if not records:
        return []
    log_id = records[0].log_id
    facts.prefetch([c for r in records if isinstance(c := getattr(r.payload, "case_id", None),
                                                          str)])
    batch = _Batch(facts=facts, log_id=log_id)
    named = [referenced_blobs(r) for r in records]
    wanted = [h for hashes in named for h in hashes]
    complete, claimed = facts.attachments(log_id, wanted) if wanted else (set(), set())
    latest = facts.now + facts.skew_tolerance
    out = []
    before = previous_time
    for record, hashes in zip(records, named, strict=True):
        code, message = _judge(record, batch, hashes, complete, claimed, items or {})
        missing = tuple(m.code for m in _materials(record) if m.sha256 and
                        m.sha256 not in complete) if not code and hashes else ()
        out.append(Judgement(seq=record.seq, code=code, message=message,
                             flags=_time_flags(record, batch, before, latest),
                             missing_scans=missing))
        before = record.header.recorded_at
    return out


def _materials(record: Record) -> tuple[MaterialRef, ...]:
    payload = record.payload
    return payload.materials if isinstance(payload, CaseSubmitted | Supplemented) else ()


def _judge(record: Record, batch: _Batch, named: Sequence[bytes], complete: set[bytes],
           claimed: set[bytes], items: Mapping[str, str]) -> tuple[str, str]:
    facts, payload = batch.facts, record.payload
    rule = TABLE[type(payload)]
    kind = batch.kind(record.log_id)
    name = type(payload).__name__
    if kind not in rule.logs:
        allowed = " or ".join(sorted(k.value for k in rule.logs))
        where = kind.value if kind else "unknown"
        return "forbidden_payload", (f"{record}: a {name} record may be carried only in a "
                                     f"{allowed} log, and {record.log_id} is a {where} log")
    if not _travels_here(record, rule, facts):
        where = "up the tree" if rule.audience is Audience.UPSTREAM else "to the county"
        return "unexpected_record", (f"{record}: a {name} record travels only {where}; "
                                     f"{facts.receiver} may not receive it from "
                                     f"{record.log_id}")
    if isinstance(payload, CatalogPublished) and payload.version != record.seq:
        return "bad_catalog", (f"{record}: catalog version {payload.version} does not match "
                               "its place in the catalog log")
    found = _speaker(record, rule.speaker, batch, items)
    if found:
        return found
    held = [h for h in named if h in complete]
    if set(held) - claimed:
        names = ", ".join(h.hex()[:12] for h in held if h not in claimed)
        return "blob_not_yours", (f"{record}: it names attachment(s) {names}, which "
                                  f"{record.log_id} did not upload; a case may name only "
                                  "the scans its own desk made")
    return "", ""  # a scan not held at all is the case's problem, not the log's (rule 9)


def _travels_here(record: Record, rule: Rule, facts: Facts) -> bool:
    """A node's own records go up only (to its township, the county); the county's
    acceptances and opinions stay at the county."""
    if facts.receiver in (HUB_NODE_ID, record.log_id):
        return True
    if rule.audience is Audience.COUNTY:
        return False
    if rule.audience is Audience.UPSTREAM:
        writer = facts.node(record.log_id)
        return writer is not None and writer.parent == facts.receiver
    return True


def _speaker(record: Record, speaker: Speaker, batch: _Batch,
             items: Mapping[str, str]) -> tuple[str, str] | None:
    facts, payload, log_id = batch.facts, record.payload, record.log_id
    case_id = str(getattr(payload, "case_id", ""))
    match speaker:
        case Speaker.NOBODY | Speaker.COUNTY:
            return _downstream_case(record, case_id, batch) if case_id else None
        case Speaker.SUBMITTER:
            assert isinstance(payload, CaseSubmitted)
            try:
                check_case_id(case_id, county_code=facts.county_code, submitter=log_id,
                              signed_at=record.header.recorded_at)
            except UsageError as exc:
                return exc.code, f"{record}: {exc}"
            if batch.case(case_id) is not None:
                return "duplicate_case", (f"{record}: case {case_id} was submitted before; a "
                                          "case id is submitted once")
            batch.new_cases[case_id] = CaseInfo(
                case_id=case_id, origin=log_id, item_code=payload.item_code,
                decided_by=items.get(payload.item_code, "county"))
            return None
        case Speaker.ORIGIN:
            case = batch.case(case_id)
            if case is None:
                return "unknown_case", (f"{record}: case {case_id or '(none)'} was never "
                                        f"submitted by {log_id}")
            if case.origin != log_id:
                return "not_case_origin", (f"{record}: case {case_id} was taken by "
                                           f"{case.origin}; {log_id} may not speak for it")
            return None
        case Speaker.DECIDER:
            return _decider(record, case_id, batch)
        case Speaker.OVERSEER:
            return _overseer(record, case_id, batch)
    return None  # pragma: no cover


def _downstream_case(record: Record, case_id: str, batch: _Batch) -> tuple[str, str] | None:
    """A county record about a case, arriving at a node: the case must be this node's (a
    township also holds its villages' records for them)."""
    facts = batch.facts
    if facts.receiver in (HUB_NODE_ID, record.log_id):
        return None
    me = facts.node(facts.receiver)
    if me is not None and me.tier == "township":
        return None  # held for its villages, served on to them
    if batch.case(case_id) is None:
        return "not_my_case", (f"{record}: about case {case_id}, which is not a case of "
                               f"{facts.receiver}")
    return None


def _overseer(record: Record, case_id: str, batch: _Batch) -> tuple[str, str] | None:
    payload = record.payload
    if isinstance(payload, ActionRefused) and payload.refused_log_id == batch.facts.receiver:
        return None  # about one of this node's own records, whatever case it named
    if record.log_id == HUB_NODE_ID:
        return _downstream_case(record, case_id, batch)
    return _its_case(record, case_id, batch)


def _its_case(record: Record, case_id: str, batch: _Batch) -> tuple[str, str] | None:
    """A township speaks only for cases its own desk or one of its villages took."""
    facts = batch.facts
    case = batch.case(case_id)
    if case is None:
        if facts.receiver == HUB_NODE_ID:
            return "case_pending", (f"{record}: case {case_id} has not reached the county "
                                    "yet; the township relays it first")
        return "not_my_case", (f"{record}: about case {case_id}, which is not a case of "
                               f"{facts.receiver}")
    origin = facts.node(case.origin)
    if case.origin != record.log_id and (origin is None or origin.parent != record.log_id):
        return "not_its_village", (f"{record}: case {case_id} was taken by {case.origin}, "
                                   f"which is not a village of {record.log_id}")
    return None


def _decider(record: Record, case_id: str, batch: _Batch) -> tuple[str, str] | None:
    if record.log_id == HUB_NODE_ID:
        return _downstream_case(record, case_id, batch)
    found = _its_case(record, case_id, batch)
    if found:
        return found
    facts, payload = batch.facts, record.payload
    assert isinstance(payload, Decision)
    case = batch.case(case_id)
    assert case is not None
    township = record.log_id
    if case.decided_by != "township":
        return "not_delegated", (f"{record}: item {case.item_code} is decided by the county; "
                                 "the catalog does not delegate it to townships")
    grant = facts.grant(payload.delegation)
    if grant is None or grant.township != township:
        return "not_delegated", (f"{record}: the decision cites no delegation the county "
                                 f"granted to {township}")
    if case.item_code not in grant.items:
        return "not_delegated", (f"{record}: the delegation it cites does not cover item "
                                 f"{case.item_code} (it grants {', '.join(grant.items)})")
    if facts.receiver == HUB_NODE_ID:
        return _covered_at_the_county(record, grant, facts)
    at = record.header.recorded_at  # below the county: the decision's own word, provisional
    if not grant.valid_from <= at <= grant.valid_until:
        return "not_delegated", (f"{record}: decided at {at.isoformat()}, outside the grant "
                                 f"it cites ({grant.valid_from:%Y-%m-%d} to "
                                 f"{grant.valid_until:%Y-%m-%d})")
    return None


def _covered_at_the_county(record: Record, grant: GrantInfo,
                           facts: Facts) -> tuple[str, str] | None:
    """Rule 6: at the county's receipt, or provably before the grant ended."""
    now = facts.now
    in_force = (grant.valid_from <= now <= grant.valid_until
                and (grant.ended_at is None or now < grant.ended_at))
    if in_force:
        return None
    seen_in_time = (grant.ended_at is not None and grant.seen_seq_at_end is not None
                    and record.seq <= grant.seen_seq_at_end
                    and grant.valid_from <= grant.ended_at)
    if seen_in_time:
        return None
    why = (f"it was withdrawn or replaced at {grant.ended_at:%Y-%m-%d %H:%M} UTC"
           if grant.ended_at is not None else
           f"it is in force from {grant.valid_from:%Y-%m-%d} to {grant.valid_until:%Y-%m-%d}")
    return "not_delegated", (f"{record}: the county received this decision at "
                             f"{now:%Y-%m-%d %H:%M} UTC, when the grant it cites was not in "
                             f"force ({why}); a township's own timestamp does not count")


def _time_flags(record: Record, batch: _Batch, before: dt.datetime | None,
                latest: dt.datetime) -> tuple[str, ...]:
    """Rule 10: what is odd about the record's time (flags, never refusals). ``latest``: the
    receiver's clock plus the tolerance."""
    at = record.header.recorded_at
    earliest = batch.earliest(record.header.key_id)
    if (before is None or at >= before) and (earliest is None or at >= earliest) and \
            at <= latest:
        return ()  # (most records: one comparison each, no message built)
    facts = batch.facts
    flags = []
    if before is not None and at < before:
        flags.append(f"{record} is dated {at:%Y-%m-%d %H:%M} UTC, before the record before it "
                     f"in its log ({before:%Y-%m-%d %H:%M}): its writer's clock went back")
    if earliest is not None and at < earliest:
        issued = earliest + facts.skew_tolerance
        flags.append(f"{record} is dated {at:%Y-%m-%d}, before its signing key was certified "
                     f"({issued:%Y-%m-%d}): its writer's clock is wrong")
    if at > latest:
        flags.append(f"{record} is dated {at:%Y-%m-%d %H:%M} UTC, ahead of this receiver's "
                     f"clock ({facts.now:%Y-%m-%d %H:%M}): its writer's clock runs fast")
    return tuple(flags)


# -- where records travel ---------------------------------------------------------------------


def audience_of(record: Record, origin: Callable[[str], str | None] | None = None) -> str | None:
    """The node a stored record is served to down the tree (None: everyone)."""
    return audience_for(record.payload, record.log_id, origin)


def audience_for(payload: Payload, log_id: str,
                 origin: Callable[[str], str | None] | None = None) -> str | None:
    """Where a record of ``log_id`` carrying ``payload`` is served, by the table's audience:
    the case's origin (``origin(case_id)``; the case id's node part when it is not known), or
    ``@T01`` for a township and its villages. Records that travel only up keep their writer's
    id: pulls never serve them down."""
    match TABLE[type(payload)].audience:
        case Audience.EVERYONE:
            return None
        case Audience.TOWNSHIP:
            assert isinstance(payload, Delegation | DelegationWithdrawn)
            return f"@{payload.township}"
        case Audience.COUNTY:
            return HUB_NODE_ID
        case Audience.UPSTREAM:
            return log_id
        case Audience.ORIGIN:
            case_id = str(getattr(payload, "case_id", ""))
            known = origin(case_id) if origin is not None else None
            if known:
                return known
            parts = case_id.split("-")
            return parts[1] if len(parts) == 4 else None
    return None  # pragma: no cover
