"""A county in memory for unit tests: the real CA, keys and certificates, the county's tier
and receive path on the in-memory store, and villages and a township with their own logs.

Everything here is the real code (``node.receive``, ``node.kernel``, ``county_hub.tier``); only
the database is a dictionary (``node.store.memory``, ``county_hub.memory``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from bianmin.demo import resident_id, sample_catalog
from county_hub.ca import issue_certificate, make_ca
from county_hub.home import HubConfig, HubKeys
from county_hub.hub import Hub
from county_hub.memory import MemoryHubStore
from county_hub.tier import HubTier
from node.blobs import BlobStore
from node.kernel.authority import NodeInfo
from node.kernel.catalog import parse_catalog_toml
from node.kernel.chain import BatchResult
from node.kernel.clock import FixedClock
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    NodeIdentity,
    Signer,
    new_records_key,
    new_tls_key,
)
from node.kernel.payloads import (
    Applicant,
    CaseSubmitted,
    CatalogPublished,
    Delegation,
    MaterialRef,
    Payload,
    PreReviewed,
)
from node.kernel.records import LogHead, Record, seal
from node.receive import Inbound, Receiver
from node.store.memory import MemoryStore
from node.tier import NodeTier

COUNTY = "360112"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in China


@dataclass
class Log:
    """A node's own log: seals the next record with the node's key at a chosen time."""

    log_id: str
    signer: Signer
    head: LogHead = field(default_factory=LogHead)

    def next(self, payload: Payload, *, at: dt.datetime = NOW) -> Record:
        record = seal(payload, log_id=self.log_id, head=self.head, signer=self.signer,
                      clock=FixedClock(at))
        self.head = record.head
        return record


class County:
    """The county hub on the in-memory store, with V001, V003 (under the county), township
    T01 with its village V011, and township T02."""

    def __init__(self, tmp: Path) -> None:
        self.clock = FixedClock(NOW)
        ca_key, ca_cert = make_ca(COUNTY, "新建区", NOW - dt.timedelta(days=30))
        self.ca_cert = ca_cert
        self.logs: dict[str, Log] = {}
        self.certs: dict[str, x509.Certificate] = {}

        def certify(node_id: str, tier: str, parent: str, purpose: str = "records",
                    at: dt.datetime = NOW - dt.timedelta(days=30)) -> Signer:
            key = new_records_key()
            cert = issue_certificate(ca_key=ca_key, ca_cert=ca_cert,
                                     public_key=key.public_key(),
                                     identity=NodeIdentity(county_code=COUNTY, node_id=node_id,
                                                           tier=tier, parent=parent,
                                                           purpose=purpose), now=at)
            self.certs[node_id] = cert
            return Signer(key)

        self.certify = certify  # a new key for a node, certified by the county CA
        hub_signer = certify(HUB_NODE_ID, "county", "")
        catalog_signer = certify(CATALOG_LOG_ID, "county", "", purpose="catalog")
        tls_key = new_tls_key()
        tls_cert = issue_certificate(ca_key=ca_key, ca_cert=ca_cert,
                                     public_key=tls_key.public_key(),
                                     identity=NodeIdentity(county_code=COUNTY,
                                                           node_id=HUB_NODE_ID, tier="county",
                                                           parent="", purpose="tls"), now=NOW)
        keys = HubKeys(ca_key=ca_key, ca_cert=ca_cert, records=hub_signer,
                       records_cert=self.certs[HUB_NODE_ID], catalog=catalog_signer,
                       catalog_cert=self.certs[CATALOG_LOG_ID], tls_key=tls_key,
                       tls_cert=tls_cert)
        self.store = MemoryHubStore(self.clock)
        self.hub = Hub(home=tmp, config=HubConfig.model_validate(
                           {"county_code": COUNTY, "county_name": "新建区"}),
                       keys=keys, store=self.store, clock=self.clock)  # type: ignore[arg-type]
        self.blobs_held: set[bytes] = set()
        self.receiver = Receiver(self.store, HubTier(self.hub, self._complete),
                                 ca=ca_cert, clock=self.clock)
        self.nodes = {"V001": ("village", HUB_NODE_ID), "V003": ("village", HUB_NODE_ID),
                      "T01": ("township", HUB_NODE_ID), "V011": ("village", "T01"),
                      "T02": ("township", HUB_NODE_ID), "V021": ("village", "T02")}
        with self.store.transaction() as tx:
            for cert in self.certs.values():
                tx.add_certificate(cert)
            for node_id, (tier, parent) in self.nodes.items():
                self.logs[node_id] = Log(node_id, certify(node_id, tier, parent))
                tx.add_certificate(self.certs[node_id])
                tx.add_node(node_id=node_id, tier=tier, name=node_id, parent=parent)
            catalog = parse_catalog_toml(sample_catalog().read_text(encoding="utf-8"))
            self.catalog = tx.seal_append(
                CatalogPublished(version=1, issued_at=NOW - dt.timedelta(days=30),
                                 expires_at=NOW + dt.timedelta(days=300), catalog=catalog),
                log_id=CATALOG_LOG_ID, signer=catalog_signer, clock=self.clock)

    def _complete(self, hashes: list[bytes]) -> set[bytes]:
        return {h for h in hashes if h in self.blobs_held}

    # -- what nodes send --------------------------------------------------------------------------

    def push(self, *records: Record, log_id: str | None = None,
             peer: str | None = None) -> BatchResult:
        log = log_id or records[0].log_id
        return self.receiver.receive(Inbound(peer=peer or log, log_id=log,
                                             raw=[(r.body, r.signature) for r in records]))

    def upload(self, log_id: str, data: bytes) -> bytes:
        """An attachment uploaded whole for ``log_id``: held, and claimed by that log."""
        digest = hashlib.sha256(data).digest()
        self.blobs_held.add(digest)
        with self.store.transaction() as tx:
            tx.claim(log_id, [digest])
        return digest

    def grant(self, township: str, *items: str, days: int = 30) -> Record:
        payload = Delegation(township=township, items=items, valid_from=self.clock.now(),
                             valid_until=self.clock.now() + dt.timedelta(days=days),
                             catalog_version=1, operator="陈工")
        with self.store.transaction() as tx:
            record = tx.seal_append(payload, log_id=HUB_NODE_ID, signer=self.hub.keys.records,
                                    clock=self.clock, audience=f"@{township}")
            tx.add_grant(township=township, record_hash=record.hash, items=items,
                         valid_from=payload.valid_from, valid_until=payload.valid_until,
                         catalog_version=1)
        return record

    def hub_record(self, payload: Payload) -> Record:
        """A record of the county's own log, as the county writes it."""
        with self.store.transaction() as tx:
            return tx.seal_append(payload, log_id=HUB_NODE_ID, signer=self.hub.keys.records,
                                  clock=self.clock)

    def end_grant(self, township: str, *, seen_seq: int = 0) -> None:
        with self.store.transaction() as tx:
            tx.end_grants(township, seen_seq=seen_seq)

    # -- what the county holds --------------------------------------------------------------------

    def case(self, case_id: str):  # type: ignore[no-untyped-def]
        with self.store.reading() as r:
            return r.cases.get(case_id)

    def stored(self, log_id: str) -> int:
        with self.store.reading() as r:
            return len(r.raw_after(log_id, 0, 10_000))

    def evidence(self) -> list[dict[str, object]]:
        with self.store.reading() as r:
            return r.recent_evidence(1000)

    def alarms(self) -> list[tuple[str, str]]:
        with self.store.reading() as r:
            return [(a.kind, a.node_id) for a in r.open_alarms()]

    def hub_records(self) -> list[Record]:
        with self.store.reading() as r:
            from node.kernel.records import parse_record  # noqa: PLC0415

            return [parse_record(b, s) for _q, b, s in r.raw_after(HUB_NODE_ID, 0, 10_000)]


