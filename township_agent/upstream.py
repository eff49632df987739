"""The township as its villages' upstream: the same sync service the hub offers.

A village's records are verified exactly as the county verifies them (``node.ingest``: the
village's own signature, chain and key in force), stored, and acknowledged once committed here;
the county verifies them again when the township forwards them, so a township can delay but
never forge or alter. Only the township's own villages are served: the certificate a village
presents (checked against the county CA by TLS) must name this township as its parent.

Pulls serve each village the catalog, the county's records for it, and the township's own
records for it (its decisions on delegated items) -- also while the county is unreachable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence

from sqlalchemy import Connection, insert, select, update

from node.errmap import as_refusal
from node.ingest import (
    MAX_BLOB_BYTES,
    Hold,
    LogIngest,
    check_blob_query,
    check_push_size,
    push_result,
)
from node.kernel.clock import to_ms
from node.kernel.errors import BianminError, PeerError, StateError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    NodeIdentity,
    identity_of,
    load_certificate,
)
from node.kernel.payloads import (
    ActionRefused,
    CaseSubmitted,
    Concluded,
    PreReviewed,
    Supplemented,
    Withdrawn,
    referenced_blobs,
)
from node.kernel.records import Record, seal
from node.kernel.workflow import NODE_ACTIONS, CaseFacts, State, next_state, node_action_fields
from node.service import NodeService
from node.serving import Followers, serve_pull
from node.transfer import receive_chunks
from sync import (
    BlobChunk,
    BlobState,
    CallRefused,
    PullBatch,
    PushResult,
    Refusal,
    WireRecord,
)

__all__ = ["TownshipUpstream"]



class TownshipUpstream:
    """``sync.server.SyncHandler`` for the township's villages."""

    def __init__(self, service: NodeService) -> None:
        self.service = service
        self.node_id = service.config.node_id
        self.logs = LogIngest(service.store.db, service.store.logs, ca=service.ca,
                              clock=service.clock)
        self.followers = Followers(8)

    # -- who is calling -------------------------------------------------------------------------

    def village(self, peer_pem: bytes) -> NodeIdentity:
        who = identity_of(load_certificate(peer_pem))
        if (who.purpose != "tls" or who.county_code != self.service.config.county_code
                or who.tier != "village" or who.parent != self.node_id):
            raise PeerError(f"{who.node_id} is not a village of township {self.node_id}; it "
                            "syncs with its own upstream", code="not_its_village")
        with self.service.store.db.read() as conn:
            revoked = self.service.store.logs.revocation(conn, who.node_id)
        if revoked is not None:
            raise PeerError(f"node {who.node_id} was revoked ({revoked.reason})", code="revoked")
        return who

    # -- push -----------------------------------------------------------------------------------

    def push(self, peer_pem: bytes, log_id: str, records: Sequence[WireRecord],
             heartbeat: WireRecord | None, certificates: Sequence[bytes]) -> PushResult:
        return as_refusal(self._push, peer_pem, log_id, records, heartbeat, certificates)

    def _push(self, peer_pem: bytes, log_id: str, records: Sequence[WireRecord],
              heartbeat: WireRecord | None, certificates: Sequence[bytes]) -> PushResult:
        who = self.village(peer_pem)
        check_push_size(len(records))
        pairs = [(r.body, r.signature) for r in records]
        if log_id != who.node_id:
            message = f"village {who.node_id} may only push its own log, not {log_id}"
            self.logs.refuse_all(peer=who.node_id, log_id=log_id, raw=pairs,
                                 reason="wrong_log", message=message)
            raise PeerError(message, code="wrong_log")
        result = self.logs.receive(peer=who.node_id, log_id=log_id, raw=pairs,
                                   project=self._project, screen=self._screen,
                                   offered=certificates)
        if heartbeat is not None:
            self.logs.heartbeat(peer=who.node_id, body=heartbeat.body,
                                signature=heartbeat.signature)
        return push_result(result)

    def _screen(self, records: Sequence[Record]) -> dict[int, Hold]:
        """A case is not taken until every attachment it names has arrived."""
        holds = {}
        for record in records:
            missing = [h for h in referenced_blobs(record) if not self.service.blobs.has(h)]
            if missing:
                holds[record.seq] = Hold(code="blob_missing", message=f"{len(missing)} "
                                         "attachment(s) it names have not fully arrived")
        return holds

    def _project(self, conn: Connection, records: Sequence[Record]) -> None:
        for record in records:
            self._project_one(conn, record)

    def _project_one(self, conn: Connection, record: Record) -> None:
        """The township's view of its villages' cases (it decides the delegated ones)."""
        store, payload, now = self.service.store, record.payload, self.service.clock.now()
        cases = store.cases
        if isinstance(payload, CaseSubmitted):
            exists = conn.execute(select(cases.c.case_id)
                                  .where(cases.c.case_id == payload.case_id)).first()
            if exists is None:
                item = self._item_name(conn, payload.item_code)
                conn.execute(insert(cases).values(
                    case_id=payload.case_id, item_code=payload.item_code, item_name=item,
                    applicant_name=payload.applicant.name,
                    applicant_id=payload.applicant.id_number, state=State.RECEIVED.value,
                    complete=False, missing="", reason="", operator="", last_own_seq=0,
                    submitted_at_ms=to_ms(record.header.recorded_at), updated_at_ms=to_ms(now),
                    catalog_version=payload.catalog_version, catalog_expired=False,
                    requested=""))
        elif isinstance(payload, PreReviewed):
            conn.execute(update(cases).where(cases.c.case_id == payload.case_id).values(
                complete=payload.complete, missing=",".join(payload.missing),
                updated_at_ms=to_ms(now)))
        elif type(payload) in NODE_ACTIONS:
            self._node_action(conn, record, now)

    def _item_name(self, conn: Connection, code: str) -> str:
        try:
            _r, published = self.service.store.latest_catalog(conn, CATALOG_LOG_ID)
        except BianminError:
            return ""
        item = published.catalog.item(code)
        return item.name if item else ""

    def _node_action(self, conn: Connection, record: Record, now: dt.datetime) -> None:
        payload = record.payload
        assert isinstance(payload, Supplemented | Withdrawn | Concluded)
        store = self.service.store
        try:
            view = store.get_case(conn, payload.case_id)
        except BianminError:
            return
        complete = payload.complete if isinstance(payload, Supplemented) else view.complete
        try:
            after = next_state(view.case_id, State(view.state), NODE_ACTIONS[type(payload)],
                               CaseFacts(complete=complete))
        except StateError as exc:
            if self._decides(conn, view.item_code):  # the township answers for its own items
                self._refuse(conn, record, str(exc))
            return
        values: dict[str, object] = {"state": after.value, "updated_at_ms": to_ms(now),
                                     **node_action_fields(payload)}
        conn.execute(update(store.cases).where(store.cases.c.case_id == view.case_id)
                     .values(**values))

    def _decides(self, conn: Connection, item_code: str) -> bool:
        try:
            _r, published = self.service.store.latest_catalog(conn, CATALOG_LOG_ID)
        except BianminError:
            return False
        item = published.catalog.item(item_code)
        return item is not None and item.decided_by == "township"

    def _refuse(self, conn: Connection, record: Record, reason: str) -> None:
        payload = record.payload
        assert isinstance(payload, Supplemented | Withdrawn | Concluded)
        logs = self.service.store.logs
        head = logs.head(conn, self.node_id, lock=True)
        answer = seal(ActionRefused(case_id=payload.case_id, refused_log_id=record.log_id,
                                    refused_seq=record.seq, reason=reason),
                      log_id=self.node_id, head=head, signer=self.service.signer,
                      clock=self.service.clock)
        logs.append(conn, [answer], now=self.service.clock.now(),
                    audience=lambda _r: record.log_id)

    # -- pull -----------------------------------------------------------------------------------

    def pull(self, peer_pem: bytes, cursors: Mapping[str, int], follow_s: float = 0.0,
             alive: Callable[[], bool] = lambda: True) -> Iterator[PullBatch]:
        who = as_refusal(self.village, peer_pem)
        served: dict[str, list[str] | None] = {
            CATALOG_LOG_ID: None, HUB_NODE_ID: [who.node_id], self.node_id: [who.node_id]}
        yield from serve_pull(self.service.store.db, self.service.store.logs, served, cursors,
                              follow_s=follow_s, alive=alive,
                              followers=self.followers)

    # -- attachments and keys -------------------------------------------------------------------

    def blob_status(self, peer_pem: bytes, hashes: Sequence[bytes]) -> list[BlobState]:
        as_refusal(self.village, peer_pem)
        as_refusal(check_blob_query, len(hashes))
        return [self.service.blobs.state(h) for h in hashes]

    def put_blob(self, peer_pem: bytes, chunks: Iterator[BlobChunk]) -> list[BlobState]:
        as_refusal(self.village, peer_pem)
        return as_refusal(receive_chunks, self.service.blobs, chunks,
                           max_blob_bytes=MAX_BLOB_BYTES)

    def rotate_key(self, peer_pem: bytes, records_csr: bytes) -> bytes:
        raise CallRefused(Refusal.FAILED_PRECONDITION,
                          "the county certifies new keys: rotate while connected to the county "
                          "(node.toml fallback, or a direct --upstream)", code="rotate_at_county")
