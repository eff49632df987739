"""The hub's database: shared record tables plus nodes, tokens and the county's case view.

Every method takes the caller's connection, so one ingest batch -- records, case rows, head --
commits or rolls back as a whole. Only portable SQLAlchemy Core is used (SQLite and
PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Table, func, insert, select, update

from county_hub.schema import (
    HubAlarm,
    HubCalendarDay,
    HubCase,
    HubCasePause,
    HubCaseRecord,
    HubCertificate,
    HubEvidence,
    HubLogHead,
    HubNode,
    HubOperator,
    HubOpinion,
    HubRecord,
    HubRevocation,
    HubSetting,
    HubToken,
    HubTrail,
)
from node.db import Database
from node.ingest import Claim
from node.kernel.clock import from_ms, to_ms
from node.kernel.errors import NotFoundError
from node.kernel.records import Record
from node.schema import table_of
from node.store import LogStore

__all__ = ["HubCaseView", "HubStore", "NodeRow", "OperatorRow", "TokenRow"]


@dataclass(frozen=True, kw_only=True)
class TokenRow:
    node_id: str
    tier: str
    name: str
    parent: str
    expires_at: dt.datetime
    used_at: dt.datetime | None


@dataclass(frozen=True, kw_only=True)
class NodeRow:
    node_id: str
    tier: str
    name: str
    parent: str
    enrolled_at: dt.datetime
    last_seen: dt.datetime | None
    heartbeat_at: dt.datetime | None = None
    claimed_seq: int = 0
    clock_skew_s: float | None = None  # node clock minus hub clock at the last heartbeat


@dataclass(frozen=True, kw_only=True)
class OperatorRow:
    name: str
    department: str
    role: str
    active: bool


@dataclass(frozen=True, kw_only=True)
class HubCaseView:
    case_id: str
    origin_node: str
    item_code: str
    item_name: str
    decided_by: str
    departments: tuple[str, ...]
    applicant_name: str
    applicant_id: str
    state: str
    complete: bool
    missing: tuple[str, ...]
    reason: str
    operator: str
    department: str
    catalog_version: int
    submitted_at: dt.datetime
    received_at: dt.datetime
    decided_at: dt.datetime | None
    flags: tuple[str, ...]
    accepted_at: dt.datetime | None
    concluded_at: dt.datetime | None
    supplements: int
    requested: tuple[str, ...]
    outcome: str


class HubStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.logs = LogStore(records=table_of(HubRecord), heads=table_of(HubLogHead),
                             certificates=table_of(HubCertificate),
                             case_records=table_of(HubCaseRecord),
                             evidence=table_of(HubEvidence), alarms=table_of(HubAlarm),
                             revocations=table_of(HubRevocation))
        self.nodes: Table = table_of(HubNode)
        self.tokens: Table = table_of(HubToken)
        self.cases: Table = table_of(HubCase)
        self.operators: Table = table_of(HubOperator)
        self.pauses: Table = table_of(HubCasePause)
        self.opinions: Table = table_of(HubOpinion)
        self.trail: Table = table_of(HubTrail)
        self.calendar: Table = table_of(HubCalendarDay)
        self.settings: Table = table_of(HubSetting)

    # -- tokens and nodes -----------------------------------------------------------------------

    def add_token(self, conn: Connection, *, token_hash: str, node_id: str, tier: str,
                  name: str, parent: str, now: dt.datetime, expires_at: dt.datetime) -> None:
        conn.execute(insert(self.tokens).values(
            token_hash=token_hash, node_id=node_id, tier=tier, name=name, parent=parent,
            created_at_ms=to_ms(now), expires_at_ms=to_ms(expires_at)))

    def token(self, conn: Connection, token_hash: str) -> TokenRow | None:
        row = conn.execute(select(self.tokens).where(self.tokens.c.token_hash == token_hash)
                           ).first()
        if row is None:
            return None
        return TokenRow(node_id=row.node_id, tier=row.tier, name=row.name, parent=row.parent,
                        expires_at=from_ms(row.expires_at_ms),
                        used_at=None if row.used_at_ms is None else from_ms(row.used_at_ms))

    def use_token(self, conn: Connection, token_hash: str, now: dt.datetime) -> bool:
        """Mark a token used; False if another enrolment used it first."""
        done = conn.execute(update(self.tokens)
                            .where(self.tokens.c.token_hash == token_hash,
                                   self.tokens.c.used_at_ms.is_(None))
                            .values(used_at_ms=to_ms(now)))
        return done.rowcount == 1

    def node(self, conn: Connection, node_id: str) -> NodeRow | None:
        row = conn.execute(select(self.nodes).where(self.nodes.c.node_id == node_id)).first()
        if row is None:
            return None
        beat = row.heartbeat_at_ms
        return NodeRow(node_id=row.node_id, tier=row.tier, name=row.name, parent=row.parent,
                       enrolled_at=from_ms(row.enrolled_at_ms),
                       last_seen=None if row.last_seen_ms is None else from_ms(row.last_seen_ms),
                       heartbeat_at=None if beat is None else from_ms(beat),
                       claimed_seq=row.claimed_seq,
                       clock_skew_s=None if beat is None or row.heartbeat_sent_ms is None
                       else (row.heartbeat_sent_ms - beat) / 1000)

    def add_node(self, conn: Connection, *, node_id: str, tier: str, name: str, parent: str,
                 tls_fingerprint: str, now: dt.datetime) -> None:
        conn.execute(insert(self.nodes).values(
            node_id=node_id, tier=tier, name=name, parent=parent,
            tls_fingerprint=tls_fingerprint, enrolled_at_ms=to_ms(now)))

    def list_nodes(self, conn: Connection) -> list[NodeRow]:
        rows = conn.execute(select(self.nodes.c.node_id).order_by(self.nodes.c.node_id)).all()
        return [n for r in rows if (n := self.node(conn, r.node_id)) is not None]

    def record_heartbeat(self, conn: Connection, claim: Claim, now: dt.datetime) -> None:
        conn.execute(update(self.nodes).where(self.nodes.c.node_id == claim.node_id).values(
            heartbeat_at_ms=to_ms(now), heartbeat_sent_ms=to_ms(claim.sent_at),
            claimed_seq=claim.head_seq))

    def touch_node(self, conn: Connection, node_id: str, now: dt.datetime) -> None:
        conn.execute(update(self.nodes).where(self.nodes.c.node_id == node_id)
                     .values(last_seen_ms=to_ms(now)))

    # -- cases ----------------------------------------------------------------------------------

    def flag_case(self, conn: Connection, case_id: str, flags: list[str]) -> None:
        """Add findings to a case's flags (each kept once)."""
        held = conn.execute(select(self.cases.c.flags).where(self.cases.c.case_id == case_id)
                            ).scalar() or ""
        merged = list(dict.fromkeys([*(f for f in held.split("\n") if f), *flags]))
        conn.execute(update(self.cases).where(self.cases.c.case_id == case_id)
                     .values(flags="\n".join(merged)))

    def update_case(self, conn: Connection, case_id: str, now: dt.datetime,
                    **values: object) -> None:
        conn.execute(update(self.cases).where(self.cases.c.case_id == case_id)
                     .values(updated_at_ms=to_ms(now), **values))

    # -- operators ------------------------------------------------------------------------------

    def add_operator(self, conn: Connection, *, name: str, department: str, role: str,
                     now: dt.datetime) -> None:
        conn.execute(insert(self.operators).values(name=name, department=department, role=role,
                                                   active=True, created_at_ms=to_ms(now)))

    def operator(self, conn: Connection, name: str) -> OperatorRow | None:
        row = conn.execute(select(self.operators).where(self.operators.c.name == name)).first()
        return None if row is None else OperatorRow(name=row.name, department=row.department,
                                                    role=row.role, active=bool(row.active))

    def list_operators(self, conn: Connection) -> list[OperatorRow]:
        return [OperatorRow(name=r.name, department=r.department, role=r.role,
                            active=bool(r.active))
                for r in conn.execute(select(self.operators).order_by(
                    self.operators.c.department, self.operators.c.name))]

    def set_operator_active(self, conn: Connection, name: str, active: bool) -> bool:
        done = conn.execute(update(self.operators).where(self.operators.c.name == name)
                            .values(active=active))
        return done.rowcount == 1

    # -- pauses and opinions --------------------------------------------------------------------

    def start_pause(self, conn: Connection, case_id: str, now: dt.datetime) -> None:
        if self.open_pause(conn, case_id) is None:
            conn.execute(insert(self.pauses).values(case_id=case_id, started_at_ms=to_ms(now)))

    def open_pause(self, conn: Connection, case_id: str) -> int | None:
        value = conn.execute(select(self.pauses.c.id).where(
            self.pauses.c.case_id == case_id, self.pauses.c.ended_at_ms.is_(None))).scalar()
        return None if value is None else int(value)

    def end_pause(self, conn: Connection, case_id: str, now: dt.datetime) -> None:
        conn.execute(update(self.pauses).where(self.pauses.c.case_id == case_id,
                                               self.pauses.c.ended_at_ms.is_(None))
                     .values(ended_at_ms=to_ms(now)))

    def pauses_of(self, conn: Connection, case_ids: list[str] | None = None,
                  ) -> dict[str, list[tuple[dt.datetime, dt.datetime | None]]]:
        query = select(self.pauses).order_by(self.pauses.c.id)
        if case_ids is not None:
            query = query.where(self.pauses.c.case_id.in_(case_ids))
        found: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = {}
        for r in conn.execute(query):
            found.setdefault(r.case_id, []).append(
                (from_ms(r.started_at_ms),
                 None if r.ended_at_ms is None else from_ms(r.ended_at_ms)))
        return found

    def set_opinion(self, conn: Connection, case_id: str, *, department: str, favourable: bool,
                    reason: str, operator: str, now: dt.datetime) -> None:
        t = self.opinions
        conn.execute(t.delete().where(t.c.case_id == case_id, t.c.department == department))
        conn.execute(insert(t).values(case_id=case_id, department=department,
                                      favourable=favourable, reason=reason, operator=operator,
                                      at_ms=to_ms(now)))

    def opinions_of(self, conn: Connection, case_id: str) -> dict[str, bool]:
        t = self.opinions
        return {r.department: bool(r.favourable)
                for r in conn.execute(select(t).where(t.c.case_id == case_id))}

    # -- the audit trail ------------------------------------------------------------------------

    def add_trail(self, conn: Connection, *, kind: str, now: dt.datetime, case_id: str = "",
                  node_id: str = "", operator: str = "", detail: str = "",
                  record: Record | None = None) -> None:
        conn.execute(insert(self.trail).values(
            at_ms=to_ms(now), kind=kind, case_id=case_id, node_id=node_id, operator=operator,
            detail=detail, log_id=record.log_id if record else "",
            seq=record.seq if record else 0))

    def trail_rows(self, conn: Connection, *, case_id: str | None = None,
                   node_id: str | None = None, operator: str | None = None,
                   since: dt.datetime | None = None,
                   until: dt.datetime | None = None) -> list[dict[str, object]]:
        t = self.trail
        query = select(t).order_by(t.c.at_ms, t.c.id)
        if case_id:
            query = query.where(t.c.case_id == case_id)
        if node_id:
            query = query.where(t.c.node_id == node_id)
        if operator:
            query = query.where(t.c.operator == operator)
        if since is not None:
            query = query.where(t.c.at_ms >= to_ms(since))
        if until is not None:
            query = query.where(t.c.at_ms < to_ms(until))
        return [{"at": from_ms(r.at_ms), "kind": r.kind, "case_id": r.case_id,
                 "node_id": r.node_id, "operator": r.operator, "detail": r.detail,
                 "record": f"{r.log_id}#{r.seq}" if r.log_id else ""}
                for r in conn.execute(query)]

    # -- the working-day calendar ---------------------------------------------------------------

    def replace_calendar(self, conn: Connection, *, name: str, holidays: list[str],
                         workdays: list[str]) -> None:
        conn.execute(self.calendar.delete())
        rows = ([{"day": d, "kind": "holiday"} for d in holidays]
                + [{"day": d, "kind": "workday"} for d in workdays])
        if rows:
            conn.execute(insert(self.calendar), rows)
        self.set_setting(conn, "calendar_name", name)

    def calendar_days(self, conn: Connection) -> tuple[str, list[str], list[str]]:
        rows = conn.execute(select(self.calendar.c.day, self.calendar.c.kind)).all()
        return (self.setting(conn, "calendar_name") or "",
                sorted(r.day for r in rows if r.kind == "holiday"),
                sorted(r.day for r in rows if r.kind == "workday"))

    def setting(self, conn: Connection, name: str) -> str | None:
        value = conn.execute(select(self.settings.c.value)
                             .where(self.settings.c.name == name)).scalar()
        return None if value is None else str(value)

    def set_setting(self, conn: Connection, name: str, value: str) -> None:
        conn.execute(self.settings.delete().where(self.settings.c.name == name))
        conn.execute(insert(self.settings).values(name=name, value=value))

    def get_case(self, conn: Connection, case_id: str) -> HubCaseView:
        row = conn.execute(select(self.cases).where(self.cases.c.case_id == case_id)).first()
        if row is None:
            raise NotFoundError(f"case {case_id} is not at the hub; has its node synced? "
                                "('bianmin hub cases' lists what the hub holds)")
        return _view(row)

    def list_cases(self, conn: Connection, *, state: str | None = None) -> list[HubCaseView]:
        query = select(self.cases).order_by(self.cases.c.received_at_ms, self.cases.c.case_id)
        if state is not None:
            query = query.where(self.cases.c.state == state)
        return [_view(r) for r in conn.execute(query)]

    def count_cases(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(self.cases)).scalar() or 0)


def _split(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.split(",") if x)


def _view(row: object) -> HubCaseView:
    r = row._mapping  # type: ignore[attr-defined]
    return HubCaseView(
        case_id=r["case_id"], origin_node=r["origin_node"], item_code=r["item_code"],
        item_name=r["item_name"], decided_by=r["decided_by"],
        departments=_split(r["departments"]), applicant_name=r["applicant_name"],
        applicant_id=r["applicant_id"], state=r["state"], complete=bool(r["complete"]),
        missing=_split(r["missing"]), reason=r["reason"], operator=r["operator"],
        department=r["department"], catalog_version=r["catalog_version"],
        submitted_at=from_ms(r["submitted_at_ms"]), received_at=from_ms(r["received_at_ms"]),
        decided_at=None if r["decided_at_ms"] is None else from_ms(r["decided_at_ms"]),
        flags=tuple(f for f in r["flags"].split("\n") if f),
        accepted_at=None if r["accepted_at_ms"] is None else from_ms(r["accepted_at_ms"]),
        concluded_at=None if r["concluded_at_ms"] is None else from_ms(r["concluded_at_ms"]),
        supplements=r["supplements"], requested=_split(r["requested"]), outcome=r["outcome"],
    )
