"""A node's way back after a lost or old database (issue 12, docs/operations.md).

The upstream holds every record of this node's log it acknowledged. A node whose database is
older than that (``node restore`` of an old backup) or empty (``node recover`` after the file
was lost) fetches its own log back -- a ``Pull`` whose cursors name the caller's own log, which
every upstream answers with that log's records and their signers' certificates -- checks every
record as its own (signed by a key the county CA certified for this node, chained on what it
holds), stores them and rebuilds its cases from them.

Until it has caught up, such a node takes no cases and signs nothing: a record it signed at a
seq the upstream already holds would fork its own log (the county would hold the log and raise
an alarm). The mark ``CATCHING_UP`` says so; the sync round that catches up clears it.

Some of the node's own records only make sense after the county's (a 办结 after the decision,
a supplement after the request): those cases are projected again once the round's pull has
brought the county's records (``rebuild_cases``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from node.kernel.case_id import parse_case_id
from node.kernel.catalog import Catalog
from node.kernel.chain import verify_log_batch
from node.kernel.clock import CST, Clock
from node.kernel.errors import (
    ConfigError,
    NotFoundError,
    StateError,
    UsageError,
    VerificationError,
)
from node.kernel.identity import (
    CATALOG_LOG_ID,
    certificate_der,
    check_issued_by,
    identity_of,
    load_certificate,
    records_key_admitter,
)
from node.kernel.payloads import CaseSubmitted, CatalogPublished, KeyReplaced, KeyRotated
from node.kernel.projector import Case, Change, Refusal, apply
from node.kernel.records import Record
from node.store.db import Database, check_sqlite_file, sqlite_url, storage_error
from node.store.seam import Reader
from node.store.sql import PUSHED
from sync import KeyReplacementGrant

if TYPE_CHECKING:
    from node.service import NodeService
    from sync.client import UpstreamClient

__all__ = [
    "CATCHING_UP",
    "KEY_REPLACEMENT",
    "REBUILD",
    "catch_up",
    "catching_up",
    "finish_key_replacement",
    "fresh_database",
    "home_held",
    "load_grant",
    "rebuild_cases",
    "rebuild_pending",
    "refuse_while_catching_up",
    "restore_node",
    "save_grant",
    "set_aside",
]

CATCHING_UP = "catching_up"  # mark: 1 while the node's log is behind what its upstream holds
REBUILD = "rebuild_cases"  # mark: 1 from a catch-up until its cases are rebuilt

# in a home: the county's leave to continue the log under new keys, until the KeyReplaced is in
KEY_REPLACEMENT = Path("keys") / "key-replacement.json"


def save_grant(home: Path, grant: KeyReplacementGrant) -> None:
    """Keep the county's leave in the home until ``finish_key_replacement`` spends it."""
    path = home / KEY_REPLACEMENT
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({
        "after_seq": grant.after_seq, "prev_hash": grant.prev_hash.hex(),
        "authorization": grant.authorization.hex(), "hub_key_id": grant.hub_key_id.hex(),
        "reason": grant.reason}))
    partial.replace(path)


