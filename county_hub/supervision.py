"""Electronic supervision (电子监察, DESIGN §7): deadlines, statistics, the audit trail.

Deadlines count working days (``node.kernel.deadlines``, with the calendar the county loaded)
from the hub's receipt in China Standard Time; supplement requests pause the clock until the
supplement arrives. The limits are the ones of the catalog version the case was taken under.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from county_hub.hub import Hub
from county_hub.store import HubReader
from node.kernel.catalog import Item
from node.kernel.clock import CST, from_ms
from node.kernel.deadlines import Calendar, Colour, DeadlineStatus, Pause, deadline_status
from node.kernel.errors import NotFoundError, UsageError
from node.kernel.identity import HUB_NODE_ID
from node.kernel.payloads import CalendarPublished
from node.kernel.projector import Case
from node.kernel.records import Record
from node.kernel.workflow import DECIDED, State

__all__ = [
    "GROUPINGS",
    "SILENT_AFTER",
    "CaseDeadline",
    "Standing",
    "case_deadline",
    "hub_calendar",
    "load_calendar",
    "node_views",
    "standings",
    "stats",
    "supervise",
    "trail",
]

GROUPINGS = ("item", "node", "department")
_URGENCY = {Colour.BREACH: 0, Colour.RED: 1, Colour.YELLOW: 2, Colour.ON_TIME: 3}
_SUPERVISED = frozenset({State.RECEIVED, State.ACCEPTED, State.IN_REVIEW,
                         State.SUPPLEMENT_REQUESTED, State.SUPPLEMENTED})


@dataclass(frozen=True, kw_only=True)
class CaseDeadline:
    case: Case
    status: DeadlineStatus
    promised_days: int
    statutory_days: int


def hub_calendar(reader: HubReader) -> Calendar:
    name, holidays, workdays = reader.calendar_days()
    return Calendar(name=name, holidays=frozenset(dt.date.fromisoformat(d) for d in holidays),
                    workdays=frozenset(dt.date.fromisoformat(d) for d in workdays))


def load_calendar(hub: Hub, calendar: Calendar) -> Record:
    """Put ``calendar`` in force at the county and sign it into the hub's log for every node
    (``CalendarPublished``): desks count their receipts' due dates in the same working days."""
    with hub.store.transaction() as tx:
        tx.replace_calendar(name=calendar.name,
                            holidays=sorted(d.isoformat() for d in calendar.holidays),
                            workdays=sorted(d.isoformat() for d in calendar.workdays))
        tx.add_trail(kind="CalendarLoaded",
                     detail=f"{calendar.name}: {len(calendar.holidays)} holidays, "
                            f"{len(calendar.workdays)} adjusted working days")
        return tx.seal_append(CalendarPublished.of(calendar), log_id=HUB_NODE_ID,
                              signer=hub.keys.records, clock=hub.clock)


def _day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(CST).date()


class _Limits:
    """Item limits by catalog version, read once per call."""

    def __init__(self, hub: Hub, reader: HubReader) -> None:
        self.hub, self.reader = hub, reader
        self._cache: dict[tuple[int, str], Item | None] = {}

    def item(self, case: Case) -> Item | None:
        return self.of(case.catalog_version, case.item_code)

    def of(self, version: int, code: str) -> Item | None:
        key = (version, code)
        if key not in self._cache:
            try:
                catalog = self.hub.catalog_version(self.reader, version).catalog
            except NotFoundError:
                catalog = self.hub.catalog_version(self.reader).catalog
            self._cache[key] = catalog.item(code)
        return self._cache[key]


def _deadline(case: Case, item: Item, pauses: list[tuple[dt.datetime, dt.datetime | None]],
              calendar: Calendar, as_of: dt.date, yellow_within: int) -> DeadlineStatus:
    return deadline_status(
        received=_day(case.received_at), as_of=as_of,
        pauses=[Pause(start=_day(s), end=None if e is None else _day(e)) for s, e in pauses],
        cal=calendar, promised_days=item.promised_days, statutory_days=item.statutory_days,
        yellow_within=yellow_within)


