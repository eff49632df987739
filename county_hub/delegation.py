"""Delegation (下放事项, DESIGN §1, §6, issue 5): the county lets a township decide some items.

A grant is a signed record of the hub's log addressed to the township and its villages (which
items, from when, until when, under which catalog version); a later grant replaces the earlier
one, and a withdrawal ends it. When a grant ends, the county remembers how far it had seen the
township's log (committed, or claimed by a signed heartbeat): decisions up to there provably
existed while the grant was in force. Whether a township's decision stands is the authority
table's call (``node.kernel.authority`` rules 5 and 6), at the county and below it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from county_hub.hub import Hub
from county_hub.store import GrantRow, HubTransaction
from node.kernel.authority import audience_for
from node.kernel.errors import NotFoundError, StateError, UsageError
from node.kernel.identity import HUB_NODE_ID
from node.kernel.payloads import Delegation, DelegationWithdrawn
from node.kernel.records import Record

__all__ = ["GrantRow", "grant", "withdraw"]


def _emit(hub: Hub, tx: HubTransaction, payload: Delegation | DelegationWithdrawn) -> Record:
    record = tx.seal_append(payload, log_id=HUB_NODE_ID, signer=hub.keys.records,
                            clock=hub.clock, audience=audience_for(payload, HUB_NODE_ID))
    tx.add_trail(kind=type(payload).__name__, node_id=payload.township,
                 operator=payload.operator, record=record,
                 detail=", ".join(payload.items) if isinstance(payload, Delegation)
                 else payload.reason)
    return record


def _end_current(tx: HubTransaction, township: str) -> None:
    node = tx.node(township)
    seen = max(tx.head(township).seq, node.claimed_seq if node is not None else 0)
    tx.end_grants(township, seen_seq=seen)


def grant(hub: Hub, township: str, items: Sequence[str], *, operator: str,
          valid_from: dt.datetime | None = None,
          valid_until: dt.datetime | None = None) -> Record:
    """Grant (or re-grant, replacing the previous grant) a township its delegated items."""
    if not operator.strip():
        raise UsageError("name the operator who grants it (--operator)")
    codes = tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
    if not codes:
        raise UsageError("name the delegated items (--item CODE, repeated)")
    with hub.store.transaction() as tx:
        now = tx.now
        start = valid_from or now
        until = valid_until or now + dt.timedelta(days=365)
        if until <= start:
            raise UsageError("--until must be after --from", code="bad_period")
        node = tx.node(township)
        if node is None or node.tier != "township":
            raise NotFoundError(f"{township} is not an enrolled township")
        published = hub.catalog_version(tx)
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
        _end_current(tx, township)
        record = _emit(hub, tx, payload)
        tx.add_grant(township=township, record_hash=record.hash, items=codes,
                     valid_from=start, valid_until=until, catalog_version=published.version)
    return record


def withdraw(hub: Hub, township: str, *, reason: str, operator: str) -> Record:
    """Take a township's delegated powers back; its decisions received later are refused."""
    if not reason.strip():
        raise UsageError("a withdrawal needs a reason (--reason)")
    with hub.store.transaction() as tx:
        if not any(g.ended_at is None for g in tx.grants(township)):
            raise StateError(f"{township} holds no delegation in force", code="no_delegation")
        _end_current(tx, township)
        return _emit(hub, tx, DelegationWithdrawn(township=township, reason=reason.strip(),
                                                  operator=operator.strip()))
