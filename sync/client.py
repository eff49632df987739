"""The client half of sync: push batches, pull streams, enrol (DESIGN §8).

Foreign errors are translated here, at the boundary (STYLE §7): ``grpc.RpcError`` becomes
``Unreachable`` (transient: retried by the caller's ``RetryPolicy``) or ``CallRefused``
(permanent). gRPC reports a client certificate the server refused as UNAVAILABLE, not
UNAUTHENTICATED (DESIGN §4), so the message says so when the handshake is what failed. A
refusal's reason code comes from the call's trailing metadata (``sync.status``) into
``CallRefused.code``; a server that sent none leaves the status code's name there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import grpc

from sync.errors import CallRefused, Refusal, Unreachable
from sync.pb import records_pb2, sync_pb2, sync_pb2_grpc
from sync.protocol import (
    BlobChunk,
    BlobState,
    EnrolReply,
    EnrolRequest,
    KeyReplacementGrant,
    PullBatch,
    PushResult,
    RecordOutcome,
    RotateKey,
    WireRecord,
)
from sync.status import reason_in
from sync.tls import CHANNEL_OPTIONS, ClientTls

__all__ = ["UpstreamClient", "enrol", "translate_rpc_error"]

PULL_STREAM_TIMEOUT_S = 300.0

_STATUS_TEXT = {
    sync_pb2.RECORD_STATUS_ACCEPTED: "accepted",
    sync_pb2.RECORD_STATUS_ALREADY_HAD: "already_had",
    sync_pb2.RECORD_STATUS_REFUSED: "refused",
}
_REFUSALS = {
    grpc.StatusCode.UNAUTHENTICATED: Refusal.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: Refusal.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT: Refusal.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION: Refusal.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND: Refusal.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Refusal.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ALREADY_EXISTS: Refusal.ALREADY_EXISTS,
}
_HANDSHAKE_HINTS = ("handshake", "certificate", "ssl", "tls", "socket closed", "peer name")


def translate_rpc_error(exc: grpc.RpcError, address: str, what: str = "upstream") -> Exception:
    """Our error for a gRPC failure of a call to ``address``."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if isinstance(exc, grpc.Call) else "") or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        lowered = details.lower()
        if "hostname verification" in lowered:
            return CallRefused(
                Refusal.UNAUTHENTICATED,
                f"the server at {address} is not this node's {what}: its certificate names "
                f"another node; check the upstream address in this node's configuration",
                code="bad_peer")
        if "connection refused" in lowered or ("failed to connect" not in lowered and not any(
            h in lowered for h in _HANDSHAKE_HINTS
        )):
            return Unreachable(f"{what} unreachable at {address}", address=address)
        if any(h in lowered for h in _HANDSHAKE_HINTS):
            return Unreachable(
                f"{what} unreachable at {address}: the TLS handshake failed -- the {what} may "
                "have refused this node's certificate (revoked, or issued by another county "
                "CA), presented one this node does not trust, or the link dropped",
                address=address,
            )
        return Unreachable(f"{what} unreachable at {address}", address=address)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Unreachable(f"{what} at {address} did not answer in time", address=address)
    if code == grpc.StatusCode.CANCELLED:
        return Unreachable(f"call to {what} at {address} was cancelled", address=address)
    refusal = _REFUSALS.get(code, Refusal.INTERNAL)
    trailers = exc.trailing_metadata() if isinstance(exc, grpc.Call) else None
    return CallRefused(refusal, details or f"{what} at {address} refused the call ({code.name})",
                       code=reason_in(trailers))


