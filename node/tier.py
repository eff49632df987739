"""A village or township as a receiver (``node.receive.Tier``): what it knows when it judges
records (``NodeFacts``) and how it sees and answers them.

A node receives what it pulls from its upstream (the catalog, the county's records for it,
its township's decisions) and, at a township, what its villages push. It knows itself, its
upstream, the villages pushing to it, the cases it holds, the grants the county addressed to
its township, and the attachments it holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from node.blobs import BlobStore
from node.kernel.authority import CaseInfo, GrantInfo, NodeInfo, audience_of
from node.kernel.catalog import Item
from node.kernel.clock import Clock, to_ms
from node.kernel.errors import PeerError
from node.kernel.identity import CATALOG_LOG_ID, HUB_NODE_ID, Signer, load_certificate
from node.kernel.payloads import (
    ActionRefused,
    CaseSubmitted,
    CatalogPublished,
    Delegation,
    DelegationWithdrawn,
    KeyReplaced,
    NodeRevoked,
)
from node.kernel.projector import Case, Change, Context, Refusal, View
from node.kernel.records import Record, parse_record
from node.store.seam import Reader, Transaction

__all__ = ["RETIRED_TLS", "NodeFacts", "NodeTier", "catalog_versions", "grants_to",
           "retired_certificate", "retired_tls_mark"]

# the mark "tls-retired:V011": TLS certificates of V011 issued before this time (ms) open
# nothing here -- V011 lost its keys and was re-enrolled (``KeyReplaced``)
RETIRED_TLS = "tls-retired:"


def retired_tls_mark(node_id: str) -> str:
    return RETIRED_TLS + node_id


def retired_certificate(node_id: str) -> PeerError:
    """What a lost box's TLS certificate gets, at the county and at its township."""
    return PeerError(f"this TLS certificate of {node_id} was replaced when the node "
                     "re-enrolled after losing its keys; it opens nothing any more",
                     code="retired_certificate")

GRANT_SCAN = 100_000  # records of the county's log a node reads to find its township's grants


def grants_to(reader: Reader, township: str) -> list[tuple[Record, GrantInfo]]:
    """The county's grants to ``township`` that this node holds, oldest first, each ended
    where a later grant or a withdrawal ended it."""
    found: list[tuple[Record, GrantInfo]] = []
    for _seq, body, signature in reader.raw_after(HUB_NODE_ID, 0, GRANT_SCAN,
                                                  audiences=[f"@{township}", township]):
        record = parse_record(body, signature)
        payload = record.payload
        if isinstance(payload, Delegation | DelegationWithdrawn) and \
                payload.township == township and found and found[-1][1].ended_at is None:
            last_record, last = found[-1]
            found[-1] = (last_record, GrantInfo(
                record_hash=last.record_hash, township=last.township, items=last.items,
                valid_from=last.valid_from, valid_until=last.valid_until,
                ended_at=record.header.recorded_at))
        if isinstance(payload, Delegation) and payload.township == township:
            found.append((record, GrantInfo(record_hash=record.hash, township=township,
                                            items=payload.items, valid_from=payload.valid_from,
                                            valid_until=payload.valid_until)))
    return found


def catalog_versions(reader: Reader) -> dict[int, CatalogPublished]:
    """Every catalog version this node holds (few, and small)."""
    found = {}
    for _seq, body, signature in reader.raw_after(CATALOG_LOG_ID, 0, 10_000):
        payload = parse_record(body, signature).payload
        if isinstance(payload, CatalogPublished):
            found[payload.version] = payload
    return found


@dataclass(kw_only=True)
class NodeFacts:
    """``node.kernel.authority.Facts`` at a village or a township."""

    tx: Reader
    county_code: str
    receiver: str
    now: dt.datetime
    skew_tolerance: dt.timedelta
    nodes: Mapping[str, NodeInfo]
    township: str  # whose grants count here: the township itself, or the village's township
    blobs: BlobStore | None = None
    _grants: dict[bytes, GrantInfo] | None = field(default=None, repr=False)
    _cases: dict[str, CaseInfo | None] = field(default_factory=dict, repr=False)
    _issued: dict[bytes, dt.datetime | None] = field(default_factory=dict, repr=False)

    def node(self, node_id: str) -> NodeInfo | None:
        return self.nodes.get(node_id)

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
        if self._grants is None:
            self._grants = {g.record_hash: g for _r, g in grants_to(self.tx, self.township)}
        return self._grants.get(record_hash)

    def attachments(self, log_id: str,
                    hashes: Sequence[bytes]) -> tuple[set[bytes], set[bytes]]:
        held = {h for h in hashes if self.blobs is not None and self.blobs.has(h)}
        return held, self.tx.claimed(log_id, hashes)

    def not_before(self, key_id: bytes) -> dt.datetime | None:
        if key_id not in self._issued:
            cert = self.tx.certificate(key_id)
            self._issued[key_id] = None if cert is None else cert.not_valid_before_utc
        return self._issued[key_id]


