"""The village node: intake at the desk, and the sync driver (DESIGN §6, §8).

Intake never needs the network: the case is pre-reviewed against the signed catalog the node
holds, signed, and committed to the node's own log before the receipt is printed.

Sync is one round: push the unsynced part of the node's log in batches, advancing the synced
mark only to what the upstream acknowledges as committed; then pull what is new for this node,
verify every record (signature by a certificate of the county CA, the writer's identity, the
catalog's chain) and apply each batch together with its cursors in one transaction. A cut at
any point loses nothing: the next round resends or re-pulls from the saved marks.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection

from node.blobs import BlobStore
from node.db import Database, sqlite_url
from node.enrolment import NODE_MIGRATIONS, check_home
from node.errmap import from_sync_error
from node.home import (
    NodeConfig,
    load_ed25519_key,
    read_certificate,
    write_certificate,
    write_private_key,
)
from node.ingest import ALARMING
from node.kernel.case_id import format_case_id
from node.kernel.catalog import Item
from node.kernel.chain import verify_log_batch
from node.kernel.clock import CST, Clock, from_ms
from node.kernel.errors import ConfigError, UsageError, VerificationError
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
)
from node.kernel.payloads import (
    ActionRefused,
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
    audience_of,
    referenced_blobs,
)
from node.kernel.prereview import PreReview, pre_review, resolve_item
from node.kernel.records import LogHead, Record, parse_record, seal
from node.kernel.resident_id import validate_resident_id
from node.kernel.wire import decode_body, encode_heartbeat
from node.kernel.workflow import State
from node.store import PUSHED, CaseView, NodeStore
from node.syncer import LAST_ATTEMPT, LAST_SUCCESS, Progress, Syncer, SyncReport
from sync import (
    PullBatch,
    RetryPolicy,
    SyncError,
    WireRecord,
)
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

    # -- intake ---------------------------------------------------------------------------------

    def intake(self, *, item_code: str, applicant: Applicant,
               materials: Sequence[MaterialInput], fields: Mapping[str, str]) -> IntakeResult:
        now = self.clock.now()
        with self.store.db.read() as conn:
            catalog_record, published = self.store.latest_catalog(conn, CATALOG_LOG_ID)
        item = resolve_item(published.catalog, item_code, self.config.tier)
        applicant = Applicant(
            name=_required(applicant.name, "applicant name"),
            id_number=validate_resident_id(applicant.id_number, today=now.astimezone(CST).date()),
            phone=applicant.phone.strip(),
        )
        codes = [m.code for m in materials]
        if len(set(codes)) != len(codes):
            raise UsageError("a material is listed twice; give each --material once")
        review = pre_review(item, codes, fields)
        refs = self._store_blobs(materials)
        with self.store.db.write() as conn:
            day = now.astimezone(CST).date()
            number = self.store.next_daily_number(conn, day)
            case_id = format_case_id(self.config.county_code, self.config.node_id, day, number)
            head = self.store.logs.head(conn, self.config.node_id, lock=True)
            submitted = self._seal(CaseSubmitted(
                case_id=case_id, item_code=item.code, applicant=applicant,
                materials=refs, fields=tuple(sorted(fields.items())),
                catalog_version=published.version, catalog_hash=catalog_record.hash,
            ), head)
            reviewed = self._seal(PreReviewed(
                case_id=case_id, complete=review.complete, missing=review.missing,
                catalog_version=published.version, catalog_hash=catalog_record.hash,
            ), submitted.head)
            self.store.logs.append(conn, [submitted, reviewed], now=now)
            self.store.add_case(conn, submitted, reviewed, item.name,
                                catalog_expired=published.expires_at < now)
        return IntakeResult(
            case_id=case_id, item=item, applicant=applicant, pre_review=review,
            state="submitted" if review.complete else "incomplete",
            catalog_version=published.version, catalog_expired=published.expires_at < now,
        )

    def _seal(self, payload: CasePayload, head: LogHead) -> Record:
        return seal(payload, log_id=self.config.node_id, head=head, signer=self.signer,
                    clock=self.clock)

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
        """Write one of the applicant's actions on a case and move the case view by it; the
        workflow table refuses it (and nothing is written) if the case does not allow it."""
        with self.store.db.write() as conn:
            head = self.store.logs.head(conn, self.config.node_id, lock=True)
            record = self._seal(payload, head)
            self.store.logs.append(conn, [record], now=self.clock.now())
            state = self.store.apply_own(conn, record, self.clock.now())
        return record, state

    def supplement(self, case_id: str, materials: Sequence[MaterialInput],
                   ) -> tuple[Record, State, PreReview]:
        """The applicant brings more materials (补正); the case is pre-reviewed again."""
        if not materials:
            raise UsageError("name the materials brought (--material CODE[=PATH], repeated)")
        with self.store.db.read() as conn:
            view = self.store.get_case(conn, case_id)
            history = self.store.logs.case_history(conn, case_id)
            _record, published = self.store.latest_catalog(conn, CATALOG_LOG_ID)
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

    def cases(self, state: str | None = None) -> list[CaseView]:
        with self.store.db.read() as conn:
            return self.store.list_cases(conn, state=state)

    def case(self, case_id: str) -> tuple[CaseView, list[Record]]:
        with self.store.db.read() as conn:
            view = self.store.get_case(conn, case_id)
            return view, self.store.logs.case_history(conn, case_id)

    def status(self) -> dict[str, object]:
        with self.store.db.read() as conn:
            head = self.store.logs.head(conn, self.config.node_id)
            pushed = self.store.mark(conn, PUSHED)
            try:
                _record, catalog = self.store.latest_catalog(conn, CATALOG_LOG_ID)
                catalog_info: dict[str, object] = {
                    "version": catalog.version,
                    "expires_at": catalog.expires_at.isoformat(),
                    "expired": catalog.expires_at < self.clock.now(),
                }
            except UsageError:
                catalog_info = {"version": 0}
            revoked = self.store.logs.revocation(conn, self.config.node_id)
            unsynced = self.store.logs.raw_after(conn, self.config.node_id, pushed,
                                                 max(0, head.seq - pushed))
            record_bytes = sum(len(b) + len(s) for _q, b, s in unsynced)
            blob_bytes = sum(
                self.blobs.path(h).stat().st_size
                for h in {h for _q, b, s in unsynced
                          for h in referenced_blobs(parse_record(b, s))}
                if self.blobs.has(h))
            last_ok, last_try = (self.store.mark(conn, LAST_SUCCESS),
                                 self.store.mark(conn, LAST_ATTEMPT))
            return {
                "last_sync": from_ms(last_ok).isoformat() if last_ok else None,
                "last_attempt_failed": bool(last_try and last_try > last_ok),
                "unsynced_bytes": record_bytes + blob_bytes,
                "revoked": None if revoked is None else {
                    "from_seq": revoked.from_seq, "reason": revoked.reason,
                    "at": revoked.revoked_at.isoformat()},
                "node_id": self.config.node_id,
                "tier": self.config.tier,
                "upstream": self.config.upstream,
                "log_head": head.seq,
                "synced_seq": pushed,
                "unsynced_records": max(0, head.seq - pushed),
                "open_alarms": len(self.store.logs.open_alarms(conn)),
                "cases": self.store.count_cases(conn),
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
        node_id = self.config.node_id
        new_key = new_records_key()
        csr = make_csr(new_key, node_id).public_bytes(serialization.Encoding.DER)
        try:
            der = client.rotate_key(csr)
        except SyncError as exc:
            raise from_sync_error(exc) from exc
        cert = load_certificate(der)
        check_issued_by(cert, self.ca, self.clock.now())
        who = identity_of(cert)
        if (who.node_id != node_id or who.purpose != "records"
                or cert.public_key() != new_key.public_key()):
            raise VerificationError("the upstream returned a certificate that does not "
                                    "certify this node's new key")
        pending_key, pending_cert = _pending(self.home)
        pending_key.unlink(missing_ok=True)
        write_private_key(pending_key, new_key)
        write_certificate(pending_cert, cert)
        with self.store.db.write() as conn:
            head = self.store.logs.head(conn, node_id, lock=True)
            record = seal(KeyRotated(new_certificate=der), log_id=node_id, head=head,
                          signer=self.signer, clock=self.clock)
            self.store.logs.append(conn, [record], now=self.clock.now())
            self.store.logs.add_certificate(conn, cert)
        finish_rotation(self.home, self.store, node_id)
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
        with self.store.db.read() as conn:
            head = self.store.logs.head(conn, self.config.node_id)
        body = encode_heartbeat(Heartbeat(node_id=self.config.node_id, head_seq=head.seq,
                                          head_hash=head.hash, sent_at=self.clock.now(),
                                          key_id=self.signer.key_id))
        return WireRecord(body=body, signature=self.signer.sign(body))

    def apply_pull_batch(self, batch: PullBatch, report: SyncReport | None = None) -> None:
        """Verify and apply one pulled batch with its cursors, atomically; refuse it whole.
        A refused batch is kept as evidence and raises an alarm here: a forged decision or a
        rolled-back catalog means the upstream, or the link to it, cannot be trusted."""
        report = report if report is not None else SyncReport()
        now = self.clock.now()
        try:
            self._apply_pull_batch(batch, report, now)
        except VerificationError as exc:
            self._keep_refused_batch(batch, exc, now)
            raise

    def _keep_refused_batch(self, batch: PullBatch, exc: VerificationError,
                            now: dt.datetime) -> None:
        peer = self.config.upstream_node_id
        with self.store.db.write() as conn:
            for r in batch.records:
                try:
                    log_id = _log_of(r)
                except VerificationError:
                    log_id = "?"
                self.store.logs.keep_evidence(conn, log_id=log_id, seq=r.seq, body=r.body,
                                              signature=r.signature, reason_code=exc.code,
                                              message=str(exc), peer=peer, now=now)
            self.store.logs.raise_alarm(conn, kind=ALARMING.get(exc.code, exc.code),
                                        node_id=peer, peer=peer, log_id="", seq=0,
                                        message=f"refused a batch from the upstream: {exc}",
                                        now=now)

    def _apply_pull_batch(self, batch: PullBatch, report: SyncReport, now: dt.datetime) -> None:
        with self.store.db.write() as conn:
            for der in batch.certificates:
                cert = load_certificate(der)
                check_issued_by(cert, self.ca, now)
                self.store.logs.add_certificate(conn, cert)
            by_log: dict[str, list[tuple[bytes, bytes]]] = {}
            for r in batch.records:
                by_log.setdefault(_log_of(r), []).append((r.body, r.signature))
            for log_id, raw in by_log.items():
                self._apply_log(conn, log_id, raw, now, report)
            for log_id, after in batch.cursors.items():
                self.store.set_cursor(conn, log_id, after)

    def _apply_log(self, conn: Connection, log_id: str, raw: list[tuple[bytes, bytes]],
                   now: dt.datetime, report: SyncReport) -> None:
        if log_id not in self.config.followed_logs:
            raise VerificationError(f"upstream sent records of log {log_id}, which this node "
                                    "does not follow", code="unexpected_log")
        township_log = log_id not in (CATALOG_LOG_ID, HUB_NODE_ID)
        logs = self.store.logs
        result = verify_log_batch(
            raw, log_id=log_id, head=logs.head(conn, log_id),
            known_hash=lambda seq: logs.hash_at(conn, log_id, seq),
            keyring=logs.keyring(conn), contiguous=log_id == CATALOG_LOG_ID,
        )
        result.raise_for()
        for record in result.accepted:
            payload = record.payload
            if township_log:
                self._check_township_record(conn, record)
            if isinstance(payload, Decision | NotAccepted | SupplementRequested
                          | ActionRefused):
                known = self.store.apply_upstream(conn, record, now)
                if not known and self.config.tier == "village":
                    raise VerificationError(
                        f"{record}: about case {payload.case_id}, which is not a case of this "
                        "node", code="not_my_case")
                report.decisions += isinstance(payload, Decision | NotAccepted)
                report.requests += isinstance(payload, SupplementRequested)
            elif isinstance(payload, NodeRevoked):
                logs.add_revocation(conn, payload, now)
                report.revocations += 1
            elif isinstance(payload, CatalogPublished):
                if payload.version != record.seq:
                    raise VerificationError(f"{record}: catalog version {payload.version} does "
                                            "not match its place in the catalog log",
                                            code="bad_catalog")
                report.catalog_version = payload.version
            elif log_id == CATALOG_LOG_ID:
                raise VerificationError(f"{record}: the catalog log holds only catalog "
                                        "versions", code="bad_catalog")
        logs.append(conn, list(result.accepted), now=now, audience=audience_of)
        report.pulled += len(result.accepted)

    def _check_township_record(self, conn: Connection, record: Record) -> None:
        """A township's log carries, for this node, only decisions on delegated items."""
        payload = record.payload
        if not isinstance(payload, Decision):
            raise VerificationError(f"{record}: a township's log sends down only decisions",
                                    code="unexpected_record")
        view = self.store.get_case(conn, payload.case_id)
        _record, published = self.store.latest_catalog(conn, CATALOG_LOG_ID)
        item = published.catalog.item(view.item_code)
        if item is None or item.decided_by != "township":
            raise VerificationError(f"{record}: township {record.log_id} decided item "
                                    f"{view.item_code}, which is not delegated to townships",
                                    code="not_delegated")


def _log_of(record: WireRecord) -> str:
    header, _payload = decode_body(record.body)
    return header.log_id


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
    with store.db.read() as conn:
        in_force = store.logs.head(conn, node_id).key_id
    if in_force == new_id:
        os.replace(pending_cert, home / "certs" / "records.pem")
        os.replace(pending_key, home / "keys" / "records.key")
    else:
        pending_key.unlink()
        pending_cert.unlink(missing_ok=True)


def open_node(home: Path, clock: Clock) -> NodeService:
    """Load a node's home folder: config, keys, CA, database (upgraded to the newest schema)."""
    check_home(home)
    config = NodeConfig.load(home)
    db = Database(sqlite_url(home / "node.db"), migrations=NODE_MIGRATIONS)
    db.upgrade()
    store = NodeStore(db)
    finish_rotation(home, store, config.node_id)
    return NodeService(
        config=config,
        store=store,
        signer=Signer(load_ed25519_key(home / "keys" / "records.key")),
        ca=read_certificate(home / "certs" / "ca.pem"),
        clock=clock,
        blobs=BlobStore(home / "blobs"),
        home=home,
    )


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
