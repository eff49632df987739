"""Hub ingest and serving pulls (DESIGN §8, §9).

Push: the caller's identity comes from its TLS certificate, checked against enrolment and
revocation on every call (grpcio has no CRL hook, DESIGN §4). A village may push only its own
log, a township also its own villages'. Verification, the authority rules, storage, evidence
and alarms are the one receive path's (``node.receive``), shared with townships and villages;
the county's view of what it takes is ``county_hub.tier``. The reply acknowledges the head
*after* commit. A repeated record is acknowledged and stored once.

Pull: a node gets the whole ``CATALOG`` log and the records of the hub's log meant for it, for
its township's group (grants), or for everyone (revocations). Cursors advance past records
meant for others, so nothing is scanned twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from cryptography import x509

from county_hub.blobs import DbBlobStore
from county_hub.ca import check_csr, issue_certificate
from county_hub.hub import Hub
from county_hub.tier import CountyTransaction, HubTier
from node.kernel.clock import from_ms
from node.kernel.errors import PeerError, UsageError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    NodeIdentity,
    certificate_der,
    fingerprint,
    identity_of,
    load_certificate,
    rotation_message,
    verify_signature,
)
from node.receive import (
    MAX_BLOB_BYTES,
    Inbound,
    Receiver,
    check_blob_query,
    check_push_size,
    push_result,
)
from node.serving import Followers, serve_pull
from node.store.seam import Reader
from node.tier import retired_certificate
from node.transfer import Uploads
from sync import BlobChunk, BlobState, PullBatch, PushResult, RotateKey, WireRecord

__all__ = ["Ingest"]

T = TypeVar("T")
U = TypeVar("U")


def _current_records_cert(r: Reader, node_id: str) -> x509.Certificate | None:
    """The records certificate a node's log is signed with now: its head's key, or, before
    its first record, the last one the county issued it."""
    head = r.head(node_id)
    if head.key_id:
        cert = r.certificate(head.key_id)
        if cert is not None:
            return cert
    issued = [load_certificate(der) for der in r.certificates_of(node_id)]
    records = [c for c in issued if identity_of(c).purpose == "records"]
    return max(records, key=lambda c: c.not_valid_before_utc, default=None)


def relayed_at(tx: CountyTransaction, *, township: str,
               received_at_ms: int) -> dt.datetime:
    """When a relayed heartbeat reached the township, by the county's clock: the township's
    time of it, less the township's own clock skew at its last heartbeat; never later than
    now (a township cannot make a village look fresher than the relay itself)."""
    if not received_at_ms:
        return tx.now
    node = tx.node(township)
    skew = node.clock_skew_s if node is not None and node.clock_skew_s is not None else 0.0
    try:
        at = from_ms(received_at_ms) - dt.timedelta(seconds=skew)
    except (OverflowError, ValueError, OSError):
        return tx.now
    return min(at, tx.now)


class Ingest:
    def __init__(self, hub: Hub, *, verify_threads: int = 2, max_followers: int = 16) -> None:
        self.hub = hub
        self.followers = Followers(max_followers)
        self._pool = ThreadPoolExecutor(max_workers=verify_threads,
                                        thread_name_prefix="verify")
        self._threads = verify_threads
        self.blobs = DbBlobStore(hub.store.db, hub.clock)
        self.uploads = Uploads(self.blobs, hub.store, max_blob_bytes=MAX_BLOB_BYTES)
        self.receiver = Receiver(hub.store, HubTier(hub, self.blobs.complete),
                                 ca=hub.keys.ca_cert, clock=hub.clock, map_fn=self._map)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _map(self, fn: Callable[[T], U], items: Iterable[T]) -> Iterator[U]:
        """Map over a batch in one slice per verify thread: libsodium releases the GIL while
        it checks a signature, so the slices run in parallel; one future per slice, not per
        record, keeps the bookkeeping out of the way."""
        values = list(items)
        if len(values) < 16:
            return iter([fn(v) for v in values])
        size = -(-len(values) // self._threads)
        slices = [values[i:i + size] for i in range(0, len(values), size)]
        futures = [self._pool.submit(lambda part: [fn(v) for v in part], part)
                   for part in slices]
        return (result for f in futures for result in f.result())

    def peer(self, peer_pem: bytes) -> NodeIdentity:
        """The enrolled, unrevoked node behind a TLS certificate."""
        cert = load_certificate(peer_pem)
        who = identity_of(cert)
        if who.purpose != "tls" or who.county_code != self.hub.config.county_code:
            raise PeerError(f"certificate of {who.node_id} is not a TLS certificate of county "
                            f"{self.hub.config.county_code}", code="bad_peer")
        with self.hub.store.reading() as r:
            node = r.node(who.node_id)
            if node is None:
                raise PeerError(f"node {who.node_id} is not enrolled at this hub",
                                code="not_enrolled")
            revoked = r.revocation(who.node_id)
        if node.tls_fingerprint and node.tls_fingerprint != fingerprint(cert):
            raise retired_certificate(who.node_id)
        if revoked is not None:
            raise PeerError(f"node {who.node_id} was revoked at {revoked.revoked_at:%Y-%m-%d} "
                            f"({revoked.reason}); its certificates are no longer accepted",
                            code="revoked")
        return who

    # -- push -----------------------------------------------------------------------------------

    def _may_push(self, who: NodeIdentity, log_id: str) -> bool:
        """A node pushes its own log; a township also relays its own villages' logs."""
        if log_id == who.node_id:
            return True
        if who.tier != "township":
            return False
        with self.hub.store.reading() as r:
            village = r.node(log_id)
        return village is not None and village.parent == who.node_id

    def push(self, peer_pem: bytes, log_id: str, raw: Sequence[WireRecord],
             heartbeat: WireRecord | None = None,
             certificates: Sequence[bytes] = ()) -> PushResult:
        who = self.peer(peer_pem)
        check_push_size(len(raw))
        pairs = [(r.body, r.signature) for r in raw]
        if not self._may_push(who, log_id):
            message = (f"node {who.node_id} may only push its own log, not {log_id}"
                       if who.tier != "township" else
                       f"township {who.node_id} may relay only its own villages' logs; "
                       f"{log_id} is not one of them")
            self.receiver.refuse_all(peer=who.node_id, log_id=log_id, raw=pairs,
                                     reason="wrong_log", message=message)
            raise PeerError(message, code="wrong_log")
        result = self.receiver.receive(Inbound(peer=who.node_id, log_id=log_id, raw=pairs,
                                               offered=certificates))
        claim, at = None, None
        if heartbeat is not None:
            # the caller's own, or a village's its township relays (signed by the village)
            claim = self.receiver.heartbeat(peer=log_id, body=heartbeat.body,
                                            signature=heartbeat.signature)
        with self.hub.store.transaction() as tx:
            if claim is not None and log_id != who.node_id:
                at = relayed_at(tx, township=who.node_id, received_at_ms=heartbeat.received_at_ms
                                if heartbeat is not None else 0)
            if claim is not None:
                tx.record_heartbeat(node_id=claim.node_id, head_seq=claim.head_seq,
                                    head_hash=claim.head_hash, sent_at=claim.sent_at, at=at)
            tx.touch_node(who.node_id)
        return push_result(result)

    def _log_for(self, who: NodeIdentity, log_id: str) -> str:
        """Whose log an upload is for: the caller's own, or a relayed village's."""
        if not log_id or log_id == who.node_id:
            return who.node_id
        if not self._may_push(who, log_id):
            raise PeerError(f"node {who.node_id} may upload attachments only for its own log"
                            + (" and its villages'" if who.tier == "township" else "")
                            + f", not for {log_id}", code="wrong_log")
        return log_id

    def blob_status(self, peer_pem: bytes, hashes: Sequence[bytes],
                    log_id: str = "") -> list[BlobState]:
        who = self.peer(peer_pem)
        check_blob_query(len(hashes))
        return self.uploads.status(hashes, self._log_for(who, log_id))

    def put_blob(self, peer_pem: bytes, chunks: Iterator[BlobChunk]) -> list[BlobState]:
        who = self.peer(peer_pem)
        return self.uploads.receive(chunks, log_of=lambda c: self._log_for(who, c.log_id))

    # -- key rotation ---------------------------------------------------------------------------

    def rotate_key(self, peer_pem: bytes, request: RotateKey) -> bytes:
        """Certify a new records key for the calling node -- or, from a township, for one of
        its villages, which proves the request with its current records key (a township
        cannot rotate a village's key on its own) -- and the node then writes a
        ``KeyRotated`` record, signed by its old key, that puts the new one in force."""
        who = self.peer(peer_pem)
        try:
            csr = x509.load_der_x509_csr(request.records_csr)
        except ValueError as exc:
            raise UsageError("records CSR is not DER PKCS#10", code="bad_csr") from exc
        check_csr(csr, "records")
        node_id = request.node_id or who.node_id
        if node_id != who.node_id and not self._may_push(who, node_id):
            raise PeerError(f"{who.node_id} may forward key rotations only for its own "
                            f"villages, not for {node_id}", code="wrong_log")
        with self.hub.store.reading() as r:
            current = _current_records_cert(r, node_id)
        if current is None:
            raise PeerError(f"node {node_id} holds no records certificate here",
                            code="not_enrolled")
        proven = verify_signature(current, rotation_message(node_id, request.records_csr),
                                  request.authorization) if request.authorization else False
        if (request.authorization or node_id != who.node_id) and not proven:
            raise PeerError(f"the key rotation of {node_id} is not signed by its current "
                            "records key", code="bad_authorization")
        identity = identity_of(current).with_purpose("records")
        cert = issue_certificate(ca_key=self.hub.keys.ca_key, ca_cert=self.hub.keys.ca_cert,
                                 public_key=csr.public_key(),  # type: ignore[arg-type]
                                 identity=identity, now=self.hub.clock.now())
        with self.hub.store.transaction() as tx:
            tx.add_certificate(cert)
        return certificate_der(cert)

    # -- pull -----------------------------------------------------------------------------------

    def served_logs(self, who: NodeIdentity) -> dict[str, list[str] | None]:
        """What a node may pull: the catalog; the hub's records for it (for a township: for it,
        its villages, and its group's grants); for a village under a township, its grants
        too, and that township's records for it."""
        served: dict[str, list[str] | None] = {CATALOG_LOG_ID: None}
        if who.tier == "township":
            with self.hub.store.reading() as r:
                villages = [n.node_id for n in r.list_nodes() if n.parent == who.node_id]
            served[self.hub.node_id] = [who.node_id, f"@{who.node_id}", *villages]
        else:
            served[self.hub.node_id] = [who.node_id]
            if who.parent and who.parent != self.hub.node_id:
                served[self.hub.node_id] = [who.node_id, f"@{who.parent}"]
                served[who.parent] = [who.node_id]
        return served

    def pull(self, peer_pem: bytes, cursors: Mapping[str, int], follow_s: float = 0.0,
             alive: Callable[[], bool] = lambda: True) -> Iterator[PullBatch]:
        who = self.peer(peer_pem)
        served = self.served_logs(who)
        if who.node_id in cursors:  # a node fetching its own log back (node recovery, issue 12)
            served = {**served, who.node_id: None}
        yield from serve_pull(self.hub.store, served, cursors,
                              follow_s=follow_s, alive=alive, followers=self.followers)
