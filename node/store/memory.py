"""The store seam in dictionaries, for unit tests (STYLE §17, §20): the same protocols as
``node.store.sql``, no database. A transaction works on a copy of the state and puts it in
place only when it ends without an exception, so a refused batch leaves nothing behind here
either. Values are frozen, so shallow copies are enough.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519

from node.kernel.chain import Keyring
from node.kernel.clock import Clock, to_ms
from node.kernel.identity import Signer, certificate_der, identity_of, key_id_of
from node.kernel.payloads import NodeRevoked, Payload
from node.kernel.projector import RECEIVABLE, Case, Change, OpinionGiven
from node.kernel.records import LogHead, Record, parse_record, seal
from node.kernel.workflow import State
from node.store.seam import Alarm, Audience, Revocation, VillageBeat
from node.store.sql import case_of

__all__ = ["MemoryStore", "MemoryTransaction"]


@dataclass(frozen=True)
class _Stored:
    hash: bytes
    body: bytes
    signature: bytes
    audience: str | None
    stored_at: dt.datetime


@dataclass
class _State:
    records: dict[tuple[str, int], _Stored] = field(default_factory=dict)
    heads: dict[str, LogHead] = field(default_factory=dict)
    certificates: dict[bytes, x509.Certificate] = field(default_factory=dict)
    case_records: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    evidence: list[dict[str, object]] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    revocations: dict[str, Revocation] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    claims: set[tuple[bytes, str]] = field(default_factory=set)
    trail: list[dict[str, object]] = field(default_factory=list)
    pauses: dict[str, list[tuple[dt.datetime, dt.datetime | None]]] = field(
        default_factory=dict)
    opinions: dict[tuple[str, str], OpinionGiven] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    beats: dict[str, VillageBeat] = field(default_factory=dict)

    def copy(self) -> _State:
        return _State(**{f.name: _copied(getattr(self, f.name))
                         for f in dataclasses.fields(self)})


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, list) else v for k, v in value.items()}
    if isinstance(value, list | set):
        return type(value)(value)
    return value


class _Cases:
    def __init__(self, tx: MemoryReader) -> None:
        self._tx = tx

    def get(self, case_id: str) -> Case | None:
        return self._tx.s.cases.get(case_id)

    def get_many(self, case_ids: Sequence[str]) -> dict[str, Case]:
        return {c: self._tx.s.cases[c] for c in case_ids if c in self._tx.s.cases}

    def of_applicant(self, applicant_id: str) -> list[Case]:
        return [c for c in self.list() if c.applicant_id == applicant_id]

    def list(self, *, state: str | None = None) -> list[Case]:
        found = [c for c in self._tx.s.cases.values() if state is None or c.state == state]
        return sorted(found, key=lambda c: (c.received_at, c.case_id))


    def count(self) -> int:
        return len(self._tx.s.cases)

    def apply(self, changes: Sequence[Change], *, via: str = "") -> None:
        s, now = self._tx.s, self._tx.now
        for change in changes:
            s.cases[change.case_id] = change.after
            if change.pause == "start" and not any(e is None for _b, e in
                                                   s.pauses.get(change.case_id, [])):
                s.pauses.setdefault(change.case_id, []).append((now, None))
            elif change.pause == "end":
                s.pauses[change.case_id] = [(b, now if e is None else e)
                                            for b, e in s.pauses.get(change.case_id, [])]
            if change.opinion is not None:
                s.opinions[(change.case_id, change.opinion.department)] = change.opinion
            if change.trail_kind:
                s.trail.append({"kind": change.trail_kind, "case_id": change.case_id,
                                "operator": change.operator, "detail": change.trail,
                                "record": str(change.record) if change.record else "",
                                "via": via})

    def mark_received(self, upto_seq: int, now: dt.datetime) -> int:
        moved = 0
        for case_id, case in list(self._tx.s.cases.items()):
            if case.last_own_seq <= upto_seq and case.state in RECEIVABLE:
                self._tx.s.cases[case_id] = dataclasses.replace(case, state=State.RECEIVED,
                                                                updated_at=now)
                moved += 1
        return moved

    def flag(self, case_id: str, flags: Sequence[str]) -> None:
        case = self._tx.s.cases.get(case_id)
        if case is not None:
            self._tx.s.cases[case_id] = dataclasses.replace(case, flags=case.flagged(*flags))


class _Keyring:
    def __init__(self, certs: Mapping[bytes, x509.Certificate]) -> None:
        self._certs = certs

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        return self._certs.get(key_id)


class MemoryReader:
    def __init__(self, state: _State, now: dt.datetime) -> None:
        self.s = state
        self.now = now
        self._cases = _Cases(self)

    @property
    def cases(self) -> _Cases:
        return self._cases

    def head(self, log_id: str) -> LogHead:
        return self.s.heads.get(log_id, LogHead())

    def hash_at(self, log_id: str, seq: int) -> bytes | None:
        found = self.s.records.get((log_id, seq))
        return None if found is None else found.hash

    def stored_at(self, log_id: str, seq: int) -> dt.datetime | None:
        found = self.s.records.get((log_id, seq))
        return None if found is None else found.stored_at

    def latest(self, log_id: str) -> Record | None:
        seqs = [q for (lg, q) in self.s.records if lg == log_id]
        if not seqs:
            return None
        stored = self.s.records[(log_id, max(seqs))]
        return parse_record(stored.body, stored.signature)

    def raw_after(self, log_id: str, after_seq: int, limit: int, *,
                  audiences: Sequence[str] | None = None,
                  upto: int | None = None) -> list[tuple[int, bytes, bytes]]:
        rows = sorted((q, v) for (lg, q), v in self.s.records.items()
                      if lg == log_id and q > after_seq and (upto is None or q <= upto)
                      and (audiences is None or v.audience is None or v.audience in audiences))
        return [(q, v.body, v.signature) for q, v in rows[:limit]]

    def iter_log(self, log_id: str, *,
                 batch: int = 1000) -> Iterator[tuple[int, bytes, bytes, bytes, int]]:
        for q, v in sorted((q, v) for (lg, q), v in self.s.records.items() if lg == log_id):
            yield q, v.hash, v.body, v.signature, to_ms(v.stored_at)

    def case_history(self, case_id: str) -> list[Record]:
        found = [parse_record(self.s.records[k].body, self.s.records[k].signature)
                 for k in self.s.case_records.get(case_id, [])]
        return sorted(found, key=lambda r: (r.header.recorded_at, r.log_id, r.seq))

    def all_log_ids(self) -> list[str]:
        return sorted(set(self.s.heads) | {lg for lg, _q in self.s.records})

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        return self.s.certificates.get(key_id)

    def keyring(self) -> Keyring:
        return _Keyring(self.s.certificates)

    def certificates_of(self, node_id: str) -> list[bytes]:
        return [certificate_der(c) for c in self.s.certificates.values()
                if identity_of(c).node_id == node_id]

    def all_certificates(self) -> list[x509.Certificate]:
        return list(self.s.certificates.values())

    def revoked_from(self, node_id: str) -> int | None:
        found = self.s.revocations.get(node_id)
        return None if found is None else found.from_seq

    def revocation(self, node_id: str) -> Revocation | None:
        return self.s.revocations.get(node_id)

    def open_alarms(self, *, node_id: str | None = None, kind: str | None = None,
                    include_resolved: bool = False) -> list[Alarm]:
        return [a for a in self.s.alarms
                if (include_resolved or a.resolved_at is None)
                and node_id in (None, a.node_id) and kind in (None, a.kind)]

    def refusal_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.s.evidence:
            code = str(e["reason_code"])
            counts[code] = counts.get(code, 0) + 1
        return counts

    def recent_evidence(self, limit: int = 20) -> list[dict[str, object]]:
        return list(reversed(self.s.evidence))[:limit]

    def claimed(self, log_id: str, hashes: Sequence[bytes]) -> set[bytes]:
        return {h for h in hashes if (h, log_id) in self.s.claims}

    def mark(self, name: str) -> int:
        return self.s.marks.get(name, 0)

    def mark_note(self, name: str) -> str:
        return self.s.notes.get(name, "")

    def cursors(self) -> dict[str, int]:
        return {k.removeprefix("cursor:"): v for k, v in self.s.marks.items()
                if k.startswith("cursor:")}

    def village_beats(self) -> list[VillageBeat]:
        return [self.s.beats[k] for k in sorted(self.s.beats)]


class MemoryTransaction(MemoryReader):
    def lock_head(self, log_id: str) -> LogHead:
        return self.head(log_id)

    def seal_append(self, payload: Payload, *, log_id: str, signer: Signer, clock: Clock,
                    audience: str | None = None, of_case: bool = True) -> Record:
        record = seal(payload, log_id=log_id, head=self.head(log_id), signer=signer,
                      clock=clock)
        self.append([record], audience=lambda _r: audience,
                    unlinked=() if of_case else (record.seq,))
        return record

    def append(self, records: Sequence[Record], *, audience: Audience | None = None,
               advance_head: bool = True, unlinked: Collection[int] = ()) -> None:
        for r in records:
            key = (r.log_id, r.seq)
            if key in self.s.records:
                raise ValueError(f"{r} is stored already (a unique key in the database)")
            self.s.records[key] = _Stored(hash=r.hash, body=r.body, signature=r.signature,
                                          audience=audience(r) if audience else None,
                                          stored_at=self.now)
            case_id = case_of(r)
            if case_id is not None and r.seq not in unlinked:
                self.s.case_records.setdefault(case_id, []).append(key)
            if advance_head:
                self.s.heads[r.log_id] = r.head

    def set_head(self, log_id: str, head: LogHead) -> None:
        self.s.heads[log_id] = head

    def add_certificate(self, cert: x509.Certificate) -> bytes | None:
        public_key = cert.public_key()
        if identity_of(cert).purpose == "tls" or not isinstance(
                public_key, ed25519.Ed25519PublicKey):
            return None
        key_id = key_id_of(public_key)
        self.s.certificates.setdefault(key_id, cert)
        return key_id

    def add_revocation(self, revoked: NodeRevoked, at: dt.datetime) -> None:
        self.s.revocations.setdefault(revoked.node_id, Revocation(
            node_id=revoked.node_id, from_seq=revoked.from_seq, reason=revoked.reason,
            operator=revoked.operator, revoked_at=at))

    def keep_evidence(self, *, log_id: str, seq: int, body: bytes, signature: bytes,
                      reason_code: str, message: str, peer: str) -> bool:
        digest = hashlib.sha256(body).digest()
        if any(e["hash"] == digest and e["signature"] == signature
               and e["reason_code"] == reason_code for e in self.s.evidence):
            return False
        self.s.evidence.append({"id": len(self.s.evidence) + 1, "log_id": log_id, "seq": seq,
                                "hash": digest, "body": body, "signature": signature,
                                "reason_code": reason_code, "message": message, "peer": peer,
                                "received_at": self.now})
        return True

    def raise_alarm(self, *, kind: str, node_id: str, peer: str, log_id: str, seq: int,
                    message: str) -> int:
        alarm = Alarm(id=len(self.s.alarms) + 1, kind=kind, node_id=node_id, peer=peer,
                      log_id=log_id, seq=seq, message=message, raised_at=self.now,
                      resolved_at=None, resolved_by="", resolution="")
        self.s.alarms.append(alarm)
        return alarm.id

    def resolve_alarm(self, alarm_id: int, *, operator: str, note: str) -> bool:
        for n, a in enumerate(self.s.alarms):
            if a.id == alarm_id and a.resolved_at is None:
                self.s.alarms[n] = dataclasses.replace(a, resolved_at=self.now,
                                                       resolved_by=operator, resolution=note)
                return True
        return False

    def claim(self, log_id: str, hashes: Sequence[bytes]) -> None:
        self.s.claims.update((h, log_id) for h in hashes)

    def add_trail(self, *, kind: str, case_id: str = "", node_id: str = "",
                  operator: str = "", detail: str = "", record: Record | None = None,
                  via: str = "") -> None:
        self.s.trail.append({"kind": kind, "case_id": case_id, "node_id": node_id,
                             "operator": operator, "detail": detail,
                             "record": str(record) if record else "", "via": via})

    def set_mark(self, name: str, value: int, note: str | None = None) -> None:
        self.s.marks[name] = value
        self.s.notes[name] = note or ""

    def keep_village_beat(self, node_id: str, body: bytes, signature: bytes) -> None:
        self.s.beats[node_id] = VillageBeat(node_id=node_id, body=body, signature=signature,
                                            received_at=self.now, relayed=False)

    def village_beat_relayed(self, node_id: str, body: bytes) -> None:
        beat = self.s.beats.get(node_id)
        if beat is not None and beat.body == body:
            self.s.beats[node_id] = dataclasses.replace(beat, relayed=True)

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        for log_id, after in cursors.items():
            self.s.marks[f"cursor:{log_id}"] = after

    def next_daily_number(self, day: dt.date) -> int:
        key = f"{day:%Y%m%d}"
        self.s.counters[key] = self.s.counters.get(key, 0) + 1
        return self.s.counters[key]

    def note_daily_number(self, day: dt.date, number: int) -> None:
        key = f"{day:%Y%m%d}"
        self.s.counters[key] = max(self.s.counters.get(key, 0), number)


class MemoryStore:
    """``node.store.seam.Store`` in memory."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.state = _State()

    @contextmanager
    def transaction(self) -> Iterator[MemoryTransaction]:
        work = self.state.copy()
        yield MemoryTransaction(work, self.clock.now())
        self.state = work

    @contextmanager
    def reading(self) -> Iterator[MemoryReader]:
        yield MemoryReader(self.state, self.clock.now())

    def close(self) -> None:
        pass
