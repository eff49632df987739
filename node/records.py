"""Signed, hash-chained records and their verification (DESIGN §3). Pure: no I/O.

A record is ``body`` (the serialized ``RecordBody``) plus ``signature`` (Ed25519 over exactly
those bytes). ``hash = sha256(body)``; seq starts at 1 with no gaps; the first record's previous
hash is 32 zero bytes. A log is therefore a hash chain: dropping, reordering or editing one
record breaks verification of everything after it.

Verification returns a result; callers that want an exception use ``BatchResult.raise_for``
(STYLE §10). Checking many signatures is the cost of ingest, so the signature step takes a
``map`` function: pass a thread pool's ``map`` to check a batch on several cores (pyca releases
the GIL while verifying).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519

from node.clock import Clock
from node.errors import ForkError, VerificationError
from node.identity import (
    CATALOG_LOG_ID,
    Signer,
    identity_of,
    key_id_of,
    load_certificate,
    verify_signature,
)
from node.payloads import KeyRotated, Payload
from node.wire import Header, decode_body, encode_body

__all__ = [
    "MAX_BODY_BYTES",
    "ZERO_HASH",
    "BatchResult",
    "Keyring",
    "LogHead",
    "Record",
    "RecordVerdict",
    "Verdict",
    "chain_batch",
    "check_records",
    "parse_record",
    "seal",
    "verify_log_batch",
]

ZERO_HASH = bytes(32)
MAX_BODY_BYTES = 64 * 1024  # bodies name attachments by hash; 64 KiB is far above any real one
SIGNATURE_BYTES = 64


@dataclass(frozen=True, kw_only=True)
class LogHead:
    """Where a log stands: its last seq and that record's hash (``0`` / zeros when empty),
    and the records key in force for the next record (empty: any key certified to the log's
    node; set at enrolment and moved by ``KeyRotated`` records)."""

    seq: int = 0
    hash: bytes = ZERO_HASH
    key_id: bytes = b""


@dataclass(frozen=True, kw_only=True)
class Record:
    body: bytes
    signature: bytes
    hash: bytes
    header: Header
    payload: Payload

    @property
    def log_id(self) -> str:
        return self.header.log_id

    @property
    def seq(self) -> int:
        return self.header.seq

    @property
    def head(self) -> LogHead:
        """The log head once this record is appended. The key in force stays this record's
        signer, unless the record rotates the log to a new key."""
        key_id = self.header.key_id
        if isinstance(self.payload, KeyRotated):
            try:
                public_key = load_certificate(self.payload.new_certificate).public_key()
                if isinstance(public_key, ed25519.Ed25519PublicKey):
                    key_id = key_id_of(public_key)
            except VerificationError:
                pass  # an unreadable rotation never gets accepted (``chain_batch``)
        return LogHead(seq=self.seq, hash=self.hash, key_id=key_id)

    def __str__(self) -> str:
        return f"{self.log_id}#{self.seq}"


def seal(payload: Payload, *, log_id: str, head: LogHead, signer: Signer, clock: Clock) -> Record:
    """The next record of a log: body encoded once, signed once, never re-serialized."""
    header = Header(
        log_id=log_id,
        seq=head.seq + 1,
        prev_hash=head.hash,
        recorded_at=clock.now(),
        key_id=signer.key_id,
    )
    body = encode_body(header, payload)
    return Record(
        body=body,
        signature=signer.sign(body),
        hash=hashlib.sha256(body).digest(),
        header=header,
        payload=payload,
    )


def parse_record(body: bytes, signature: bytes) -> Record:
    """Values from received bytes; does not check the signature (see ``verify_log_batch``)."""
    if len(body) > MAX_BODY_BYTES:
        raise VerificationError(
            f"record body is {len(body)} bytes, over the {MAX_BODY_BYTES}-byte bound",
            code="oversized",
        )
    if len(signature) != SIGNATURE_BYTES:
        raise VerificationError("record signature is not a 64-byte Ed25519 signature",
                                code="bad_signature")
    header, payload = decode_body(body)
    return Record(
        body=body,
        signature=signature,
        hash=hashlib.sha256(body).digest(),
        header=header,
        payload=payload,
    )


class Keyring(Protocol):
    """Certificates this receiver already trusts (checked against the county CA on arrival)."""

    def certificate(self, key_id: bytes) -> x509.Certificate | None: ...


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"
    ALREADY_HAD = "already_had"
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True)
class RecordVerdict:
    seq: int
    verdict: Verdict
    reason_code: str = ""
    message: str = ""
    record: Record | None = None  # the parsed record, when it parsed
    raw: tuple[bytes, bytes] = (b"", b"")  # body and signature as received, for evidence


@dataclass(frozen=True, kw_only=True)
class BatchResult:
    verdicts: tuple[RecordVerdict, ...]
    head: LogHead  # the log head once the accepted records are appended
    accepted: tuple[Record, ...] = field(default_factory=tuple)

    @property
    def refused(self) -> tuple[RecordVerdict, ...]:
        return tuple(v for v in self.verdicts if v.verdict is Verdict.REFUSED)

    def raise_for(self) -> None:
        """Raise the first refusal as an exception (for callers that stop at one)."""
        for v in self.refused:
            cls = ForkError if v.reason_code == "fork" else VerificationError
            raise cls(v.message, code=v.reason_code)


def _purpose_for(log_id: str) -> str:
    return "catalog" if log_id == CATALOG_LOG_ID else "records"


def verify_log_batch(
    raw: Sequence[tuple[bytes, bytes]],
    *,
    log_id: str,
    head: LogHead,
    known_hash: Callable[[int], bytes | None],
    keyring: Keyring,
    contiguous: bool = True,
    map_fn: MapFn = map,
    revoked_from: int | None = None,
    admit_key: Callable[[bytes], bytes] | None = None,
) -> BatchResult:
    """Check a batch of one log's records against where that log stands here.

    For each record: the body parses strictly; it belongs to ``log_id``; it is signed by a
    certificate this receiver trusts, issued to that log's node for that purpose; and it chains
    onto the head. A record at or below the head is *already had* if its hash matches what is
    stored and a *fork* otherwise (DESIGN §3: refused, never silently resolved). With
    ``contiguous=False`` (a filtered stream of another tier's log) seq may jump ahead.
    After the first refusal nothing later in the batch can chain, so it is refused too.
    """
    return chain_batch(check_records(raw, log_id=log_id, keyring=keyring, map_fn=map_fn),
                       log_id=log_id, head=head, known_hash=known_hash, contiguous=contiguous,
                       revoked_from=revoked_from, admit_key=admit_key)


Signed = tuple[x509.Certificate, bytes, bytes]  # signer's certificate, body, signature
MapFn = Callable[[Callable[[Signed], bool], Sequence[Signed]], Iterable[bool]]


def check_records(raw: Sequence[tuple[bytes, bytes]], *, log_id: str, keyring: Keyring,
                  map_fn: MapFn = map) -> list[Record | RecordVerdict]:
    """The checks that need no neighbour: body, log, signer and signature of each record.

    Parsing and the identity checks run here, on the calling thread; only the signature
    checks go through ``map_fn``, which may spread them over threads: they are most of the
    work and run outside the GIL, so threads doing nothing else do not contend for it."""
    prechecked = [_precheck(pair, log_id, keyring) for pair in raw]
    signed = [(c[1], c[0].body, c[0].signature) for c in prechecked if isinstance(c, tuple)]
    good = iter(list(map_fn(_well_signed, signed)))
    out: list[Record | RecordVerdict] = []
    for c in prechecked:
        if not isinstance(c, tuple):
            out.append(c)
        elif next(good):
            out.append(c[0])
        else:
            out.append(_refuse(c[0], "bad_signature",
                               f"{c[0]}: the signature does not match the body; the record "
                               "was altered or signed by another key"))
    return out


def _well_signed(signed: Signed) -> bool:
    return verify_signature(*signed)


def chain_batch(checked: Sequence[Record | RecordVerdict], *, log_id: str, head: LogHead,
                known_hash: Callable[[int], bytes | None], contiguous: bool = True,
                revoked_from: int | None = None,
                admit_key: Callable[[bytes], bytes] | None = None) -> BatchResult:
    """Place checked records on the log: accepted, already had, fork, gap or broken chain.

    Two rules about keys over time (DESIGN §4) apply here because they depend on the place in
    the log: records from ``revoked_from`` on are refused; and a record must be signed by the
    key in force, which a ``KeyRotated`` record changes. ``admit_key`` checks the certificate
    a rotation names (issued by the county CA to this log's node) and returns its key id.
    """
    verdicts: list[RecordVerdict] = []
    accepted: list[Record] = []
    in_batch: dict[int, bytes] = {}  # seq -> hash of records accepted in this very batch

    def known(seq: int) -> bytes | None:
        return in_batch.get(seq) or known_hash(seq)

    broken = False
    for outcome in checked:
        if isinstance(outcome, RecordVerdict):
            verdicts.append(outcome)
            broken = True
            continue
        if broken:
            verdicts.append(_refuse(outcome, "after_refusal",
                                    f"{outcome}: not applied because an earlier record in the "
                                    "batch was refused"))
            continue
        verdict, after = _place(outcome, head, log_id=log_id, known=known,
                                contiguous=contiguous, revoked_from=revoked_from,
                                admit_key=admit_key)
        verdicts.append(verdict)
        if verdict.verdict is Verdict.REFUSED:
            broken = True
        elif verdict.verdict is Verdict.ACCEPTED:
            accepted.append(outcome)
            in_batch[outcome.seq] = outcome.hash
            head = after
    return BatchResult(verdicts=tuple(verdicts), head=head, accepted=tuple(accepted))


def _place(record: Record, head: LogHead, *, log_id: str,
           known: Callable[[int], bytes | None], contiguous: bool, revoked_from: int | None,
           admit_key: Callable[[bytes], bytes] | None) -> tuple[RecordVerdict, LogHead]:
    """The verdict on one record given the head before it, and the head after it."""
    if record.seq <= head.seq:
        stored = known(record.seq)
        if stored == record.hash or (stored is None and not contiguous):
            return RecordVerdict(seq=record.seq, verdict=Verdict.ALREADY_HAD,
                                 record=record), head
        return _refuse(record, "fork", f"{record}: a different record is already stored at "
                                       "this position of the log (fork)"), head
    if contiguous and record.seq != head.seq + 1:
        return _refuse(record, "gap", f"{record}: expected seq {head.seq + 1}; records "
                                      f"{head.seq + 1}-{record.seq - 1} are missing"), head
    if contiguous and record.header.prev_hash != head.hash:
        return _refuse(record, "broken_chain", f"{record}: previous hash does not match record "
                                               f"{log_id}#{head.seq}; the chain is broken"), head
    if revoked_from is not None and record.seq >= revoked_from:
        return _refuse(record, "revoked", f"{record}: {log_id} was revoked from seq "
                                          f"{revoked_from} on; records signed after that are "
                                          "refused"), head
    if head.key_id and record.header.key_id != head.key_id:
        return _refuse(record, "retired_key",
                       f"{record}: signed by key {record.header.key_id.hex()[:16]}, but the "
                       f"key in force for {log_id} is {head.key_id.hex()[:16]}"), head
    next_key = head.key_id or record.header.key_id
    if isinstance(record.payload, KeyRotated):
        try:
            if admit_key is None:
                raise VerificationError("this receiver does not accept key rotations")
            next_key = admit_key(record.payload.new_certificate)
        except VerificationError as exc:
            return _refuse(record, "bad_rotation", f"{record}: {exc}"), head
    return (RecordVerdict(seq=record.seq, verdict=Verdict.ACCEPTED, record=record),
            LogHead(seq=record.seq, hash=record.hash, key_id=next_key))


def _refuse(record: Record, code: str, message: str) -> RecordVerdict:
    return RecordVerdict(seq=record.seq, verdict=Verdict.REFUSED, reason_code=code,
                         message=message, record=record, raw=(record.body, record.signature))


def _precheck(pair: tuple[bytes, bytes], log_id: str,
              keyring: Keyring) -> tuple[Record, x509.Certificate] | RecordVerdict:
    """Everything about one record that does not depend on its neighbours, but the signature:
    the parsed record and the certificate to check its signature with, or the refusal."""
    body, signature = pair
    try:
        record = parse_record(body, signature)
    except VerificationError as exc:
        return RecordVerdict(seq=0, verdict=Verdict.REFUSED, reason_code=exc.code,
                             message=f"record of {log_id}: {exc}", raw=pair)
    if record.log_id != log_id:
        return _refuse(record, "wrong_log",
                       f"{record}: pushed as part of log {log_id}; a node may only push its "
                       "own log")
    cert = keyring.certificate(record.header.key_id)
    if cert is None:
        return _refuse(record, "unknown_key",
                       f"{record}: signed by key {record.header.key_id.hex()[:16]}, which no "
                       "certificate of the county CA here names")
    who = identity_of(cert)
    if who.node_id != log_id or who.purpose != _purpose_for(log_id):
        return _refuse(record, "wrong_signer",
                       f"{record}: signed by {who.node_id} ({who.purpose} key), not by "
                       f"{log_id}'s {_purpose_for(log_id)} key")
    return record, cert
