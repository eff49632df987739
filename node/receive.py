"""The one receive path (DESIGN §4, §8): every record a tier takes from another passes here --
the county taking a push, a township taking its villages' pushes, a village or a township
applying what it pulled.

For one log's batch:

1. Each record on its own (``node.kernel.chain.check_records``): the body parses strictly, it
   is of this log, a certificate of the county CA for that log's node signed it. Outside any
   write lock; the signature checks may run on several threads.
2. In one write transaction: its place on the log (``chain_batch``: seq, previous hash,
   revocation, key in force), then who may say it (``node.kernel.authority``), stopping at
   the first refusal. What stands is stored as signed and projected onto the tier's cases
   (``node.kernel.projector``); a record that cannot take effect is answered as the tier
   answers (the county signs an ``ActionRefused`` that flows down). Every refused record is
   kept byte for byte as evidence and raises the alarm its reason names, naming the writer.

A push is judged record by record (what comes before a refusal is kept); a pulled batch, with
the cursors that go with it, is taken whole or not at all (``atomic``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519

from node.kernel.authority import AUTHORITY, REASONS, Facts, judge_batch
from node.kernel.chain import (
    BatchResult,
    Keyring,
    MapFn,
    chain_batch,
    check_records,
    cut,
)
from node.kernel.clock import Clock
from node.kernel.errors import StateError, UsageError, VerificationError
from node.kernel.identity import (
    check_issued_by,
    identity_of,
    key_id_of,
    load_certificate,
    records_key_admitter,
    verify_signature,
)
from node.kernel.payloads import Heartbeat, KeyReplaced, KeyRotated
from node.kernel.projector import Case, Change, Context, Refusal, apply
from node.kernel.records import LogHead, Record, RecordVerdict, Verdict, parse_record
from node.kernel.wire import decode_heartbeat
from node.store.seam import Alarm, Reader, Store, Transaction
from node.store.sql import case_of
from sync import PushResult, RecordOutcome

__all__ = ["MAX_BLOB_BYTES", "MAX_PUSH_RECORDS", "Claim", "Inbound", "Receiver", "Refused",
           "Tier", "check_blob_query", "check_push_size", "push_result"]

MAX_PUSH_RECORDS = 5_000  # records in one push, attachments asked about in one BlobStatus
MAX_BLOB_BYTES = 64 << 20  # an attachment; the node's own limit per file is lower


class Tier(Protocol):
    """What differs between receivers: what they know, how they see a case, what they answer
    to a record that cannot take effect."""

    receiver: str

    def facts(self, tx: Transaction) -> Facts: ...

    def context(self, tx: Transaction, case: Case | None, record: Record) -> Context: ...

    def answer(self, tx: Transaction, record: Record, refusal: Refusal) -> None: ...

    def audience(self, tx: Transaction, record: Record) -> str | None: ...

    def decided_by(self, tx: Transaction, records: Sequence[Record]) -> Mapping[str, str]: ...

    def projected(self, tx: Transaction, records: Sequence[Record],
                  changes: Sequence[Change]) -> None:
        """What the tier does besides (the county: catalog re-checks, confirmations)."""
        ...

    def refused(self, tx: Transaction, record: Record, code: str, message: str) -> None:
        """What the tier answers, once, to a well-signed record it refused under the
        authority rules (the county: a signed refusal of a township's decision)."""
        ...

    def lacking(self, tx: Transaction, record: Record, materials: Sequence[str]) -> None:
        """What the tier answers to a record whose scans never arrived (the county: a signed
        refusal that asks the desk to attach them again)."""
        ...


@dataclass(frozen=True, kw_only=True)
class Inbound:
    """One log's records as they arrived, and who brought them."""

    peer: str
    log_id: str
    raw: Sequence[tuple[bytes, bytes]]
    offered: Sequence[bytes] = ()  # the log owner's certificates, sent along (DER)
    contiguous: bool = True  # False: a filtered stream of another tier's log (a pull)


@dataclass(frozen=True, kw_only=True)
class Claim:
    """What a node's heartbeat says of its log, against what this receiver holds."""

    node_id: str
    head_seq: int
    head_hash: bytes
    committed_seq: int
    sent_at: dt.datetime

    @property
    def missing(self) -> tuple[int, int] | None:
        """The inclusive range of records the node has and this receiver lacks."""
        if self.head_seq > self.committed_seq:
            return self.committed_seq + 1, self.head_seq
        return None


@dataclass(kw_only=True)
class _Judged:
    """A placed batch after the authority rules: what stands, the time flags by case, the scans
    that never arrived by seq, and the records that stand without effect (``void``, by seq:
    their verdict, accepted with the authority rule's code)."""

    result: BatchResult
    flags: dict[str, list[str]] = field(default_factory=dict)
    lacking: dict[int, tuple[str, ...]] = field(default_factory=dict)
    void: dict[int, RecordVerdict] = field(default_factory=dict)


@dataclass(kw_only=True)
class _Checked:
    inbound: Inbound
    checked: list[Record | RecordVerdict]
    certificates: dict[bytes, x509.Certificate] = field(default_factory=dict)


class _Overlay:
    """A keyring that also knows certificates sent along with the batch (checked first)."""

    def __init__(self, base: Keyring, extra: Mapping[bytes, x509.Certificate]) -> None:
        self._base = base
        self._extra = extra

    def certificate(self, key_id: bytes) -> x509.Certificate | None:
        return self._extra.get(key_id) or self._base.certificate(key_id)


class Refused(VerificationError):
    """A pulled batch broke a rule: nothing of it was applied (``Receiver.take_whole``)."""

    def __init__(self, message: str, *, code: str, log_id: str, seq: int) -> None:
        super().__init__(message, code=code)
        self.log_id = log_id
        self.seq = seq


class Receiver:
    """The receive path of one tier over its store."""

    def __init__(self, store: Store, tier: Tier, *, ca: x509.Certificate, clock: Clock,
                 map_fn: MapFn = map) -> None:
        self.store = store
        self.tier = tier
        self.ca = ca
        self.clock = clock
        self.map_fn = map_fn

    # -- pushes: record by record --------------------------------------------------------------

    def receive(self, inbound: Inbound) -> BatchResult:
        """Verify, place, judge, store and project one log's pushed batch (see the module
        docstring); the result says what happened to each record."""
        self.check_not_held(inbound.log_id)
        checked = self._check(inbound)
        with self.store.transaction() as tx:
            result = self._place(tx, checked, void=True)
            self._keep_refused(tx, inbound, result)
        return result

    def check_not_held(self, log_id: str) -> None:
        """A log with an open fork alarm takes no more records until an operator looks."""
        with self.store.reading() as r:
            alarm = self.held_by(r, log_id)
        if alarm is not None:
            raise StateError(
                f"records of {log_id} are held: fork alarm #{alarm.id} is open ({alarm.message}); "
                f"an operator must resolve it ('bianmin hub alarms resolve {alarm.id}')",
                code="held")

    @staticmethod
    def held_by(reader: Reader, log_id: str) -> Alarm | None:
        forks = reader.open_alarms(node_id=log_id, kind="fork")
        return forks[0] if forks else None

    # -- pulls: the whole batch, with its cursors, or nothing ---------------------------------

    def take_whole(self, inbounds: Sequence[Inbound], *, certificates: Sequence[bytes] = (),
                   cursors: Mapping[str, int] | None = None) -> list[BatchResult]:
        """Apply a pulled batch (its logs, the signer certificates it carries, the cursors to
        save) in one transaction, or refuse it whole: ``Refused`` after keeping the batch as
        evidence with an alarm naming the upstream -- a forged decision or a rolled-back
        catalog means the upstream, or the link to it, cannot be trusted."""
        extra = {}
        try:
            for der in certificates:
                cert = load_certificate(der)
                check_issued_by(cert, self.ca, self.clock.now())
                public_key = cert.public_key()
                if isinstance(public_key, ed25519.Ed25519PublicKey):
                    extra[key_id_of(public_key)] = cert
            checks = [self._check(i, extra=extra) for i in inbounds]
            with self.store.transaction() as tx:
                for cert in extra.values():
                    tx.add_certificate(cert)
                results = []
                for checked in checks:
                    result = self._place(tx, checked)
                    for v in result.refused:
                        raise Refused(v.message, code=v.reason_code,
                                      log_id=checked.inbound.log_id, seq=v.seq)
                    results.append(result)
                if cursors:
                    tx.set_cursors(cursors)
            return results
        except VerificationError as exc:
            self.keep_refused_pull(inbounds, exc)
            raise

    def keep_refused_pull(self, inbounds: Sequence[Inbound], exc: VerificationError) -> None:
        peer = inbounds[0].peer if inbounds else ""
        with self.store.transaction() as tx:
            for inbound in inbounds:
                for body, signature in inbound.raw:
                    seq = 0
                    with contextlib.suppress(VerificationError):
                        seq = parse_record(body, signature).seq
                    tx.keep_evidence(log_id=inbound.log_id, seq=seq, body=body,
                                     signature=signature, reason_code=exc.code,
                                     message=str(exc), peer=peer)
            reason = REASONS.get(exc.code)
            writer = getattr(exc, "log_id", "") or peer
            tx.raise_alarm(kind=(reason.alarm if reason and reason.alarm else exc.code),
                           node_id=writer, peer=peer, log_id=getattr(exc, "log_id", ""),
                           seq=getattr(exc, "seq", 0),
                           message=f"refused a batch from the upstream {peer}: {exc}")

    # -- the steps ------------------------------------------------------------------------------

    def _check(self, inbound: Inbound,
               extra: Mapping[bytes, x509.Certificate] | None = None) -> _Checked:
        certs = dict(extra or {})
        certs |= self._rotations(inbound) | self._offered(inbound)
        with self.store.reading() as r:
            keyring = _Overlay(r.keyring(), certs)
            checked = check_records(inbound.raw, log_id=inbound.log_id, keyring=keyring,
                                    map_fn=self.map_fn)
        return _Checked(inbound=inbound, checked=checked, certificates=certs)

    def _place(self, tx: Transaction, checked: _Checked, *, void: bool = False) -> BatchResult:
        """Chain, judge, store and project one log's batch. ``void`` (pushes): a record the
        authority rules refuse stands in its log without effect (``_Judged``); otherwise (pulls)
        it is refused, and the batch with it."""
        inbound, log_id = checked.inbound, checked.inbound.log_id
        head = tx.lock_head(log_id)
        result = chain_batch(checked.checked, log_id=log_id, head=head,
                             known_hash=lambda seq: tx.hash_at(log_id, seq),
                             contiguous=inbound.contiguous, revoked_from=tx.revoked_from(log_id),
                             admit_key=self.admit_key(log_id), keyring=tx.keyring())
        judged = _Judged(result=result)
        if result.accepted:
            judged = self._judge(tx, result, head, void=void)
        result = judged.result
        accepted = list(result.accepted)
        for cert in checked.certificates.values():
            if identity_of(cert).node_id == log_id:
                tx.add_certificate(cert)
        if not accepted:
            return result
        tx.append(accepted, audience=lambda r: self.tier.receiver if r.seq in judged.void
                  else self.tier.audience(tx, r), advance_head=False, unlinked=judged.void)
        if result.head.seq > head.seq or result.head != head:
            tx.set_head(log_id, result.head)
        for record in accepted:
            if isinstance(record.payload, KeyRotated | KeyReplaced):
                tx.add_certificate(load_certificate(record.payload.new_certificate))
        standing = [r for r in accepted if r.seq not in judged.void]
        if standing:
            self._project(tx, standing, judged)
        for record in accepted:
            if record.seq in judged.lacking:
                self.tier.lacking(tx, record, judged.lacking[record.seq])
            elif record.seq in judged.void:
                verdict = judged.void[record.seq]
                self._void(tx, inbound.peer, record, verdict.reason_code, verdict.message)
        return result

    def _void(self, tx: Transaction, peer: str, record: Record, code: str,
              message: str) -> None:
        """A record the authority rules refused, standing in its log without effect: kept as
        evidence with its alarm, and answered as the tier answers (the county: a signed
        ``ActionRefused`` to its writer)."""
        if self.keep(tx, peer=peer, log_id=record.log_id, seq=record.seq,
                     raw=(record.body, record.signature), reason=code, message=message):
            self.tier.refused(tx, record, code, message)

    def _judge(self, tx: Transaction, result: BatchResult, head: LogHead, *,
               void: bool) -> _Judged:
        """The authority rules over the placed records: the result cut at the first refusal
        (or, with ``void``, an authority refusal noted on its verdict and the batch going on),
        and the time flags (rule 10) of the records that stand, by case."""
        accepted = list(result.accepted)
        before = None
        if head.seq and accepted[0].seq == head.seq + 1:
            previous = tx.latest(accepted[0].log_id)
            before = previous.header.recorded_at if previous is not None else None
        judgements = judge_batch(accepted, self.tier.facts(tx), previous_time=before,
                                 items=self.tier.decided_by(tx, accepted))
        judged = _Judged(result=result)
        flagged: list[tuple[Record, tuple[str, ...]]] = []
        for record, judgement in zip(accepted, judgements, strict=True):
            if void and judgement.code in AUTHORITY:
                judged.void[record.seq] = RecordVerdict(
                    seq=record.seq, verdict=Verdict.ACCEPTED, reason_code=judgement.code,
                    message=f"{judgement.message} (it stands in the log without effect)",
                    record=record)
                continue
            if not judgement.allowed:
                judged.result = cut(result, judgement.seq, judgement.code, judgement.message,
                                    head_before=head)
                break
            if judgement.missing_scans:
                judged.lacking[record.seq] = judgement.missing_scans
            if judgement.flags:
                flagged.append((record, judgement.flags))
                judged.flags.setdefault(case_of(record) or "", []).extend(judgement.flags)
        if judged.void:
            judged.result = dataclasses.replace(judged.result, verdicts=tuple(
                judged.void.get(v.seq, v) if v.verdict is Verdict.ACCEPTED else v
                for v in judged.result.verdicts))
        if flagged:  # one line of the trail per batch, however many records it flags
            first, found = flagged[0]
            more = f" (and {len(flagged) - 1} more record(s) of the batch)" if len(
                flagged) > 1 else ""
            tx.add_trail(kind="Flagged", case_id=case_of(first) or "", node_id=first.log_id,
                         detail="; ".join(found) + more, record=first)
        return judged

    def _project(self, tx: Transaction, records: Sequence[Record], judged: _Judged) -> None:
        flags, lacking = judged.flags, judged.lacking
        ids = [c for r in records if (c := case_of(r)) is not None]
        cases: dict[str, Case | None] = dict(tx.cases.get_many(ids)) if ids else {}
        changes: list[Change] = []
        for record in records:
            case_id = case_of(record)
            if case_id is None:
                continue
            case = cases.get(case_id)
            context = self.tier.context(tx, case, record)
            if case_id in flags:  # the time flags go in with the change itself
                context = dataclasses.replace(
                    context, flags=(*context.flags, *flags.pop(case_id)))
            if record.seq in lacking:
                context = dataclasses.replace(context, missing_scans=lacking[record.seq])
            outcome = apply(case, record, context)
            if isinstance(outcome, Refusal):
                self.tier.answer(tx, record, outcome)
            elif outcome is not None:
                changes.append(outcome)
                cases[case_id] = outcome.after
        tx.cases.apply(changes)
        for case_id, found in flags.items():
            if case_id:
                tx.cases.flag(case_id, found)
        self.tier.projected(tx, records, changes)

    def _keep_refused(self, tx: Transaction, inbound: Inbound, result: BatchResult) -> None:
        for verdict in result.refused:
            reason = REASONS.get(verdict.reason_code)
            if reason is not None and not reason.evidence:
                continue
            self.keep(tx, peer=inbound.peer, log_id=inbound.log_id, seq=verdict.seq,
                      raw=verdict.raw, reason=verdict.reason_code, message=verdict.message)

    def keep(self, tx: Transaction, *, peer: str, log_id: str, seq: int,
             raw: tuple[bytes, bytes], reason: str, message: str) -> bool:
        """Keep a refused record as evidence and raise its alarm (once per distinct record);
        whether it was new."""
        body, signature = raw
        new = tx.keep_evidence(log_id=log_id, seq=seq, body=body, signature=signature,
                               reason_code=reason, message=message, peer=peer)
        known = REASONS.get(reason)
        if new and known is not None and known.alarm is not None:
            tx.raise_alarm(kind=known.alarm, node_id=log_id, peer=peer, log_id=log_id,
                           seq=seq, message=message)
        return new

    def refuse_all(self, *, peer: str, log_id: str, raw: Sequence[tuple[bytes, bytes]],
                   reason: str, message: str) -> None:
        """Keep a whole refused push as evidence (e.g. a node pushing another node's log)."""
        with self.store.transaction() as tx:
            for body, signature in raw:
                seq = 0
                with contextlib.suppress(VerificationError):
                    seq = parse_record(body, signature).seq
                tx.keep_evidence(log_id=log_id, seq=seq, body=body, signature=signature,
                                 reason_code=reason, message=message, peer=peer)
            known = REASONS.get(reason)
            tx.raise_alarm(kind=known.alarm if known and known.alarm else reason,
                           node_id=log_id, peer=peer, log_id=log_id, seq=0, message=message)

    # -- heartbeats -----------------------------------------------------------------------------

    def heartbeat(self, *, peer: str, body: bytes, signature: bytes) -> Claim:
        """Check a node's signed heartbeat; a claim that contradicts a stored record is a fork.
        A heartbeat that does not decode (a time that is no date, say) is kept as evidence with
        an alarm, like a refused record."""
        try:
            beat: Heartbeat = decode_heartbeat(body)
        except VerificationError as exc:
            with self.store.transaction() as tx:
                self.keep(tx, peer=peer, log_id=peer, seq=0, raw=(body, signature),
                          reason=exc.code, message=f"heartbeat of {peer}: {exc}")
            raise
        if beat.node_id != peer:
            raise VerificationError(f"heartbeat of {beat.node_id} sent by {peer}",
                                    code="wrong_log")
        with self.store.transaction() as tx:
            cert = tx.certificate(beat.key_id)
            if (cert is None or identity_of(cert).node_id != peer
                    or not verify_signature(cert, body, signature)):
                raise VerificationError(f"heartbeat of {peer} is not signed by its records key",
                                        code="bad_signature")
            committed = tx.head(peer).seq
            if 0 < beat.head_seq <= committed:
                stored = tx.hash_at(peer, beat.head_seq)
                if stored != beat.head_hash:
                    message = (f"{peer} says record {beat.head_seq} of its log has hash "
                               f"{beat.head_hash.hex()[:16]}, but the stored one has "
                               f"{(stored or b'').hex()[:16]}: the node rewrote its log (fork)")
                    if self.held_by(tx, peer) is None:
                        tx.raise_alarm(kind="fork", node_id=peer, peer=peer, log_id=peer,
                                       seq=beat.head_seq, message=message)
        return Claim(node_id=peer, head_seq=beat.head_seq, head_hash=beat.head_hash,
                     committed_seq=committed, sent_at=beat.sent_at)

    # -- certificates a batch brings ------------------------------------------------------------

    def admit_key(self, node_id: str) -> Callable[[bytes], bytes]:
        """The check of a certificate a ``KeyRotated`` record of ``node_id``'s log names."""

        return records_key_admitter(self.ca, node_id, self.clock.now())

    def _offered(self, inbound: Inbound) -> dict[bytes, x509.Certificate]:
        found: dict[bytes, x509.Certificate] = {}
        admit = self.admit_key(inbound.log_id)
        for der in inbound.offered[:8]:
            with contextlib.suppress(VerificationError):
                found[admit(der)] = load_certificate(der)
        return found

    def _rotations(self, inbound: Inbound) -> dict[bytes, x509.Certificate]:
        """Certificates named by rotations in this batch, so the records after a rotation in
        the same batch can be checked; each is checked against the county CA first."""
        found: dict[bytes, x509.Certificate] = {}
        admit = self.admit_key(inbound.log_id)
        for body, signature in inbound.raw:
            # fields 41 (key_rotated) and 45 (key_replaced), length-delimited: a cheap filter
            if b"\xca\x02" not in body and b"\xea\x02" not in body:
                continue
            try:
                payload = parse_record(body, signature).payload
                if isinstance(payload, KeyRotated | KeyReplaced):
                    found[admit(payload.new_certificate)] = load_certificate(
                        payload.new_certificate)
            except VerificationError:
                continue  # refused properly when the batch is checked
        return found



# -- serving pushes -------------------------------------------------------------------------------


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
