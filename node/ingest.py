"""Receiving another node's records (DESIGN §3, §4): every tier that accepts pushes uses this.

For each batch: refuse it whole if the log is held by an open fork alarm; check each record on
its own (body, signer, signature -- in parallel, outside any write lock); then, in one write
transaction, place the records on the log (seq, chain, revocation, key in force), store what
was accepted, let the tier project it (case views, relay queues), and keep every refused
record as evidence, raising an alarm when the refusal looks like an attack. Refused records
never reach the projection.

A node's signed heartbeat (its head seq and hash) is checked here too: it tells the receiver
exactly which records it is missing, and a heartbeat that disagrees with a stored record is a
fork.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Connection

from node.db import Database
from node.kernel.chain import BatchResult, MapFn, chain_batch, check_records
from node.kernel.clock import Clock
from node.kernel.errors import StateError, UsageError, VerificationError
from node.kernel.identity import (
    check_issued_by,
    identity_of,
    key_id_of,
    load_certificate,
    verify_signature,
)
from node.kernel.payloads import Heartbeat, KeyRotated, audience_of
from node.kernel.records import Record, RecordVerdict, Verdict, parse_record
from node.kernel.wire import decode_heartbeat
from node.store import Alarm, Keyring, LogStore
from sync import PushResult, RecordOutcome

__all__ = ["ALARMING", "MAX_BLOB_BYTES", "MAX_PUSH_RECORDS", "Claim", "Hold", "LogIngest",
           "Screen", "check_blob_query", "check_push_size", "push_result"]

MAX_PUSH_RECORDS = 5_000  # records in one push, attachments asked about in one BlobStatus
MAX_BLOB_BYTES = 64 << 20  # an attachment; the node's own limit per file is lower

# Refusals that look like an attack raise an alarm (kind on the right); others are only kept.
ALARMING = {
    "fork": "fork",
    "bad_signature": "forgery",
    "wrong_signer": "forgery",
    "unknown_key": "forgery",
    "bad_rotation": "forgery",
    "wrong_log": "impersonation",
    "revoked": "revoked_key",
    "retired_key": "retired_key",
    "unknown_field": "tampering",
    "malformed_body": "tampering",
    "broken_chain": "tampering",
    "oversized": "tampering",
    "not_delegated": "unauthorized_decision",
    "not_its_village": "unauthorized_decision",
}
# consequences of an earlier refusal, or records that are fine but early: not evidence
NOT_EVIDENCE = frozenset({"after_refusal", "blob_missing", "case_pending"})


@dataclass(frozen=True, kw_only=True)
class Claim:
    """What a node's heartbeat says of its log, against what this receiver holds."""

    node_id: str
    head_seq: int
    committed_seq: int
    sent_at: dt.datetime

    @property
    def missing(self) -> tuple[int, int] | None:
        """The inclusive range of records the node has and this receiver lacks."""
        if self.head_seq > self.committed_seq:
            return self.committed_seq + 1, self.head_seq
        return None


class _Overlay:
    """A keyring that also knows certificates named by rotations inside the batch at hand."""

    def __init__(self, base: Keyring, extra: dict[bytes, x509.Certificate]) -> None:
        self._base = base
        self._extra = extra

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        return self._extra.get(key_id) or self._base.certificate(key_id)


@dataclass(frozen=True, kw_only=True)
class Hold:
    """Why a well-signed record is not taken. Its ``code`` says whether the refused record is
    kept as evidence: not for records that are fine but early (``NOT_EVIDENCE``, e.g.
    ``blob_missing``: their attachments have not all arrived), yes for records the receiver's
    rules forbid (a township deciding an item not delegated to it)."""

    code: str
    message: str


Screen = Callable[[Sequence[Record]], dict[int, Hold]]


def _apply_holds(checked: list[Record | RecordVerdict], holds: dict[int, Hold],
                 ) -> list[Record | RecordVerdict]:
    out: list[Record | RecordVerdict] = []
    for c in checked:
        hold = holds.get(c.seq) if isinstance(c, Record) else None
        if hold is None:
            out.append(c)
            continue
        assert isinstance(c, Record)
        out.append(RecordVerdict(seq=c.seq, verdict=Verdict.REFUSED, reason_code=hold.code,
                                 message=f"{c}: {hold.message}", record=c,
                                 raw=(c.body, c.signature)))
    return out


