"""The hub's database on the store seam: the record tables and cases every tier keeps (written
only through ``node.store.sql``), plus what only the county has -- enrolled nodes and their
heartbeats, enrolment tokens, operators, the working-day calendar, delegations, settings.

``HubStore.transaction()`` hands out a ``HubTransaction``: the seam's unit of work with the
county's own tables beside it, so one ingest batch -- records, case rows, head, heartbeat --
commits or rolls back as a whole. Only portable SQLAlchemy Core is used (SQLite and
PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Table, insert, select, update

from county_hub.schema import (
    HubAlarm,
    HubBlobClaim,
    HubCalendarDay,
    HubCase,
    HubCasePause,
    HubCaseRecord,
    HubCertificate,
    HubDelegation,
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
from node.kernel.authority import GrantInfo
from node.kernel.clock import Clock, from_ms, to_ms
from node.store.db import Database
from node.store.schema import table_of
from node.store.sql import SqlReader, SqlStore, SqlTransaction, Tables

__all__ = ["GrantRow", "HubReader", "HubStore", "HubTransaction", "NodeRow", "OperatorRow",
           "TokenRow", "hub_tables"]


@dataclass(frozen=True, kw_only=True)
class TokenRow:
    node_id: str
    tier: str
    name: str
    parent: str
    expires_at: dt.datetime
    used_at: dt.datetime | None
    replaces_keys: bool = False
    reason: str = ""


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
    tls_fingerprint: str = ""  # of the TLS certificate in force ("" where none is recorded)


@dataclass(frozen=True, kw_only=True)
class OperatorRow:
    name: str
    department: str
    role: str
    active: bool


@dataclass(frozen=True, kw_only=True)
class GrantRow:
    """A delegation granted to a township, as the county keeps it."""

    township: str
    record_hash: bytes
    items: tuple[str, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime
    catalog_version: int
    granted_at: dt.datetime
    ended_at: dt.datetime | None
    seen_seq_at_end: int | None

    def covers(self, item_code: str, at: dt.datetime) -> bool:
        return (item_code in self.items and self.valid_from <= at <= self.valid_until
                and (self.ended_at is None or at < self.ended_at))

    @property
    def info(self) -> GrantInfo:
        """What the authority rules need of it."""
        return GrantInfo(record_hash=self.record_hash, township=self.township, items=self.items,
                         valid_from=self.valid_from, valid_until=self.valid_until,
                         ended_at=self.ended_at, seen_seq_at_end=self.seen_seq_at_end)


@dataclass(frozen=True, kw_only=True)
class _HubTables:
    nodes: Table
    tokens: Table
    operators: Table
    calendar: Table
    settings: Table
    delegations: Table


def hub_tables() -> Tables:
    return Tables(records=table_of(HubRecord), heads=table_of(HubLogHead),
                  certificates=table_of(HubCertificate), case_records=table_of(HubCaseRecord),
                  evidence=table_of(HubEvidence), alarms=table_of(HubAlarm),
                  revocations=table_of(HubRevocation), cases=table_of(HubCase),
                  blob_claims=table_of(HubBlobClaim), trail=table_of(HubTrail),
                  pauses=table_of(HubCasePause), opinions=table_of(HubOpinion))


_HUB = _HubTables(nodes=table_of(HubNode), tokens=table_of(HubToken),
                  operators=table_of(HubOperator), calendar=table_of(HubCalendarDay),
                  settings=table_of(HubSetting), delegations=table_of(HubDelegation))


def _node(row: object) -> NodeRow:
    r = row._mapping  # type: ignore[attr-defined]
    beat = r["heartbeat_at_ms"]
    return NodeRow(node_id=r["node_id"], tier=r["tier"], name=r["name"], parent=r["parent"],
                   enrolled_at=from_ms(r["enrolled_at_ms"]),
                   last_seen=None if r["last_seen_ms"] is None else from_ms(r["last_seen_ms"]),
                   heartbeat_at=None if beat is None else from_ms(beat),
                   claimed_seq=r["claimed_seq"], tls_fingerprint=r["tls_fingerprint"] or "",
                   clock_skew_s=None if beat is None or r["heartbeat_sent_ms"] is None
                   else (r["heartbeat_sent_ms"] - beat) / 1000)


def _grant(row: object) -> GrantRow:
    m = row._mapping  # type: ignore[attr-defined]
    return GrantRow(township=m["township"], record_hash=bytes(m["record_hash"]),
                    items=tuple(i for i in m["items"].split(",") if i),
                    valid_from=from_ms(m["valid_from_ms"]),
                    valid_until=from_ms(m["valid_until_ms"]),
                    catalog_version=m["catalog_version"],
                    granted_at=from_ms(m["granted_at_ms"]),
                    ended_at=None if m["ended_at_ms"] is None else from_ms(m["ended_at_ms"]),
                    seen_seq_at_end=m["seen_seq_at_end"])


class HubReader(SqlReader):
    """The county's reads: the shared ones, and its own tables."""

    h = _HUB

    # -- tokens and nodes -----------------------------------------------------------------------

    def token(self, token_hash: str) -> TokenRow | None:
        t = self.h.tokens
        row = self.conn.execute(select(t).where(t.c.token_hash == token_hash)).first()
        if row is None:
            return None
        return TokenRow(node_id=row.node_id, tier=row.tier, name=row.name, parent=row.parent,
                        expires_at=from_ms(row.expires_at_ms),
                        used_at=None if row.used_at_ms is None else from_ms(row.used_at_ms),
                        replaces_keys=bool(row.replaces_keys), reason=row.reason)

    def node(self, node_id: str) -> NodeRow | None:
        n = self.h.nodes
        row = self.conn.execute(select(n).where(n.c.node_id == node_id)).first()
        return None if row is None else _node(row)

    def list_nodes(self) -> list[NodeRow]:
        n = self.h.nodes
        return [_node(r) for r in self.conn.execute(select(n).order_by(n.c.node_id))]

    # -- operators ------------------------------------------------------------------------------

    def operator(self, name: str) -> OperatorRow | None:
        o = self.h.operators
        row = self.conn.execute(select(o).where(o.c.name == name)).first()
        return None if row is None else OperatorRow(name=row.name, department=row.department,
                                                    role=row.role, active=bool(row.active))

    def list_operators(self) -> list[OperatorRow]:
        o = self.h.operators
        return [OperatorRow(name=r.name, department=r.department, role=r.role,
                            active=bool(r.active))
                for r in self.conn.execute(select(o).order_by(o.c.department, o.c.name))]

    def open_case_keys(self, states: list[str], department: str | None = None,
                       ) -> list[tuple[str, str, int, str, int]]:
        """``(case_id, item_code, catalog_version, departments, received_at_ms)`` of the
        cases in ``states`` (naming ``department``, roughly: the caller checks it exactly)."""
        t = self.t.cases
        query = select(t.c.case_id, t.c.item_code, t.c.catalog_version, t.c.departments,
                       t.c.received_at_ms).where(t.c.state.in_(states))
        if department is not None:
            query = query.where(t.c.departments.contains(department, autoescape=True))
        return [(r[0], r[1], r[2], r[3], r[4]) for r in self.conn.execute(query)]

    # -- pauses, opinions, the trail --------------------------------------------------------------

    def pauses_of(self, case_ids: list[str] | None = None,
                  ) -> dict[str, list[tuple[dt.datetime, dt.datetime | None]]]:
        p = self.t.pauses
        assert p is not None
        query = select(p).order_by(p.c.id)
        if case_ids is not None:
            query = query.where(p.c.case_id.in_(case_ids))
        found: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = {}
        for r in self.conn.execute(query):
            found.setdefault(r.case_id, []).append(
                (from_ms(r.started_at_ms),
                 None if r.ended_at_ms is None else from_ms(r.ended_at_ms)))
        return found

    def opinions_of(self, case_id: str) -> dict[str, bool]:
        o = self.t.opinions
        assert o is not None
        return {r.department: bool(r.favourable)
                for r in self.conn.execute(select(o).where(o.c.case_id == case_id))}

    def answered_counts(self) -> dict[str, int]:
        """The county's signed refusals (``ActionRefused``) by reason code: records that had no
        effect here, whose writers were told."""
        t = self.t.trail
        assert t is not None
        counts: dict[str, int] = {}
        for (detail,) in self.conn.execute(select(t.c.detail).where(
                t.c.kind == "ActionRefused")):
            code = str(detail).partition(":")[0]
            key = code if code.isidentifier() else "other"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def trail_rows(self, *, case_id: str | None = None, node_id: str | None = None,
                   operator: str | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None) -> list[dict[str, object]]:
        t = self.t.trail
        assert t is not None
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
                 "record": f"{r.log_id}#{r.seq}" if r.log_id else "", "via": r.via}
                for r in self.conn.execute(query)]

    # -- the calendar, settings, delegations ------------------------------------------------------

    def calendar_days(self) -> tuple[str, list[str], list[str]]:
        c = self.h.calendar
        rows = self.conn.execute(select(c.c.day, c.c.kind)).all()
        return (self.setting("calendar_name") or "",
                sorted(r.day for r in rows if r.kind == "holiday"),
                sorted(r.day for r in rows if r.kind == "workday"))

    def setting(self, name: str) -> str | None:
        s = self.h.settings
        value = self.conn.execute(select(s.c.value).where(s.c.name == name)).scalar()
        return None if value is None else str(value)

    def grants(self, township: str | None = None) -> list[GrantRow]:
        d = self.h.delegations
        query = select(d).order_by(d.c.id)
        if township is not None:
            query = query.where(d.c.township == township)
        return [_grant(r) for r in self.conn.execute(query)]

    def grant(self, record_hash: bytes) -> GrantRow | None:
        d = self.h.delegations
        row = self.conn.execute(select(d).where(d.c.record_hash == record_hash)).first()
        return None if row is None else _grant(row)


