"""Delegated decisions (issue 5): the township decides the items the county lets it decide.

A decision is a record of the township's own log, signed by the township and citing the
county's delegation record (its hash). It goes down to the village directly and up to the
county, which checks it again (``node.kernel.authority`` rules 5 and 6) and confirms or
refuses it; until the county confirms it, it is provisional at the township and the village.
The township refuses to decide items the catalog does not delegate, or without a delegation
in force that covers the item.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.kernel.errors import StateError, UsageError
from node.kernel.payloads import Decision, Delegation, Outcome
from node.kernel.projector import Case
from node.kernel.records import Record
from node.kernel.workflow import State
from node.service import NodeService, latest_catalog
from node.store.seam import Reader
from node.tier import grants_to

__all__ = ["Granted", "current_delegation", "decide", "township_cases"]


@dataclass(frozen=True, kw_only=True)
class Granted:
    record: Record
    delegation: Delegation


def current_delegation(service: NodeService, reader: Reader) -> Granted | None:
    """The county's latest grant to this township, unless withdrawn or replaced since."""
    found = grants_to(reader, service.config.node_id)
    if not found or found[-1][1].ended_at is not None:
        return None
    record = found[-1][0]
    assert isinstance(record.payload, Delegation)
    return Granted(record=record, delegation=record.payload)


def township_cases(service: NodeService, state: str | None = None) -> list[Case]:
    """Every case the township holds -- its own desk's and its villages' -- each with who
    decides it (``decided_by``: "township" or "county")."""
    return service.cases(state)


def decide(service: NodeService, case_id: str, *, outcome: Outcome, reason: str,
           operator: str, verification_code: str) -> tuple[Record, State]:
    if not reason.strip():
        raise UsageError("a decision needs a reason (--reason)", code="reason_required")
    if not operator.strip():
        raise UsageError("name the operator who decides (--operator)", code="operator_required")
    township = service.config.node_id
    now = service.clock.now()
    with service.store.transaction() as tx:
        view = tx.cases.get(case_id)
        if view is None:
            raise UsageError(f"case {case_id} is not known at this township; list cases with "
                             "'bianmin township cases'", code="not_found")
        _r, published = latest_catalog(tx)
        item = published.catalog.item(view.item_code)
        if item is None or item.decided_by != "township":
            raise StateError(f"case {case_id}: item {view.item_code} is decided by the county, "
                             "not delegated to townships; it goes up to the county",
                             code="not_delegated")
        granted = current_delegation(service, tx)
        if granted is None or not (item.code in granted.delegation.items
                                   and granted.delegation.valid_from <= now
                                   <= granted.delegation.valid_until):
            raise StateError(f"case {case_id}: township {township} holds no delegation in force "
                             f"for item {item.label}; ask the county to grant it "
                             "('bianmin hub delegation grant')", code="no_delegation")
        record = tx.seal_append(Decision(case_id=case_id, outcome=outcome,
                                         reason=reason.strip(), operator=operator.strip(),
                                         department=township,
                                         verification_code=verification_code,
                                         delegation=granted.record.hash),
                                log_id=township, signer=service.signer, clock=service.clock,
                                audience=view.origin)
        change = service.project_own(tx, record)
    return record, change.after.state