def load_grant(home: Path) -> KeyReplacementGrant | None:
    path = home / KEY_REPLACEMENT
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return KeyReplacementGrant(
            after_seq=int(raw["after_seq"]), prev_hash=bytes.fromhex(raw["prev_hash"]),
            authorization=bytes.fromhex(raw["authorization"]),
            hub_key_id=bytes.fromhex(raw["hub_key_id"]), reason=str(raw["reason"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); ask the county for a new "
                          "key-replacement token and run 'bianmin node recover --token' "
                          "into a new home", code="damaged_home") from exc


def catching_up(service: NodeService) -> bool:
    with service.store.reading() as r:
        return r.mark(CATCHING_UP) != 0


def refuse_while_catching_up(service: NodeService) -> None:
    """Signing now could fork this node's own log (see the module's docstring)."""
    if catching_up(service) or (service.home is not None
                                and (service.home / KEY_REPLACEMENT).exists()):
        raise StateError(
            "this node was restored or recovered and has not yet fetched the newer records "
            "of its own log from its upstream; signing now could fork the log. Run 'bianmin "
            "node sync' (or wait for 'bianmin node run' to reach the upstream), then try "
            "again", code="catching_up")


def catch_up(service: NodeService, client: UpstreamClient, *, upto: int) -> int:
    """Fetch this node's own records after its head, up to ``upto`` (what the upstream has
    committed), check them and store them with their effect on the cases; the catalog comes
    in the same stream and is applied first (a case's item is read from it). Returns how many
    records came back. Nothing is stored unless every record checks."""
    own = service.node_id
    with service.store.reading() as r:
        head = r.head(own)
        cursors = {k: v for k, v in r.cursors().items() if k in service.config.followed_logs}
    raw: list[tuple[bytes, bytes]] = []
    certificates: list[bytes] = []
    for batch in client.pull({**cursors, own: head.seq}):
        if CATALOG_LOG_ID in batch.cursors and batch.records:
            service.apply_pull_batch(batch)
        elif own in batch.cursors:
            raw += [(r.body, r.signature) for r in batch.records]
            certificates += batch.certificates
        # the county's and the township's records come in the round's own pull, after these
    raw = raw[: max(0, upto - head.seq)]
    if len(raw) < upto - head.seq:
        raise VerificationError(
            f"the upstream says it holds this node's log up to seq {upto} but sent back "
            f"{len(raw)} of the {upto - head.seq} records after seq {head.seq}; try again "
            "later, or call the county IT team", code="log_behind_upstream")
    with service.store.transaction() as tx:
        for der in certificates:
            cert = load_certificate(der)
            check_issued_by(cert, service.ca, None)  # a retired key's, checked by signature
            if identity_of(cert).node_id != own:
                raise VerificationError(f"the upstream sent back records of this node's log "
                                        f"signed by {identity_of(cert).node_id}'s key")
            tx.add_certificate(cert)
        result = verify_log_batch(raw, log_id=own, head=tx.head(own),
                                  known_hash=lambda seq: tx.hash_at(own, seq),
                                  keyring=tx.keyring(),  # old keys: their signature only
                                  admit_key=records_key_admitter(service.ca, own, None))
        if result.refused:
            first = result.refused[0]
            raise VerificationError(
                f"record {own}#{first.seq} that the upstream sent back is not this node's "
                f"own ({first.reason_code}: {first.message}); nothing was changed",
                code=first.reason_code or "verification_failed")
        records = list(result.accepted)
        tx.append(records)
        tx.set_mark(REBUILD, 1)  # the cases are right once the county's records are in too
        catalog = _catalog(tx)
        for record in records:
            payload = record.payload
            if isinstance(payload, KeyRotated | KeyReplaced):
                tx.add_certificate(load_certificate(payload.new_certificate))
            item = None
            if isinstance(payload, CaseSubmitted):
                parsed = parse_case_id(payload.case_id)
                tx.note_daily_number(parsed.day, parsed.number)
                item = catalog.item(payload.item_code) if catalog is not None else None
            # a record that follows a county record not pulled yet: rebuild_cases() places it
            with contextlib.suppress(StateError, NotFoundError):
                service.project_own(tx, record, item=item)
    return len(records)


def finish_key_replacement(service: NodeService) -> Record | None:
    """After a re-enrolment with a key-replacement token, once the log is fetched back: the
    ``KeyReplaced`` record, signed by the new key with the county's authorization, right after
    the last record the county held -- where the authorization says. Then the leave is spent
    (its file removed). None when there is nothing to finish."""
    if service.home is None:
        return None
    grant = load_grant(service.home)
    if grant is None:
        return None
    own = service.node_id
    record: Record | None = None
    with service.store.transaction() as tx:
        head = tx.lock_head(own)
        if head.seq != grant.after_seq or head.hash != grant.prev_hash:
            raise StateError(
                f"the county let this node continue its log after seq {grant.after_seq}, but "
                f"the log fetched back ends at seq {head.seq}: its upstream holds records the "
                "county has not received yet (a township not synced since). Have the township "
                "sync with the county, then ask the county for a new key-replacement token",
                code="replacement_misplaced")
        if head.key_id != service.signer.key_id:
            der = (service.home / "certs" / "records.pem").read_bytes()
            record = tx.seal_append(
                KeyReplaced(new_certificate=certificate_der(load_certificate(der)),
                            authorization=grant.authorization, hub_key_id=grant.hub_key_id,
                            reason=grant.reason),
                log_id=own, signer=service.signer, clock=service.clock, of_case=False)
    (service.home / KEY_REPLACEMENT).unlink(missing_ok=True)
    return record


def _catalog(reader: Reader) -> Catalog | None:
    record = reader.latest(CATALOG_LOG_ID)
    if record is None or not isinstance(record.payload, CatalogPublished):
        return None
    return record.payload.catalog


def rebuild_cases(service: NodeService) -> list[str]:
    """Rebuild this node's own cases from every record it now holds of them -- its own, the
    county's, its township's -- in the order they were signed, through the one projector:
    what a catch-up leaves to do once the round's pull has brought the upstream's records (a
    办结 only follows the decision; a supplement follows the request). Clears the marks; the
    records that still have no effect, as lines."""
    own = service.node_id
    tier = service.tier()
    left: list[str] = []
    with service.store.transaction() as tx:
        for current in tx.cases.list():
            if current.origin != own:
                continue
            case: Case | None = None
            for record in tx.case_history(current.case_id):
                outcome = apply(case, record, tier.context(tx, case, record))
                if isinstance(outcome, Refusal):
                    left.append(f"{record}: {outcome.message} [{outcome.code}]")
                elif outcome is not None:
                    case = outcome.after
            if case is not None and case != current:
                tx.cases.apply([Change(before=current, after=case)])
        tx.cases.mark_received(tx.mark(PUSHED), tx.now)
        tx.set_mark(REBUILD, 0)
        tx.set_mark(CATCHING_UP, 0)
    return left


def rebuild_pending(service: NodeService) -> bool:
    with service.store.reading() as r:
        return r.mark(REBUILD) != 0


# -- the database file, replaced ------------------------------------------------------------------


@contextlib.contextmanager
def home_held(home: Path, *, by: str) -> Iterator[None]:
    """Hold the home against another ``node run`` (``by``: what holds it, for the message);
    ``node run`` holds it while it runs, so a restore never pulls the database from under a
    running daemon."""
    lock = home / "run.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError(f"'bianmin node run' (or another {by}) is running on {home}: stop "
                             "it first (systemctl stop bianmin-node, or Ctrl-C), then run this "
                             "again", code="home_busy") from None
        yield
    finally:
        os.close(fd)