def supervise(hub: Hub, *, as_of: dt.date, yellow_within: int = 2) -> list[CaseDeadline]:
    """Open cases, most urgent first: statutory breach, red, yellow, then by days left."""
    with hub.store.reading() as r:
        calendar = hub_calendar(r)
        cases = [c for c in r.cases.list() if c.state in _SUPERVISED]
        pauses = r.pauses_of([c.case_id for c in cases])
        limits = _Limits(hub, r)
        found = []
        # cases received the same day under the same limits, unpaused, stand the same: the
        # queue of a county with ten thousand open cases counts each such group once
        known: dict[tuple[dt.date, int, int], DeadlineStatus] = {}
        for case in cases:
            item = limits.item(case)
            if item is None:
                continue
            spans = pauses.get(case.case_id, [])
            key = (_day(case.received_at), item.promised_days, item.statutory_days)
            status = known.get(key) if not spans else None
            if status is None:
                status = _deadline(case, item, spans, calendar, as_of, yellow_within)
                if not spans:
                    known[key] = status
            found.append(CaseDeadline(case=case, status=status,
                                      promised_days=item.promised_days,
                                      statutory_days=item.statutory_days))
    return sorted(found, key=lambda d: (_URGENCY[d.status.colour], d.status.promised_left,
                                        d.case.received_at))


class Standing(NamedTuple):
    """Where one open case stands against its limits, without the rest of the case: what a
    queue of ten thousand open cases sorts, before it reads the fifty it shows (a tuple: ten
    thousand of them are made per page)."""

    case_id: str
    received_ms: int
    status: DeadlineStatus
    promised_days: int
    statutory_days: int


_DAY_MS = 86_400_000
_CST_MS = 8 * 3_600_000


