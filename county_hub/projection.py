"""The county's view of cases, projected from the records it accepts (DESIGN §9).

Ingest calls ``project`` once per accepted batch, in the transaction that stores the batch, so
the view and the records commit together. The common kinds -- a case submitted, its
pre-review -- are applied to the whole batch with one statement each (SQLAlchemy Core
``executemany``); the rest, rare, one by one. ``screen`` runs before: it holds back records
whose attachments have not all arrived and judges townships' decisions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, insert, select, update

from county_hub.blobs import DbBlobStore
from county_hub.delegation import (
    apply_township_decision,
    case_pending,
    judge_township_decision,
)
from county_hub.hub import Hub
from county_hub.workflow import apply_node_action
from node.ingest import Hold
from node.kernel.catalog import Item
from node.kernel.clock import to_ms
from node.kernel.errors import NotFoundError
from node.kernel.payloads import CaseSubmitted, Decision, PreReviewed, referenced_blobs
from node.kernel.prereview import PreReview, recheck
from node.kernel.records import Record
from node.kernel.workflow import State

__all__ = ["describe_skew", "project", "screen"]


def describe_skew(seconds: float) -> str:
    """``3 d 2 h ahead of`` / ``12 min behind``: how far a clock is off, in words."""
    direction = "ahead of" if seconds > 0 else "behind"
    left = abs(int(seconds))
    days, left = divmod(left, 86_400)
    hours, left = divmod(left, 3_600)
    minutes = left // 60
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [
        f"{minutes} min"] * bool(minutes and not days)
    return f"{' '.join(parts) or 'under a minute'} {direction}"


def screen(hub: Hub, blobs: DbBlobStore, records: Sequence[Record]) -> dict[int, Hold]:
    """Which records of a batch cannot be taken now, and why (one query for all the batch's
    attachments; decisions are judged only when there are some)."""
    holds: dict[int, Hold] = {}
    wanted = {r.seq: referenced_blobs(r) for r in records}
    needed = [h for hashes in wanted.values() for h in hashes]
    if needed:
        complete = blobs.complete(list(dict.fromkeys(needed)))
        for seq, hashes in wanted.items():
            missing = [h for h in hashes if h not in complete]
            if missing:
                names = ", ".join(sorted(m.hex()[:12] for m in missing))
                holds[seq] = Hold(code="blob_missing",
                                  message=f"{len(missing)} attachment(s) it names ({names}...) "
                                          "have not fully arrived")
    decisions = [r for r in records if isinstance(r.payload, Decision)]
    if decisions:
        with hub.store.db.read() as conn:
            for record in decisions:
                pending = case_pending(hub, conn, record)
                if pending is not None:
                    holds[record.seq] = Hold(code="case_pending", message=pending)
                    continue
                verdict = judge_township_decision(hub, conn, record)
                if verdict is not None:
                    holds[record.seq] = Hold(code=verdict[0], message=verdict[1])
    return holds


def project(hub: Hub, conn: Connection, records: Sequence[Record]) -> None:
    now = hub.clock.now()
    submitted = [r for r in records if isinstance(r.payload, CaseSubmitted)]
    reviewed = [r for r in records if isinstance(r.payload, PreReviewed)]
    if submitted:
        _receive(hub, conn, submitted, now)
    if reviewed:
        _pre_reviews(hub, conn, reviewed, {r.payload.case_id: r for r in submitted  # type: ignore[union-attr]
                                           }, now)
    for record in records:
        if isinstance(record.payload, Decision):
            apply_township_decision(hub, conn, record, now)
        elif not isinstance(record.payload, CaseSubmitted | PreReviewed):
            apply_node_action(hub, conn, record, now)


def _item(hub: Hub, conn: Connection, case: CaseSubmitted) -> Item | None:
    try:
        return hub.catalog_version(conn, case.catalog_version).catalog.item(case.item_code)
    except NotFoundError:
        return None


def _receive(hub: Hub, conn: Connection, records: Sequence[Record], now: dt.datetime) -> None:
    store = hub.store
    ids = [r.payload.case_id for r in records]  # type: ignore[union-attr]
    known = {row[0] for row in conn.execute(select(store.cases.c.case_id)
                                            .where(store.cases.c.case_id.in_(ids)))}
    fresh = [r for r in records if r.payload.case_id not in known]  # type: ignore[union-attr]
    if not fresh:
        return
    skew = _skew_flag(hub, conn, fresh[0].log_id, fresh)
    rows, trail = [], []
    for record in fresh:
        case = record.payload
        assert isinstance(case, CaseSubmitted)
        item = _item(hub, conn, case)
        rows.append({
            "case_id": case.case_id, "origin_node": record.log_id, "item_code": case.item_code,
            "item_name": item.name if item else "",
            "decided_by": item.decided_by if item else "county",
            "departments": ",".join(item.departments) if item else "",
            "applicant_name": case.applicant.name, "applicant_id": case.applicant.id_number,
            "state": State.RECEIVED.value, "complete": False, "missing": "", "reason": "",
            "operator": "", "department": "", "catalog_version": case.catalog_version,
            "submitted_at_ms": to_ms(record.header.recorded_at), "received_at_ms": to_ms(now),
            "updated_at_ms": to_ms(now), "flags": skew.get(case.case_id, ""), "supplements": 0,
            "requested": "", "outcome": "",
        })
        trail.append({"at_ms": to_ms(now), "kind": "Received", "case_id": case.case_id,
                      "node_id": record.log_id, "operator": "",
                      "detail": f"item {case.item_code}", "log_id": record.log_id,
                      "seq": record.seq})
    conn.execute(insert(store.cases), rows)
    conn.execute(insert(store.trail), trail)


def _skew_flag(hub: Hub, conn: Connection, node_id: str,
               records: Sequence[Record]) -> dict[str, str]:
    """Node clocks can be days off: flag it, never refuse for it (deadlines count from the
    hub's receipt)."""
    node = hub.store.node(conn, node_id)
    limit = hub.config.clock_skew_threshold_s
    skew = node.clock_skew_s if node is not None else None
    flags: dict[str, str] = {}
    for record in records:
        case_id = record.payload.case_id  # type: ignore[union-attr]
        ahead = (record.header.recorded_at - hub.clock.now()).total_seconds()
        if skew is not None and abs(skew) > limit:
            flags[case_id] = (f"taken at {node_id}, whose clock was {describe_skew(skew)} the "
                              "county's at its last sync; deadlines count from the hub's "
                              "receipt")
        elif ahead > limit:
            flags[case_id] = (f"{node_id}'s clock put this case {describe_skew(ahead)} the "
                              "county's time")
    return flags


def _pre_reviews(hub: Hub, conn: Connection, records: Sequence[Record],
                 submitted_here: dict[str, Record], now: dt.datetime) -> None:
    cases = hub.store.cases
    conn.execute(
        update(cases).where(cases.c.case_id == bindparam("b_case_id"))
        .values(complete=bindparam("b_complete"), missing=bindparam("b_missing"),
                updated_at_ms=bindparam("b_at")),
        [{"b_case_id": r.payload.case_id, "b_complete": r.payload.complete,  # type: ignore[union-attr]
          "b_missing": ",".join(r.payload.missing), "b_at": to_ms(now)}  # type: ignore[union-attr]
         for r in records])
    origin = hub.store.node(conn, records[0].log_id)
    tier = origin.tier if origin else "village"
    current = None
    with contextlib.suppress(NotFoundError):
        current = hub.catalog_version(conn)
    for record in records:
        review = record.payload
        assert isinstance(review, PreReviewed)
        source = submitted_here.get(review.case_id) or next(
            (r for r in hub.store.logs.case_history(conn, review.case_id)
             if isinstance(r.payload, CaseSubmitted)), None)
        if source is None:
            continue
        flags = _recheck(hub, conn, source, review, tier, current)
        if flags:
            hub.store.flag_case(conn, review.case_id, flags)


def _recheck(hub: Hub, conn: Connection, source: Record, review: PreReviewed, tier: str,
             current: object) -> list[str]:
    """Re-check the case against the catalog it cites and the current one (DESIGN §5)."""
    submitted = source.payload
    assert isinstance(submitted, CaseSubmitted)
    cited = None
    if hub.catalog_hash(conn, submitted.catalog_version) == submitted.catalog_hash:
        with contextlib.suppress(NotFoundError):
            cited = hub.catalog_version(conn, submitted.catalog_version)
    now_catalog = current if current is not None else None
    return recheck(
        materials=[m.code for m in submitted.materials], fields=dict(submitted.fields),
        item_code=submitted.item_code, tier=tier,
        node_review=PreReview(complete=review.complete, missing=review.missing),
        cited=cited.catalog if cited else None, cited_version=submitted.catalog_version,
        cited_expired=bool(cited and source.header.recorded_at > cited.expires_at),
        current=now_catalog.catalog if now_catalog else None,  # type: ignore[attr-defined]
        current_version=now_catalog.version if now_catalog else 0,  # type: ignore[attr-defined]
    )
