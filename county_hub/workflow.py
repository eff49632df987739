"""County operators at work (DESIGN §6, issue 6).

Every action is checked in this order: the operator (registered, active, not a supervisor, of
one of the item's departments), the deciding tier (a delegated item of a village under a
township is the township's while a grant covers it), then -- by projecting the signed record
onto the case (``node.kernel.projector``, which asks ``node.kernel.workflow``) -- the workflow
table, then joint approval. What is allowed becomes signed records of the hub's log, written
in the same unit of work as the case view, the clock's pauses and the audit trail; if the
projector refuses one, nothing is written. Records a village must know (supplement requests,
not-accepted, decisions) are addressed to it; acceptance and opinions stay at the county
(``node.kernel.authority`` audiences).

A node's own actions (supplement, withdraw, conclude) arrive as records of its log through
the receive path; one that no longer takes effect is answered there (``county_hub.tier``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass

from county_hub.hub import Hub
from county_hub.store import HubTransaction, OperatorRow
from node.kernel.authority import audience_for
from node.kernel.errors import NotFoundError, PeerError, StateError, UsageError
from node.kernel.identity import HUB_NODE_ID
from node.kernel.payloads import (
    Accepted,
    CasePayload,
    Decision,
    NotAccepted,
    Opinion,
    Outcome,
    SupplementRequested,
)
from node.kernel.projector import Case, Context, Refusal, View, apply
from node.kernel.records import Record
from node.kernel.slip import verification_code
from node.kernel.workflow import TRANSITIONS, Action, State

__all__ = ["ROLES", "VIA", "ActResult", "act", "decide", "parse_operators_toml"]

ROLES = ("clerk", "head", "supervisor", "admin")
# how an operator was authenticated, as the trail says it (``HubTrail.via``)
VIA = ("console", "token", "local-admin")
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
    """Signs the hub's records for one unit of work and projects each onto the case."""

    def __init__(self, hub: Hub, tx: HubTransaction, case: Case, via: str) -> None:
        self.hub, self.tx, self.case, self.via = hub, tx, case, via
        self.records: list[Record] = []

    def emit(self, payload: CasePayload) -> Record:
        record = self.tx.seal_append(
            payload, log_id=HUB_NODE_ID, signer=self.hub.keys.records, clock=self.hub.clock,
            audience=audience_for(payload, HUB_NODE_ID, lambda _c: self.case.origin))
        outcome = apply(self.case, record,
                        Context(view=View.COUNTY, now=self.tx.now, receiver=HUB_NODE_ID))
        if isinstance(outcome, Refusal) or outcome is None:
            raise StateError(outcome.message if outcome else f"{record} changes nothing",
                             code=outcome.code if outcome else "invalid_transition")
        self.tx.cases.apply([outcome], via=self.via)
        self.case = outcome.after
        self.records.append(record)
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


def _authorize(tx: HubTransaction, name: str, case: Case, action: Action,
               department: str) -> OperatorRow:
    operator = tx.operator(name.strip())
    if operator is None:
        raise UsageError(f"operator {name!r} is not registered; add them with 'bianmin hub "
                         "operator add NAME --department D --role clerk|head'",
                         code="unknown_operator")
    if not operator.active:
        raise PeerError(f"operator {operator.name} is disabled", code="operator_disabled")
    if operator.role == "supervisor":
        raise PeerError(f"{operator.name} is a supervisor: supervisors see every case and act "
                        "on none", code="supervisor_cannot_act")
    if operator.role == "admin":
        raise PeerError(f"{operator.name} is an administrator: administrators manage accounts "
                        "and nodes and decide nothing", code="admin_cannot_act")
    if operator.department not in case.departments:
        raise PeerError(
            f"operator {operator.name} ({operator.department}) may act only on items of "
            f"{operator.department}; case {case.case_id} is item {case.item_code} "
            f"({case.item_name}) of {', '.join(case.departments)}", code="wrong_department")
    if action is Action.OPINION and department and department != operator.department:
        raise PeerError(f"operator {operator.name} belongs to {operator.department} and cannot "
                        f"give the opinion of {department}", code="wrong_department")
    return operator


def _check_deciding_tier(tx: HubTransaction, case: Case) -> None:
    """A delegated item of a township's village is the township's to decide while the
    township holds a grant covering it; without one, the county decides it."""
    if case.decided_by != "township":
        return
    origin = tx.node(case.origin)
    if origin is None or origin.parent == HUB_NODE_ID:
        return
    township = origin.parent if origin.tier == "village" else origin.node_id
    if any(g.covers(case.item_code, tx.now) for g in tx.grants(township)):
        raise StateError(
            f"case {case.case_id}: item {case.item_code} ({case.item_name}) is delegated to "
            f"township {township}, which holds a grant for it; the township decides it",
            code="delegated_item")


