"""County operators at work, and the county's side of what nodes do (DESIGN §6, issue 6).

Every action is checked in this order: the operator (registered, active, not a supervisor, of
one of the item's departments), the deciding tier (a delegated item of a village under a
township is the township's), then the workflow table (``node.kernel.workflow``), then joint
approval.
What is allowed becomes signed records of the hub's log, written in the same transaction as
the case view, the clock's pauses and the audit trail. Records a village must know
(supplement requests, not-accepted, decisions, refusals of its late actions) are addressed to
it; acceptance and opinions stay at the county.

A node's own actions (supplement, withdraw, conclude) arrive as records of its log. They are
facts of that log and are always stored; if the table does not allow one any more -- a
withdrawal that arrives after the decision -- the hub answers with an ``ActionRefused`` record
that flows back down with the reason.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from county_hub.hub import Hub
from county_hub.store import HubCaseView, OperatorRow
from node.kernel.clock import to_ms
from node.kernel.errors import NotFoundError, PeerError, StateError, UsageError
from node.kernel.identity import HUB_NODE_ID
from node.kernel.payloads import (
    Accepted,
    ActionRefused,
    CasePayload,
    Concluded,
    Decision,
    NotAccepted,
    Opinion,
    Outcome,
    Supplemented,
    SupplementRequested,
    Withdrawn,
)
from node.kernel.records import Record, seal
from node.kernel.slip import verification_code
from node.kernel.workflow import (
    NODE_ACTIONS,
    Action,
    CaseFacts,
    State,
    next_state,
    node_action_fields,
)

__all__ = ["ROLES", "ActResult", "act", "apply_node_action", "decide", "parse_operators_toml"]

ROLES = ("clerk", "head", "supervisor")
_NEEDS_REASON = frozenset({Action.NOT_ACCEPT, Action.REQUEST_SUPPLEMENT, Action.OPINION,
                           Action.APPROVE, Action.REJECT})


@dataclass(frozen=True, kw_only=True)
class ActResult:
    case_id: str
    state: State
    records: tuple[Record, ...]

    @property
    def decision(self) -> Decision | None:
        found = [r.payload for r in self.records if isinstance(r.payload, Decision)]
        return found[-1] if found else None


class _Writer:
    """Appends the hub's records for one transaction, addressed and traced."""

    def __init__(self, hub: Hub, conn: Connection, now: dt.datetime) -> None:
        self.hub, self.conn, self.now = hub, conn, now
        self.head = hub.store.logs.head(conn, hub.node_id, lock=True)
        self.records: list[Record] = []

    def emit(self, payload: CasePayload, *, to: str, operator: str = "", node_id: str = "",
             detail: str = "") -> Record:
        record = seal(payload, log_id=self.hub.node_id, head=self.head,
                      signer=self.hub.keys.records, clock=self.hub.clock)
        self.hub.store.logs.append(self.conn, [record], now=self.now, audience=lambda _r: to)
        self.head = record.head
        self.records.append(record)
        self.hub.store.add_trail(self.conn, kind=type(payload).__name__, now=self.now,
                                 case_id=payload.case_id, node_id=node_id, operator=operator,
                                 detail=detail, record=record)
        return record


