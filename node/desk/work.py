"""What the desk's pages show, read from the node (issue 11): the catalog by category, the
cases found by a search, a case's timeline in Chinese, the receipt and result slip as
``Slip`` values, the duplicate check. Pure reads over ``NodeService``; every write is one of
its actions, called by ``node.desk.pages``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from node.desk.dates import HeldCalendar, calendar_in_force, item_dates
from node.desk.slips import Slip
from node.kernel.catalog import Catalog, Item
from node.kernel.clock import CST
from node.kernel.errors import NotFoundError
from node.kernel.payloads import (
    Accepted,
    ActionRefused,
    CaseSubmitted,
    Concluded,
    Decision,
    DecisionConfirmed,
    NotAccepted,
    Opinion,
    Outcome,
    PreReviewed,
    Supplemented,
    SupplementRequested,
    Withdrawn,
)
from node.kernel.projector import Case
from node.kernel.records import Record
from node.kernel.slip import receipt_code
from node.kernel.workflow import OPEN, TRANSITIONS, Action
from node.service import NodeService, latest_catalog
from node.web.labels import masked_id, masked_name, when, when_day

# the desk's own queries read the node's SQLite file through the store's reader (reads only:
# every write is a NodeService action)

__all__ = ["Found", "TimelineEntry", "catalog_of", "categories", "describe", "find_cases",
           "item_of", "open_duplicates", "receipt", "result_slip", "timeline"]

PAGE = 20


def catalog_of(service: NodeService) -> tuple[Catalog, int]:
    with service.store.reading() as r:
        _record, published = latest_catalog(r)
    return published.catalog, published.version


def item_of(service: NodeService, code: str) -> Item:
    catalog, _v = catalog_of(service)
    item = catalog.item(code)
    if item is None:
        raise NotFoundError(f"item {code!r} is not in the catalog this node holds")
    return item


def categories(catalog: Catalog, tier: str, query: str = "",
               ) -> list[tuple[str, list[Item]]]:
    """Items this tier may take, by category (the item's first department), searched by name
    or code."""
    q = query.strip().lower()
    groups: dict[str, list[Item]] = {}
    for item in catalog.items:
        if tier not in item.accept_at:
            continue
        if q and q not in item.name.lower() and q not in item.code.lower() \
                and q not in item.name_en.lower():
            continue
        groups.setdefault(item.departments[0], []).append(item)
    return sorted(groups.items())


@dataclass(frozen=True, kw_only=True)
class Found:
    cases: list[Case]
    page: int
    pages: int
    total: int


def find_cases(service: NodeService, *, query: str = "", state: str = "", page: int = 1,
               per_page: int = PAGE) -> Found:
    """Cases by a search of the name, the last digits of the ID or the case number, newest
    first, a page at a time."""
    q = query.strip()
    cases = service.cases(state or None)
    if q:
        upper = q.upper()
        cases = [c for c in cases if upper in c.case_id or q in c.applicant_name
                 or (len(q) >= 4 and c.applicant_id.endswith(upper))]
    cases.sort(key=lambda c: (c.submitted_at, c.case_id), reverse=True)
    pages = max(1, -(-len(cases) // per_page))
    page = min(max(1, page), pages)
    return Found(cases=cases[(page - 1) * per_page: page * per_page], page=page, pages=pages,
                 total=len(cases))


def open_duplicates(service: NodeService, *, id_number: str, item_code: str) -> list[Case]:
    """Open cases of the same person for the same item (a warning at intake, not a refusal)."""
    with service.store.reading() as r:
        t = r.t.cases
        rows = r.conn.execute(select(t.c.case_id).where(
            t.c.applicant_id == id_number, t.c.item_code == item_code,
            t.c.state.in_([s.value for s in OPEN]))).all()
        found = [r.cases.get(row.case_id) for row in rows]
    return [c for c in found if c is not None]


def counts(service: NodeService, day: dt.date) -> tuple[int, int]:
    """Cases this desk took on ``day``, and all the cases it holds."""
    start = dt.datetime.combine(day, dt.time(), CST)
    with service.store.reading() as r:
        t = r.t.cases
        today = r.conn.execute(select(func.count()).select_from(t).where(
            t.c.origin_node == service.node_id,
            t.c.submitted_at_ms >= int(start.timestamp() * 1000),
            t.c.submitted_at_ms < int((start + dt.timedelta(days=1)).timestamp() * 1000),
        )).scalar() or 0
        return int(today), r.cases.count()


def waiting_upload(service: NodeService, synced_seq: int) -> int:
    """Cases of this node with records not yet acknowledged upstream (the status line)."""
    with service.store.reading() as r:
        t = r.t.cases
        return int(r.conn.execute(select(func.count()).select_from(t).where(
            t.c.origin_node == service.node_id, t.c.last_own_seq > synced_seq)).scalar() or 0)


def may(case: Case, action: Action) -> bool:
    """Whether the workflow table allows ``action`` on the case now (the page offers it)."""
    return (case.state, action) in TRANSITIONS


@dataclass(frozen=True, kw_only=True)
class TimelineEntry:
    at: dt.datetime
    who: str
    what: str
    detail: str


def _names(item: Item | None, codes: Sequence[str]) -> str:
    if item is None:
        return "、".join(codes)
    return "、".join((m.name if (m := item.material(c)) else c) for c in codes)


def describe(record: Record, item: Item | None) -> tuple[str, str]:
    """A record as a line of the timeline: what happened, and its detail, in Chinese."""
    p = record.payload
    match p:
        case CaseSubmitted():
            scans = sum(1 for m in p.materials if m.scanned)
            return "受理申请", f"材料 {len(p.materials)} 项（扫描件 {scans} 份）"
        case PreReviewed():
            return "预审", "材料齐全" if p.complete else f"缺少：{_names(item, p.missing)}"
        case Supplemented():
            state = "材料已齐全" if p.complete else f"仍缺：{_names(item, p.missing)}"
            return "补齐补正", f"{_names(item, [m.code for m in p.materials])}；{state}"
        case Withdrawn():
            return "撤回", p.reason
        case Concluded():
            return "办结（结果已交给申请人）", p.note
        case Accepted():
            return "县里受理", f"{p.department} {p.operator}"
        case NotAccepted():
            return "不予受理", f"{p.reason}（{p.department} {p.operator}）"
        case SupplementRequested():
            return "补正告知", f"请补交：{_names(item, p.materials)}。{p.reason}（{p.department}）"
        case Opinion():
            verdict = "同意" if p.favourable else "不同意"
            return "部门意见", f"{p.department}：{verdict}。{p.reason}"
        case Decision():
            verdict = "准予许可" if p.outcome is Outcome.APPROVE else "不予许可"
            who = p.department or record.log_id
            return f"审批决定：{verdict}", f"{p.reason}（{who} {p.operator}）"
        case DecisionConfirmed():
            return "县里确认乡镇的决定", ""
        case ActionRefused():
            return "操作未被接受", p.reason
    return type(p).__name__, ""


def _writer(record: Record, service: NodeService) -> str:
    if record.log_id == service.node_id:
        return service.config.name
    if record.log_id == "HUB":
        return "县里"
    return f"乡镇 {record.log_id}" if record.log_id.startswith("T") else record.log_id


def timeline(service: NodeService, history: Sequence[Record], item: Item | None,
             ) -> list[TimelineEntry]:
    out = []
    for record in history:
        what, detail = describe(record, item)
        out.append(TimelineEntry(at=record.header.recorded_at, who=_writer(record, service),
                                 what=what, detail=detail))
    return out


def _submission(history: Sequence[Record]) -> Record:
    found = next((r for r in history if isinstance(r.payload, CaseSubmitted)), None)
    if found is None:
        raise NotFoundError("this case's submission is not at this node")
    return found


def receipt(service: NodeService, case: Case, history: Sequence[Record]) -> Slip:
    """The 受理回执 of a case: what was taken, what is missing, when it is due."""
    submitted = _submission(history)
    item = item_of(service, case.item_code)
    assert isinstance(submitted.payload, CaseSubmitted)
    with service.store.reading() as r:
        held = calendar_in_force(r)
    dates = item_dates(item, submitted.header.recorded_at, held)
    presented = [m.code for r in history if isinstance(r.payload, CaseSubmitted | Supplemented)
                 for m in r.payload.materials]
    rows = [
        ("受理站点", service.config.name),
        ("办理事项", f"{item.name}（{item.code}）"),
        ("申请人", f"{masked_name(case.applicant_name)}　身份证 {masked_id(case.applicant_id)}"),
        ("受理时间", when(submitted.header.recorded_at)),
        ("已交材料", _names(item, list(dict.fromkeys(presented))) or "无"),
        ("预审结果", "材料齐全" if not case.missing else "材料不齐"),
    ]
    if case.missing:
        rows.append(("请补交", _names(item, case.missing)))
    rows += [
        ("承诺时限", f"{item.promised_days} 个工作日，预计 {when_day(dates.promised_due)} 前办结"),
        ("法定时限", f"{item.statutory_days} 个工作日，最迟 {when_day(dates.statutory_due)}"),
        ("办理部门", "、".join(item.departments)),
        ("收费", "免费" if not item.fee_yuan else f"{item.fee_yuan} 元"),
    ]
    notes = (
        _dates_note(held),
        "凭受理编号和查询码可在本站或县政务服务中心“办件查询”页面查询办理进度。",
        "结果出来后，本站会通知您来取；取结果时请带上本回执和身份证。",
    )
    return Slip(title="受理回执", station=service.config.name, case_id=case.case_id,
                code_label="查询码", code=receipt_code(submitted.signature), rows=tuple(rows),
                notes=notes)


def _dates_note(held: HeldCalendar) -> str:
    return (f"时限按工作日计算（{held.label}），自县里收到申请之日起计算，"
            "补正期间暂停计时；以上日期为本站按今天推算的预计日期。")


def decision_of(history: Sequence[Record]) -> Record | None:
    """The decision in force: the last one (a township's, until refused, or the county's)."""
    refused = {(p.refused_log_id, p.refused_seq) for r in history
               if isinstance(p := r.payload, ActionRefused)}
    found = [r for r in history if isinstance(r.payload, Decision | NotAccepted)
             and (r.log_id, r.seq) not in refused]
    return found[-1] if found else None


def result_slip(service: NodeService, case: Case, history: Sequence[Record]) -> Slip:
    """The 办结结果单: the decision, its verification code, the hand-over."""
    decided = decision_of(history)
    if decided is None:
        raise NotFoundError(f"case {case.case_id} has no decision yet: there is no result "
                            "slip to print")
    item = item_of(service, case.item_code)
    p = decided.payload
    if isinstance(p, Decision):
        verdict = "准予许可" if p.outcome is Outcome.APPROVE else "不予许可"
        code, who = p.verification_code, p.department or decided.log_id
    else:
        assert isinstance(p, NotAccepted)
        verdict, code, who = "不予受理", "", p.department
    concluded = next((r for r in history if isinstance(r.payload, Concluded)), None)
    rows = (
        ("办理事项", f"{item.name}（{item.code}）"),
        ("申请人", f"{masked_name(case.applicant_name)}　身份证 {masked_id(case.applicant_id)}"),
        ("办理结果", verdict),
        ("理由", p.reason),
        ("决定机关", who),
        ("决定时间", when(decided.header.recorded_at)),
        ("办结时间", when(concluded.header.recorded_at) if concluded else "（尚未交付）"),
        ("交付站点", service.config.name),
    )
    if not code:
        submitted = _submission(history)
        code = receipt_code(submitted.signature)
    notes = ("本结果单所载决定为县（乡镇）审批机关签名的记录；凭受理编号和验证码可查询核验。",
             "如对决定不服，可依法申请行政复议或提起行政诉讼。")
    return Slip(title="办结结果单", station=service.config.name, case_id=case.case_id,
                code_label="验证码", code=code, rows=rows, notes=notes)


def today(service: NodeService) -> dt.date:
    return service.clock.now().astimezone(CST).date()