class LogIngest:
    def __init__(self, db: Database, logs: LogStore, *, ca: x509.Certificate, clock: Clock,
                 map_fn: MapFn = map) -> None:
        self.db = db
        self.logs = logs
        self.ca = ca
        self.clock = clock
        self.map_fn = map_fn

    def admit_key(self, node_id: str) -> Callable[[bytes], bytes]:
        """The check of a certificate a ``KeyRotated`` record of ``node_id``'s log names."""

        def admit(der: bytes) -> bytes:
            cert = load_certificate(der)
            check_issued_by(cert, self.ca, self.clock.now())
            who = identity_of(cert)
            public_key = cert.public_key()
            if (who.node_id != node_id or who.purpose != "records"
                    or not isinstance(public_key, ed25519.Ed25519PublicKey)):
                raise VerificationError(f"the new certificate is not a records certificate of "
                                        f"{node_id}")
            return key_id_of(public_key)

        return admit

    def held_by(self, conn: Connection, log_id: str) -> Alarm | None:
        forks = self.logs.open_alarms(conn, node_id=log_id, kind="fork")
        return forks[0] if forks else None

    def check_not_held(self, conn: Connection, log_id: str) -> None:
        alarm = self.held_by(conn, log_id)
        if alarm is not None:
            raise StateError(
                f"records of {log_id} are held: fork alarm #{alarm.id} is open ({alarm.message}); "
                f"an operator must resolve it ('bianmin hub alarms resolve {alarm.id}')",
                code="held",
            )

    def receive(self, *, peer: str, log_id: str, raw: Sequence[tuple[bytes, bytes]],
                project: Callable[[Connection, Sequence[Record]], None],
                screen: Screen | None = None,
                offered: Sequence[bytes] = ()) -> BatchResult:
        """Verify, place and store one log's batch, and let the tier project what it accepted
        (all of the batch at once: one query per kind of change, not per record).

        ``screen`` looks at the well-signed records of the batch and says which ones the
        receiver cannot take (``Hold``); each is refused, and everything after it.
        ``offered`` are the log owner's records certificates, sent along by the pusher; each is
        checked against the county CA before it is trusted.
        """
        extra = self._rotations(raw, log_id) | self._offered(offered, log_id)
        with self.db.read() as conn:
            self.check_not_held(conn, log_id)
            keyring = _Overlay(self.logs.keyring(conn), extra)
            checked = check_records(raw, log_id=log_id, keyring=keyring, map_fn=self.map_fn)
        if screen is not None:
            holds = screen([c for c in checked if isinstance(c, Record)])
            if holds:
                checked = _apply_holds(checked, holds)
        now = self.clock.now()
        with self.db.write() as conn:
            head = self.logs.head(conn, log_id, lock=True)
            result = chain_batch(
                checked, log_id=log_id, head=head,
                known_hash=lambda seq: self.logs.hash_at(conn, log_id, seq),
                revoked_from=self.logs.revoked_from(conn, log_id),
                admit_key=self.admit_key(log_id),
            )
            self.logs.append(conn, list(result.accepted), now=now, advance_head=False,
                             audience=audience_of)
            if result.accepted:
                self.logs.set_head(conn, log_id, result.head)
            for cert in extra.values():
                self.logs.add_certificate(conn, cert)
            for record in result.accepted:
                if isinstance(record.payload, KeyRotated):
                    self.logs.add_certificate(conn, load_certificate(
                        record.payload.new_certificate))
            if result.accepted:
                project(conn, result.accepted)
            for verdict in result.refused:
                if verdict.reason_code in NOT_EVIDENCE:
                    continue
                self._keep(conn, peer=peer, log_id=log_id, seq=verdict.seq, raw=verdict.raw,
                           reason=verdict.reason_code, message=verdict.message, now=now)
        return result

    def refuse_all(self, *, peer: str, log_id: str, raw: Sequence[tuple[bytes, bytes]],
                   reason: str, message: str) -> None:
        """Keep a whole refused push as evidence (e.g. a node pushing another node's log)."""
        now = self.clock.now()
        with self.db.write() as conn:
            for body, signature in raw:
                seq = 0
                with contextlib.suppress(VerificationError):
                    seq = parse_record(body, signature).seq
                self.logs.keep_evidence(conn, log_id=log_id, seq=seq, body=body,
                                        signature=signature, reason_code=reason,
                                        message=message, peer=peer, now=now)
            self.logs.raise_alarm(conn, kind=ALARMING.get(reason, reason), node_id=log_id,
                                  peer=peer, log_id=log_id, seq=0, message=message, now=now)

    def heartbeat(self, *, peer: str, body: bytes, signature: bytes) -> Claim:
        """Check a node's signed heartbeat; a claim that contradicts a stored record is a fork.
        A heartbeat that does not decode (a time that is no date, say) is kept as evidence
        with an alarm, like a refused record."""
        now = self.clock.now()
        try:
            beat: Heartbeat = decode_heartbeat(body)
        except VerificationError as exc:
            with self.db.write() as conn:
                self._keep(conn, peer=peer, log_id=peer, seq=0, raw=(body, signature),
                           reason=exc.code, message=f"heartbeat of {peer}: {exc}", now=now)
            raise
        if beat.node_id != peer:
            raise VerificationError(f"heartbeat of {beat.node_id} sent by {peer}",
                                    code="wrong_log")
        with self.db.write() as conn:
            cert = self.logs.certificate(conn, beat.key_id)
            if (cert is None or identity_of(cert).node_id != peer
                    or not verify_signature(cert, body, signature)):
                raise VerificationError(f"heartbeat of {peer} is not signed by its records key",
                                        code="bad_signature")
            committed = self.logs.head(conn, peer).seq
            if 0 < beat.head_seq <= committed:
                stored = self.logs.hash_at(conn, peer, beat.head_seq)
                if stored != beat.head_hash:
                    message = (f"{peer} says record {beat.head_seq} of its log has hash "
                               f"{beat.head_hash.hex()[:16]}, but the stored one has "
                               f"{(stored or b'').hex()[:16]}: the node rewrote its log (fork)")
                    if self.held_by(conn, peer) is None:
                        self.logs.raise_alarm(conn, kind="fork", node_id=peer, peer=peer,
                                              log_id=peer, seq=beat.head_seq, message=message,
                                              now=now)
        return Claim(node_id=peer, head_seq=beat.head_seq, committed_seq=committed,
                     sent_at=beat.sent_at)

    # -- helpers --------------------------------------------------------------------------------

    def _offered(self, offered: Sequence[bytes], log_id: str) -> dict[bytes, x509.Certificate]:
        found: dict[bytes, x509.Certificate] = {}
        admit = self.admit_key(log_id)
        for der in offered[:8]:
            with contextlib.suppress(VerificationError):
                found[admit(der)] = load_certificate(der)
        return found

    def _rotations(self, raw: Sequence[tuple[bytes, bytes]],
                   log_id: str) -> dict[bytes, x509.Certificate]:
        """Certificates named by rotations in this batch, so the records after a rotation in
        the same batch can be checked; each is checked against the county CA first."""
        found: dict[bytes, x509.Certificate] = {}
        admit = self.admit_key(log_id)
        for body, signature in raw:
            if b"\xca\x02" not in body:  # field 41 (key_rotated), length-delimited: cheap filter
                continue
            try:
                payload = parse_record(body, signature).payload
                if isinstance(payload, KeyRotated):
                    found[admit(payload.new_certificate)] = load_certificate(
                        payload.new_certificate)
            except VerificationError:
                continue  # refused properly when the batch is checked
        return found

    def _keep(self, conn: Connection, *, peer: str, log_id: str, seq: int,
              raw: tuple[bytes, bytes], reason: str, message: str, now: dt.datetime) -> None:
        body, signature = raw
        new = self.logs.keep_evidence(conn, log_id=log_id, seq=seq, body=body,
                                      signature=signature, reason_code=reason,
                                      message=message, peer=peer, now=now)
        kind = ALARMING.get(reason)
        if new and kind is not None:
            self.logs.raise_alarm(conn, kind=kind, node_id=log_id, peer=peer, log_id=log_id,
                                  seq=seq, message=message, now=now)


def check_push_size(records: int) -> None:
    """Refuse a push too large to take in one batch, before anything else is done with it
    (kept as evidence included)."""
    if records > MAX_PUSH_RECORDS:
        raise UsageError(f"a push carries at most {MAX_PUSH_RECORDS} records; this one has "
                         f"{records}", code="batch_too_large")


def check_blob_query(hashes: int) -> None:
    if hashes > MAX_PUSH_RECORDS:
        raise UsageError(f"ask for at most {MAX_PUSH_RECORDS} attachments at a time; this "
                         f"asks for {hashes}", code="too_many")


def push_result(result: BatchResult) -> PushResult:
    """The reply to a push: the head committed and each record's outcome."""
    return PushResult(committed_seq=result.head.seq, outcomes=tuple(
        RecordOutcome(seq=v.seq, status=v.verdict.value, reason_code=v.reason_code,
                      message=v.message) for v in result.verdicts))