def submission(node_id: str, number: int = 1, *, item: str = "MZ-001",
               day: str = "20261201", materials: tuple[MaterialRef, ...] = (),
               county: str = COUNTY, name: str = "张秀英") -> CaseSubmitted:
    case_id = f"{county}-{node_id}-{day}-{number:04d}"
    return CaseSubmitted(case_id=case_id, item_code=item,
                         applicant=Applicant(name=name,
                                             id_number=resident_id("36011219580301102")),
                         materials=materials or (MaterialRef(code="application"),),
                         fields=(("household_size", "3"), ("monthly_income_yuan", "1200")),
                         catalog_version=1, catalog_hash=b"\0" * 32)


def reviewed(case_id: str, *, complete: bool = True) -> PreReviewed:
    return PreReviewed(case_id=case_id, complete=complete,
                       missing=() if complete else ("hukou",), catalog_version=1,
                       catalog_hash=b"\0" * 32)


class Village:
    """A village (or township) node on the in-memory store, receiving what it pulls."""

    def __init__(self, county: County, node_id: str, tmp: Path) -> None:
        tier, parent = county.nodes[node_id]
        self.node_id = node_id
        self.clock = FixedClock(NOW)
        self.store = MemoryStore(self.clock)
        self.log = county.logs[node_id]
        self.tier = NodeTier(node_id=node_id, tier=tier, county_code=COUNTY, upstream=parent,
                             signer=county.logs[node_id].signer, clock=self.clock,
                             blobs=BlobStore(tmp / f"blobs-{node_id}"),
                             peers={v: NodeInfo(node_id=v, tier="village", parent=node_id)
                                    for v, (_t, p) in county.nodes.items() if p == node_id})
        self.receiver = Receiver(self.store, self.tier, ca=county.ca_cert, clock=self.clock)
        published = county.catalog.payload
        assert isinstance(published, CatalogPublished)
        self.catalog = published.catalog
        with self.store.transaction() as tx:
            for cert in county.certs.values():
                tx.add_certificate(cert)
            tx.append([county.catalog])

    def take(self, *records: Record) -> None:
        """Apply ``records`` as one pulled batch (grouped by log, in order)."""
        by_log: dict[str, list[tuple[bytes, bytes]]] = {}
        for r in records:
            by_log.setdefault(r.log_id, []).append((r.body, r.signature))
        self.receiver.take_whole([Inbound(peer="HUB", log_id=log, raw=raw,
                                          contiguous=log == CATALOG_LOG_ID)
                                  for log, raw in by_log.items()])

    def own(self, *payloads: Payload) -> list[Record]:
        """This node's own records, written at its desk (sealed, stored, projected)."""
        from node.kernel.projector import Context, View, apply  # noqa: PLC0415

        out = []
        with self.store.transaction() as tx:
            for payload in payloads:
                record = self.log.next(payload)
                tx.append([record])
                case = tx.cases.get(getattr(payload, "case_id", ""))
                item = (self.catalog.item(payload.item_code)
                        if isinstance(payload, CaseSubmitted) else None)
                change = apply(case, record, Context(view=View.ORIGIN, now=tx.now,
                                                     receiver=self.node_id, item=item))
                if change is not None and not hasattr(change, "code"):
                    tx.cases.apply([change])  # type: ignore[list-item]
                out.append(record)
        return out

    def case(self, case_id: str):  # type: ignore[no-untyped-def]
        with self.store.reading() as r:
            return r.cases.get(case_id)

    def alarms(self) -> list[tuple[str, str]]:
        with self.store.reading() as r:
            return [(a.kind, a.node_id) for a in r.open_alarms()]