def parse_operators_toml(text: str, *, source: str) -> list[tuple[str, str, str]]:
    """``(name, department, role)`` of each ``[[operator]]`` in an operators file."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from exc
    found = []
    for n, raw in enumerate(doc.get("operator", []), start=1):
        name, dept, role = (str(raw.get(k, "")).strip() for k in ("name", "department", "role"))
        if not name or not dept or role not in ROLES:
            raise UsageError(f"{source}: [[operator]] #{n} needs a name, a department and a "
                             f"role ({' | '.join(ROLES)})")
        found.append((name, dept, role))
    return found


def _authorize(hub: Hub, conn: Connection, name: str, case: HubCaseView, action: Action,
               department: str) -> OperatorRow:
    operator = hub.store.operator(conn, name.strip())
    if operator is None:
        raise UsageError(f"operator {name!r} is not registered; add them with 'bianmin hub "
                         "operator add NAME --department D --role clerk|head'",
                         code="unknown_operator")
    if not operator.active:
        raise PeerError(f"operator {operator.name} is disabled", code="operator_disabled")
    if operator.role == "supervisor":
        raise PeerError(f"{operator.name} is a supervisor: supervisors see every case and act "
                        "on none", code="supervisor_cannot_act")
    if operator.department not in case.departments:
        raise PeerError(
            f"operator {operator.name} ({operator.department}) may act only on items of "
            f"{operator.department}; case {case.case_id} is item {case.item_code} "
            f"({case.item_name}) of {', '.join(case.departments)}", code="wrong_department")
    if action is Action.OPINION and department and department != operator.department:
        raise PeerError(f"operator {operator.name} belongs to {operator.department} and cannot "
                        f"give the opinion of {department}", code="wrong_department")
    return operator


def _check_deciding_tier(hub: Hub, conn: Connection, case: HubCaseView) -> None:
    origin = hub.store.node(conn, case.origin_node)
    if case.decided_by == "township" and origin is not None and origin.parent != HUB_NODE_ID:
        raise StateError(
            f"case {case.case_id}: item {case.item_code} ({case.item_name}) is delegated to "
            f"townships; township {origin.parent} decides it", code="delegated_item")


def act(hub: Hub, case_id: str, action: Action, *, operator: str, reason: str = "",
        materials: Sequence[str] = (), department: str = "",
        favourable: bool | None = None) -> ActResult:
    """One operator action on one case: checked, signed, recorded."""
    reason = reason.strip()
    if action in _NEEDS_REASON and not reason:
        raise UsageError(f"'{action.value.replace('_', '-')}' needs a reason (--reason)",
                         code="reason_required")
    if action is Action.OPINION and favourable is None:
        raise UsageError("give --favourable or --unfavourable", code="opinion_required")
    now = hub.clock.now()
    store = hub.store
    with store.db.write() as conn:
        case = store.get_case(conn, case_id)
        who = _authorize(hub, conn, operator, case, action, department)
        _check_deciding_tier(hub, conn, case)
        facts = CaseFacts(complete=case.complete, accepted=case.accepted_at is not None,
                          missing=case.missing)
        after = next_state(case_id, State(case.state), action, facts)
        out = _Writer(hub, conn, now)
        node, name, dept = case.origin_node, who.name, who.department
        values: dict[str, object] = {"operator": name, "department": dept}
        if action in (Action.APPROVE, Action.REJECT) and case.accepted_at is None:
            out.emit(Accepted(case_id=case_id, operator=name, department=dept), to=HUB_NODE_ID,
                     operator=name, node_id=node, detail="accepted and decided in one step")
            values["accepted_at_ms"] = to_ms(now)
        match action:
            case Action.ACCEPT:
                out.emit(Accepted(case_id=case_id, operator=name, department=dept),
                         to=HUB_NODE_ID, operator=name, node_id=node)
                values["accepted_at_ms"] = to_ms(now)
            case Action.NOT_ACCEPT:
                out.emit(NotAccepted(case_id=case_id, reason=reason, operator=name,
                                     department=dept), to=node, operator=name, node_id=node,
                         detail=reason)
                values |= {"reason": reason, "decided_at_ms": to_ms(now),
                           "outcome": State.NOT_ACCEPTED.value}
            case Action.REQUEST_SUPPLEMENT:
                codes = _requested_materials(hub, conn, case, materials)
                out.emit(SupplementRequested(case_id=case_id, materials=codes, reason=reason,
                                             operator=name, department=dept),
                         to=node, operator=name, node_id=node,
                         detail=f"{', '.join(codes)}: {reason}")
                store.start_pause(conn, case_id, now)
                values |= {"reason": reason, "requested": ",".join(codes),
                           "supplements": case.supplements + 1}
            case Action.OPINION:
                assert favourable is not None
                out.emit(Opinion(case_id=case_id, department=dept, favourable=favourable,
                                 reason=reason, operator=name), to=HUB_NODE_ID, operator=name,
                         node_id=node, detail=("favourable" if favourable else "unfavourable")
                         + f": {reason}")
                store.set_opinion(conn, case_id, department=dept, favourable=favourable,
                                  reason=reason, operator=name, now=now)
                if not favourable and len(case.departments) > 1:  # any unfavourable rejects
                    after = next_state(case_id, after, Action.REJECT, facts)
                    _decide(out, case, Outcome.REJECT, f"{dept}: {reason}", name, dept)
                    values |= {"reason": f"{dept}: {reason}", "decided_at_ms": to_ms(now),
                               "outcome": State.REJECTED.value}
            case Action.APPROVE | Action.REJECT:
                if action is Action.APPROVE and len(case.departments) > 1:
                    _check_joint(hub, conn, case)
                outcome = Outcome.APPROVE if action is Action.APPROVE else Outcome.REJECT
                _decide(out, case, outcome, reason, name, dept)
                values |= {"reason": reason, "decided_at_ms": to_ms(now), "outcome": after.value}
            case _:
                raise UsageError(f"'{action.value}' is not an operator action")
        store.update_case(conn, case_id, now, state=after.value, **values)
    return ActResult(case_id=case_id, state=after, records=tuple(out.records))


def _decide(out: _Writer, case: HubCaseView, outcome: Outcome, reason: str, operator: str,
            department: str) -> Record:
    return out.emit(Decision(case_id=case.case_id, outcome=outcome, reason=reason,
                             operator=operator, department=department,
                             verification_code=verification_code()),
                    to=case.origin_node, operator=operator, node_id=case.origin_node,
                    detail=f"{outcome.value}: {reason}")


def _check_joint(hub: Hub, conn: Connection, case: HubCaseView) -> None:
    """并联审批: every department of the item must have given a favourable opinion."""
    opinions = hub.store.opinions_of(conn, case.case_id)
    waiting = [d for d in case.departments if not opinions.get(d)]
    if waiting:
        raise StateError(f"case {case.case_id} is a joint item: waiting for a favourable "
                         f"opinion of {', '.join(waiting)} ('hub opinion')",
                         code="joint_approval_pending")


def _requested_materials(hub: Hub, conn: Connection, case: HubCaseView,
                         materials: Sequence[str]) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(m.strip() for m in materials if m.strip()))
    if not codes:
        raise UsageError("name the materials needed (--material CODE, repeated)",
                         code="materials_required")
    try:
        item = hub.catalog_version(conn, case.catalog_version).catalog.item(case.item_code)
    except NotFoundError:
        item = hub.catalog_version(conn).catalog.item(case.item_code)
    known = {m.code for m in item.materials} if item else set()
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise UsageError(f"{', '.join(unknown)} is not a material of item {case.item_code}; its "
                         f"materials are: {', '.join(sorted(known))}", code="unknown_material")
    return codes


def decide(hub: Hub, case_id: str, *, outcome: Outcome, reason: str,
           operator: str) -> ActResult:
    """Approve or reject (accepting first if the case is only received: 即办件)."""
    action = Action.APPROVE if outcome is Outcome.APPROVE else Action.REJECT
    return act(hub, case_id, action, operator=operator, reason=reason)


# -- what nodes do ---------------------------------------------------------------------------


def apply_node_action(hub: Hub, conn: Connection, record: Record, now: dt.datetime) -> None:
    """Project a node's supplement, withdrawal or conclusion onto the case -- or, when the
    case has moved on, answer with a signed refusal that flows back down."""
    payload = record.payload
    action = NODE_ACTIONS.get(type(payload))
    if action is None:
        return
    assert isinstance(payload, Supplemented | Withdrawn | Concluded)
    store = hub.store
    try:
        case = store.get_case(conn, payload.case_id)
    except NotFoundError:
        return  # the case's own records are refused or yet to come; nothing to move
    complete = payload.complete if isinstance(payload, Supplemented) else case.complete
    facts = CaseFacts(complete=complete, accepted=case.accepted_at is not None,
                      missing=payload.missing if isinstance(payload, Supplemented)
                      else case.missing)
    try:
        after = next_state(case.case_id, State(case.state), action, facts)
    except StateError as exc:
        out = _Writer(hub, conn, now)
        out.emit(ActionRefused(case_id=case.case_id, refused_log_id=record.log_id,
                               refused_seq=record.seq,
                               reason=f"{action.value} refused: {exc}"),
                 to=case.origin_node, node_id=record.log_id, detail=str(exc))
        return
    values: dict[str, object] = {"state": after.value, **node_action_fields(payload)}
    if isinstance(payload, Concluded):
        values["concluded_at_ms"] = to_ms(now)
    else:  # a supplement or a withdrawal ends a pause for supplements
        store.end_pause(conn, case.case_id, now)
    store.update_case(conn, case.case_id, now, **values)
    store.add_trail(conn, kind=type(payload).__name__, now=now, case_id=case.case_id,
                    node_id=record.log_id, record=record,
                    detail=getattr(payload, "reason", "") or getattr(payload, "note", ""))
