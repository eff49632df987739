"""What county operators do: decide cases, publish the catalog (DESIGN §5, §6).

Every action is a signed record in one of the hub's logs -- decisions in the hub's log (``HUB``,
signed by the hub's records key, delivered to the node that took the case), catalog versions in
the ``CATALOG`` log (signed by the catalog key, delivered to every node) -- written in the same
transaction that updates the case view. Whether an action is allowed is the workflow table's
decision (``node.kernel.workflow``), not this module's.
"""

from __future__ import annotations

import datetime as dt

from county_hub.hub import Hub
from node.kernel.catalog import Catalog
from node.kernel.errors import NotFoundError, UsageError
from node.kernel.identity import CATALOG_LOG_ID
from node.kernel.payloads import CatalogPublished, NodeRevoked
from node.kernel.records import Record

__all__ = [
    "DEFAULT_CATALOG_VALIDITY",
    "publish_catalog",
    "resolve_alarm",
    "revoke",
]

DEFAULT_CATALOG_VALIDITY = dt.timedelta(days=365)


def publish_catalog(hub: Hub, catalog: Catalog, *,
                    validity: dt.timedelta = DEFAULT_CATALOG_VALIDITY) -> Record:
    """Sign the catalog as the next version of the ``CATALOG`` log."""
    if catalog.county_code != hub.config.county_code:
        raise UsageError(
            f"this catalog is for county {catalog.county_code}, but this hub serves county "
            f"{hub.config.county_code}", code="wrong_county")
    with hub.store.transaction() as tx:
        now = tx.now
        version = tx.lock_head(CATALOG_LOG_ID).seq + 1
        return tx.seal_append(CatalogPublished(version=version, issued_at=now,
                                               expires_at=now + validity, catalog=catalog),
                              log_id=CATALOG_LOG_ID, signer=hub.keys.catalog, clock=hub.clock)


def revoke(hub: Hub, node_id: str, *, reason: str, operator: str,
           from_seq: int | None = None, via: str = "local-admin") -> Record:
    """Withdraw a node's certificates from a point of its log on (DESIGN §4).

    By default the point is the first record the hub has not yet committed: everything the hub
    holds stays valid, anything signed later with the node's keys is refused everywhere. Give
    ``from_seq`` lower when the key is known to have been stolen earlier; records the hub holds
    from that seq on are then reported by ``hub audit verify``.
    """
    if not reason.strip():
        raise UsageError("a revocation needs a reason (--reason)", code="reason_required")
    with hub.store.transaction() as tx:
        if tx.node(node_id) is None:
            raise NotFoundError(f"node {node_id} is not enrolled at this hub")
        if tx.revocation(node_id) is not None:
            raise UsageError(f"node {node_id} is already revoked", code="already_revoked")
        committed = tx.head(node_id).seq
        point = committed + 1 if from_seq is None else from_seq
        if point < 1:
            raise UsageError("--from-seq must be 1 or more", code="bad_seq")
        payload = NodeRevoked(node_id=node_id, from_seq=point, reason=reason.strip(),
                              operator=operator.strip())
        record = tx.seal_append(payload, log_id=hub.node_id, signer=hub.keys.records,
                                clock=hub.clock)
        tx.add_revocation(payload, tx.now)
        tx.add_trail(kind="NodeRevoked", node_id=node_id, operator=operator.strip(),
                     detail=reason.strip(), record=record, via=via)
    return record


def resolve_alarm(hub: Hub, alarm_id: int, *, operator: str, note: str) -> None:
    """Close an alarm after looking into it; a resolved fork alarm releases held pushes."""
    if not note.strip():
        raise UsageError("say what was found and done (--note)", code="note_required")
    with hub.store.transaction() as tx:
        if not tx.resolve_alarm(alarm_id, operator=operator.strip(), note=note.strip()):
            raise NotFoundError(f"alarm #{alarm_id} is not an open alarm; list them with "
                                "'bianmin hub alarms'")
