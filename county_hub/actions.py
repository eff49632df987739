"""What county operators do: decide cases, publish the catalog (DESIGN §5, §6).

Every action is a signed record in one of the hub's logs -- decisions in the hub's log (``HUB``,
signed by the hub's records key, delivered to the node that took the case), catalog versions in
the ``CATALOG`` log (signed by the catalog key, delivered to every node) -- written in the same
transaction that updates the case view. Whether an action is allowed is the workflow table's
decision (``node.workflow``), not this module's.
"""

from __future__ import annotations

import datetime as dt

from county_hub.hub import Hub
from node.catalog import Catalog
from node.errors import StateError, UsageError
from node.identity import CATALOG_LOG_ID, HUB_NODE_ID
from node.payloads import CatalogPublished, Decision, Outcome
from node.records import Record, seal
from node.workflow import Action, State, next_state

__all__ = ["DEFAULT_CATALOG_VALIDITY", "decide", "publish_catalog"]

DEFAULT_CATALOG_VALIDITY = dt.timedelta(days=365)


def decide(hub: Hub, case_id: str, *, outcome: Outcome, reason: str,
           operator: str) -> tuple[Record, State]:
    """Approve or reject a case with a reason; returns the signed decision and the new state."""
    if not reason.strip():
        raise UsageError("a decision needs a reason (--reason)", code="reason_required")
    if not operator.strip():
        raise UsageError("name the operator who decides (--operator)", code="operator_required")
    now = hub.clock.now()
    store = hub.store
    with store.db.write() as conn:
        case = store.get_case(conn, case_id)
        origin = store.node(conn, case.origin_node)
        if case.decided_by == "township" and origin is not None and origin.parent != HUB_NODE_ID:
            raise StateError(
                f"case {case_id}: item {case.item_code} ({case.item_name}) is delegated to "
                f"townships; township {origin.parent} decides it",
                code="delegated_item",
            )
        action = Action.APPROVE if outcome is Outcome.APPROVE else Action.REJECT
        after = next_state(case_id, State(case.state), action, complete=case.complete,
                           missing=case.missing)
        head = store.logs.head(conn, hub.node_id, lock=True)
        record = seal(
            Decision(case_id=case_id, outcome=outcome, reason=reason.strip(),
                     operator=operator.strip(),
                     department=case.departments[0] if len(case.departments) == 1 else ""),
            log_id=hub.node_id, head=head, signer=hub.keys.records, clock=hub.clock,
        )
        store.logs.append(conn, [record], now=now, audience=lambda _r: case.origin_node)
        store.record_decision(conn, record, after, now)
    return record, after


def publish_catalog(hub: Hub, catalog: Catalog, *,
                    validity: dt.timedelta = DEFAULT_CATALOG_VALIDITY) -> Record:
    """Sign the catalog as the next version of the ``CATALOG`` log."""
    if catalog.county_code != hub.config.county_code:
        raise UsageError(
            f"this catalog is for county {catalog.county_code}, but this hub serves county "
            f"{hub.config.county_code}", code="wrong_county")
    now = hub.clock.now()
    with hub.store.db.write() as conn:
        head = hub.store.logs.head(conn, CATALOG_LOG_ID, lock=True)
        record = seal(
            CatalogPublished(version=head.seq + 1, issued_at=now, expires_at=now + validity,
                             catalog=catalog),
            log_id=CATALOG_LOG_ID, head=head, signer=hub.keys.catalog, clock=hub.clock,
        )
        hub.store.logs.append(conn, [record], now=now)
    return record