class NodeTier:
    """``node.receive.Tier`` for a village or township node."""

    def __init__(self, *, node_id: str, tier: str, county_code: str, upstream: str,
                 signer: Signer, clock: Clock, blobs: BlobStore | None = None,
                 peers: Mapping[str, NodeInfo] | None = None,
                 skew_tolerance: dt.timedelta = dt.timedelta(minutes=10)) -> None:
        self.receiver = node_id
        self.tier = tier
        self.county_code = county_code
        self.upstream = upstream
        self.signer = signer
        self.clock = clock
        self.blobs = blobs
        self.skew_tolerance = skew_tolerance
        me = NodeInfo(node_id=node_id, tier=tier, parent=upstream)
        self.nodes: dict[str, NodeInfo] = {node_id: me, **(peers or {})}
        if upstream not in (HUB_NODE_ID, ""):
            self.nodes.setdefault(upstream, NodeInfo(node_id=upstream, tier="township",
                                                     parent=HUB_NODE_ID))

    @property
    def township(self) -> str:
        return self.receiver if self.tier == "township" else self.upstream

    def facts(self, tx: Transaction) -> NodeFacts:
        return NodeFacts(tx=tx, county_code=self.county_code, receiver=self.receiver,
                         now=tx.now, skew_tolerance=self.skew_tolerance, nodes=self.nodes,
                         township=self.township, blobs=self.blobs)

    def _item(self, tx: Reader, version: int, code: str) -> tuple[Item | None, bool]:
        versions = catalog_versions(tx)
        published = versions.get(version) or (versions[max(versions)] if versions else None)
        if published is None:
            return None, False
        return published.catalog.item(code), published.expires_at < tx.now

    def context(self, tx: Transaction, case: Case | None, record: Record) -> Context:
        origin = case.origin if case is not None else record.log_id
        view = View.ORIGIN if origin == self.receiver else View.RELAY
        payload = record.payload
        if isinstance(payload, CaseSubmitted):
            item, expired = self._item(tx, payload.catalog_version, payload.item_code)
            return Context(view=view, now=tx.now, receiver=self.receiver, item=item,
                           catalog_expired=expired)
        return Context(view=view, now=tx.now, receiver=self.receiver)

    def answer(self, tx: Transaction, record: Record, refusal: Refusal) -> None:
        """A township answers for the items it decides (the record stays in its writer's
        log; this says why it had no effect); anything else is noted on the case."""
        case = tx.cases.get(refusal.case_id)
        decides_here = (self.tier == "township" and case is not None
                        and case.decided_by == "township" and record.log_id != self.receiver
                        and record.log_id not in (HUB_NODE_ID, self.upstream))
        if decides_here and refusal.action is not None:
            tx.seal_append(ActionRefused(case_id=refusal.case_id, refused_log_id=record.log_id,
                                         refused_seq=record.seq,
                                         reason=f"{refusal.action.value} refused: "
                                                f"{refusal.message}"),
                           log_id=self.receiver, signer=self.signer,
                           clock=self.clock,
                           audience=record.log_id)
            return
        tx.cases.flag(refusal.case_id, [f"{record} had no effect here: {refusal.message}"])

    def audience(self, tx: Transaction, record: Record) -> str | None:
        def origin(case_id: str) -> str | None:
            case = tx.cases.get(case_id)
            return case.origin if case is not None else None

        return audience_of(record, origin)

    def decided_by(self, tx: Transaction, records: Sequence[Record]) -> Mapping[str, str]:
        versions = catalog_versions(tx)
        if not versions:
            return {}
        latest = versions[max(versions)]
        return {i.code: i.decided_by for i in latest.catalog.items}

    def refused(self, tx: Transaction, record: Record, code: str, message: str) -> None:
        """Below the county a refused record is evidence with an alarm; nothing is signed."""

    def lacking(self, tx: Transaction, record: Record, materials: Sequence[str]) -> None:
        """A township relays the record; the county, which decides, asks for the scans."""

    def projected(self, tx: Transaction, records: Sequence[Record],
                  changes: Sequence[Change]) -> None:
        for record in records:
            if isinstance(record.payload, NodeRevoked):
                tx.add_revocation(record.payload, tx.now)
            elif isinstance(record.payload, KeyReplaced) and record.log_id != self.receiver:
                # a village of this township lost its box and came back under new keys: the
                # county issued its new TLS certificate with the new records certificate, so
                # any older one of that village is the lost box's (checked where it calls)
                issued = load_certificate(record.payload.new_certificate).not_valid_before_utc
                tx.set_mark(retired_tls_mark(record.log_id), to_ms(issued),
                            note=f"{record}: keys replaced")
