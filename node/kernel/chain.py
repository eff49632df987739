"""The one verifier of received records (DESIGN §3, §4; STYLE §21). Pure: no I/O.

Two steps. ``check_records`` judges each record on its own: the body parses strictly, it
belongs to the log it was sent as, it is signed by a certificate this receiver trusts, issued
to that log's node for that purpose, and the signature holds. ``chain_batch`` then places the
checked records on the log: seq, previous hash, revocation point, key in force; a record at
or below the head is *already had* if its hash matches and a *fork* otherwise.

Verification returns a result (STYLE §10): ingest stops at the first refusal (everything after
it is ``after_refusal``); audit runs the same steps with ``collect=True`` and gets every
problem. Checking many signatures is the cost of ingest, so the signature step takes a
``map`` function: pass a thread pool's ``map`` to check a batch on several cores (libsodium
releases the GIL while verifying).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509

from node.kernel.errors import ForkError, VerificationError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    identity_of,
    key_replacement_message,
    verify_signature,
)
from node.kernel.payloads import KeyReplaced, KeyRotated
from node.kernel.records import (
    REPLACEMENT_PENDING,
    LogHead,
    Record,
    RecordVerdict,
    Verdict,
    parse_record,
)

__all__ = [
    "BatchResult",
    "Keyring",
    "MapFn",
    "chain_batch",
    "check_records",
    "cut",
    "key_replacement_admitter",
    "verify_log_batch",
]


class Keyring(Protocol):
    """Certificates this receiver already trusts (checked against the county CA on arrival)."""

    def certificate(self, key_id: bytes) -> x509.Certificate | None: ...


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
                       revoked_from=revoked_from, admit_key=admit_key, keyring=keyring)


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
                admit_key: Callable[[bytes], bytes] | None = None,
                keyring: Keyring | None = None, collect: bool = False) -> BatchResult:
    """Place checked records on the log: accepted, already had, fork, gap or broken chain.

    Two rules about keys over time (DESIGN §4) apply here because they depend on the place in
    the log: records from ``revoked_from`` on are refused; and a record must be signed by the
    key in force, which a ``KeyRotated`` record changes. ``admit_key`` checks the certificate
    a rotation names (issued by the county CA to this log's node) and returns its key id. A
    ``KeyReplaced`` (the old key was lost) is signed by the new key instead; it names its
    certificate as a rotation does (``admit_key``) and carries the county's authorization for
    its place in the log, checked with the hub's key from ``keyring``
    (``key_replacement_admitter``).

    Ingest stops at the first refusal: nothing after it can chain (``after_refusal``). Audit
    passes ``collect=True`` and gets a verdict on every record on its own: after a refused
    record the next is placed as if the refused one were in its place.
    """
    verdicts: list[RecordVerdict] = []
    accepted: list[Record] = []
    in_batch: dict[int, bytes] = {}  # seq -> hash of records accepted in this very batch

    def known(seq: int) -> bytes | None:
        return in_batch.get(seq) or known_hash(seq)

    admit_replacement = (key_replacement_admitter(admit_key, keyring)
                         if admit_key is not None and keyring is not None else None)
    broken = False
    for outcome in checked:
        if isinstance(outcome, RecordVerdict):
            verdicts.append(outcome)
            broken = True
            if collect:  # the unreadable record still takes its place in the chain
                head = LogHead(seq=outcome.record.seq if outcome.record else head.seq + 1,
                               hash=outcome.record.hash if outcome.record else
                               hashlib.sha256(outcome.raw[0]).digest(), key_id=head.key_id)
            continue
        if broken and not collect:
            verdicts.append(_refuse(outcome, "after_refusal",
                                    f"{outcome}: not applied because an earlier record in the "
                                    "batch was refused"))
            continue
        verdict, after = _place(outcome, head, log_id=log_id, known=known,
                                contiguous=contiguous, revoked_from=revoked_from,
                                admit_key=admit_key, admit_replacement=admit_replacement)
        verdicts.append(verdict)
        if verdict.verdict is Verdict.REFUSED:
            broken = True
            if collect:
                head = LogHead(seq=outcome.seq, hash=outcome.hash, key_id=head.key_id)
        elif verdict.verdict is Verdict.ACCEPTED:
            accepted.append(outcome)
            in_batch[outcome.seq] = outcome.hash
            head = after
    return BatchResult(verdicts=tuple(verdicts), head=head, accepted=tuple(accepted))


def cut(result: BatchResult, at_seq: int, code: str, message: str, *,
        head_before: LogHead) -> BatchResult:
    """``result`` with the accepted record ``at_seq`` refused (``code``) and every accepted
    record after it refused as ``after_refusal``: what the authority rules do to a placed
    batch. ``head_before`` is the log's head before the batch."""
    verdicts: list[RecordVerdict] = []
    accepted: list[Record] = []
    head = head_before
    refused = False
    for v in result.verdicts:
        record = v.record
        if v.verdict is not Verdict.ACCEPTED or record is None:
            verdicts.append(v)
            continue
        if record.seq == at_seq:
            verdicts.append(_refuse(record, code, message))
            refused = True
        elif refused:
            verdicts.append(_refuse(record, "after_refusal",
                                    f"{record}: not applied because an earlier record in the "
                                    "batch was refused"))
        else:
            verdicts.append(v)
            accepted.append(record)
            if record.seq > head.seq:  # (a filled-in record of a filtered stream is below it)
                head = record.head
    return BatchResult(verdicts=tuple(verdicts), head=head, accepted=tuple(accepted))


def _place(record: Record, head: LogHead, *, log_id: str,
           known: Callable[[int], bytes | None], contiguous: bool, revoked_from: int | None,
           admit_key: Callable[[bytes], bytes] | None,
           admit_replacement: Callable[[Record], bytes] | None = None,
           ) -> tuple[RecordVerdict, LogHead]:
    """The verdict on one record given the head before it, and the head after it."""
    if record.seq <= head.seq:
        stored = known(record.seq)
        if stored == record.hash:
            return RecordVerdict(seq=record.seq, verdict=Verdict.ALREADY_HAD,
                                 record=record), head
        if stored is None and not contiguous:
            # a filtered stream of another tier's log: a record below the head this node
            # does not hold was addressed to it later (e.g. a grant to its township)
            return RecordVerdict(seq=record.seq, verdict=Verdict.ACCEPTED, record=record), head
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
    replacing = isinstance(record.payload, KeyReplaced)
    if head.key_id == REPLACEMENT_PENDING and not replacing:
        return _refuse(record, "retired_key",
                       f"{record}: the county replaced {log_id}'s keys after seq {head.seq} (the "
                       "node lost them); the next record must be its KeyReplaced, signed by "
                       "the new key"), head
    if head.key_id and record.header.key_id != head.key_id and not replacing:
        return _refuse(record, "retired_key",
                       f"{record}: signed by key {record.header.key_id.hex()[:16]}, but the "
                       f"key in force for {log_id} is {head.key_id.hex()[:16]}"), head
    next_key = head.key_id or record.header.key_id
    if replacing:
        try:
            if admit_replacement is None:
                raise VerificationError("this receiver does not accept key replacements")
            next_key = admit_replacement(record)
        except VerificationError as exc:
            return _refuse(record, "bad_replacement", f"{record}: {exc}"), head
    if isinstance(record.payload, KeyRotated):
        try:
            if admit_key is None:
                raise VerificationError("this receiver does not accept key rotations")
            next_key = admit_key(record.payload.new_certificate)
        except VerificationError as exc:
            return _refuse(record, "bad_rotation", f"{record}: {exc}"), head
    return (RecordVerdict(seq=record.seq, verdict=Verdict.ACCEPTED, record=record),
            LogHead(seq=record.seq, hash=record.hash, key_id=next_key))


def key_replacement_admitter(admit_key: Callable[[bytes], bytes],
                             keyring: Keyring) -> Callable[[Record], bytes]:
    """The check of a ``KeyReplaced`` record: it names a records certificate the county CA
    issued to this log's node (``admit_key``), is signed by that very key, and carries the
    hub's authorization for exactly this place in the log -- log, seq and the hash it chains
    on. The key id it puts in force."""

    def admit(record: Record) -> bytes:
        payload = record.payload
        assert isinstance(payload, KeyReplaced)
        key_id = admit_key(payload.new_certificate)
        if key_id != record.header.key_id:
            raise VerificationError("a key replacement must be signed by the key it names")
        hub = keyring.certificate(payload.hub_key_id)
        if hub is None or (identity_of(hub).node_id, identity_of(hub).purpose) != (
                HUB_NODE_ID, "records"):
            raise VerificationError("its authorization names no records key of the county hub "
                                    "known here")
        message = key_replacement_message(record.log_id, record.seq, record.header.prev_hash,
                                          key_id)
        if not verify_signature(hub, message, payload.authorization):
            raise VerificationError("the county's authorization does not cover this place in "
                                    "the log (another seq, another chain, or another key)")
        return key_id

    return admit


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