class UpstreamClient:
    """One mutual-TLS channel to an upstream (the township or the county hub)."""

    def __init__(self, address: str, expected_node_id: str, tls: ClientTls,
                 *, call_timeout_s: float = 30.0, name: str = "upstream") -> None:
        self.address = address
        self.name = name
        self._timeout = call_timeout_s
        self._channel = tls.channel(address, expected_node_id)
        self._stub = sync_pb2_grpc.SyncStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> UpstreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push(self, log_id: str, records: Sequence[WireRecord],
             heartbeat: WireRecord | None = None,
             certificates: Sequence[bytes] = ()) -> PushResult:
        request = sync_pb2.PushRequest(
            log_id=log_id,
            records=[records_pb2.SignedRecord(body=r.body, signature=r.signature)
                     for r in records],
            certificates=list(certificates),
        )
        if heartbeat is not None:
            request.heartbeat.CopyFrom(records_pb2.SignedRecord(body=heartbeat.body,
                                                                signature=heartbeat.signature))
            request.heartbeat_received_at_ms = heartbeat.received_at_ms
        try:
            reply = self._stub.Push(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise translate_rpc_error(exc, self.address, self.name) from exc
        return PushResult(
            committed_seq=reply.committed_seq,
            outcomes=tuple(
                RecordOutcome(seq=r.seq, status=_STATUS_TEXT.get(r.status, "refused"),
                              reason_code=r.reason_code, message=r.message)
                for r in reply.results
            ),
        )

    def rotate_key(self, request: RotateKey) -> bytes:
        """A certificate for a new records key of this node, or of a township's village (DER)."""
        try:
            reply = self._stub.RotateKey(sync_pb2.RotateKeyRequest(
                records_csr=request.records_csr, node_id=request.node_id,
                authorization=request.authorization), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise translate_rpc_error(exc, self.address, self.name) from exc
        return bytes(reply.records_certificate)

    def blob_status(self, hashes: Sequence[bytes], *, log_id: str = "") -> list[BlobState]:
        """Where the upstream stands with these attachments, for ``log_id``'s records (the
        caller's own log when empty)."""
        try:
            reply = self._stub.BlobStatus(sync_pb2.BlobStatusRequest(sha256=list(hashes),
                                                                     log_id=log_id),
                                          timeout=self._timeout)
        except grpc.RpcError as exc:
            raise translate_rpc_error(exc, self.address, self.name) from exc
        return _states(reply)

    def put_blob(self, chunks: Iterable[BlobChunk], *, timeout_s: float | None = None,
                 ) -> list[BlobState]:
        """Stream chunks up; the reply says where each blob stands afterwards."""
        requests = (sync_pb2.BlobChunk(sha256=c.sha256, size=c.size, offset=c.offset,
                                       data=c.data, log_id=c.log_id) for c in chunks)
        try:
            reply = self._stub.PutBlob(requests, timeout=timeout_s or self._timeout)
        except grpc.RpcError as exc:
            raise translate_rpc_error(exc, self.address, self.name) from exc
        return _states(reply)

    def pull(self, cursors: Mapping[str, int], *, follow_s: float = 0.0,
             on_open: Callable[[Callable[[], None]], None] | None = None,
             ) -> Iterator[PullBatch]:
        """Stream what is new; with ``follow_s``, keep receiving new records that long.
        ``on_open`` receives a function that cancels the stream (from another thread)."""
        request = sync_pb2.PullRequest(
            cursors=[sync_pb2.LogCursor(log_id=k, after_seq=v) for k, v in cursors.items()],
            follow_s=int(follow_s),
        )
        # a long backlog streams for a while; a cut only means the next round resumes from the
        # cursors saved with each applied batch
        stream = self._stub.Pull(request, timeout=max(self._timeout, PULL_STREAM_TIMEOUT_S,
                                                      follow_s + 30))
        if on_open is not None:
            on_open(stream.cancel)
        try:
            for reply in stream:
                yield PullBatch(
                    records=tuple(WireRecord(body=r.body, signature=r.signature)
                                  for r in reply.records),
                    certificates=tuple(reply.certificates),
                    cursors={c.log_id: c.after_seq for c in reply.cursors},
                )
        except grpc.RpcError as exc:
            raise translate_rpc_error(exc, self.address, self.name) from exc
        finally:
            stream.cancel()


def _states(reply: sync_pb2.BlobStatusReply) -> list[BlobState]:
    return [BlobState(sha256=b.sha256, size=b.size, received=b.received, complete=b.complete)
            for b in reply.blobs]


def enrol(address: str, request: EnrolRequest, *, ca_pem: bytes, expected_node_id: str,
          timeout_s: float = 30.0) -> EnrolReply:
    """Exchange a token and CSRs for certificates, over server-authenticated TLS."""
    options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", expected_node_id)]
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem),
                             options=options) as channel:
        stub = sync_pb2_grpc.EnrolmentStub(channel)  # type: ignore[no-untyped-call]
        try:
            reply = stub.Enrol(
                sync_pb2.EnrolRequest(token=request.token, node_id=request.node_id,
                                      records_csr=request.records_csr, tls_csr=request.tls_csr,
                                      replace_keys=request.replace_keys),
                timeout=timeout_s,
            )
        except grpc.RpcError as exc:
            raise translate_rpc_error(exc, address, what="enrolment service") from exc
    return EnrolReply(
        records_certificate=reply.records_certificate,
        tls_certificate=reply.tls_certificate,
        ca_certificate=reply.ca_certificate,
        upstream_certificates=tuple(reply.upstream_certificates),
        county_code=reply.county_code,
        tier=reply.tier,
        upstream_node_id=reply.upstream_node_id,
        name=reply.name,
        key_replacement=KeyReplacementGrant(
            after_seq=grant.after_seq, prev_hash=grant.prev_hash,
            authorization=grant.authorization, hub_key_id=grant.hub_key_id, reason=grant.reason)
        if reply.HasField("key_replacement") and (grant := reply.key_replacement) else None,
    )