def set_aside(db: Path, why: str, clock: Clock) -> Path | None:
    """Rename ``db`` (and its -wal, -shm) out of the way, never deleting it; the new name."""
    if not db.exists():
        return None
    stamp = clock.now().astimezone(CST).strftime("%Y%m%d-%H%M%S")
    kept = db.with_name(f"{db.name}.{why}-{stamp}")
    for suffix in ("-wal", "-shm", ""):
        old = db.with_name(db.name + suffix)
        if old.exists():
            old.replace(kept.with_name(kept.name + suffix))
    return kept


def fresh_database(home: Path, records_cert: Path, clock: Clock) -> Path:
    """An empty node database made beside the lost one (``node.db.recovering``), knowing this
    node's own records certificate and marked as catching up; the caller renames it into
    place. Nothing is left behind if it cannot be made (a full disk)."""
    from node.enrolment import NODE_MIGRATIONS  # noqa: PLC0415 -- enrolment imports the service
    from node.store.sql import NodeStore  # noqa: PLC0415

    scratch = home / "node.db.recovering"

    def remove() -> None:
        for suffix in ("", "-wal", "-shm", "-writer.lock"):
            scratch.with_name(scratch.name + suffix).unlink(missing_ok=True)

    remove()
    try:
        db = Database(sqlite_url(scratch), migrations=NODE_MIGRATIONS)
        try:
            db.upgrade()
            with NodeStore(db, clock).transaction() as tx:
                tx.add_certificate(load_certificate(records_cert.read_bytes()))
                tx.set_mark(CATCHING_UP, 1)
        finally:
            db.close()
    except BaseException:
        remove()
        raise
    return scratch


# -- node restore ---------------------------------------------------------------------------------


def restore_node(home: Path, backup: Path, *, node_id: str, clock: Clock) -> dict[str, object]:
    """Put a backup made by ``node backup`` in place of the node's database. The database it
    replaces (damaged, or simply older) is kept beside it, renamed, never deleted. The node
    then catches up from its upstream before it signs anything (``CATCHING_UP``)."""
    restore = "Give a file made by 'bianmin node backup'"
    check_sqlite_file(backup, restore=restore)
    try:
        check = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
        try:
            integrity = check.execute("PRAGMA integrity_check").fetchone()[0]
            logs = {row[0] for row in check.execute("SELECT DISTINCT log_id FROM log_heads")}
            cases = check.execute("SELECT count(*) FROM cases").fetchone()[0]
            head = check.execute("SELECT seq FROM log_heads WHERE log_id=?", (node_id,)).fetchone()
        finally:
            check.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{backup} is not a backup of a node's database ({exc}); {restore}",
                         code="not_a_backup") from exc
    if integrity != "ok":
        raise UsageError(f"{backup} is damaged (SQLite's integrity check: {integrity}); "
                         "take an older backup", code="damaged_backup")
    others = sorted(log for log in logs if log.startswith(("V", "T")))
    if head is None and others and node_id not in others:
        raise UsageError(f"{backup} is a backup of node {', '.join(others)}, not of {node_id}; "
                         "restore this node's own backup", code="wrong_node")
    partial = home / "node.db.restoring"
    try:
        shutil.copyfile(backup, partial)
        with sqlite3.connect(partial) as marked:  # it signs nothing before it has caught up
            marked.execute("INSERT OR REPLACE INTO sync_state (name, value) VALUES (?, 1)",
                           (CATCHING_UP,))
        marked.close()
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        kept = set_aside(home / "node.db", "replaced", clock)
        partial.replace(home / "node.db")
    except (OSError, sqlite3.OperationalError) as exc:
        partial.unlink(missing_ok=True)
        problem = storage_error(exc, where=home)
        if problem is not None:
            raise problem from exc
        raise
    return {"restored": str(backup), "kept": str(kept or ""), "cases": cases,
            "log_head": int(head[0]) if head else 0}

