"""Storage of records, logs and certificates, shared by every tier; and the village node's store.

``LogStore`` holds what every tier keeps the same way: raw records (bytes as signed), log
heads, trusted signing certificates and the case-to-record index. ``NodeStore`` adds the
node's sync marks, case numbers and its view of its cases. Writes go through SQLAlchemy Core
on the SQLModel tables (DESIGN §9); every method takes the connection of the caller's
transaction, so a caller composes several steps into one atomic commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Connection, Table, func, insert, select, update

from node.db import Database
from node.kernel.clock import from_ms, to_ms
from node.kernel.errors import NotFoundError
from node.kernel.identity import (
    certificate_der,
    fingerprint,
    identity_of,
    key_id_of,
    load_certificate,
)
from node.kernel.payloads import (
    CaseSubmitted,
    CatalogPublished,
    Concluded,
    Decision,
    NodeRevoked,
    NotAccepted,
    Outcome,
    PreReviewed,
    Supplemented,
    SupplementRequested,
    Withdrawn,
)
from node.kernel.records import LogHead, Record, parse_record
from node.kernel.workflow import (
    NODE_ACTIONS,
    Action,
    CaseFacts,
    State,
    initial_state,
    next_state,
    node_action_fields,
)
from node.schema import (
    NodeAlarm,
    NodeCase,
    NodeCaseCounter,
    NodeCaseRecord,
    NodeCertificate,
    NodeEvidence,
    NodeLogHead,
    NodeRecord,
    NodeRevocation,
    NodeSyncState,
    table_of,
)

__all__ = ["Alarm", "CaseView", "Keyring", "LogStore", "NodeStore", "Revocation", "case_of"]


def case_of(record: Record) -> str | None:
    """The case a record concerns, if any."""
    case_id = getattr(record.payload, "case_id", None)
    return case_id if isinstance(case_id, str) else None


class LogStore:
    """Record tables every tier shares."""

    def __init__(self, *, records: Table, heads: Table, certificates: Table,
                 case_records: Table, evidence: Table, alarms: Table,
                 revocations: Table) -> None:
        self.records = records
        self.heads = heads
        self.certificates = certificates
        self.case_records = case_records
        self.evidence = evidence
        self.alarms = alarms
        self.revocations = revocations

    # -- logs -----------------------------------------------------------------------------------

    def head(self, conn: Connection, log_id: str, *, lock: bool = False) -> LogHead:
        query = (select(self.heads.c.seq, self.heads.c.hash, self.heads.c.key_id)
                 .where(self.heads.c.log_id == log_id))
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        return (LogHead() if row is None
                else LogHead(seq=row.seq, hash=row.hash, key_id=row.key_id))

    def hash_at(self, conn: Connection, log_id: str, seq: int) -> bytes | None:
        h: bytes | None = conn.execute(
            select(self.records.c.hash).where(self.records.c.log_id == log_id,
                                              self.records.c.seq == seq),
        ).scalar()
        return h

    def append(self, conn: Connection, records: Sequence[Record], *, now: dt.datetime,
               audience: Callable[[Record], str | None] = lambda _r: None,
               advance_head: bool = True) -> None:
        """Store records as signed, index them by case, and move each log's head."""
        if not records:
            return
        stored_at = to_ms(now)
        conn.execute(insert(self.records), [
            {"log_id": r.log_id, "seq": r.seq, "hash": r.hash, "body": r.body,
             "signature": r.signature, "audience": audience(r), "stored_at_ms": stored_at}
            for r in records
        ])
        links = [{"case_id": c, "log_id": r.log_id, "seq": r.seq}
                 for r in records if (c := case_of(r)) is not None]
        if links:
            conn.execute(insert(self.case_records), links)
        if advance_head:
            last: dict[str, Record] = {}
            for r in records:
                last[r.log_id] = r
            for log_id, r in last.items():
                self.set_head(conn, log_id, r.head)

    def set_head(self, conn: Connection, log_id: str, head: LogHead) -> None:
        values = {"seq": head.seq, "hash": head.hash, "key_id": head.key_id}
        done = conn.execute(update(self.heads).where(self.heads.c.log_id == log_id)
                            .values(**values))
        if done.rowcount == 0:
            conn.execute(insert(self.heads).values(log_id=log_id, **values))

    def raw_after(self, conn: Connection, log_id: str, after_seq: int, limit: int,
                  *, audiences: Sequence[str] | None = None, upto: int | None = None,
                  ) -> list[tuple[int, bytes, bytes]]:
        """``(seq, body, signature)`` of records after ``after_seq``, oldest first; with
        ``audiences``, only records meant for those nodes or for everyone."""
        t = self.records
        query = (select(t.c.seq, t.c.body, t.c.signature)
                 .where(t.c.log_id == log_id, t.c.seq > after_seq)
                 .order_by(t.c.seq).limit(limit))
        if upto is not None:
            query = query.where(t.c.seq <= upto)
        if audiences is not None:
            query = query.where(t.c.audience.is_(None) | t.c.audience.in_(audiences))
        return [(row.seq, row.body, row.signature) for row in conn.execute(query)]

    def latest(self, conn: Connection, log_id: str) -> Record | None:
        t = self.records
        row = conn.execute(
            select(t.c.body, t.c.signature).where(t.c.log_id == log_id)
            .order_by(t.c.seq.desc()).limit(1),
        ).first()
        return None if row is None else parse_record(row.body, row.signature)

    def case_history(self, conn: Connection, case_id: str) -> list[Record]:
        t, links = self.records, self.case_records
        rows = conn.execute(
            select(t.c.body, t.c.signature)
            .join(links, (links.c.log_id == t.c.log_id) & (links.c.seq == t.c.seq))
            .where(links.c.case_id == case_id),
        ).all()
        found = [parse_record(r.body, r.signature) for r in rows]
        return sorted(found, key=lambda r: (r.header.recorded_at, r.log_id, r.seq))

    # -- certificates ---------------------------------------------------------------------------

    def add_certificate(self, conn: Connection, cert: x509.Certificate) -> bytes | None:
        """Remember a signing certificate (records or catalog key); TLS certificates sign no
        records and are not kept here. The caller has checked it against the county CA."""
        who = identity_of(cert)
        public_key = cert.public_key()
        if who.purpose == "tls":
            return None
        if not isinstance(public_key, ed25519.Ed25519PublicKey):
            return None
        key_id = key_id_of(public_key)
        exists = conn.execute(
            select(self.certificates.c.key_id).where(self.certificates.c.key_id == key_id),
        ).first()
        if exists is None:
            conn.execute(insert(self.certificates).values(
                key_id=key_id, node_id=who.node_id, purpose=who.purpose,
                der=certificate_der(cert), fingerprint=fingerprint(cert)))
        return key_id

    def certificate(self, conn: Connection, key_id: bytes) -> x509.Certificate | None:
        der = conn.execute(
            select(self.certificates.c.der).where(self.certificates.c.key_id == key_id),
        ).scalar()
        return None if der is None else load_certificate(der)

    def keyring(self, conn: Connection) -> Keyring:
        return Keyring(self, conn)

    # -- trust over time: revocations, evidence, alarms -----------------------------------------

    def revoked_from(self, conn: Connection, node_id: str) -> int | None:
        value = conn.execute(select(self.revocations.c.from_seq)
                             .where(self.revocations.c.node_id == node_id)).scalar()
        return None if value is None else int(value)

    def revocation(self, conn: Connection, node_id: str) -> Revocation | None:
        row = conn.execute(select(self.revocations)
                           .where(self.revocations.c.node_id == node_id)).first()
        if row is None:
            return None
        return Revocation(node_id=row.node_id, from_seq=row.from_seq, reason=row.reason,
                          operator=row.operator, revoked_at=from_ms(row.revoked_at_ms))

    def add_revocation(self, conn: Connection, revoked: NodeRevoked, at: dt.datetime) -> None:
        if self.revoked_from(conn, revoked.node_id) is not None:
            return
        conn.execute(insert(self.revocations).values(
            node_id=revoked.node_id, from_seq=revoked.from_seq, reason=revoked.reason,
            operator=revoked.operator, revoked_at_ms=to_ms(at)))

    def keep_evidence(self, conn: Connection, *, log_id: str, seq: int, body: bytes,
                      signature: bytes, reason_code: str, message: str, peer: str,
                      now: dt.datetime) -> bool:
        """Keep a refused record as it arrived; the same bytes refused again are kept once."""
        digest = hashlib.sha256(body).digest()
        seen = conn.execute(select(self.evidence.c.id).where(
            self.evidence.c.hash == digest, self.evidence.c.signature == signature,
            self.evidence.c.reason_code == reason_code)).first()
        if seen is not None:
            return False
        conn.execute(insert(self.evidence).values(
            log_id=log_id, seq=seq, hash=digest, body=body, signature=signature,
            reason_code=reason_code, message=message, peer=peer,
            received_at_ms=to_ms(now)))
        return True

    def raise_alarm(self, conn: Connection, *, kind: str, node_id: str, peer: str,
                    log_id: str, seq: int, message: str, now: dt.datetime) -> int:
        done = conn.execute(insert(self.alarms).values(
            kind=kind, node_id=node_id, peer=peer, log_id=log_id, seq=seq, message=message,
            raised_at_ms=to_ms(now), resolved_by="", resolution=""))
        key = done.inserted_primary_key
        return int(key[0]) if key else 0

    def open_alarms(self, conn: Connection, *, node_id: str | None = None,
                    kind: str | None = None, include_resolved: bool = False) -> list[Alarm]:
        t = self.alarms
        query = select(t).order_by(t.c.id)
        if not include_resolved:
            query = query.where(t.c.resolved_at_ms.is_(None))
        if node_id is not None:
            query = query.where(t.c.node_id == node_id)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        return [Alarm(id=r.id, kind=r.kind, node_id=r.node_id, peer=r.peer, log_id=r.log_id,
                      seq=r.seq, message=r.message, raised_at=from_ms(r.raised_at_ms),
                      resolved_at=None if r.resolved_at_ms is None else from_ms(
                          r.resolved_at_ms),
                      resolved_by=r.resolved_by, resolution=r.resolution)
                for r in conn.execute(query)]

    def resolve_alarm(self, conn: Connection, alarm_id: int, *, operator: str, note: str,
                      now: dt.datetime) -> bool:
        done = conn.execute(update(self.alarms).where(self.alarms.c.id == alarm_id,
                                                      self.alarms.c.resolved_at_ms.is_(None))
                            .values(resolved_at_ms=to_ms(now), resolved_by=operator,
                                    resolution=note))
        return done.rowcount == 1

    def refusal_counts(self, conn: Connection) -> dict[str, int]:
        t = self.evidence
        rows = conn.execute(select(t.c.reason_code, func.count()).group_by(t.c.reason_code))
        return {r[0]: int(r[1]) for r in rows}

    def recent_evidence(self, conn: Connection, limit: int = 20) -> list[dict[str, object]]:
        t = self.evidence
        rows = conn.execute(select(t.c.id, t.c.log_id, t.c.seq, t.c.reason_code, t.c.message,
                                   t.c.peer, t.c.received_at_ms)
                            .order_by(t.c.id.desc()).limit(limit))
        return [{"id": r.id, "log_id": r.log_id, "seq": r.seq, "reason_code": r.reason_code,
                 "message": r.message, "peer": r.peer,
                 "received_at": from_ms(r.received_at_ms)} for r in rows]

    def all_log_ids(self, conn: Connection) -> list[str]:
        return [r[0] for r in conn.execute(select(self.heads.c.log_id)
                                           .order_by(self.heads.c.log_id))]

    def iter_log(self, conn: Connection, log_id: str, *, batch: int = 1000,
                 ) -> Iterator[tuple[int, bytes, bytes, bytes]]:
        """``(seq, hash, body, signature)`` of a whole log, in seq order, a batch at a time."""
        after = 0
        t = self.records
        while True:
            rows = conn.execute(select(t.c.seq, t.c.hash, t.c.body, t.c.signature)
                                .where(t.c.log_id == log_id, t.c.seq > after)
                                .order_by(t.c.seq).limit(batch)).all()
            if not rows:
                return
            for r in rows:
                yield r.seq, r.hash, r.body, r.signature
            after = rows[-1].seq

    def certificates_of(self, conn: Connection, node_id: str) -> list[bytes]:
        """DER of every signing certificate of a node (old keys included)."""
        return [bytes(r[0]) for r in conn.execute(
            select(self.certificates.c.der).where(self.certificates.c.node_id == node_id))]

    def all_certificates(self, conn: Connection) -> list[x509.Certificate]:
        return [load_certificate(r[0]) for r in conn.execute(select(self.certificates.c.der))]