def act(hub: Hub, case_id: str, action: Action, *, operator: str, reason: str = "",
        materials: Sequence[str] = (), department: str = "",
        favourable: bool | None = None, via: str = "local-admin") -> ActResult:
    """One operator action on one case: checked, signed, recorded.

    ``operator`` is the authenticated operator, and ``via`` how they were authenticated: the
    console's session (``console``), a personal token at the CLI (``token``), or nobody
    (``local-admin``: a shell on the hub, trusted as such and written so in the trail)."""
    if via not in VIA:
        raise UsageError(f"via {via!r}: one of {', '.join(VIA)}")
    reason = reason.strip()
    if action in _NEEDS_REASON and not reason:
        raise UsageError(f"'{action.value.replace('_', '-')}' needs a reason (--reason)",
                         code="reason_required")
    if action is Action.OPINION and favourable is None:
        raise UsageError("give --favourable or --unfavourable", code="opinion_required")
    with hub.store.transaction() as tx:
        case = tx.cases.get(case_id)
        if case is None:
            raise NotFoundError(f"case {case_id} is not at the hub; has its node synced? "
                                "('bianmin hub cases' lists what the hub holds)")
        who = _authorize(tx, operator, case, action, department)
        _check_deciding_tier(tx, case)
        out = _Writer(hub, tx, case, via)
        name, dept = who.name, who.department
        if (action in (Action.APPROVE, Action.REJECT) and case.accepted_at is None
                and (case.state, Action.ACCEPT) in TRANSITIONS):
            # 即办件: accepted and decided in one step
            out.emit(Accepted(case_id=case_id, operator=name, department=dept))
        match action:
            case Action.ACCEPT:
                out.emit(Accepted(case_id=case_id, operator=name, department=dept))
            case Action.NOT_ACCEPT:
                out.emit(NotAccepted(case_id=case_id, reason=reason, operator=name,
                                     department=dept))
            case Action.REQUEST_SUPPLEMENT:
                codes = _requested_materials(hub, tx, case, materials)
                out.emit(SupplementRequested(case_id=case_id, materials=codes, reason=reason,
                                             operator=name, department=dept))
            case Action.OPINION:
                assert favourable is not None
                out.emit(Opinion(case_id=case_id, department=dept, favourable=favourable,
                                 reason=reason, operator=name))
                if not favourable and len(case.departments) > 1:  # any unfavourable rejects
                    _decide(out, Outcome.REJECT, f"{dept}: {reason}", name, dept)
            case Action.APPROVE | Action.REJECT:
                if action is Action.APPROVE and len(case.departments) > 1:
                    _check_joint(tx, case)
                outcome = Outcome.APPROVE if action is Action.APPROVE else Outcome.REJECT
                _decide(out, outcome, reason, name, dept)
            case _:
                raise UsageError(f"'{action.value}' is not an operator action")
    return ActResult(case_id=case_id, state=out.case.state, records=tuple(out.records))


def _decide(out: _Writer, outcome: Outcome, reason: str, operator: str,
            department: str) -> Record:
    return out.emit(Decision(case_id=out.case.case_id, outcome=outcome, reason=reason,
                             operator=operator, department=department,
                             verification_code=verification_code()))


def _check_joint(tx: HubTransaction, case: Case) -> None:
    """并联审批: every department of the item must have given a favourable opinion."""
    opinions = tx.opinions_of(case.case_id)
    waiting = [d for d in case.departments if not opinions.get(d)]
    if waiting:
        raise StateError(f"case {case.case_id} is a joint item: waiting for a favourable "
                         f"opinion of {', '.join(waiting)} ('hub opinion')",
                         code="joint_approval_pending")


def _requested_materials(hub: Hub, tx: HubTransaction, case: Case,
                         materials: Sequence[str]) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(m.strip() for m in materials if m.strip()))
    if not codes:
        raise UsageError("name the materials needed (--material CODE, repeated)",
                         code="materials_required")
    try:
        item = hub.catalog_version(tx, case.catalog_version).catalog.item(case.item_code)
    except NotFoundError:
        item = hub.catalog_version(tx).catalog.item(case.item_code)
    known = {m.code for m in item.materials} if item else set()
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise UsageError(f"{', '.join(unknown)} is not a material of item {case.item_code}; its "
                         f"materials are: {', '.join(sorted(known))}", code="unknown_material")
    return codes


def decide(hub: Hub, case_id: str, *, outcome: Outcome, reason: str,
           operator: str, via: str = "local-admin") -> ActResult:
    """Approve or reject (accepting first if the case is only received: 即办件)."""
    action = Action.APPROVE if outcome is Outcome.APPROVE else Action.REJECT
    return act(hub, case_id, action, operator=operator, reason=reason, via=via)
