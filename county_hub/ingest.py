"""Hub ingest and serving pulls (DESIGN §8, §9).

Push: the caller's identity comes from its TLS certificate; a village may push only its own
log. Each record is checked on its own first (body, signer, signature -- spread over threads,
outside any write lock), then placed on the log inside one write transaction that also updates
the case view; the reply acknowledges the head *after* commit. A repeated record is
acknowledged and stored once.

Pull: a node gets the whole ``CATALOG`` log and the records of the hub's log meant for it.
Cursors advance past records meant for others, so nothing is scanned twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Connection

from county_hub.hub import Hub
from node.errors import NotFoundError, PeerError, UsageError
from node.identity import (
    CATALOG_LOG_ID,
    NodeIdentity,
    certificate_der,
    identity_of,
    load_certificate,
)
from node.payloads import CaseSubmitted, PreReviewed
from node.records import Record, RecordVerdict, chain_batch, check_records
from node.wire import decode_body
from sync import PullBatch, PushResult, RecordOutcome, WireRecord

__all__ = ["MAX_PUSH_RECORDS", "Ingest"]

MAX_PUSH_RECORDS = 5_000
PULL_BATCH = 500


class Ingest:
    def __init__(self, hub: Hub, *, verify_threads: int = 2) -> None:
        self.hub = hub
        self._pool = ThreadPoolExecutor(max_workers=verify_threads,
                                        thread_name_prefix="verify")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def peer(self, peer_pem: bytes) -> NodeIdentity:
        """The enrolled node behind a TLS certificate."""
        who = identity_of(load_certificate(peer_pem))
        if who.purpose != "tls" or who.county_code != self.hub.config.county_code:
            raise PeerError(f"certificate of {who.node_id} is not a TLS certificate of county "
                            f"{self.hub.config.county_code}", code="bad_peer")
        with self.hub.store.db.read() as conn:
            if self.hub.store.node(conn, who.node_id) is None:
                raise PeerError(f"node {who.node_id} is not enrolled at this hub",
                                code="not_enrolled")
        return who

    # -- push -----------------------------------------------------------------------------------

    def push(self, peer_pem: bytes, log_id: str, raw: Sequence[WireRecord]) -> PushResult:
        who = self.peer(peer_pem)
        if log_id != who.node_id:
            raise PeerError(f"node {who.node_id} may only push its own log, not {log_id}",
                            code="wrong_log")
        if len(raw) > MAX_PUSH_RECORDS:
            raise UsageError(f"a push carries at most {MAX_PUSH_RECORDS} records; this one has "
                             f"{len(raw)}", code="batch_too_large")
        pairs = [(r.body, r.signature) for r in raw]
        store, logs = self.hub.store, self.hub.store.logs
        with store.db.read() as conn:
            checked = check_records(pairs, log_id=log_id, keyring=logs.keyring(conn),
                                    map_fn=self._pool.map)
        now = self.hub.clock.now()
        with store.db.write() as conn:
            head = logs.head(conn, log_id, lock=True)
            result = chain_batch(checked, log_id=log_id, head=head,
                                 known_hash=lambda seq: logs.hash_at(conn, log_id, seq))
            logs.append(conn, list(result.accepted), now=now)
            for record in result.accepted:
                self._project(conn, record)
            store.touch_node(conn, who.node_id, now)
        return PushResult(
            committed_seq=result.head.seq,
            outcomes=tuple(_outcome(v) for v in result.verdicts),
        )

    def _project(self, conn: Connection, record: Record) -> None:
        payload, now = record.payload, self.hub.clock.now()
        if isinstance(payload, CaseSubmitted):
            try:
                item = self.hub.catalog_version(conn, payload.catalog_version).catalog.item(
                    payload.item_code)
            except NotFoundError:
                item = None
            self.hub.store.receive_case(conn, record, item, now)
        elif isinstance(payload, PreReviewed):
            self.hub.store.record_pre_review(conn, record, now)

    # -- pull -----------------------------------------------------------------------------------

    def pull(self, peer_pem: bytes, cursors: Mapping[str, int]) -> Iterator[PullBatch]:
        who = self.peer(peer_pem)
        served = {CATALOG_LOG_ID: None, self.hub.node_id: [who.node_id]}
        sent_keys: set[bytes] = set()
        for log_id, audiences in served.items():
            after = cursors.get(log_id, 0)
            while True:
                with self.hub.store.db.read() as conn:
                    head = self.hub.store.logs.head(conn, log_id).seq
                    rows = self.hub.store.logs.raw_after(conn, log_id, after, PULL_BATCH,
                                                         audiences=audiences, upto=head)
                    certs = self._certificates(conn, rows, sent_keys)
                full = len(rows) == PULL_BATCH
                new_after = rows[-1][0] if full else head
                if new_after <= after and not rows:
                    break
                yield PullBatch(
                    records=tuple(WireRecord(body=b, signature=s, seq=q) for q, b, s in rows),
                    certificates=certs,
                    cursors={log_id: new_after},
                )
                after = new_after
                if not full:
                    break

    def _certificates(self, conn: Connection, rows: Sequence[tuple[int, bytes, bytes]],
                      sent: set[bytes]) -> tuple[bytes, ...]:
        out = []
        for _seq, body, _sig in rows:
            key_id = decode_body(body)[0].key_id
            if key_id in sent:
                continue
            cert = self.hub.store.logs.certificate(conn, key_id)
            if cert is not None:
                out.append(certificate_der(cert))
            sent.add(key_id)
        return tuple(out)


def _outcome(verdict: RecordVerdict) -> RecordOutcome:
    return RecordOutcome(seq=verdict.seq, status=verdict.verdict.value,
                         reason_code=verdict.reason_code, message=verdict.message)
