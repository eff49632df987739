"""The county as a receiver (``node.receive.Tier``): what it knows when it judges records
(``HubFacts``), how it sees a case, and how it answers (DESIGN §4, §5, §6, §9).

* Facts: enrolled nodes, the cases it holds, the grants it made (with how far it had seen a
  township's log when a grant ended), the attachments it holds whole and which log each was
  uploaded for, the certificates it trusts.
* A case arriving is ``received`` at the county's clock; the item's name, deciding tier and
  departments come from the catalog version the case cites.
* A node's action that cannot take effect (a withdrawal after the decision) is answered with
  a signed ``ActionRefused`` addressed to the case's origin; so is a township's decision that
  cannot (the case moved on). A township's decision that took effect is confirmed by a signed
  ``DecisionConfirmed``: below the county it was provisional until then.
* Beside the projection: the re-check of a case against the catalog on arrival (DESIGN §5),
  and a flag on cases taken by a node whose clock was off at its last heartbeat.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, cast

from county_hub.hub import Hub
from county_hub.store import GrantRow, NodeRow
from node.kernel.authority import CaseInfo, GrantInfo, NodeInfo, audience_of
from node.kernel.catalog import Item
from node.kernel.clock import describe_skew
from node.kernel.errors import NotFoundError
from node.kernel.identity import HUB_NODE_ID
from node.kernel.payloads import (
    ActionRefused,
    CaseSubmitted,
    CatalogPublished,
    Decision,
    DecisionConfirmed,
    PreReviewed,
)
from node.kernel.prereview import PreReview, recheck
from node.kernel.projector import Case, Change, Context, Refusal, View
from node.kernel.records import Record
from node.store.seam import Transaction

__all__ = ["HubFacts", "HubTier"]


class CountyTransaction(Transaction, Protocol):
    """The seam's unit of work with the county's own reads (``county_hub.store``, or
    ``county_hub.memory`` in unit tests)."""

    def node(self, node_id: str) -> NodeRow | None: ...

    def grant(self, record_hash: bytes) -> GrantRow | None: ...


@dataclasses.dataclass(kw_only=True)
class HubFacts:
    """``node.kernel.authority.Facts`` at the county, read inside the ingest transaction."""

    tx: CountyTransaction
    county_code: str
    now: dt.datetime
    skew_tolerance: dt.timedelta
    complete_blobs: Callable[[list[bytes]], set[bytes]]  # which blobs the county holds whole
    receiver: str = HUB_NODE_ID
    _nodes: dict[str, NodeInfo | None] = dataclasses.field(default_factory=dict)
    _cases: dict[str, CaseInfo | None] = dataclasses.field(default_factory=dict)
    _issued: dict[bytes, dt.datetime | None] = dataclasses.field(default_factory=dict)

    def node(self, node_id: str) -> NodeInfo | None:
        if node_id not in self._nodes:
            row = self.tx.node(node_id)
            self._nodes[node_id] = None if row is None else NodeInfo(
                node_id=row.node_id, tier=row.tier, parent=row.parent)
        return self._nodes[node_id]

    def prefetch(self, case_ids: Sequence[str]) -> None:
        wanted = [c for c in dict.fromkeys(case_ids) if c not in self._cases]
        if wanted:
            found = self.tx.cases.get_many(wanted)
            self._cases.update({c: CaseInfo.of(found.get(c)) for c in wanted})

    def case(self, case_id: str) -> CaseInfo | None:
        if case_id not in self._cases:
            self._cases[case_id] = CaseInfo.of(self.tx.cases.get(case_id))
        return self._cases[case_id]

    def grant(self, record_hash: bytes) -> GrantInfo | None:
        row = self.tx.grant(record_hash)
        return None if row is None else row.info

    def attachments(self, log_id: str,
                    hashes: Sequence[bytes]) -> tuple[set[bytes], set[bytes]]:
        wanted = list(dict.fromkeys(hashes))
        return self.complete_blobs(wanted), self.tx.claimed(log_id, wanted)

    def not_before(self, key_id: bytes) -> dt.datetime | None:
        if key_id not in self._issued:
            cert = self.tx.certificate(key_id)
            self._issued[key_id] = None if cert is None else cert.not_valid_before_utc
        return self._issued[key_id]


class HubTier:
    """``node.receive.Tier`` for the county."""

    receiver = HUB_NODE_ID

    def __init__(self, hub: Hub, complete_blobs: Callable[[list[bytes]], set[bytes]]) -> None:
        self.hub = hub
        self.complete_blobs = complete_blobs
        self._items: dict[tuple[int, str], Item | None] = {}
        self._skew: tuple[Transaction, str, tuple[str, ...]] | None = None  # one batch's
        self._plain: tuple[Transaction, Context] | None = None

    def facts(self, tx: Transaction) -> HubFacts:
        return HubFacts(tx=cast(CountyTransaction, tx),
                        county_code=self.hub.config.county_code, now=tx.now,
                        skew_tolerance=dt.timedelta(
                            seconds=self.hub.config.clock_skew_threshold_s),
                        complete_blobs=self.complete_blobs)

    def _cited(self, tx: Transaction, record: Record) -> tuple[Item | None, bool]:
        """The item of the catalog version a submission cites, and whether that version had
        expired when the node signed it."""
        payload = record.payload
        assert isinstance(payload, CaseSubmitted)
        try:
            cited = self.hub.catalog_version(tx, payload.catalog_version)
        except NotFoundError:
            return None, False
        key = (cited.version, payload.item_code)
        if key not in self._items:  # versions never change; this runs for every submission
            self._items[key] = cited.catalog.item(payload.item_code)
        return self._items[key], record.header.recorded_at > cited.expires_at

    def context(self, tx: Transaction, case: Case | None, record: Record) -> Context:
        if isinstance(record.payload, CaseSubmitted):
            item, expired = self._cited(tx, record)
            return Context(view=View.COUNTY, now=tx.now, receiver=HUB_NODE_ID, item=item,
                           catalog_expired=expired, flags=self._skew_flags(tx, record.log_id))
        if self._plain is None or self._plain[0] is not tx:  # one per transaction
            self._plain = (tx, Context(view=View.COUNTY, now=tx.now, receiver=HUB_NODE_ID))
        return self._plain[1]

    def answer(self, tx: Transaction, record: Record, refusal: Refusal) -> None:
        """The record stays in its writer's log; this signed record says why it had no effect,
        and flows down to the case's origin (and its township)."""
        case = tx.cases.get(refusal.case_id)
        what = refusal.action.value if refusal.action is not None else type(
            record.payload).__name__
        answer = tx.seal_append(ActionRefused(case_id=refusal.case_id,
                                              refused_log_id=record.log_id,
                                              refused_seq=record.seq,
                                              reason=f"{what} refused: {refusal.message} "
                                                     f"[{refusal.code}]"),
                                log_id=HUB_NODE_ID, signer=self.hub.keys.records,
                                clock=self.hub.clock,
                                audience=case.origin if case is not None else None)
        tx.add_trail(kind="ActionRefused", case_id=refusal.case_id, node_id=record.log_id,
                     detail=f"{refusal.code}: {refusal.message}", record=answer)

    def refused(self, tx: Transaction, record: Record, code: str, message: str) -> None:
        """A record the authority rules refused stands in its log without effect; this signed
        refusal tells its writer -- and, for a township's decision, the village whose case it
        was, where the decision was provisional and must plainly not stand (rule 5)."""
        if record.log_id == HUB_NODE_ID:
            return
        case_id = str(getattr(record.payload, "case_id", ""))
        case = tx.cases.get(case_id) if case_id else None
        audience = (case.origin if isinstance(record.payload, Decision) and case is not None
                    else record.log_id)
        answer = tx.seal_append(ActionRefused(case_id=case_id, refused_log_id=record.log_id,
                                              refused_seq=record.seq,
                                              reason=f"the county does not accept this "
                                                     f"record: {message} [{code}]"),
                                log_id=HUB_NODE_ID, signer=self.hub.keys.records,
                                clock=self.hub.clock, audience=audience,
                                of_case=case is not None and audience == case.origin)
        tx.add_trail(kind="ActionRefused", case_id=case_id, node_id=record.log_id,
                     detail=f"{code}: {message}", record=answer)

    def lacking(self, tx: Transaction, record: Record, materials: Sequence[str]) -> None:
        """The record stands and the case lacks those materials here (projector rule 6); the
        desk is told, by a signed refusal, to attach the scans again."""
        case_id = str(getattr(record.payload, "case_id", ""))
        codes = ", ".join(materials)
        message = (f"the scan(s) of {codes} named by {record} never reached the county "
                   f"(the file was lost or empty at the desk): attach them again with "
                   f"'bianmin node supplement {case_id} --material CODE=FILE' [scan_missing]")
        answer = tx.seal_append(ActionRefused(case_id=case_id, refused_log_id=record.log_id,
                                              refused_seq=record.seq, reason=message),
                                log_id=HUB_NODE_ID, signer=self.hub.keys.records,
                                clock=self.hub.clock, audience=record.log_id)
        tx.add_trail(kind="ActionRefused", case_id=case_id, node_id=record.log_id,
                     detail=f"scan_missing: {message}", record=answer)

    def audience(self, tx: Transaction, record: Record) -> str | None:
        def origin(case_id: str) -> str | None:
            case = tx.cases.get(case_id)
            return case.origin if case is not None else None

        return audience_of(record, origin)

    def decided_by(self, tx: Transaction, records: Sequence[Record]) -> Mapping[str, str]:
        found: dict[str, str] = {}
        for record in records:
            if isinstance(record.payload, CaseSubmitted):
                item, _expired = self._cited(tx, record)
                if item is not None:
                    found[item.code] = item.decided_by
        return found

    def projected(self, tx: Transaction, records: Sequence[Record],
                  changes: Sequence[Change]) -> None:
        county = cast(CountyTransaction, tx)
        submitted = {c.case_id: c.record for c in changes
                     if c.before is None and c.record is not None}
        current = None
        with contextlib.suppress(NotFoundError):
            current = self.hub.catalog_version(tx)  # once for the batch
        origin = county.node(records[0].log_id)
        for change in changes:
            record = change.record
            if record is None:
                continue
            if isinstance(record.payload, PreReviewed):
                self._recheck(county, record, submitted.get(change.case_id), current,
                              origin.tier if origin else "village")
            elif isinstance(record.payload, Decision) and record.log_id != HUB_NODE_ID:
                tx.seal_append(DecisionConfirmed(case_id=change.case_id,
                                                 decision_log_id=record.log_id,
                                                 decision_seq=record.seq,
                                                 decision_hash=record.hash),
                               log_id=HUB_NODE_ID, signer=self.hub.keys.records,
                               clock=self.hub.clock, audience=change.after.origin)

    # -- beside the projection --------------------------------------------------------------------

    def _skew_flags(self, tx: Transaction, node_id: str) -> tuple[str, ...]:
        """Node clocks can be days off: flag the cases it takes, never refuse for it (deadlines
        count from the county's receipt). Looked up once per batch, written with the change."""
        if self._skew is not None and self._skew[0] is tx and self._skew[1] == node_id:
            return self._skew[2]
        node = cast(CountyTransaction, tx).node(node_id)
        skew = node.clock_skew_s if node is not None else None
        flags: tuple[str, ...] = ()
        if skew is not None and abs(skew) > self.hub.config.clock_skew_threshold_s:
            flags = (f"taken at {node_id}, whose clock was {describe_skew(skew)} the county's "
                     "at its last sync; deadlines count from the hub's receipt",)
        self._skew = (tx, node_id, flags)
        return flags

    def _recheck(self, tx: CountyTransaction, record: Record, source: Record | None,
                 current: CatalogPublished | None, tier: str) -> None:
        """Re-check the case against the catalog it cites and the current one (DESIGN §5)."""
        review = record.payload
        assert isinstance(review, PreReviewed)
        if source is None:
            source = next((r for r in tx.case_history(review.case_id)
                           if isinstance(r.payload, CaseSubmitted)), None)
        if source is None:
            return
        submitted = source.payload
        assert isinstance(submitted, CaseSubmitted)
        cited = None
        if self.hub.catalog_hash(tx, submitted.catalog_version) == submitted.catalog_hash:
            with contextlib.suppress(NotFoundError):
                cited = self.hub.catalog_version(tx, submitted.catalog_version)
        flags = recheck(
            materials=[m.code for m in submitted.materials], fields=dict(submitted.fields),
            item_code=submitted.item_code, tier=tier,
            node_review=PreReview(complete=review.complete, missing=review.missing),
            cited=cited.catalog if cited else None, cited_version=submitted.catalog_version,
            cited_expired=bool(cited and source.header.recorded_at > cited.expires_at),
            current=current.catalog if current else None,
            current_version=current.version if current else 0)
        if flags:
            tx.cases.flag(review.case_id, flags)

