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
from node.kernel.clock import CST, FixedClock, SystemClock
from node.kernel.identity import CATALOG_LOG_ID
from node.kernel.payloads import Applicant, CaseSubmitted, MaterialRef, PreReviewed
from node.kernel.records import seal
from node.kernel.resident_id import check_digit
from node.service import open_node

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


def make_backlog(home: Path, *, cases: int, attachments: int = 0,
                 attachment_bytes: int = 50_000, seed: int = 7,
                 days_ago: int = 21) -> Backlog:
    """Append ``cases`` MZ-001 cases (every ``cases // attachments``-th with a scan of
    ``attachment_bytes`` random bytes) to the node at ``home``, dated over the past weeks."""
    rng = random.Random(seed)  # noqa: S311 -- test data, reproducible by seed
    start = SystemClock().now() - dt.timedelta(days=days_ago)
    clock = FixedClock(start)
    service = open_node(home, clock)
    node_id = service.config.node_id
    every = max(1, cases // attachments) if attachments else 0
    scans = home / "backlog-scans"
    scans.mkdir(exist_ok=True)
    made_files = total_bytes = 0
    try:
        with service.store.db.read() as conn:
            catalog_record, published = service.store.latest_catalog(conn, CATALOG_LOG_ID)
        item = published.catalog.item("MZ-001")
        assert item is not None
        n = 0
        while n < cases:
            with service.store.db.write() as conn:
                head = service.store.logs.head(conn, node_id, lock=True)
                written = []
                for _ in range(min(PER_TRANSACTION, cases - n)):
                    if n and n % PER_DAY == 0:
                        clock.advance(dt.timedelta(days=1))
                    clock.advance(dt.timedelta(seconds=37))
                    materials = [MaterialRef(code=m.code) for m in item.materials
                                 if m.required]
                    if every and n % every == 0 and made_files < attachments:
                        path = scans / f"scan-{n}.jpg"
                        path.write_bytes(rng.randbytes(attachment_bytes))
                        ref = service.blobs.put_file(path, max_bytes=attachment_bytes + 1)
                        path.unlink()
                        materials[1] = MaterialRef(code="id_card", sha256=ref.sha256,
                                                   size=ref.size, filename=path.name)
                        made_files += 1
                        total_bytes += ref.size
                    day = clock.now().astimezone(CST).date()
                    number = service.store.next_daily_number(conn, day)
                    case_id = format_case_id(published.catalog.county_code, node_id, day,
                                             number)
                    first17 = f"360112{1940 + rng.randrange(60)}{rng.randrange(1, 13):02d}" \
                              f"{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}"
                    submitted = seal(CaseSubmitted(
                        case_id=case_id, item_code=item.code,
                        applicant=Applicant(name=rng.choice(SURNAMES) + "某",
                                            id_number=first17 + check_digit(first17)),
                        materials=tuple(materials),
                        fields=(("household_size", str(rng.randrange(1, 8))),
                                ("monthly_income_yuan", str(rng.randrange(300, 3000)))),
                        catalog_version=published.version, catalog_hash=catalog_record.hash,
                    ), log_id=node_id, head=head, signer=service.signer, clock=clock)
                    reviewed = seal(PreReviewed(
                        case_id=case_id, complete=True, missing=(),
                        catalog_version=published.version, catalog_hash=catalog_record.hash,
                    ), log_id=node_id, head=submitted.head, signer=service.signer, clock=clock)
                    head = reviewed.head
                    written += [submitted, reviewed]
                    service.store.add_case(conn, submitted, reviewed, item.name)
                    n += 1
                service.store.logs.append(conn, written, now=clock.now())
    finally:
        service.store.db.close()
        if scans.exists() and not any(scans.iterdir()):
            scans.rmdir()
    return Backlog(cases=cases, records=2 * cases, attachments=made_files,
                   attachment_bytes=total_bytes)
