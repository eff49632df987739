"""The store seam on SQLAlchemy Core (DESIGN §9): every tier's database, the same code.

A ``SqlStore`` is a database (``node.store.db``) and the tables of one tier (``Tables``):
records exactly as signed, log heads, signing certificates, the case-to-record index,
evidence, alarms, revocations, attachment claims and the tier's view of cases -- and, at the
county, the trail and the case clock's pauses and opinions. ``transaction()`` hands out a
``SqlTransaction``, the only writer of those tables (``tests/structure`` checks it); its
methods take no connection, so the in-memory store (``node.store.memory``) stands in for it in
unit tests. Hot paths write a whole batch with one statement per table (``executemany``),
handed to the driver as it is (``write_many``): the rows hold only text, numbers and bytes,
which every driver takes without SQLAlchemy's per-row conversion.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Integer,
    LargeBinary,
    String,
    Table,
    TypeDecorator,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.sql.dml import ValuesBase

from node.kernel.chain import Keyring
from node.kernel.clock import Clock, from_ms, to_ms
from node.kernel.identity import (
    Signer,
    certificate_der,
    fingerprint,
    identity_of,
    key_id_of,
    load_certificate,
)
from node.kernel.payloads import NodeRevoked, Payload
from node.kernel.projector import RECEIVABLE, Case, Change
from node.kernel.records import LogHead, Record, parse_record, seal
from node.kernel.workflow import State
from node.store.db import Database
from node.store.schema import (
    NodeAlarm,
    NodeBlobClaim,
    NodeCase,
    NodeCaseCounter,
    NodeCaseRecord,
    NodeCertificate,
    NodeEvidence,
    NodeLogHead,
    NodeRecord,
    NodeRevocation,
    NodeSyncState,
    NodeVillageHeartbeat,
    table_of,
)
from node.store.seam import Alarm, Audience, Revocation, VillageBeat

__all__ = ["PUSHED", "NodeStore", "SqlCases", "SqlReader", "SqlStore", "SqlTransaction",
           "Tables", "case_of", "node_tables", "write_many"]

PUSHED = "pushed"  # the node's own log: acknowledged upstream up to this seq


def case_of(record: Record) -> str | None:
    """The case a record concerns, if any."""
    case_id = getattr(record.payload, "case_id", None)
    return case_id if isinstance(case_id, str) else None


_PLAIN = (BigInteger, Boolean, Integer, LargeBinary, String)  # the driver takes them as they are
# (dialect, paramstyle, key, columns) -> the SQL, and for a positional paramstyle the
# function that makes a row's tuple
_compiled: dict[tuple[str, str, str, tuple[str, ...]],
                tuple[str, Callable[[Mapping[str, object]], tuple[object, ...]] | None]] = {}


def write_many(conn: Connection, statement: ValuesBase, rows: Sequence[Mapping[str, object]],
               *, key: str) -> None:
    """``conn.execute(statement, rows)`` for a batch: the statement compiled once per dialect
    (cached under ``key`` and the rows' columns), the rows handed to the driver's
    ``executemany`` as they are. SQLAlchemy would otherwise bind every value of every row in
    Python (a third of a push's time in the store); that conversion does nothing for the
    plain types the columns must then be (checked when the statement is compiled)."""
    if not rows:
        return
    names = tuple(rows[0])
    cache_key = (conn.dialect.name, str(conn.dialect.paramstyle), key, names)
    found = _compiled.get(cache_key)
    if found is None:
        table = statement.table
        for name in names:
            column = table.c.get(name.removeprefix("b_"))
            kind = getattr(column, "type", None)
            if isinstance(kind, TypeDecorator) and type(kind).process_bind_param is \
                    TypeDecorator.process_bind_param:  # e.g. sqlmodel's AutoString
                kind = kind.impl_instance
            if not isinstance(kind, _PLAIN):
                raise TypeError(f"write_many: {key}.{name} is not a plain column")
        compiled = statement.compile(dialect=conn.dialect, column_keys=list(names))
        order = tuple(compiled.positiontup or ())
        found = (str(compiled), (itemgetter(*order) if len(order) > 1 else
                                 lambda row: (row[order[0]],)) if compiled.positional else None)
        _compiled[cache_key] = found
    sql, values = found
    conn.exec_driver_sql(sql, list(rows) if values is None else list(map(values, rows)))


@dataclass(frozen=True, kw_only=True)
class Tables:
    """One tier's tables. The county has the trail, pauses and opinions; a node has its sync
    marks and case numbers."""

    records: Table
    heads: Table
    certificates: Table
    case_records: Table
    evidence: Table
    alarms: Table
    revocations: Table
    cases: Table
    blob_claims: Table
    trail: Table | None = None
    pauses: Table | None = None
    opinions: Table | None = None
    sync_state: Table | None = None
    counters: Table | None = None
    beats: Table | None = None


def node_tables() -> Tables:
    return Tables(records=table_of(NodeRecord), heads=table_of(NodeLogHead),
                  certificates=table_of(NodeCertificate), case_records=table_of(NodeCaseRecord),
                  evidence=table_of(NodeEvidence), alarms=table_of(NodeAlarm),
                  revocations=table_of(NodeRevocation), cases=table_of(NodeCase),
                  blob_claims=table_of(NodeBlobClaim), sync_state=table_of(NodeSyncState),
                  counters=table_of(NodeCaseCounter), beats=table_of(NodeVillageHeartbeat))


# -- cases ------------------------------------------------------------------------------------

_LISTS = {"departments": ",", "missing": ",", "requested": ",", "flags": "\n"}
_TIMES = ("submitted_at", "received_at", "accepted_at", "decided_at", "concluded_at",
          "updated_at")
_FIELDS = [f.name for f in dataclasses.fields(Case)]


def _column(name: str) -> str:
    if name == "origin":
        return "origin_node"
    return f"{name}_ms" if name in _TIMES else name


def _compile_row_codecs() -> tuple[Any, Any]:
    """``Case`` to a row of the cases table and back, written out field by field once (this
    runs for every case a batch creates or changes)."""
    to_lines, from_lines = ["def to_row(case):", "    return {"], [
        "def from_row(row):", "    r = row._mapping", "    return Case("]
    for name in _FIELDS:
        column = _column(name)
        if name in _LISTS:
            out = f"{_LISTS[name]!r}.join(case.{name})"
            back = f"tuple(v for v in (r[{column!r}] or '').split({_LISTS[name]!r}) if v)"
        elif name in _TIMES:
            out = f"_ms(case.{name})"
            back = f"_at(r[{column!r}])"
        elif name == "state":
            out, back = "case.state.value", f"State(r[{column!r}])"
        elif name in ("complete", "catalog_expired"):
            out, back = f"case.{name}", f"bool(r[{column!r}])"
        else:
            out, back = f"case.{name}", f"r[{column!r}]"
        to_lines.append(f"        {column!r}: {out},")
        from_lines.append(f"        {name}={back},")
    to_lines.append("    }")
    from_lines.append("    )")
    scope: dict[str, Any] = {
        "Case": Case, "State": State,
        "_ms": lambda v: None if v is None else to_ms(v),
        "_at": lambda v: None if v is None else from_ms(v)}
    exec("\n".join([*to_lines, *from_lines]), scope)  # noqa: S102 -- our own field names
    return scope["to_row"], scope["from_row"]


_to_row, _from_row = _compile_row_codecs()


class SqlCases:
    """A tier's cases table (and, at the county, its pauses, opinions and trail)."""

    def __init__(self, conn: Connection, tables: Tables, now: dt.datetime) -> None:
        self.conn, self.t, self.now = conn, tables, now

    def get(self, case_id: str) -> Case | None:
        row = self.conn.execute(select(self.t.cases).where(self.t.cases.c.case_id == case_id)
                                ).first()
        return None if row is None else _from_row(row)

    def get_many(self, case_ids: Sequence[str]) -> dict[str, Case]:
        ids = list(dict.fromkeys(case_ids))
        found: dict[str, Case] = {}
        for start in range(0, len(ids), 500):
            rows = self.conn.execute(select(self.t.cases).where(
                self.t.cases.c.case_id.in_(ids[start:start + 500])))
            found.update((c.case_id, c) for c in map(_from_row, rows))
        return found

    def of_applicant(self, applicant_id: str) -> list[Case]:
        t = self.t.cases
        return [_from_row(r) for r in self.conn.execute(
            select(t).where(t.c.applicant_id == applicant_id)
            .order_by(t.c.received_at_ms, t.c.case_id))]

    def list(self, *, state: str | None = None) -> list[Case]:
        t = self.t.cases
        query = select(t).order_by(t.c.received_at_ms, t.c.case_id)
        if state is not None:
            query = query.where(t.c.state == state)
        return [_from_row(r) for r in self.conn.execute(query)]

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(self.t.cases)).scalar()
                   or 0)

    # -- writes --------------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change], *, via: str = "") -> None:
        """Insert the new cases, update the changed fields of the others (one statement per
        set of changed columns), then the county's pauses, opinions and trail lines (``via``:
        how their operator was authenticated)."""
        if not changes:
            return
        latest: dict[str, Change] = {}
        first: dict[str, Case | None] = {}
        for change in changes:
            first.setdefault(change.case_id, change.before)
            latest[change.case_id] = change
        new = [c.after for cid, c in latest.items() if first[cid] is None]
        if new:
            write_many(self.conn, insert(self.t.cases), [_to_row(c) for c in new], key="cases")
        groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for cid, change in latest.items():
            before = first[cid]
            if before is None:
                continue
            old, now_row = _to_row(before), _to_row(change.after)
            changed = tuple(k for k in now_row if now_row[k] != old[k])
            if changed:
                groups.setdefault(changed, []).append(
                    {"b_case_id": cid, **{f"b_{k}": now_row[k] for k in changed}})
        t = self.t.cases
        for columns, rows in groups.items():
            write_many(self.conn, update(t).where(t.c.case_id == bindparam("b_case_id"))
                       .values({k: bindparam(f"b_{k}") for k in columns}), rows,
                       key="cases-update")
        self._side_effects(changes, via)

    def _side_effects(self, changes: Sequence[Change], via: str) -> None:
        trail = []
        for change in changes:
            if change.pause and self.t.pauses is not None:
                self._pause(change.case_id, change.pause)
            if change.opinion is not None and self.t.opinions is not None:
                o, t = change.opinion, self.t.opinions
                self.conn.execute(t.delete().where(t.c.case_id == change.case_id,
                                                   t.c.department == o.department))
                self.conn.execute(insert(t).values(
                    case_id=change.case_id, department=o.department, favourable=o.favourable,
                    reason=o.reason, operator=o.operator, at_ms=to_ms(self.now)))
            if change.trail_kind and self.t.trail is not None:
                record = change.record
                trail.append({"at_ms": to_ms(self.now), "kind": change.trail_kind,
                              "case_id": change.case_id,
                              "node_id": change.after.origin, "operator": change.operator,
                              "detail": change.trail,
                              "log_id": record.log_id if record else "",
                              "seq": record.seq if record else 0,
                              "via": via})
        if trail and self.t.trail is not None:
            write_many(self.conn, insert(self.t.trail), trail, key="trail")

    def _pause(self, case_id: str, what: str) -> None:
        p = self.t.pauses
        assert p is not None
        open_pause = self.conn.execute(select(p.c.id).where(
            p.c.case_id == case_id, p.c.ended_at_ms.is_(None))).first()
        if what == "start" and open_pause is None:
            self.conn.execute(insert(p).values(case_id=case_id, started_at_ms=to_ms(self.now)))
        elif what == "end" and open_pause is not None:
            self.conn.execute(update(p).where(p.c.id == open_pause[0])
                              .values(ended_at_ms=to_ms(self.now)))

    def mark_received(self, upto_seq: int, now: dt.datetime) -> int:
        t = self.t.cases
        done = self.conn.execute(update(t).where(
            t.c.last_own_seq <= upto_seq, t.c.state.in_([s.value for s in RECEIVABLE]),
        ).values(state=State.RECEIVED.value, updated_at_ms=to_ms(now)))
        return int(done.rowcount or 0)

    def flag(self, case_id: str, flags: Sequence[str]) -> None:
        case = self.get(case_id)
        if case is None or not flags:
            return
        merged = case.flagged(*flags)
        if merged != case.flags:
            t = self.t.cases
            self.conn.execute(update(t).where(t.c.case_id == case_id)
                              .values(flags="\n".join(merged)))


