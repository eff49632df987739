"""Delegated decisions (issue 5): the township decides the items the county lets it decide.

A decision is a record of the township's own log, signed by the township and citing the
county's delegation record (its hash). It goes down to the village directly and up to the
county for supervision, where it is checked again. The township refuses to decide items the
catalog does not delegate, or without a delegation in force that covers the item.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, update

from node.kernel.clock import to_ms
from node.kernel.errors import StateError, UsageError
from node.kernel.identity import CATALOG_LOG_ID, HUB_NODE_ID
from node.kernel.payloads import Decision, Delegation, DelegationWithdrawn, Outcome, audience_of
from node.kernel.records import Record, parse_record, seal
from node.kernel.workflow import Action, CaseFacts, State, next_state
from node.service import NodeService
from node.store import CaseView

__all__ = ["Granted", "current_delegation", "decide", "township_cases"]


@dataclass(frozen=True, kw_only=True)
class Granted:
    record: Record
    delegation: Delegation


def current_delegation(service: NodeService, conn: Connection) -> Granted | None:
    """The county's latest grant to this township, unless withdrawn since."""
    township = service.config.node_id
    found: Granted | None = None
    for _seq, body, sig in service.store.logs.raw_after(conn, HUB_NODE_ID, 0, 1_000_000,
                                                        audiences=[township]):
        record = parse_record(body, sig)
        payload = record.payload
        if isinstance(payload, Delegation) and payload.township == township:
            found = Granted(record=record, delegation=payload)
        elif isinstance(payload, DelegationWithdrawn) and payload.township == township:
            found = None
    return found


def township_cases(service: NodeService, state: str | None = None) -> list[tuple[CaseView, str]]:
    """Every case the township holds -- its own desk's and its villages' -- with who decides
    it ("township" or "county")."""
    with service.store.db.read() as conn:
        views = service.store.list_cases(conn, state=state)
        _r, published = service.store.latest_catalog(conn, CATALOG_LOG_ID)
    return [(v, (item.decided_by if (item := published.catalog.item(v.item_code)) else "county"))
            for v in views]


def decide(service: NodeService, case_id: str, *, outcome: Outcome, reason: str,
           operator: str, verification_code: str) -> tuple[Record, State]:
    if not reason.strip():
        raise UsageError("a decision needs a reason (--reason)", code="reason_required")
    if not operator.strip():
        raise UsageError("name the operator who decides (--operator)", code="operator_required")
    township = service.config.node_id
    now = service.clock.now()
    store = service.store
    with store.db.write() as conn:
        view = store.get_case(conn, case_id)
        _r, published = store.latest_catalog(conn, CATALOG_LOG_ID)
        item = published.catalog.item(view.item_code)
        if item is None or item.decided_by != "township":
            raise StateError(f"case {case_id}: item {view.item_code} is decided by the county, "
                             "not delegated to townships; it goes up to the county",
                             code="not_delegated")
        granted = current_delegation(service, conn)
        if granted is None or not (item.code in granted.delegation.items
                                   and granted.delegation.valid_from <= now
                                   <= granted.delegation.valid_until):
            raise StateError(f"case {case_id}: township {township} holds no delegation in force "
                             f"for item {item.label}; ask the county to grant it "
                             "('bianmin hub delegation grant')", code="no_delegation")
        action = Action.APPROVE if outcome is Outcome.APPROVE else Action.REJECT
        after = next_state(case_id, State(view.state), action,
                           CaseFacts(complete=view.complete, missing=view.missing))
        head = store.logs.head(conn, township, lock=True)
        record = seal(Decision(case_id=case_id, outcome=outcome, reason=reason.strip(),
                               operator=operator.strip(), department=township,
                               verification_code=verification_code,
                               delegation=granted.record.hash),
                      log_id=township, head=head, signer=service.signer, clock=service.clock)
        store.logs.append(conn, [record], now=now, audience=audience_of)
        conn.execute(update(store.cases).where(store.cases.c.case_id == case_id).values(
            state=after.value, reason=reason.strip(), operator=operator.strip(),
            updated_at_ms=to_ms(now)))
    return record, after
