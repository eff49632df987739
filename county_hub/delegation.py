"""Delegation (下放事项, DESIGN §1, §6, issue 5): the county lets a township decide some items.

A grant is a signed record of the hub's log addressed to the township (which items, from when,
until when, under which catalog version); a later grant replaces the earlier one, and a
withdrawal ends it. A township's decision cites the grant's hash. The county accepts a
township's decision only if the item is delegated by the catalog, the grant it cites covers
that item and was in force when the decision was signed (not replaced or withdrawn before),
and the case comes from one of that township's villages (or from the township's own desk).
Anything else is refused as an unauthorized decision and raises an alarm naming the township.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from county_hub.hub import Hub
from county_hub.schema import HubDelegation
from node.kernel.clock import from_ms, to_ms
from node.kernel.errors import NotFoundError, StateError, UsageError
from node.kernel.payloads import Decision, Delegation, DelegationWithdrawn, Outcome
from node.kernel.records import Record, seal
from node.kernel.workflow import Action, CaseFacts, State, next_state
from node.schema import table_of

__all__ = [
    "Grant",
    "apply_township_decision",
    "grant",
    "grants",
    "judge_township_decision",
    "withdraw",
]


@dataclass(frozen=True, kw_only=True)
class Grant:
    township: str
    record_hash: bytes
    items: tuple[str, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime
    catalog_version: int
    granted_at: dt.datetime
    ended_at: dt.datetime | None

    def covers(self, item_code: str, at: dt.datetime) -> bool:
        return (item_code in self.items and self.valid_from <= at <= self.valid_until
                and (self.ended_at is None or at < self.ended_at))


def _row(r: object) -> Grant:
    m = r._mapping  # type: ignore[attr-defined]
    return Grant(township=m["township"], record_hash=bytes(m["record_hash"]),
                 items=tuple(i for i in m["items"].split(",") if i),
                 valid_from=from_ms(m["valid_from_ms"]), valid_until=from_ms(m["valid_until_ms"]),
                 catalog_version=m["catalog_version"], granted_at=from_ms(m["granted_at_ms"]),
                 ended_at=None if m["ended_at_ms"] is None else from_ms(m["ended_at_ms"]))


def grants(hub: Hub, conn: Connection, township: str | None = None) -> list[Grant]:
    t = table_of(HubDelegation)
    query = select(t).order_by(t.c.id)
    if township is not None:
        query = query.where(t.c.township == township)
    return [_row(r) for r in conn.execute(query)]


def _emit(hub: Hub, conn: Connection, payload: Delegation | DelegationWithdrawn,
          now: dt.datetime) -> Record:
    head = hub.store.logs.head(conn, hub.node_id, lock=True)
    record = seal(payload, log_id=hub.node_id, head=head, signer=hub.keys.records,
                  clock=hub.clock)
    hub.store.logs.append(conn, [record], now=now, audience=lambda _r: payload.township)
    hub.store.add_trail(conn, kind=type(payload).__name__, now=now, node_id=payload.township,
                        operator=payload.operator, record=record,
                        detail=", ".join(payload.items) if isinstance(payload, Delegation)
                        else payload.reason)
    return record


def _end_current(conn: Connection, township: str, now: dt.datetime) -> None:
    t = table_of(HubDelegation)
    conn.execute(update(t).where(t.c.township == township, t.c.ended_at_ms.is_(None))
                 .values(ended_at_ms=to_ms(now)))


def grant(hub: Hub, township: str, items: Sequence[str], *, operator: str,
          valid_from: dt.datetime | None = None,
          valid_until: dt.datetime | None = None) -> Record:
    """Grant (or re-grant, replacing the previous grant) a township its delegated items."""
    if not operator.strip():
        raise UsageError("name the operator who grants it (--operator)")
    now = hub.clock.now()
    start = valid_from or now
    until = valid_until or now + dt.timedelta(days=365)
    if until <= start:
        raise UsageError("--until must be after --from", code="bad_period")
    codes = tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
    if not codes:
        raise UsageError("name the delegated items (--item CODE, repeated)")
    with hub.store.db.write() as conn:
        node = hub.store.node(conn, township)
        if node is None or node.tier != "township":
            raise NotFoundError(f"{township} is not an enrolled township")
        published = hub.catalog_version(conn)
        for code in codes:
            item = published.catalog.item(code)
            if item is None:
                raise UsageError(f"item {code} is not in the current catalog "
                                 f"(version {published.version})", code="unknown_item")
            if item.decided_by != "township":
                raise UsageError(f"item {item.label} is decided by the county; the catalog "
                                 "does not delegate it to townships", code="not_delegable")
        payload = Delegation(township=township, items=codes, valid_from=start,
                             valid_until=until, catalog_version=published.version,
                             operator=operator.strip())
        _end_current(conn, township, now)
        record = _emit(hub, conn, payload, now)
        conn.execute(insert(table_of(HubDelegation)).values(
            township=township, record_hash=record.hash, items=",".join(codes),
            valid_from_ms=to_ms(start), valid_until_ms=to_ms(until),
            catalog_version=published.version, granted_at_ms=to_ms(now)))
    return record


def withdraw(hub: Hub, township: str, *, reason: str, operator: str) -> Record:
    """Take a township's delegated powers back; its decisions signed later are refused."""
    if not reason.strip():
        raise UsageError("a withdrawal needs a reason (--reason)")
    now = hub.clock.now()
    with hub.store.db.write() as conn:
        if not any(g.ended_at is None for g in grants(hub, conn, township)):
            raise StateError(f"{township} holds no delegation in force", code="no_delegation")
        _end_current(conn, township, now)
        return _emit(hub, conn, DelegationWithdrawn(township=township, reason=reason.strip(),
                                                    operator=operator.strip()), now)


