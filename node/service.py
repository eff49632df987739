"""The node at work: intake at the desk, the applicant's later actions, views, keys, and the
records it pulls (DESIGN §6, §8). The same for a village and a township's own desk.

Intake never needs the network: the case is pre-reviewed against the signed catalog the node
holds, signed, and committed to the node's own log before the receipt is printed. Every write
is one unit of work on the store seam (``node.store``): seal the record, project it onto the
case (``node.kernel.projector``), commit both or neither. What the node pulls goes through the
one receive path (``node.receive``), checked by the same rules as at the county.

``open_node`` opens a home folder as a context manager: ``with open_node(home, clock) as node:``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from node.blobs import BlobStore
from node.enrolment import NODE_MIGRATIONS, check_home
from node.errmap import from_sync_error
from node.home import (
    NodeConfig,
    load_ed25519_key,
    read_certificate,
    write_certificate,
    write_private_key,
)
from node.kernel.authority import NodeInfo, check_case_id
from node.kernel.case_id import format_case_id
from node.kernel.catalog import Item
from node.kernel.clock import CST, Clock, FixedClock, from_ms
from node.kernel.errors import (
    ConfigError,
    NotFoundError,
    StateError,
    UsageError,
    VerificationError,
)
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    Signer,
    check_issued_by,
    identity_of,
    key_id_of,
    load_certificate,
    make_csr,
    new_records_key,
    rotation_message,
)
from node.kernel.payloads import (
    Applicant,
    CasePayload,
    CaseSubmitted,
    CatalogPublished,
    Concluded,
    Decision,
    Heartbeat,
    KeyRotated,
    MaterialRef,
    NodeRevoked,
    NotAccepted,
    PreReviewed,
    Supplemented,
    SupplementRequested,
    Withdrawn,
    referenced_blobs,
)
from node.kernel.prereview import PreReview, pre_review, resolve_item
from node.kernel.projector import Case, Change, Context, Refusal, View, apply
from node.kernel.records import Record, parse_record
from node.kernel.resident_id import validate_resident_id
from node.kernel.text import clean_name, phone_problem
from node.kernel.wire import decode_body, encode_heartbeat
from node.kernel.workflow import OPEN, State
from node.receive import Inbound, Receiver
from node.recovery import refuse_while_catching_up
from node.store.db import Database, sqlite_url
from node.store.seam import Reader, Transaction
from node.store.sql import PUSHED, NodeStore
from node.syncer import LAST_ATTEMPT, LAST_FAILURE, LAST_SUCCESS, Progress, Syncer, SyncReport
from node.tier import NodeTier
from sync import PullBatch, RetryPolicy, RotateKey, SyncError, WireRecord
from sync.client import UpstreamClient
from sync.tls import ClientTls

__all__ = [
    "IntakeResult",
    "MaterialInput",
    "NodeService",
    "SyncReport",
    "open_node",
    "upstream_client",
]


@dataclass(frozen=True, kw_only=True)
class Unsynced:
    """The part of a node's log its upstream does not hold yet."""

    records: int
    record_bytes: int
    cases: int
    blob_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.record_bytes + self.blob_bytes


@dataclass(frozen=True, kw_only=True)
class MaterialInput:
    code: str
    path: Path | None = None


@dataclass(frozen=True, kw_only=True)
class IntakeResult:
    case_id: str
    item: Item
    applicant: Applicant
    pre_review: PreReview
    state: str
    catalog_version: int
    catalog_expired: bool


def latest_catalog(reader: Reader) -> tuple[Record, CatalogPublished]:
    record = reader.latest(CATALOG_LOG_ID)
    if record is None or not isinstance(record.payload, CatalogPublished):
        raise NotFoundError("this node holds no catalog yet: run 'bianmin node sync' once the "
                            "upstream is reachable")
    return record, record.payload