class HubTransaction(SqlTransaction, HubReader):
    """The county's unit of work: the seam's writes, and its own tables'."""

    def add_token(self, *, token_hash: str, node_id: str, tier: str, name: str, parent: str,
                  expires_at: dt.datetime, replaces_keys: bool = False,
                  reason: str = "") -> None:
        self.conn.execute(insert(self.h.tokens).values(
            token_hash=token_hash, node_id=node_id, tier=tier, name=name, parent=parent,
            created_at_ms=to_ms(self.now), expires_at_ms=to_ms(expires_at),
            replaces_keys=replaces_keys, reason=reason))

    def use_token(self, token_hash: str) -> bool:
        """Mark a token used; False if another enrolment used it first."""
        t = self.h.tokens
        done = self.conn.execute(update(t).where(t.c.token_hash == token_hash,
                                                 t.c.used_at_ms.is_(None))
                                 .values(used_at_ms=to_ms(self.now)))
        return done.rowcount == 1

    def add_node(self, *, node_id: str, tier: str, name: str, parent: str,
                 tls_fingerprint: str) -> None:
        self.conn.execute(insert(self.h.nodes).values(
            node_id=node_id, tier=tier, name=name, parent=parent,
            tls_fingerprint=tls_fingerprint, enrolled_at_ms=to_ms(self.now)))

    def set_tls_fingerprint(self, node_id: str, tls_fingerprint: str) -> None:
        """The node's TLS certificate in force from now on (a key replacement): the old one no
        longer opens a connection."""
        n = self.h.nodes
        self.conn.execute(update(n).where(n.c.node_id == node_id)
                          .values(tls_fingerprint=tls_fingerprint))

    def record_heartbeat(self, *, node_id: str, head_seq: int, head_hash: bytes,
                         sent_at: dt.datetime, at: dt.datetime | None = None) -> None:
        """A node's heartbeat, received ``at`` (a relayed one: when it reached the township,
        by the county's clock; default now). An older one than the one held changes nothing
        (a village that also syncs directly through its fallback)."""
        n = self.h.nodes
        at_ms = to_ms(at or self.now)
        self.conn.execute(update(n).where(
            (n.c.node_id == node_id)
            & (n.c.heartbeat_at_ms.is_(None) | (n.c.heartbeat_at_ms <= at_ms))).values(
            heartbeat_at_ms=at_ms, heartbeat_sent_ms=to_ms(sent_at),
            claimed_seq=head_seq, claimed_hash=head_hash))

    def touch_node(self, node_id: str) -> None:
        n = self.h.nodes
        self.conn.execute(update(n).where(n.c.node_id == node_id)
                          .values(last_seen_ms=to_ms(self.now)))

    def add_operator(self, *, name: str, department: str, role: str) -> None:
        self.conn.execute(insert(self.h.operators).values(
            name=name, department=department, role=role, active=True,
            created_at_ms=to_ms(self.now)))

    def set_operator_active(self, name: str, active: bool) -> bool:
        o = self.h.operators
        done = self.conn.execute(update(o).where(o.c.name == name).values(active=active))
        return done.rowcount == 1

    def replace_calendar(self, *, name: str, holidays: list[str], workdays: list[str]) -> None:
        c = self.h.calendar
        self.conn.execute(c.delete())
        rows = ([{"day": d, "kind": "holiday"} for d in holidays]
                + [{"day": d, "kind": "workday"} for d in workdays])
        if rows:
            self.conn.execute(insert(c), rows)
        self.set_setting("calendar_name", name)

    def set_setting(self, name: str, value: str) -> None:
        s = self.h.settings
        self.conn.execute(s.delete().where(s.c.name == name))
        self.conn.execute(insert(s).values(name=name, value=value))

    def add_grant(self, *, township: str, record_hash: bytes, items: tuple[str, ...],
                  valid_from: dt.datetime, valid_until: dt.datetime,
                  catalog_version: int) -> None:
        self.conn.execute(insert(self.h.delegations).values(
            township=township, record_hash=record_hash, items=",".join(items),
            valid_from_ms=to_ms(valid_from), valid_until_ms=to_ms(valid_until),
            catalog_version=catalog_version, granted_at_ms=to_ms(self.now)))

    def end_grants(self, township: str, *, seen_seq: int) -> None:
        """End the township's grant in force, remembering how far the county had seen its log
        (authority rule 6)."""
        d = self.h.delegations
        self.conn.execute(update(d).where(d.c.township == township, d.c.ended_at_ms.is_(None))
                          .values(ended_at_ms=to_ms(self.now), seen_seq_at_end=seen_seq))


class HubStore(SqlStore):
    """The county's database."""

    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(db, hub_tables(), clock)

    @contextmanager
    def transaction(self) -> Iterator[HubTransaction]:
        with self.db.write() as conn:
            yield HubTransaction(conn, self.t, self.clock.now())

    @contextmanager
    def reading(self) -> Iterator[HubReader]:
        with self.db.read() as conn:
            yield HubReader(conn, self.t, self.clock.now())
