"""What the console shows, and to whom (issue 11). Permissions are here, in one place, as
Django's admin keeps them (``has_view_permission`` and friends):

* ``clerk`` and ``head`` (operators) see and act on the cases of their own department only;
  a case of another department does not exist for them (not found, not "forbidden": not even
  its number is confirmed);
* ``supervisor`` sees every case, the statistics, the trail, alarms and nodes, and acts on
  none;
* ``admin`` (county IT) manages accounts and sees nodes, alarms and refusals, and no case;
* the public status lookup needs the case number and its code, and tells the state and the
  result with the applicant's name masked -- nothing else.

Every action is ``county_hub.workflow.act``, the CLI's, with the authenticated operator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from county_hub.hub import Hub
from county_hub.store import OperatorRow
from county_hub.supervision import CaseDeadline, case_deadline, standings, supervise
from node.kernel.catalog import Item
from node.kernel.clock import CST
from node.kernel.deadlines import Colour
from node.kernel.errors import NotFoundError
from node.kernel.payloads import (
    CaseSubmitted,
    Decision,
    MaterialRef,
    NotAccepted,
    Outcome,
    Supplemented,
)
from node.kernel.projector import Case
from node.kernel.records import Record
from node.kernel.slip import codes_match, receipt_code
from node.kernel.workflow import TRANSITIONS, Action, State

__all__ = ["ACTIONS", "CAN", "CaseView", "Page", "acts_on", "case_view", "item_of", "lookup",
           "may", "queue", "search", "sees", "sees_stats", "supervise_all"]

OPERATORS = frozenset({"clerk", "head"})
# what each role may open: the pages' guard asks this table and nothing else
CAN: dict[str, frozenset[str]] = {
    "queue": OPERATORS,
    "cases": OPERATORS | {"supervisor"},
    "act": OPERATORS,
    "supervision": frozenset({"supervisor", "head"}),
    "trail": frozenset({"supervisor"}),
    "alarms": frozenset({"supervisor", "admin"}),
    "nodes": frozenset({"supervisor", "admin"}),
    "accounts": frozenset({"admin"}),
}
# the operator actions a case page offers, in the workflow table's order
ACTIONS = (Action.ACCEPT, Action.REQUEST_SUPPLEMENT, Action.OPINION, Action.APPROVE,
           Action.REJECT, Action.NOT_ACCEPT)
_URGENCY = {Colour.BREACH: 0, Colour.RED: 1, Colour.YELLOW: 2, Colour.ON_TIME: 3}
PER_PAGE = 50


def sees_stats(operator: OperatorRow, case: Case) -> bool:
    """Whose cases count in the statistics one sees: a supervisor's, every case; a head's,
    their department's."""
    return operator.role == "supervisor" or (
        operator.role == "head" and operator.department in case.departments)


def supervise_all(hub: Hub) -> list[CaseDeadline]:
    return supervise(hub, as_of=today(hub))


def item_of(hub: Hub, case: Case) -> Item | None:
    """The catalog item of a case, as the version it was taken under says it."""
    with hub.store.reading() as r:
        try:
            catalog = hub.catalog_version(r, case.catalog_version or None).catalog
        except NotFoundError:
            catalog = hub.catalog_version(r).catalog
    return catalog.item(case.item_code)


def sees(operator: OperatorRow, case: Case) -> bool:
    if not operator.active:
        return False
    if operator.role == "supervisor":
        return True
    return operator.role in OPERATORS and operator.department in case.departments


def acts_on(operator: OperatorRow, case: Case) -> bool:
    return operator.active and operator.role in OPERATORS \
        and operator.department in case.departments


def may(operator: OperatorRow, case: Case, action: Action) -> bool:
    """Whether the case page offers ``action``: the workflow table allows it in the case's
    state, the operator acts on the case, and (opinions) the item is a joint one."""
    if not acts_on(operator, case) or (case.state, action) not in TRANSITIONS:
        return False
    if action is Action.OPINION:
        return len(case.departments) > 1
    if action in (Action.ACCEPT, Action.APPROVE, Action.REJECT):  # workflow rule 3
        return case.complete or case.accepted_at is not None
    return True


@dataclass(frozen=True, kw_only=True)
class Page:
    rows: list[CaseDeadline]
    page: int
    pages: int
    total: int
    counts: dict[str, int]


