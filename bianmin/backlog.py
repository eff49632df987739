"""Make a village's offline backlog: weeks of cases, some with scans (for tests and ``make
bench``). It writes exactly what ``node intake`` writes -- signed ``CaseSubmitted`` and
``PreReviewed`` records, case rows, content-addressed scans -- but many cases per
transaction, so that ten thousand cases take seconds rather than an hour of fsyncs.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from node.kernel.case_id import format_case_id
from node.kernel.catalog import Item
from node.kernel.clock import CST, FixedClock, SystemClock
from node.kernel.payloads import (
    Applicant,
    CaseSubmitted,
    CatalogPublished,
    MaterialRef,
    PreReviewed,
    referenced_blobs,
)
from node.kernel.projector import Case, Change, Context, View, apply
from node.kernel.records import LogHead, Record, seal
from node.kernel.resident_id import check_digit
from node.service import NodeService, latest_catalog, open_node
from node.store.seam import Transaction

__all__ = ["Backlog", "make_backlog"]

PER_TRANSACTION = 500
PER_DAY = 500
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


@dataclass(frozen=True)
class Backlog:
    cases: int
    records: int
    attachments: int
    attachment_bytes: int


def _applicant(rng: random.Random) -> Applicant:
    first17 = (f"360112{1940 + rng.randrange(60)}{rng.randrange(1, 13):02d}"
               f"{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}")
    return Applicant(name=rng.choice(SURNAMES) + "某", id_number=first17 + check_digit(first17))


def _one_case(service: NodeService, tx: Transaction, *, clock: FixedClock, head: LogHead,
              item: Item, materials: tuple[MaterialRef, ...], rng: random.Random,
              catalog: Record) -> list[Record]:
    """A complete MZ-001 case's two records, sealed onto ``head``."""
    published = catalog.payload
    assert isinstance(published, CatalogPublished)
    node_id = service.config.node_id
    day = clock.now().astimezone(CST).date()
    case_id = format_case_id(published.catalog.county_code, node_id, day,
                             tx.next_daily_number(day))
    submitted = seal(CaseSubmitted(
        case_id=case_id, item_code=item.code, applicant=_applicant(rng), materials=materials,
        fields=(("household_size", str(rng.randrange(1, 8))),
                ("monthly_income_yuan", str(rng.randrange(300, 3000)))),
        catalog_version=published.version, catalog_hash=catalog.hash,
    ), log_id=node_id, head=head, signer=service.signer, clock=clock)
    reviewed = seal(PreReviewed(case_id=case_id, complete=True, missing=(),
                                catalog_version=published.version, catalog_hash=catalog.hash),
                    log_id=node_id, head=submitted.head, signer=service.signer, clock=clock)
    return [submitted, reviewed]


def _projected(records: list[Record], context: Context) -> list[Change]:
    """What the projector makes of one case's records at its own desk."""
    changes: list[Change] = []
    case: Case | None = None
    for record in records:
        change = apply(case, record, context)
        assert isinstance(change, Change)
        changes.append(change)
        case = change.after
    return changes


def make_backlog(home: Path, *, cases: int, attachments: int = 0,
                 attachment_bytes: int = 50_000, seed: int = 7,
                 days_ago: int = 21) -> Backlog:
    """Append ``cases`` MZ-001 cases (every ``cases // attachments``-th with a scan of
    ``attachment_bytes`` random bytes) to the node at ``home``, dated over the past weeks.
    The records go through the store seam a transaction at a time, projected like any."""
    rng = random.Random(seed)  # noqa: S311 -- test data, reproducible by seed
    clock = FixedClock(SystemClock().now() - dt.timedelta(days=days_ago))
    every = max(1, cases // attachments) if attachments else 0
    scans = home / "backlog-scans"
    scans.mkdir(exist_ok=True)
    made_files = total_bytes = 0
    service = open_node(home, clock)
    node_id = service.config.node_id
    try:
        with service.store.reading() as r:
            catalog_record, published = latest_catalog(r)
        item = published.catalog.item("MZ-001")
        assert item is not None
        n = 0
        while n < cases:
            with service.store.transaction() as tx:
                head = tx.lock_head(node_id)
                written: list[Record] = []
                changes: list[Change] = []
                context = Context(view=View.ORIGIN, now=clock.now(), receiver=node_id,
                                  item=item)
                for _ in range(min(PER_TRANSACTION, cases - n)):
                    if n and n % PER_DAY == 0:
                        clock.advance(dt.timedelta(days=1))
                    clock.advance(dt.timedelta(seconds=37))
                    materials = [MaterialRef(code=m.code) for m in item.materials
                                 if m.required]
                    if every and n % every == 0 and made_files < attachments:
                        path = scans / f"scan-{n}.jpg"
                        path.write_bytes(b"\xff\xd8\xff\xe0" + rng.randbytes(attachment_bytes - 4))
                        ref = service.blobs.put_file(path, max_bytes=attachment_bytes + 1)
                        path.unlink()
                        materials[1] = MaterialRef(code="id_card", sha256=ref.sha256,
                                                   size=ref.size, filename=path.name)
                        made_files += 1
                        total_bytes += ref.size
                    records = _one_case(service, tx, clock=clock, head=head, item=item,
                                        materials=tuple(materials), rng=rng,
                                        catalog=catalog_record)
                    head = records[-1].head
                    changes += _projected(records, context)
                    written += records
                    n += 1
                tx.append(written)
                tx.cases.apply(changes)
                tx.claim(node_id, [h for r in written for h in referenced_blobs(r)])
    finally:
        service.close()
        if scans.exists() and not any(scans.iterdir()):
            scans.rmdir()
    return Backlog(cases=cases, records=2 * cases, attachments=made_files,
                   attachment_bytes=total_bytes)