@dataclass(frozen=True, kw_only=True)
class Revocation:
    node_id: str
    from_seq: int
    reason: str
    operator: str
    revoked_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class Alarm:
    id: int
    kind: str
    node_id: str
    peer: str
    log_id: str
    seq: int
    message: str
    raised_at: dt.datetime
    resolved_at: dt.datetime | None
    resolved_by: str
    resolution: str


class Keyring:
    """``node.kernel.chain.Keyring`` over a store, caching lookups for one transaction."""

    def __init__(self, store: LogStore, conn: Connection) -> None:
        self._store = store
        self._conn = conn
        self._cache: dict[bytes, x509.Certificate | None] = {}

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        if key_id not in self._cache:
            self._cache[key_id] = self._store.certificate(self._conn, key_id)
        return self._cache[key_id]


@dataclass(frozen=True, kw_only=True)
class CaseView:
    case_id: str
    item_code: str
    item_name: str
    applicant_name: str
    applicant_id: str
    state: str
    complete: bool
    missing: tuple[str, ...]
    reason: str
    operator: str
    submitted_at: dt.datetime
    updated_at: dt.datetime
    catalog_version: int
    catalog_expired: bool
    requested: tuple[str, ...]


PUSHED = "pushed"


class NodeStore:
    """A village (or township) node's SQLite file."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.logs = LogStore(records=table_of(NodeRecord), heads=table_of(NodeLogHead),
                             certificates=table_of(NodeCertificate),
                             case_records=table_of(NodeCaseRecord),
                             evidence=table_of(NodeEvidence), alarms=table_of(NodeAlarm),
                             revocations=table_of(NodeRevocation))
        self.cases: Table = table_of(NodeCase)
        self.state: Table = table_of(NodeSyncState)
        self.counters: Table = table_of(NodeCaseCounter)

    # -- sync marks -----------------------------------------------------------------------------

    def mark(self, conn: Connection, name: str) -> int:
        value = conn.execute(select(self.state.c.value).where(self.state.c.name == name)).scalar()
        return int(value or 0)

    def set_mark(self, conn: Connection, name: str, value: int) -> None:
        done = conn.execute(update(self.state).where(self.state.c.name == name)
                            .values(value=value))
        if done.rowcount == 0:
            conn.execute(insert(self.state).values(name=name, value=value))

    def cursors(self, conn: Connection) -> dict[str, int]:
        rows = conn.execute(select(self.state.c.name, self.state.c.value)
                            .where(self.state.c.name.like("cursor:%"))).all()
        return {r.name.removeprefix("cursor:"): int(r.value) for r in rows}

    def set_cursor(self, conn: Connection, log_id: str, after_seq: int) -> None:
        self.set_mark(conn, f"cursor:{log_id}", after_seq)

    # -- case numbers ---------------------------------------------------------------------------

    def next_daily_number(self, conn: Connection, day: dt.date) -> int:
        key = f"{day:%Y%m%d}"
        last = conn.execute(select(self.counters.c.last).where(self.counters.c.day == key)
                            ).scalar()
        if last is None:
            conn.execute(insert(self.counters).values(day=key, last=1))
            return 1
        conn.execute(update(self.counters).where(self.counters.c.day == key)
                     .values(last=last + 1))
        return int(last) + 1

    # -- the case view --------------------------------------------------------------------------

    def add_case(self, conn: Connection, submitted: Record, reviewed: Record,
                 item_name: str, *, catalog_expired: bool = False) -> None:
        case, review = submitted.payload, reviewed.payload
        assert isinstance(case, CaseSubmitted)
        assert isinstance(review, PreReviewed)
        at = to_ms(submitted.header.recorded_at)
        conn.execute(insert(self.cases).values(
            case_id=case.case_id, item_code=case.item_code, item_name=item_name,
            applicant_name=case.applicant.name, applicant_id=case.applicant.id_number,
            state=initial_state(complete=review.complete).value, complete=review.complete,
            missing=",".join(review.missing), reason="", operator="",
            last_own_seq=reviewed.seq, submitted_at_ms=at, updated_at_ms=at,
            catalog_version=case.catalog_version, catalog_expired=catalog_expired,
            requested="",
        ))

    def mark_received(self, conn: Connection, upto_seq: int, now: dt.datetime) -> int:
        """Cases whose records the upstream has committed are received (workflow rule 2)."""
        done = conn.execute(update(self.cases).where(
            self.cases.c.last_own_seq <= upto_seq,
            self.cases.c.state.in_([State.SUBMITTED, State.INCOMPLETE]),
        ).values(state=State.RECEIVED.value, updated_at_ms=to_ms(now)))
        return int(done.rowcount or 0)

    def apply_upstream(self, conn: Connection, record: Record, now: dt.datetime) -> bool:
        """Move a case on by a verified record of the deciding tier (decision, not accepted,
        supplement request, refusal of a late action). False if the case is not this node's."""
        payload = record.payload
        case_id = getattr(payload, "case_id", None)
        row = None if case_id is None else conn.execute(
            select(self.cases).where(self.cases.c.case_id == case_id)).first()
        if row is None:
            return False
        facts = CaseFacts(complete=True, accepted=True)
        values: dict[str, object]
        match payload:
            case Decision():
                action = Action.APPROVE if payload.outcome is Outcome.APPROVE else Action.REJECT
                values = {"reason": payload.reason, "operator": payload.operator}
            case NotAccepted():
                action, facts = Action.NOT_ACCEPT, CaseFacts(complete=True)
                values = {"reason": payload.reason, "operator": payload.operator}
            case SupplementRequested():
                action = Action.REQUEST_SUPPLEMENT
                values = {"reason": payload.reason, "operator": payload.operator,
                          "requested": ",".join(payload.materials)}
            case _:
                return True  # e.g. ActionRefused: kept in the case's history, state unchanged
        after = next_state(row.case_id, State(row.state), action, facts, on_node=True)
        conn.execute(update(self.cases).where(self.cases.c.case_id == row.case_id).values(
            state=after.value, updated_at_ms=to_ms(now), **values))
        return True

    def apply_own(self, conn: Connection, record: Record, now: dt.datetime) -> State:
        """Move a case on by one of this node's own actions (supplement, withdraw, conclude),
        already checked against the table by the caller."""
        payload = record.payload
        row = conn.execute(select(self.cases).where(
            self.cases.c.case_id == getattr(payload, "case_id", ""))).one()
        values: dict[str, object] = {"last_own_seq": record.seq, "updated_at_ms": to_ms(now)}
        if not isinstance(payload, Supplemented | Withdrawn | Concluded):
            raise TypeError(f"{record} is not a node action")
        values |= node_action_fields(payload)
        complete = payload.complete if isinstance(payload, Supplemented) else bool(row.complete)
        after = next_state(row.case_id, State(row.state), NODE_ACTIONS[type(payload)],
                           CaseFacts(complete=complete))
        values["state"] = after.value
        conn.execute(update(self.cases).where(self.cases.c.case_id == row.case_id)
                     .values(**values))
        return after

    def list_cases(self, conn: Connection, *, state: str | None = None) -> list[CaseView]:
        query = select(self.cases).order_by(self.cases.c.case_id)
        if state is not None:
            query = query.where(self.cases.c.state == state)
        return [_case_view(row) for row in conn.execute(query)]

    def get_case(self, conn: Connection, case_id: str) -> CaseView:
        row = conn.execute(select(self.cases).where(self.cases.c.case_id == case_id)).first()
        if row is None:
            raise NotFoundError(f"case {case_id} is not known at this node; list cases with "
                                "'bianmin node cases'")
        return _case_view(row)

    def latest_catalog(self, conn: Connection, catalog_log: str) -> tuple[Record, CatalogPublished]:
        record = self.logs.latest(conn, catalog_log)
        if record is None or not isinstance(record.payload, CatalogPublished):
            raise NotFoundError("this node holds no catalog yet: run 'bianmin node sync' "
                                "once the upstream is reachable")
        return record, record.payload

    def count_cases(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(self.cases)).scalar() or 0)


def _case_view(row: object) -> CaseView:
    r = row._mapping  # type: ignore[attr-defined]
    return CaseView(
        case_id=r["case_id"], item_code=r["item_code"], item_name=r["item_name"],
        applicant_name=r["applicant_name"], applicant_id=r["applicant_id"], state=r["state"],
        complete=bool(r["complete"]),
        missing=tuple(m for m in r["missing"].split(",") if m),
        reason=r["reason"], operator=r["operator"],
        submitted_at=from_ms(r["submitted_at_ms"]), updated_at=from_ms(r["updated_at_ms"]),
        catalog_version=r["catalog_version"], catalog_expired=bool(r["catalog_expired"]),
        requested=tuple(m for m in r["requested"].split(",") if m),
    )