def standings(hub: Hub, *, as_of: dt.date, department: str | None = None,
              yellow_within: int = 2) -> list[Standing]:
    """The open cases (of ``department``, if given), most urgent first -- the order of
    ``supervise`` -- read from five columns of the case view."""
    with hub.store.reading() as r:
        calendar = hub_calendar(r)
        rows = r.open_case_keys([s.value for s in _SUPERVISED], department)
        pauses = r.pauses_of()
        limits = _Limits(hub, r)
        known: dict[tuple[int, int, int], DeadlineStatus] = {}
        found = []
        for case_id, item_code, version, departments, received_ms in rows:
            if department is not None and department not in departments.split(","):
                continue  # the query's LIKE matched a longer name
            item = limits.of(version, item_code)
            if item is None:
                continue
            spans = pauses.get(case_id)
            key = ((received_ms + _CST_MS) // _DAY_MS, item.promised_days, item.statutory_days)
            status = None if spans else known.get(key)
            if status is None:
                status = deadline_status(
                    received=_day(from_ms(received_ms)), as_of=as_of,
                    pauses=[Pause(start=_day(s), end=None if e is None else _day(e))
                            for s, e in spans or []],
                    cal=calendar, promised_days=item.promised_days,
                    statutory_days=item.statutory_days, yellow_within=yellow_within)
                if not spans:
                    known[key] = status
            found.append(Standing(case_id, received_ms, status, item.promised_days,
                                  item.statutory_days))
    return sorted(found, key=lambda d: (_URGENCY[d.status.colour], d.status.promised_left,
                                        d.received_ms))


SILENT_AFTER = dt.timedelta(days=2)


def node_views(hub: Hub) -> list[dict[str, object]]:
    """Every enrolled node: last heartbeat, head, what the hub holds, backlog, the records
    missing, silence, clock skew, revocation, open alarms (``hub nodes``, the console)."""
    now = hub.clock.now()
    views: list[dict[str, object]] = []
    with hub.store.reading() as reader:
        for r in reader.list_nodes():
            synced = reader.head(r.node_id).seq
            views.append({
                "node_id": r.node_id, "tier": r.tier, "name": r.name, "parent": r.parent,
                "enrolled_at": r.enrolled_at, "last_seen": r.last_seen,
                "last_heartbeat": r.heartbeat_at, "head_seq": r.claimed_seq,
                "synced_seq": synced, "backlog": max(0, r.claimed_seq - synced),
                "missing": ([synced + 1, r.claimed_seq] if r.claimed_seq > synced else None),
                "silent": r.heartbeat_at is None or now - r.heartbeat_at > SILENT_AFTER,
                "clock_skew_s": r.clock_skew_s,
                "clock_flagged": r.clock_skew_s is not None and abs(
                    r.clock_skew_s) > hub.config.clock_skew_threshold_s,
                "revoked": reader.revocation(r.node_id) is not None,
                "open_alarms": len(reader.open_alarms(node_id=r.node_id)),
            })
    return views


def case_deadline(hub: Hub, case: Case, *, as_of: dt.date,
                  yellow_within: int = 2) -> CaseDeadline | None:
    """One case's standing against its limits (None: its item is in no catalog held)."""
    with hub.store.reading() as r:
        item = _Limits(hub, r).item(case)
        if item is None:
            return None
        status = _deadline(case, item, r.pauses_of([case.case_id]).get(case.case_id, []),
                           hub_calendar(r), as_of, yellow_within)
    return CaseDeadline(case=case, status=status, promised_days=item.promised_days,
                        statutory_days=item.statutory_days)


def _key(case: Case, by: str) -> str:
    if by == "item":
        return f"{case.item_code} {case.item_name}"
    if by == "node":
        return case.origin
    return case.departments[0] if case.departments else "?"


def stats(hub: Hub, *, since: dt.date | None, until: dt.date | None,
          by: str = "item", only: Callable[[Case], bool] | None = None,
          ) -> list[dict[str, object]]:
    """Per item, node or department, over cases received in ``[since, until]`` (and for
    which ``only`` holds): received, accepted, concluded, approved, rejected, on-time rate and
    average working days of the decided ones, supplements asked for."""
    if by not in GROUPINGS:
        raise UsageError(f"--by {by!r}: choose one of {', '.join(GROUPINGS)}")
    with hub.store.reading() as r:
        calendar = hub_calendar(r)
        cases = [c for c in r.cases.list()
                 if (since is None or _day(c.received_at) >= since)
                 and (until is None or _day(c.received_at) <= until)
                 and (only is None or only(c))]
        pauses = r.pauses_of([c.case_id for c in cases])
        limits = _Limits(hub, r)
        groups: dict[str, dict[str, float]] = {}
        for case in cases:
            g = groups.setdefault(_key(case, by), dict.fromkeys(
                ("received", "accepted", "concluded", "approved", "rejected", "not_accepted",
                 "withdrawn", "decided", "on_time", "working_days", "supplements"), 0))
            g["received"] += 1
            g["accepted"] += case.accepted_at is not None
            g["concluded"] += case.concluded_at is not None
            g["withdrawn"] += case.state == State.WITHDRAWN
            g["supplements"] += case.supplements
            if case.outcome:
                g[case.outcome] += 1
            item = limits.item(case)
            if case.decided_at is not None and item is not None and State(
                    case.outcome or case.state) in DECIDED:
                status = _deadline(case, item, pauses.get(case.case_id, []), calendar,
                                   _day(case.decided_at), 2)
                g["decided"] += 1
                g["on_time"] += status.elapsed <= item.promised_days
                g["working_days"] += status.elapsed
    rows: list[dict[str, object]] = []
    for key in sorted(groups):
        g = groups[key]
        decided = int(g["decided"])
        rows.append({
            by: key,
            **{k: int(g[k]) for k in ("received", "accepted", "concluded", "approved",
                                      "rejected", "not_accepted", "withdrawn", "supplements")},
            "on_time_rate": round(g["on_time"] / decided, 3) if decided else None,
            "average_working_days": round(g["working_days"] / decided, 1) if decided else None,
        })
    return rows


def trail(hub: Hub, *, case_id: str | None = None, node_id: str | None = None,
          operator: str | None = None, since: dt.date | None = None,
          until: dt.date | None = None) -> list[dict[str, object]]:
    """Every operator action, node action, refusal and alarm, oldest first, filtered."""
    start = None if since is None else dt.datetime.combine(since, dt.time(), CST)
    end = None if until is None else dt.datetime.combine(until + dt.timedelta(days=1),
                                                         dt.time(), CST)
    with hub.store.reading() as r:
        rows = r.trail_rows(case_id=case_id, node_id=node_id, operator=operator,
                            since=start, until=end)
        if operator is None and case_id is None:
            rows += [_refusal(e) for e in r.recent_evidence(10_000)
                     if node_id in (None, e["log_id"], e["peer"])]
            rows += [_alarm(a.__dict__) for a in r.open_alarms(include_resolved=True)
                     if node_id in (None, a.node_id, a.peer)]
    rows = [r for r in rows if _within(r["at"], start, end)]
    return sorted(rows, key=lambda r: r["at"])  # type: ignore[arg-type, return-value]


def _within(at: object, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    assert isinstance(at, dt.datetime)
    return (start is None or at >= start) and (end is None or at < end)


def _refusal(e: dict[str, object]) -> dict[str, object]:
    return {"at": e["received_at"], "kind": f"Refused:{e['reason_code']}", "case_id": "",
            "node_id": e["log_id"], "operator": "", "detail": f"from {e['peer']}: {e['message']}",
            "record": f"{e['log_id']}#{e['seq']}", "via": ""}


def _alarm(a: dict[str, object]) -> dict[str, object]:
    resolved = f" -- resolved by {a['resolved_by']}: {a['resolution']}" if a["resolved_at"] else ""
    return {"at": a["raised_at"], "kind": f"Alarm:{a['kind']}", "case_id": "",
            "node_id": a["node_id"], "operator": a["resolved_by"] or "",
            "detail": f"#{a['id']} {a['message']}{resolved}", "record": "", "via": ""}


