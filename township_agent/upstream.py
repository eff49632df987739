"""The township as its villages' upstream: the same sync service the hub offers.

A village's records are taken through the one receive path (``node.receive``) exactly as the
county takes them -- the village's own signature, chain, key in force, and who may say what --
stored, projected onto the township's view of its villages' cases, and acknowledged once
committed here; the county checks them again when the township forwards them, so a township
can delay but never forge or alter. Only the township's own villages are served: the
certificate a village presents (checked against the county CA by TLS) must name this township
as its parent.

Pulls serve each village the catalog, the county's records for it and for its township's
villages as a group (grants), and the township's own records for it (its decisions on
delegated items) -- also while the county is unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from node.errmap import as_refusal, from_sync_error
from node.kernel.authority import NodeInfo
from node.kernel.clock import to_ms
from node.kernel.errors import ConfigError, PeerError, UsageError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    NodeIdentity,
    identity_of,
    load_certificate,
)
from node.receive import (
    MAX_BLOB_BYTES,
    Inbound,
    Receiver,
    check_blob_query,
    check_push_size,
    push_result,
)
from node.service import NodeService, upstream_client
from node.serving import Followers, serve_pull
from node.tier import retired_certificate, retired_tls_mark
from node.transfer import Uploads
from sync import (
    BlobChunk,
    BlobState,
    PullBatch,
    PushResult,
    RotateKey,
    SyncError,
    WireRecord,
)

__all__ = ["TownshipUpstream"]


class TownshipUpstream:
    """``sync.server.SyncHandler`` for the township's villages."""

    def __init__(self, service: NodeService) -> None:
        self.service = service
        self.node_id = service.config.node_id
        self.followers = Followers(8)
        self.uploads = Uploads(service.blobs, service.store, max_blob_bytes=MAX_BLOB_BYTES)

    # -- who is calling -------------------------------------------------------------------------

    def village(self, peer_pem: bytes) -> NodeIdentity:
        cert = load_certificate(peer_pem)
        who = identity_of(cert)
        if (who.purpose != "tls" or who.county_code != self.service.config.county_code
                or who.tier != "village" or who.parent != self.node_id):
            raise PeerError(f"{who.node_id} is not a village of township {self.node_id}; it "
                            "syncs with its own upstream", code="not_its_village")
        with self.service.store.reading() as r:
            revoked = r.revocation(who.node_id)
            retired_before = r.mark(retired_tls_mark(who.node_id))
        if revoked is not None:
            raise PeerError(f"node {who.node_id} was revoked ({revoked.reason})", code="revoked")
        if retired_before and to_ms(cert.not_valid_before_utc) < retired_before:
            raise retired_certificate(who.node_id)
        return who

    def _receiver(self, who: NodeIdentity) -> Receiver:
        return self.service.receiver(peers={who.node_id: NodeInfo(
            node_id=who.node_id, tier="village", parent=self.node_id)})

    # -- push -----------------------------------------------------------------------------------

    def push(self, peer_pem: bytes, log_id: str, records: Sequence[WireRecord],
             heartbeat: WireRecord | None, certificates: Sequence[bytes]) -> PushResult:
        return as_refusal(self._push, peer_pem, log_id, records, heartbeat, certificates)

    def _push(self, peer_pem: bytes, log_id: str, records: Sequence[WireRecord],
              heartbeat: WireRecord | None, certificates: Sequence[bytes]) -> PushResult:
        who = self.village(peer_pem)
        check_push_size(len(records))
        pairs = [(r.body, r.signature) for r in records]
        receiver = self._receiver(who)
        if log_id != who.node_id:
            message = f"village {who.node_id} may only push its own log, not {log_id}"
            receiver.refuse_all(peer=who.node_id, log_id=log_id, raw=pairs,
                                reason="wrong_log", message=message)
            raise PeerError(message, code="wrong_log")
        result = receiver.receive(Inbound(peer=who.node_id, log_id=log_id, raw=pairs,
                                          offered=certificates))
        if heartbeat is not None:
            receiver.heartbeat(peer=who.node_id, body=heartbeat.body,
                               signature=heartbeat.signature)
            with self.service.store.transaction() as tx:  # relayed to the county (issue 12)
                tx.keep_village_beat(who.node_id, heartbeat.body, heartbeat.signature)
        return push_result(result)

    # -- pull -----------------------------------------------------------------------------------

    def pull(self, peer_pem: bytes, cursors: Mapping[str, int], follow_s: float = 0.0,
             alive: Callable[[], bool] = lambda: True) -> Iterator[PullBatch]:
        who = as_refusal(self.village, peer_pem)
        served: dict[str, list[str] | None] = {
            CATALOG_LOG_ID: None, HUB_NODE_ID: [who.node_id, f"@{self.node_id}"],
            self.node_id: [who.node_id]}
        if who.node_id in cursors:  # a village fetching its own log back (issue 12)
            served[who.node_id] = None
        yield from serve_pull(self.service.store, served, cursors, follow_s=follow_s,
                              alive=alive, followers=self.followers)

    # -- attachments and keys -------------------------------------------------------------------

    def _log_for(self, who: NodeIdentity, log_id: str) -> str:
        if log_id not in ("", who.node_id):
            raise PeerError(f"village {who.node_id} may upload attachments only for its own "
                            f"log, not {log_id}", code="wrong_log")
        return who.node_id

    def blob_status(self, peer_pem: bytes, hashes: Sequence[bytes],
                    log_id: str = "") -> list[BlobState]:
        who = as_refusal(self.village, peer_pem)
        as_refusal(check_blob_query, len(hashes))
        return self.uploads.status(hashes, as_refusal(self._log_for, who, log_id))

    def put_blob(self, peer_pem: bytes, chunks: Iterator[BlobChunk]) -> list[BlobState]:
        who = as_refusal(self.village, peer_pem)
        return as_refusal(self.uploads.receive, chunks,
                          log_of=lambda c: self._log_for(who, c.log_id))

    def rotate_key(self, peer_pem: bytes, request: RotateKey) -> bytes:
        return as_refusal(self._rotate_key, peer_pem, request)

    def _rotate_key(self, peer_pem: bytes, request: RotateKey) -> bytes:
        """Forward a village's key rotation to the county, which certifies it only with the
        village's own authorization (its current records key's signature): a village that
        reaches only its township rotates through it (issue 12)."""
        who = self.village(peer_pem)
        if request.node_id not in ("", who.node_id):
            raise PeerError(f"village {who.node_id} may rotate only its own key",
                            code="wrong_log")
        if not request.authorization:
            raise UsageError("a key rotation through a township needs the village's "
                             "authorization (update bianmin at the village)",
                             code="bad_authorization")
        home = self.service.home
        if home is None:
            raise ConfigError("the township's home folder is not known")
        forwarded = RotateKey(records_csr=request.records_csr, node_id=who.node_id,
                              authorization=request.authorization)
        try:
            with upstream_client(home, self.service.config, call_timeout_s=30) as county:
                return county.rotate_key(forwarded)
        except SyncError as exc:
            raise from_sync_error(exc) from exc