# -- reading and writing logs -----------------------------------------------------------------


class _Keyring:
    """``node.kernel.chain.Keyring`` over a reader, caching lookups for one transaction."""

    def __init__(self, reader: SqlReader) -> None:
        self._reader = reader
        self._cache: dict[bytes, x509.Certificate | None] = {}

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        if key_id not in self._cache:
            self._cache[key_id] = self._reader.certificate(key_id)
        return self._cache[key_id]


class SqlReader:
    """Queries on one tier's tables, inside the caller's transaction."""

    def __init__(self, conn: Connection, tables: Tables, now: dt.datetime) -> None:
        self.conn, self.t, self.now = conn, tables, now
        self._cases = SqlCases(conn, tables, now)

    @property
    def cases(self) -> SqlCases:
        return self._cases

    def head(self, log_id: str) -> LogHead:
        return self._head(log_id, lock=False)

    def _head(self, log_id: str, *, lock: bool) -> LogHead:
        h = self.t.heads
        query = select(h.c.seq, h.c.hash, h.c.key_id).where(h.c.log_id == log_id)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return LogHead() if row is None else LogHead(seq=row.seq, hash=row.hash,
                                                     key_id=row.key_id)

    def hash_at(self, log_id: str, seq: int) -> bytes | None:
        r = self.t.records
        found: bytes | None = self.conn.execute(
            select(r.c.hash).where(r.c.log_id == log_id, r.c.seq == seq)).scalar()
        return found

    def stored_at(self, log_id: str, seq: int) -> dt.datetime | None:
        r = self.t.records
        ms = self.conn.execute(select(r.c.stored_at_ms).where(r.c.log_id == log_id,
                                                             r.c.seq == seq)).scalar()
        return None if ms is None else from_ms(ms)

    def latest(self, log_id: str) -> Record | None:
        r = self.t.records
        row = self.conn.execute(select(r.c.body, r.c.signature).where(r.c.log_id == log_id)
                                .order_by(r.c.seq.desc()).limit(1)).first()
        return None if row is None else parse_record(row.body, row.signature)

    def raw_after(self, log_id: str, after_seq: int, limit: int, *,
                  audiences: Sequence[str] | None = None,
                  upto: int | None = None) -> list[tuple[int, bytes, bytes]]:
        """``(seq, body, signature)`` after ``after_seq``, oldest first; with ``audiences``,
        only records meant for those nodes or for everyone."""
        r = self.t.records
        query = (select(r.c.seq, r.c.body, r.c.signature)
                 .where(r.c.log_id == log_id, r.c.seq > after_seq).order_by(r.c.seq)
                 .limit(limit))
        if upto is not None:
            query = query.where(r.c.seq <= upto)
        if audiences is not None:
            query = query.where(r.c.audience.is_(None) | r.c.audience.in_(audiences))
        return [(row.seq, row.body, row.signature) for row in self.conn.execute(query)]

    def iter_log(self, log_id: str, *,
                 batch: int = 1000) -> Iterator[tuple[int, bytes, bytes, bytes, int]]:
        """``(seq, hash, body, signature, stored_at_ms)`` of a whole log, a batch at a time."""
        after = 0
        r = self.t.records
        while True:
            rows = self.conn.execute(
                select(r.c.seq, r.c.hash, r.c.body, r.c.signature, r.c.stored_at_ms)
                .where(r.c.log_id == log_id, r.c.seq > after).order_by(r.c.seq)
                .limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield row.seq, row.hash, row.body, row.signature, row.stored_at_ms
            after = rows[-1].seq

    def case_history(self, case_id: str) -> list[Record]:
        r, links = self.t.records, self.t.case_records
        rows = self.conn.execute(
            select(r.c.body, r.c.signature)
            .join(links, (links.c.log_id == r.c.log_id) & (links.c.seq == r.c.seq))
            .where(links.c.case_id == case_id)).all()
        found = [parse_record(row.body, row.signature) for row in rows]
        return sorted(found, key=lambda rec: (rec.header.recorded_at, rec.log_id, rec.seq))

    def all_log_ids(self) -> list[str]:
        """Every log this tier holds records of, or a head for (a node enrolled, no record
        yet)."""
        heads = {row[0] for row in self.conn.execute(select(self.t.heads.c.log_id))}
        stored = {row[0] for row in self.conn.execute(
            select(self.t.records.c.log_id).distinct())}
        return sorted(heads | stored)

    # -- certificates ---------------------------------------------------------------------------

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        c = self.t.certificates
        der = self.conn.execute(select(c.c.der).where(c.c.key_id == key_id)).scalar()
        return None if der is None else load_certificate(der)

    def keyring(self) -> Keyring:
        return _Keyring(self)

    def certificates_of(self, node_id: str) -> list[bytes]:
        c = self.t.certificates
        return [bytes(row[0]) for row in self.conn.execute(
            select(c.c.der).where(c.c.node_id == node_id))]

    def all_certificates(self) -> list[x509.Certificate]:
        return [load_certificate(row[0]) for row in self.conn.execute(
            select(self.t.certificates.c.der))]

    # -- trust over time ------------------------------------------------------------------------

    def revoked_from(self, node_id: str) -> int | None:
        v = self.t.revocations
        value = self.conn.execute(select(v.c.from_seq).where(v.c.node_id == node_id)).scalar()
        return None if value is None else int(value)

    def revocation(self, node_id: str) -> Revocation | None:
        v = self.t.revocations
        row = self.conn.execute(select(v).where(v.c.node_id == node_id)).first()
        if row is None:
            return None
        return Revocation(node_id=row.node_id, from_seq=row.from_seq, reason=row.reason,
                          operator=row.operator, revoked_at=from_ms(row.revoked_at_ms))

    def open_alarms(self, *, node_id: str | None = None, kind: str | None = None,
                    include_resolved: bool = False) -> list[Alarm]:
        a = self.t.alarms
        query = select(a).order_by(a.c.id)
        if not include_resolved:
            query = query.where(a.c.resolved_at_ms.is_(None))
        if node_id is not None:
            query = query.where(a.c.node_id == node_id)
        if kind is not None:
            query = query.where(a.c.kind == kind)
        return [Alarm(id=r.id, kind=r.kind, node_id=r.node_id, peer=r.peer, log_id=r.log_id,
                      seq=r.seq, message=r.message, raised_at=from_ms(r.raised_at_ms),
                      resolved_at=None if r.resolved_at_ms is None
                      else from_ms(r.resolved_at_ms),
                      resolved_by=r.resolved_by, resolution=r.resolution)
                for r in self.conn.execute(query)]

    def refusal_counts(self) -> dict[str, int]:
        e = self.t.evidence
        rows = self.conn.execute(select(e.c.reason_code, func.count()).group_by(e.c.reason_code))
        return {r[0]: int(r[1]) for r in rows}

    def recent_evidence(self, limit: int = 20) -> list[dict[str, object]]:
        e = self.t.evidence
        rows = self.conn.execute(select(e.c.id, e.c.log_id, e.c.seq, e.c.reason_code,
                                        e.c.message, e.c.peer, e.c.received_at_ms)
                                 .order_by(e.c.id.desc()).limit(limit))
        return [{"id": r.id, "log_id": r.log_id, "seq": r.seq, "reason_code": r.reason_code,
                 "message": r.message, "peer": r.peer,
                 "received_at": from_ms(r.received_at_ms)} for r in rows]

    def claimed(self, log_id: str, hashes: Sequence[bytes]) -> set[bytes]:
        b = self.t.blob_claims
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return set()
        rows = self.conn.execute(select(b.c.sha256).where(b.c.log_id == log_id,
                                                          b.c.sha256.in_(wanted)))
        return {bytes(r[0]) for r in rows}

    # -- a node's sync marks --------------------------------------------------------------------

    def mark(self, name: str) -> int:
        s = self._sync_state
        value = self.conn.execute(select(s.c.value).where(s.c.name == name)).scalar()
        return int(value or 0)

    def mark_note(self, name: str) -> str:
        s = self._sync_state
        return str(self.conn.execute(select(s.c.note).where(s.c.name == name)).scalar() or "")

    def cursors(self) -> dict[str, int]:
        s = self._sync_state
        rows = self.conn.execute(select(s.c.name, s.c.value).where(s.c.name.like("cursor:%")))
        return {r.name.removeprefix("cursor:"): int(r.value) for r in rows}

    def village_beats(self) -> list[VillageBeat]:
        b = self._beats
        return [VillageBeat(node_id=r.node_id, body=bytes(r.body), signature=bytes(r.signature),
                            received_at=from_ms(r.received_at_ms), relayed=bool(r.relayed))
                for r in self.conn.execute(select(b).order_by(b.c.node_id))]

    @property
    def _beats(self) -> Table:
        if self.t.beats is None:
            raise TypeError("this tier keeps no villages' heartbeats")
        return self.t.beats

    @property
    def _sync_state(self) -> Table:
        if self.t.sync_state is None:
            raise TypeError("this tier keeps no sync marks")
        return self.t.sync_state


class SqlTransaction(SqlReader):
    """One write transaction (``SqlStore.transaction``): the only writer of records, heads,
    cases and the trail."""

    def lock_head(self, log_id: str) -> LogHead:
        return self._head(log_id, lock=True)

    def seal_append(self, payload: Payload, *, log_id: str, signer: Signer, clock: Clock,
                    audience: str | None = None, of_case: bool = True) -> Record:
        record = seal(payload, log_id=log_id, head=self.lock_head(log_id), signer=signer,
                      clock=clock)
        self.append([record], audience=lambda _r: audience,
                    unlinked=() if of_case else (record.seq,))
        return record

    def append(self, records: Sequence[Record], *, audience: Audience | None = None,
               advance_head: bool = True, unlinked: Collection[int] = ()) -> None:
        """Store records as signed, index them by case, and move each log's head."""
        if not records:
            return
        stored_at = to_ms(self.now)
        write_many(self.conn, insert(self.t.records), [
            {"log_id": r.log_id, "seq": r.seq, "hash": r.hash, "body": r.body,
             "signature": r.signature, "audience": audience(r) if audience else None,
             "stored_at_ms": stored_at} for r in records], key="records")
        links = [{"case_id": c, "log_id": r.log_id, "seq": r.seq}
                 for r in records if (c := case_of(r)) is not None and r.seq not in unlinked]
        write_many(self.conn, insert(self.t.case_records), links, key="case_records")
        if advance_head:
            last: dict[str, Record] = {}
            for r in records:
                last[r.log_id] = r
            for log_id, r in last.items():
                self.set_head(log_id, r.head)

    def set_head(self, log_id: str, head: LogHead) -> None:
        h = self.t.heads
        values = {"seq": head.seq, "hash": head.hash, "key_id": head.key_id}
        done = self.conn.execute(update(h).where(h.c.log_id == log_id).values(**values))
        if done.rowcount == 0:
            self.conn.execute(insert(h).values(log_id=log_id, **values))

    def add_certificate(self, cert: x509.Certificate) -> bytes | None:
        """Remember a signing certificate (records or catalog key); TLS certificates sign no
        records and are not kept. The caller has checked it against the county CA."""
        who = identity_of(cert)
        public_key = cert.public_key()
        if who.purpose == "tls" or not isinstance(public_key, ed25519.Ed25519PublicKey):
            return None
        key_id = key_id_of(public_key)
        c = self.t.certificates
        if self.conn.execute(select(c.c.key_id).where(c.c.key_id == key_id)).first() is None:
            self.conn.execute(insert(c).values(key_id=key_id, node_id=who.node_id,
                                               purpose=who.purpose, der=certificate_der(cert),
                                               fingerprint=fingerprint(cert)))
        return key_id

    def add_revocation(self, revoked: NodeRevoked, at: dt.datetime) -> None:
        if self.revoked_from(revoked.node_id) is not None:
            return
        self.conn.execute(insert(self.t.revocations).values(
            node_id=revoked.node_id, from_seq=revoked.from_seq, reason=revoked.reason,
            operator=revoked.operator, revoked_at_ms=to_ms(at)))

    def keep_evidence(self, *, log_id: str, seq: int, body: bytes, signature: bytes,
                      reason_code: str, message: str, peer: str) -> bool:
        """Keep a refused record as it arrived; the same bytes refused again are kept once."""
        e = self.t.evidence
        digest = hashlib.sha256(body).digest()
        seen = self.conn.execute(select(e.c.id).where(
            e.c.hash == digest, e.c.signature == signature, e.c.reason_code == reason_code)
        ).first()
        if seen is not None:
            return False
        self.conn.execute(insert(e).values(
            log_id=log_id, seq=seq, hash=digest, body=body, signature=signature,
            reason_code=reason_code, message=message, peer=peer,
            received_at_ms=to_ms(self.now)))
        return True

    def raise_alarm(self, *, kind: str, node_id: str, peer: str, log_id: str, seq: int,
                    message: str) -> int:
        done = self.conn.execute(insert(self.t.alarms).values(
            kind=kind, node_id=node_id, peer=peer, log_id=log_id, seq=seq, message=message,
            raised_at_ms=to_ms(self.now), resolved_by="", resolution=""))
        key = done.inserted_primary_key
        return int(key[0]) if key else 0

    def resolve_alarm(self, alarm_id: int, *, operator: str, note: str) -> bool:
        a = self.t.alarms
        done = self.conn.execute(update(a).where(a.c.id == alarm_id, a.c.resolved_at_ms.is_(None))
                                 .values(resolved_at_ms=to_ms(self.now), resolved_by=operator,
                                         resolution=note))
        return done.rowcount == 1

    def claim(self, log_id: str, hashes: Sequence[bytes]) -> None:
        fresh = set(hashes) - self.claimed(log_id, list(hashes))
        if fresh:
            self.conn.execute(insert(self.t.blob_claims), [
                {"sha256": h, "log_id": log_id, "claimed_at_ms": to_ms(self.now)}
                for h in sorted(fresh)])

    def add_trail(self, *, kind: str, case_id: str = "", node_id: str = "",
                  operator: str = "", detail: str = "", record: Record | None = None,
                  via: str = "") -> None:
        if self.t.trail is None:
            return  # only the county keeps a trail
        self.conn.execute(insert(self.t.trail).values(
            at_ms=to_ms(self.now), kind=kind, case_id=case_id, node_id=node_id,
            operator=operator, detail=detail, log_id=record.log_id if record else "",
            seq=record.seq if record else 0, via=via))

    def set_mark(self, name: str, value: int, note: str | None = None) -> None:
        s = self._sync_state
        done = self.conn.execute(update(s).where(s.c.name == name)
                                 .values(value=value, note=note))
        if done.rowcount == 0:
            self.conn.execute(insert(s).values(name=name, value=value, note=note))

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        for log_id, after in cursors.items():
            self.set_mark(f"cursor:{log_id}", after)

    def keep_village_beat(self, node_id: str, body: bytes, signature: bytes) -> None:
        b = self._beats
        values = {"body": body, "signature": signature, "received_at_ms": to_ms(self.now),
                  "relayed": False}
        done = self.conn.execute(update(b).where(b.c.node_id == node_id).values(**values))
        if done.rowcount == 0:
            self.conn.execute(insert(b).values(node_id=node_id, **values))

    def village_beat_relayed(self, node_id: str, body: bytes) -> None:
        b = self._beats
        self.conn.execute(update(b).where((b.c.node_id == node_id) & (b.c.body == body))
                          .values(relayed=True))

    def next_daily_number(self, day: dt.date) -> int:
        counters = self.t.counters
        if counters is None:
            raise TypeError("this tier takes no cases at a desk")
        key = f"{day:%Y%m%d}"
        last = self.conn.execute(select(counters.c.last).where(counters.c.day == key)).scalar()
        if last is None:
            self.conn.execute(insert(counters).values(day=key, last=1))
            return 1
        self.conn.execute(update(counters).where(counters.c.day == key).values(last=last + 1))
        return int(last) + 1

    def note_daily_number(self, day: dt.date, number: int) -> None:
        counters = self.t.counters
        if counters is None:
            raise TypeError("this tier takes no cases at a desk")
        key = f"{day:%Y%m%d}"
        last = self.conn.execute(select(counters.c.last).where(counters.c.day == key)).scalar()
        if last is None:
            self.conn.execute(insert(counters).values(day=key, last=number))
        elif last < number:
            self.conn.execute(update(counters).where(counters.c.day == key).values(last=number))


class SqlStore:
    """A tier's database and tables: ``with store.transaction() as tx`` for one unit of work,
    ``with store.reading() as r`` for a consistent read."""

    def __init__(self, db: Database, tables: Tables, clock: Clock) -> None:
        self.db = db
        self.t = tables
        self.clock = clock  # what a transaction's ``now`` (its receipt time) is read from

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with self.db.write() as conn:
            yield SqlTransaction(conn, self.t, self.clock.now())

    @contextmanager
    def reading(self) -> Iterator[SqlReader]:
        with self.db.read() as conn:
            yield SqlReader(conn, self.t, self.clock.now())

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NodeStore(SqlStore):
    """A village's or township's SQLite file."""

    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(db, node_tables(), clock)