def _paged(rows: list[CaseDeadline], page: int, counts: dict[str, int]) -> Page:
    pages = max(1, -(-len(rows) // PER_PAGE))
    page = min(max(1, page), pages)
    return Page(rows=rows[(page - 1) * PER_PAGE: page * PER_PAGE], page=page, pages=pages,
                total=len(rows), counts=counts)


def today(hub: Hub) -> dt.date:
    return hub.clock.now().astimezone(CST).date()


def queue(hub: Hub, operator: OperatorRow, *, colour: str = "", page: int = 1) -> Page:
    """My queue: the open cases of my department, most urgent first (statutory breach, red,
    yellow, on time), with the count of each colour. The order is read from a few columns of
    every open case; whole cases only for the page shown."""
    if operator.role == "supervisor":
        mine = standings(hub, as_of=today(hub))
    elif operator.active and operator.role in OPERATORS:
        mine = standings(hub, as_of=today(hub), department=operator.department)
    else:
        mine = []
    counts = {c.value: 0 for c in _URGENCY}
    for d in mine:
        counts[d.status.colour.value] += 1
    if colour:
        mine = [d for d in mine if d.status.colour.value == colour]
    pages = max(1, -(-len(mine) // PER_PAGE))
    page = min(max(1, page), pages)
    shown = mine[(page - 1) * PER_PAGE: page * PER_PAGE]
    with hub.store.reading() as r:
        cases = r.cases.get_many([d.case_id for d in shown])
    rows = [CaseDeadline(case=cases[d.case_id], status=d.status, promised_days=d.promised_days,
                         statutory_days=d.statutory_days)
            for d in shown if d.case_id in cases and sees(operator, cases[d.case_id])]
    return Page(rows=rows, page=page, pages=pages, total=len(mine), counts=counts)


def search(hub: Hub, operator: OperatorRow, *, query: str, state: str = "",
           page: int = 1) -> tuple[list[Case], int, int, int]:
    """Every case the operator sees, by case number, name, last digits of the ID or item."""
    q = query.strip()
    with hub.store.reading() as r:
        cases = [c for c in r.cases.list(state=state or None) if sees(operator, c)]
    if q:
        upper = q.upper()
        cases = [c for c in cases if upper in c.case_id or q in c.applicant_name
                 or (len(q) >= 4 and c.applicant_id.endswith(upper))
                 or upper == c.item_code or q in c.item_name]
    cases.sort(key=lambda c: c.received_at, reverse=True)
    pages = max(1, -(-len(cases) // PER_PAGE))
    page = min(max(1, page), pages)
    return cases[(page - 1) * PER_PAGE: page * PER_PAGE], page, pages, len(cases)


@dataclass(frozen=True, kw_only=True)
class CaseView:
    case: Case
    history: list[Record]
    trail: list[dict[str, object]]
    opinions: dict[str, bool]
    deadline: CaseDeadline | None
    materials: list[tuple[MaterialRef, Record, bool]]  # the ref, its record, held here
    fields: tuple[tuple[str, str], ...]
    receipt_code: str


def case_view(hub: Hub, operator: OperatorRow, case_id: str) -> CaseView:
    """Everything about a case the operator sees, or not found."""
    from county_hub.blobs import DbBlobStore  # noqa: PLC0415

    with hub.store.reading() as r:
        case = r.cases.get(case_id)
        if case is None or not sees(operator, case):
            raise NotFoundError(f"case {case_id} is not here, or not for you to see")
        history = r.case_history(case_id)
        trail = r.trail_rows(case_id=case_id)
        opinions = r.opinions_of(case_id)
    materials: list[tuple[MaterialRef, Record, bool]] = []
    fields: tuple[tuple[str, str], ...] = ()
    code = ""
    wanted = [m.sha256 for rec in history
              if isinstance(rec.payload, CaseSubmitted | Supplemented)
              for m in rec.payload.materials if m.sha256]
    held = DbBlobStore(hub.store.db, hub.clock).complete(wanted) if wanted else set()
    for rec in history:
        if isinstance(rec.payload, CaseSubmitted):
            fields = rec.payload.fields
            code = receipt_code(rec.signature)
        if isinstance(rec.payload, CaseSubmitted | Supplemented):
            materials += [(m, rec, m.sha256 in held) for m in rec.payload.materials]
    return CaseView(case=case, history=history, trail=trail, opinions=opinions,
                    deadline=case_deadline(hub, case, as_of=today(hub)), materials=materials,
                    fields=fields, receipt_code=code)


def scan(hub: Hub, operator: OperatorRow, case_id: str, sha256_hex: str,
         ) -> tuple[MaterialRef, bytes]:
    """A scan of a case the operator sees (by its hash, as the signed record names it)."""
    from county_hub.blobs import DbBlobStore  # noqa: PLC0415

    view = case_view(hub, operator, case_id)
    found = next((m for m, _r, here in view.materials
                  if here and m.sha256.hex() == sha256_hex), None)
    if found is None:
        raise NotFoundError("这份扫描件不在县里（可能还在上传）")
    data = b"".join(DbBlobStore(hub.store.db, hub.clock).read_all(found.sha256))
    return found, data


# -- the public status lookup (办件查询) ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Lookup:
    case_id: str
    item_name: str
    applicant: str  # masked
    state: str
    received_at: dt.datetime
    outcome: str  # "", approve, reject, not_accepted
    decided_at: dt.datetime | None
    concluded: bool


def lookup(hub: Hub, case_id: str, code: str) -> Lookup:
    """The state and result of a case, for anyone holding its number and a code printed for
    the applicant (the receipt's, or a decision's verification code)."""
    from node.web.labels import masked_name  # noqa: PLC0415

    refused = NotFoundError("没有查到：请核对受理编号和查询码（或验证码）")
    with hub.store.reading() as r:
        case = r.cases.get(case_id.strip().upper())
        history = r.case_history(case.case_id) if case is not None else []
    if case is None:
        raise refused
    codes = [receipt_code(rec.signature) for rec in history
             if isinstance(rec.payload, CaseSubmitted)]
    codes += [rec.payload.verification_code for rec in history
              if isinstance(rec.payload, Decision)]
    if not codes_match(code, *codes):
        raise refused
    decided = [rec.payload for rec in history if isinstance(rec.payload, Decision | NotAccepted)]
    last = decided[-1] if decided else None
    outcome = ("" if last is None else "not_accepted" if isinstance(last, NotAccepted)
               else "approve" if last.outcome is Outcome.APPROVE else "reject")
    return Lookup(case_id=case.case_id, item_name=case.item_name,
                  applicant=masked_name(case.applicant_name), state=case.state.value,
                  received_at=case.received_at, outcome=outcome, decided_at=case.decided_at,
                  concluded=case.state is State.CONCLUDED)