def judge_township_decision(hub: Hub, conn: Connection, record: Record) -> tuple[str, str] | None:
    """Why the county refuses a township's decision, or None if it may stand."""
    decision = record.payload
    assert isinstance(decision, Decision)
    township = record.log_id
    owner = hub.store.node(conn, township)
    if owner is None or owner.tier != "township":
        return ("not_delegated", f"{township} is not a township; it decides nothing")
    origin_id = decision.case_id.split("-")[1] if decision.case_id.count("-") == 3 else ""
    origin = hub.store.node(conn, origin_id)
    if origin_id != township and (origin is None or origin.parent != township):
        return ("not_its_village", f"case {decision.case_id} is from {origin_id or '?'}, which "
                                   f"is not a village of {township}")
    try:
        case = hub.store.get_case(conn, decision.case_id)
    except NotFoundError:
        return None  # not here yet: the caller holds the record back (``case_pending``)
    if case.decided_by != "township":
        return ("not_delegated", f"item {case.item_code} ({case.item_name}) is decided by the "
                                 "county, not delegated to townships")
    cited = next((g for g in grants(hub, conn, township)
                  if g.record_hash == decision.delegation), None)
    at = record.header.recorded_at
    if cited is None:
        return ("not_delegated", f"the decision cites no delegation the county granted to "
                                 f"{township}")
    if not cited.covers(case.item_code, at):
        return ("not_delegated", f"the delegation it cites does not cover item "
                                 f"{case.item_code} at {at.isoformat()} (granted "
                                 f"{cited.valid_from:%Y-%m-%d} to {cited.valid_until:%Y-%m-%d}"
                                 + (f", ended {cited.ended_at:%Y-%m-%d %H:%M}"
                                    if cited.ended_at else "") + ")")
    return None


def case_pending(hub: Hub, conn: Connection, record: Record) -> str | None:
    """A township's decision on a case whose own records have not reached the county yet."""
    decision = record.payload
    owner = hub.store.node(conn, record.log_id)
    if not isinstance(decision, Decision) or owner is None or owner.tier != "township":
        return None
    try:
        hub.store.get_case(conn, decision.case_id)
    except NotFoundError:
        return (f"case {decision.case_id} has not reached the county yet; the township "
                "relays it first")
    return None


def apply_township_decision(hub: Hub, conn: Connection, record: Record,
                            now: dt.datetime) -> None:
    """Report a township's (accepted) decision into the county's view, for supervision."""
    decision = record.payload
    assert isinstance(decision, Decision)
    case = hub.store.get_case(conn, decision.case_id)
    action = Action.APPROVE if decision.outcome is Outcome.APPROVE else Action.REJECT
    try:
        after = next_state(case.case_id, State(case.state), action,
                           CaseFacts(complete=case.complete, accepted=True, missing=case.missing))
    except StateError as exc:
        hub.store.flag_case(conn, case.case_id, [f"{record.log_id}'s decision ({record}) "
                                                 f"came too late: {exc}"])
        return
    hub.store.update_case(conn, case.case_id, now, state=after.value, reason=decision.reason,
                          operator=decision.operator, department=record.log_id,
                          decided_at_ms=to_ms(now), outcome=after.value,
                          accepted_at_ms=to_ms(case.accepted_at or now))
    hub.store.add_trail(conn, kind="Decision", now=now, case_id=case.case_id,
                        node_id=case.origin_node, operator=decision.operator, record=record,
                        detail=f"by {record.log_id}: {decision.outcome.value}: "
                               f"{decision.reason}")
