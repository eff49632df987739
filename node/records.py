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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509

from node.clock import Clock
from node.errors import ForkError, VerificationError
from node.identity import CATALOG_LOG_ID, Signer, identity_of, verify_signature
from node.payloads import Payload
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
    """Where a log stands: its last seq and that record's hash (``0`` / zeros when empty)."""

    seq: int = 0
    hash: bytes = ZERO_HASH


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
        """The log head once this record is appended."""
        return LogHead(seq=self.seq, hash=self.hash)

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
                       log_id=log_id, head=head, known_hash=known_hash, contiguous=contiguous)


MapFn = Callable[[Callable[[tuple[bytes, bytes]], "Record | RecordVerdict"],
                  Iterable[tuple[bytes, bytes]]], Iterator["Record | RecordVerdict"]]


def check_records(raw: Sequence[tuple[bytes, bytes]], *, log_id: str, keyring: Keyring,
                  map_fn: MapFn = map) -> list[Record | RecordVerdict]:
    """The checks that need no neighbour: body, log, signer and signature of each record.
    Independent per record, so ``map_fn`` may spread them over threads."""
    return list(map_fn(lambda pair: _check_one(pair, log_id, keyring), raw))


def chain_batch(checked: Sequence[Record | RecordVerdict], *, log_id: str, head: LogHead,
                known_hash: Callable[[int], bytes | None], contiguous: bool = True,
                ) -> BatchResult:
    """Place checked records on the log: accepted, already had, fork, gap or broken chain."""
    verdicts: list[RecordVerdict] = []
    accepted: list[Record] = []
    in_batch: dict[int, bytes] = {}  # seq -> hash of records accepted in this very batch
    broken = False
    for outcome in checked:
        if isinstance(outcome, RecordVerdict):
            verdicts.append(outcome)
            broken = True
            continue
        record = outcome
        if broken:
            verdicts.append(_refuse(record, "after_refusal",
                                    f"{record}: not applied because an earlier record in the "
                                    "batch was refused"))
            continue
        if record.seq <= head.seq:
            stored = in_batch.get(record.seq) or known_hash(record.seq)
            if stored == record.hash:
                verdicts.append(RecordVerdict(seq=record.seq, verdict=Verdict.ALREADY_HAD,
                                              record=record))
                continue
            if stored is None and not contiguous:
                verdicts.append(RecordVerdict(seq=record.seq, verdict=Verdict.ALREADY_HAD,
                                              record=record))
                continue
            verdicts.append(_refuse(record, "fork",
                                    f"{record}: a different record is already stored at this "
                                    "position of the log (fork)"))
            broken = True
            continue
        if contiguous and record.seq != head.seq + 1:
            verdicts.append(_refuse(record, "gap",
                                    f"{record}: expected seq {head.seq + 1}; records "
                                    f"{head.seq + 1}-{record.seq - 1} are missing"))
            broken = True
            continue
        if contiguous and record.header.prev_hash != head.hash:
            verdicts.append(_refuse(record, "broken_chain",
                                    f"{record}: previous hash does not match record "
                                    f"{log_id}#{head.seq}; the chain is broken"))
            broken = True
            continue
        verdicts.append(RecordVerdict(seq=record.seq, verdict=Verdict.ACCEPTED, record=record))
        accepted.append(record)
        in_batch[record.seq] = record.hash
        head = record.head
    return BatchResult(verdicts=tuple(verdicts), head=head, accepted=tuple(accepted))


def _refuse(record: Record, code: str, message: str) -> RecordVerdict:
    return RecordVerdict(seq=record.seq, verdict=Verdict.REFUSED, reason_code=code,
                         message=message, record=record)


def _check_one(pair: tuple[bytes, bytes], log_id: str, keyring: Keyring) -> Record | RecordVerdict:
    """Everything about one record that does not depend on its neighbours."""
    body, signature = pair
    try:
        record = parse_record(body, signature)
    except VerificationError as exc:
        return RecordVerdict(seq=0, verdict=Verdict.REFUSED, reason_code=exc.code,
                             message=f"record of {log_id}: {exc}")
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
    if not verify_signature(cert, body, signature):
        return _refuse(record, "bad_signature",
                       f"{record}: the signature does not match the body; the record was "
                       "altered or signed by another key")
    return record