class NodeService:
    def __init__(self, *, config: NodeConfig, store: NodeStore, signer: Signer,
                 ca: x509.Certificate, clock: Clock, blobs: BlobStore,
                 home: Path | None = None) -> None:
        self.home = home
        self.config = config
        self.store = store
        self.signer = signer
        self.ca = ca
        self.clock = clock
        self.blobs = blobs

    def __enter__(self) -> NodeService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    @property
    def node_id(self) -> str:
        return self.config.node_id

    def tier(self, peers: Mapping[str, NodeInfo] | None = None) -> NodeTier:
        return NodeTier(node_id=self.node_id, tier=self.config.tier,
                        county_code=self.config.county_code,
                        upstream=self.config.upstream_node_id, signer=self.signer,
                        clock=self.clock, blobs=self.blobs, peers=peers)

    def receiver(self, peers: Mapping[str, NodeInfo] | None = None) -> Receiver:
        return Receiver(self.store, self.tier(peers), ca=self.ca, clock=self.clock)

    def project_own(self, tx: Transaction, record: Record, *, item: Item | None = None,
                 catalog_expired: bool = False) -> Change:
        """The effect of one of this node's own records on its case (the projector's, as for
        every record), or ``StateError``: the transaction, with the record, rolls back."""
        case_id = str(getattr(record.payload, "case_id", ""))
        case = tx.cases.get(case_id)
        if case is None and not isinstance(record.payload, CaseSubmitted):
            raise NotFoundError(f"case {case_id} is not known at this node; list cases with "
                                "'bianmin node cases'")
        context = Context(view=View.ORIGIN if case is None or case.origin == self.node_id
                          else View.RELAY, now=tx.now, receiver=self.node_id, item=item,
                          catalog_expired=catalog_expired)
        outcome = apply(case, record, context)
        if isinstance(outcome, Refusal):
            raise StateError(outcome.message, code=outcome.code)
        assert outcome is not None
        tx.cases.apply([outcome])
        return outcome

    # -- intake ---------------------------------------------------------------------------------

    def open_cases_of(self, applicant_id: str, item_code: str) -> list[Case]:
        """This desk's open cases of one person for one item: a second application while one
        is open is most often a mistake (issue 12)."""
        with self.store.reading() as r:
            return [c for c in r.cases.of_applicant(applicant_id)
                    if c.item_code == item_code and c.state in OPEN]

    def intake(self, *, item_code: str, applicant: Applicant,
               materials: Sequence[MaterialInput], fields: Mapping[str, str],
               confirm_duplicate: bool = False) -> IntakeResult:
        """Take a case: check everything, store the scans, then sign the submission and its
        pre-review in one transaction. A person with an open case for the same item is refused
        (``duplicate_application``, naming the open cases) unless ``confirm_duplicate``."""
        refuse_while_catching_up(self)
        now = self.clock.now()
        with self.store.reading() as r:
            catalog_record, published = latest_catalog(r)
        item = resolve_item(published.catalog, item_code, self.config.tier)
        try:
            name = clean_name(applicant.name, what="the applicant's name")
        except ValueError as exc:
            raise UsageError(f"{exc} (--applicant-name)", code="bad_name") from exc
        phone = applicant.phone.strip()
        if (problem := phone_problem(phone)) is not None:
            raise UsageError(f"{problem} (--phone)", code="bad_phone")
        applicant = Applicant(
            name=name,
            id_number=validate_resident_id(applicant.id_number, today=now.astimezone(CST).date()),
            phone=phone,
        )
        if not confirm_duplicate and (open_ := self.open_cases_of(applicant.id_number,
                                                                  item.code)):
            listed = ", ".join(f"{c.case_id} ({c.state.value}, taken "
                               f"{c.submitted_at.astimezone(CST):%Y-%m-%d})"
                               for c in open_[-3:])
            raise UsageError(
                f"{applicant.name} already has {len(open_)} open case(s) for item {item.code}: "
                f"{listed}. If this is a new application all the same, take it again and "
                "confirm (--confirm-duplicate)", code="duplicate_application")
        codes = [m.code for m in materials]
        if len(set(codes)) != len(codes):
            raise UsageError("a material is listed twice; give each --material once")
        review = pre_review(item, codes, fields)
        refs = self._store_blobs(materials)
        expired = published.expires_at < now
        signing = FixedClock(now)  # the case id's date and the records' time are one moment
        with self.store.transaction() as tx:
            day = now.astimezone(CST).date()
            case_id = format_case_id(self.config.county_code, self.node_id, day,
                                     tx.next_daily_number(day))
            check_case_id(case_id, county_code=self.config.county_code, submitter=self.node_id,
                          signed_at=now)
            submitted = tx.seal_append(CaseSubmitted(
                case_id=case_id, item_code=item.code, applicant=applicant, materials=refs,
                fields=tuple(sorted(fields.items())), catalog_version=published.version,
                catalog_hash=catalog_record.hash,
            ), log_id=self.node_id, signer=self.signer, clock=signing)
            self.project_own(tx, submitted, item=item, catalog_expired=expired)
            reviewed = tx.seal_append(PreReviewed(
                case_id=case_id, complete=review.complete, missing=review.missing,
                catalog_version=published.version, catalog_hash=catalog_record.hash,
            ), log_id=self.node_id, signer=self.signer, clock=signing)
            self.project_own(tx, reviewed)
            tx.claim(self.node_id, [m.sha256 for m in refs if m.sha256])
        return IntakeResult(
            case_id=case_id, item=item, applicant=applicant, pre_review=review,
            state="submitted" if review.complete else "incomplete",
            catalog_version=published.version, catalog_expired=expired,
        )

    def saved_since(self, head_seq: int) -> list[str]:
        """The cases this node's records after ``head_seq`` concern: what an interrupted
        command managed to save (it either committed whole or not at all)."""
        with self.store.reading() as r:
            rows = r.raw_after(self.node_id, head_seq, 100)
        found = [str(getattr(parse_record(b, s).payload, "case_id", "")) for _q, b, s in rows]
        return list(dict.fromkeys(c for c in found if c))

    def head_seq(self) -> int:
        with self.store.reading() as r:
            return r.head(self.node_id).seq

    # -- the applicant's later actions (DESIGN §6) -----------------------------------------------

    def _store_blobs(self, materials: Sequence[MaterialInput]) -> tuple[MaterialRef, ...]:
        limits = self.config.limits
        max_case, max_file = limits.max_case_mb << 20, limits.max_file_mb << 20
        total = sum(m.path.stat().st_size for m in materials
                    if m.path is not None and m.path.is_file())
        if total > max_case:
            raise UsageError(f"the files of this case add up to {total} bytes; the limit per "
                             f"case is {max_case} bytes -- scan at a lower resolution",
                             code="case_too_large")
        refs = []
        for m in materials:  # blobs first: a blob without a record is harmless, not the reverse
            if m.path is None:
                refs.append(MaterialRef(code=m.code))
            else:
                blob = self.blobs.put_file(m.path, max_bytes=max_file)
                refs.append(MaterialRef(code=m.code, sha256=blob.sha256, size=blob.size,
                                        filename=m.path.name))
        return tuple(refs)

    def _act(self, payload: CasePayload) -> tuple[Record, State]:
        refuse_while_catching_up(self)
        """Write one of the applicant's actions on a case and move the case view by it; the
        workflow table refuses it (and nothing is written) if the case does not allow it."""
        with self.store.transaction() as tx:
            record = tx.seal_append(payload, log_id=self.node_id, signer=self.signer,
                                    clock=self.clock)
            change = self.project_own(tx, record)
            tx.claim(self.node_id, referenced_blobs(record))
        return record, change.after.state

    def supplement(self, case_id: str, materials: Sequence[MaterialInput],
                   ) -> tuple[Record, State, PreReview]:
        """The applicant brings more materials (补正); the case is pre-reviewed again."""
        if not materials:
            raise UsageError("name the materials brought (--material CODE[=PATH], repeated)")
        view, history = self.case(case_id)
        with self.store.reading() as r:
            _record, published = latest_catalog(r)
        submitted = next(r.payload for r in history if isinstance(r.payload, CaseSubmitted))
        item = resolve_item(published.catalog, view.item_code, self.config.tier)
        before = [m.code for r in history if isinstance(r.payload, CaseSubmitted | Supplemented)
                  for m in r.payload.materials]
        new = [m.code for m in materials]
        review = pre_review(item, list(dict.fromkeys([*before, *new])), dict(submitted.fields))
        refs = self._store_blobs(materials)
        record, state = self._act(Supplemented(case_id=case_id, materials=refs,
                                               complete=review.complete,
                                               missing=review.missing))
        return record, state, review

    def withdraw(self, case_id: str, reason: str) -> tuple[Record, State]:
        """The applicant stops the case (撤回). After a decision upstream it will be refused."""
        return self._act(Withdrawn(case_id=case_id, reason=_required(reason, "reason")))

    def conclude(self, case_id: str, note: str = "") -> tuple[Record, State]:
        """The result was handed to the applicant (办结)."""
        return self._act(Concluded(case_id=case_id, note=note.strip()))

    # -- views ----------------------------------------------------------------------------------

    def cases(self, state: str | None = None) -> list[Case]:
        with self.store.reading() as r:
            return sorted(r.cases.list(state=state), key=lambda c: c.case_id)

    def case(self, case_id: str) -> tuple[Case, list[Record]]:
        with self.store.reading() as r:
            view = r.cases.get(case_id)
            if view is None:
                raise NotFoundError(f"case {case_id} is not known at this node; list cases "
                                    "with 'bianmin node cases'")
            return view, r.case_history(case_id)

    def unsynced(self, reader: Reader, after: int) -> Unsynced:
        """What of this node's log lies after seq ``after``: records, their bytes, the cases
        they concern, and the bytes of the scans they name that this desk holds."""
        head = reader.head(self.node_id)
        rows = reader.raw_after(self.node_id, after, max(0, head.seq - after))
        records = [parse_record(b, s) for _q, b, s in rows]
        scans = {h for r in records for h in referenced_blobs(r)}
        return Unsynced(
            records=len(rows), record_bytes=sum(len(b) + len(s) for _q, b, s in rows),
            cases=len({c for r in records if (c := getattr(r.payload, "case_id", None))}),
            blob_bytes=sum(self.blobs.size(h) for h in scans if self.blobs.has(h)))

    def queued(self) -> str:
        """One calm line for an upstream that could not be reached: what waits here, safe."""
        with self.store.reading() as r:
            waiting = self.unsynced(r, r.mark(PUSHED))
        if not waiting.records:
            return "nothing is waiting to go up"
        return (f"{waiting.records} record(s) of {waiting.cases} case(s) "
                f"({waiting.total_bytes / (1 << 20):.1f} MB with their scans) are queued here, "
                "safe: they go up at the next sync")

    def status(self) -> dict[str, object]:
        with self.store.reading() as r:
            head = r.head(self.node_id)
            pushed = r.mark(PUSHED)
            try:
                _record, catalog = latest_catalog(r)
                catalog_info: dict[str, object] = {
                    "version": catalog.version,
                    "expires_at": catalog.expires_at.isoformat(),
                    "expired": catalog.expires_at < self.clock.now(),
                }
            except UsageError:
                catalog_info = {"version": 0}
            revoked = r.revocation(self.node_id)
            waiting = self.unsynced(r, pushed)
            record_bytes, blob_bytes = waiting.record_bytes, waiting.blob_bytes
            last_ok, last_try = r.mark(LAST_SUCCESS), r.mark(LAST_ATTEMPT)
            failed_at = r.mark(LAST_FAILURE)
            return {
                "last_sync": from_ms(last_ok).isoformat() if last_ok else None,
                "last_attempt_failed": bool(last_try and last_try > last_ok),
                "last_failure": {"at": from_ms(failed_at).isoformat(),
                                 "reason": r.mark_note(LAST_FAILURE)}
                if failed_at and failed_at >= last_ok else None,
                "unsynced_bytes": record_bytes + blob_bytes,
                "revoked": None if revoked is None else {
                    "from_seq": revoked.from_seq, "reason": revoked.reason,
                    "at": revoked.revoked_at.isoformat()},
                "node_id": self.node_id,
                "tier": self.config.tier,
                "upstream": self.config.upstream,
                "log_head": head.seq,
                "synced_seq": pushed,
                "unsynced_records": max(0, head.seq - pushed),
                "open_alarms": len(r.open_alarms()),
                "cases": r.cases.count(),
                "catalog": catalog_info,
            }

    # -- keys over time --------------------------------------------------------------------------

    def rotate_key(self, client: UpstreamClient) -> Record:
        """Continue this node's log under a new records key (DESIGN §4).

        The new key is made here and certified by the hub; a ``KeyRotated`` record signed by
        the old key puts it in force. The key file is swapped only after that record is
        committed; a cut in between is finished (or undone) the next time the node opens.
        """
        if self.home is None:
            raise ConfigError("key rotation needs the node's home folder")
        refuse_while_catching_up(self)
        new_key = new_records_key()
        csr = make_csr(new_key, self.node_id).public_bytes(serialization.Encoding.DER)
        try:
            der = client.rotate_key(RotateKey(
                records_csr=csr, node_id=self.node_id,
                authorization=self.signer.sign(rotation_message(self.node_id, csr))))
        except SyncError as exc:
            raise from_sync_error(exc) from exc
        cert = load_certificate(der)
        check_issued_by(cert, self.ca, self.clock.now())
        who = identity_of(cert)
        if (who.node_id != self.node_id or who.purpose != "records"
                or cert.public_key() != new_key.public_key()):
            raise VerificationError("the upstream returned a certificate that does not "
                                    "certify this node's new key")
        pending_key, pending_cert = _pending(self.home)
        pending_key.unlink(missing_ok=True)
        write_private_key(pending_key, new_key)
        write_certificate(pending_cert, cert)
        with self.store.transaction() as tx:
            record = tx.seal_append(KeyRotated(new_certificate=der), log_id=self.node_id,
                                    signer=self.signer, clock=self.clock)
            tx.add_certificate(cert)
        finish_rotation(self.home, self.store, self.node_id)
        self.signer = Signer(new_key)
        return record

    # -- sync -----------------------------------------------------------------------------------

    def sync(self, client: UpstreamClient, policy: RetryPolicy,
             progress: Progress | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> SyncReport:
        """One round with the upstream (``node.syncer``): push this node's log with its
        attachments, then pull what is new. Raises ``TransportError`` if the upstream is away."""
        return Syncer(self, client, policy, progress=progress, should_stop=should_stop).run()

    def heartbeat(self) -> WireRecord:
        """This node's signed statement of its log head (sent with every sync)."""
        with self.store.reading() as r:
            head = r.head(self.node_id)
        body = encode_heartbeat(Heartbeat(node_id=self.node_id, head_seq=head.seq,
                                          head_hash=head.hash, sent_at=self.clock.now(),
                                          key_id=self.signer.key_id))
        return WireRecord(body=body, signature=self.signer.sign(body))

    def apply_pull_batch(self, batch: PullBatch, report: SyncReport | None = None) -> None:
        """Verify and apply one pulled batch with its cursors, atomically, through the one
        receive path; a batch that breaks a rule is refused whole, kept as evidence, and
        raises an alarm naming the writer (``node.receive.Receiver.take_whole``)."""
        report = report if report is not None else SyncReport()
        receiver = self.receiver()
        peer = self.config.upstream_node_id
        by_log: dict[str, list[tuple[bytes, bytes]]] = {}
        try:
            for r in batch.records:
                log_id = decode_body(r.body)[0].log_id
                if log_id not in self.config.followed_logs:
                    raise VerificationError(f"upstream sent records of log {log_id}, which this "
                                            "node does not follow", code="unexpected_log")
                by_log.setdefault(log_id, []).append((r.body, r.signature))
        except VerificationError as exc:
            receiver.keep_refused_pull(
                [Inbound(peer=peer, log_id="?", raw=[(r.body, r.signature)
                                                     for r in batch.records])], exc)
            raise
        inbounds = [Inbound(peer=peer, log_id=log_id, raw=raw,
                            contiguous=log_id == CATALOG_LOG_ID)
                    for log_id, raw in by_log.items()]
        results = receiver.take_whole(inbounds, certificates=batch.certificates,
                                      cursors=batch.cursors)
        for result in results:
            for record in result.accepted:
                payload = record.payload
                report.decisions += isinstance(payload, Decision | NotAccepted)
                report.requests += isinstance(payload, SupplementRequested)
                report.revocations += isinstance(payload, NodeRevoked)
                if isinstance(payload, CatalogPublished):
                    report.catalog_version = payload.version
            report.pulled += len(result.accepted)


def _required(value: str, what: str) -> str:
    if not value.strip():
        raise UsageError(f"{what} is empty")
    return value.strip()


def _pending(home: Path) -> tuple[Path, Path]:
    return home / "keys" / "records.key.next", home / "certs" / "records.pem.next"


def finish_rotation(home: Path, store: NodeStore, node_id: str) -> None:
    """Complete a key rotation cut short: swap in the new key if its ``KeyRotated`` record was
    committed (the log's key in force is the new key), otherwise forget the new key."""
    pending_key, pending_cert = _pending(home)
    if not pending_key.exists():
        return
    new_id = key_id_of(load_ed25519_key(pending_key).public_key())
    with store.reading() as r:
        in_force = r.head(node_id).key_id
    if in_force == new_id:
        os.replace(pending_cert, home / "certs" / "records.pem")
        os.replace(pending_key, home / "keys" / "records.key")
    else:
        pending_key.unlink()
        pending_cert.unlink(missing_ok=True)


def restore_advice(home: Path) -> str:
    """What to do when a node's database is lost or damaged."""
    return (f"Restore the latest backup with 'bianmin node restore --home {home} FILE' (made "
            f"by 'bianmin node backup'); with no backup, fetch this node's records back from "
            f"its upstream with 'bianmin node recover --home {home}'")


def open_node(home: Path, clock: Clock, *, thorough: bool = False) -> NodeService:
    """Load a node's home folder: config, keys, CA, database (checked, and upgraded to the
    newest schema; ``thorough``: with ``PRAGMA quick_check``, as serving processes do at
    start). The service is a context manager: ``with open_node(home, clock) as node:``."""
    check_home(home)
    config = NodeConfig.load(home)
    db = Database(sqlite_url(home / "node.db"), migrations=NODE_MIGRATIONS,
                  restore=restore_advice(home))
    try:
        db.check(thorough=thorough)
        db.upgrade()
        store = NodeStore(db, clock)
        finish_rotation(home, store, config.node_id)
        blobs = BlobStore(home / "blobs")
        blobs.sweep()  # what interrupted or disk-full intakes left behind
        return NodeService(
            config=config, store=store,
            signer=Signer(load_ed25519_key(home / "keys" / "records.key")),
            ca=read_certificate(home / "certs" / "ca.pem"), clock=clock,
            blobs=blobs, home=home,
        )
    except BaseException:
        db.close()
        raise


def upstream_client(home: Path, config: NodeConfig, *, call_timeout_s: float,
                    fallback: bool = False) -> UpstreamClient:
    """A mutual-TLS client to this node's upstream (or its fallback, the county), checking it
    is who the config says."""
    tls = ClientTls(
        ca_pem=(home / "certs" / "ca.pem").read_bytes(),
        private_key_pem=(home / "keys" / "tls.key").read_bytes(),
        certificate_pem=(home / "certs" / "tls.pem").read_bytes(),
    )
    address, upstream_id = ((config.fallback, config.fallback_node_id) if fallback
                            else (config.upstream, config.upstream_node_id))
    name = "hub" if upstream_id == HUB_NODE_ID else f"township {upstream_id}"
    return UpstreamClient(address, upstream_id, tls, call_timeout_s=call_timeout_s, name=name)

