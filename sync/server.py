"""The server half of sync: thin servicers and their assembly (STYLE §4).

A servicer converts protobuf to wire values, reads the caller's certificate from TLS, calls a
handler, and maps a ``CallRefused`` to a status code, its reason code going along in the
trailing metadata (``sync.status``) -- nothing more. What a handler decides (who may push
what, what a node may pull) belongs to the tier that implements it. An unexpected exception in
a handler is logged and answered with INTERNAL (code ``internal``); it never takes the server
down.

Both ports serve the standard health service (one servicer: NOT_SERVING on both from
``drain`` on) and reflection v1 and v1alpha (``sync.reflection``): the sync port to callers
with a certificate of the county CA, the enrolment port to anyone (server TLS).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import NoReturn, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from sync.errors import CallRefused, Refusal
from sync.pb import records_pb2, sync_pb2, sync_pb2_grpc
from sync.protocol import (
    BlobChunk,
    BlobState,
    EnrolReply,
    EnrolRequest,
    PullBatch,
    PushResult,
    RotateKey,
    WireRecord,
)
from sync.reflection import enable_reflection
from sync.status import refusal_trailers
from sync.tls import SERVER_OPTIONS, ServerTls, peer_certificate_pem

__all__ = ["ENROLMENT_SERVICE", "SYNC_SERVICE", "EnrolHandler", "RunningServer", "SyncHandler",
           "start_server"]

log = logging.getLogger(__name__)

_CODES = {
    Refusal.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Refusal.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    Refusal.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Refusal.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    Refusal.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Refusal.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Refusal.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    Refusal.INTERNAL: grpc.StatusCode.INTERNAL,
}
SYNC_SERVICE = sync_pb2.DESCRIPTOR.services_by_name["Sync"].full_name
ENROLMENT_SERVICE = sync_pb2.DESCRIPTOR.services_by_name["Enrolment"].full_name
_STATUS = {
    "accepted": sync_pb2.RECORD_STATUS_ACCEPTED,
    "already_had": sync_pb2.RECORD_STATUS_ALREADY_HAD,
    "refused": sync_pb2.RECORD_STATUS_REFUSED,
}


class SyncHandler(Protocol):
    def push(self, peer_pem: bytes, log_id: str, records: Sequence[WireRecord],
             heartbeat: WireRecord | None, certificates: Sequence[bytes]) -> PushResult: ...

    def pull(self, peer_pem: bytes, cursors: Mapping[str, int], follow_s: float,
             alive: Callable[[], bool]) -> Iterator[PullBatch]: ...

    def rotate_key(self, peer_pem: bytes, request: RotateKey) -> bytes: ...

    def blob_status(self, peer_pem: bytes, hashes: Sequence[bytes],
                    log_id: str) -> list[BlobState]: ...

    def put_blob(self, peer_pem: bytes, chunks: Iterator[BlobChunk]) -> list[BlobState]: ...


class EnrolHandler(Protocol):
    def enrol(self, request: EnrolRequest) -> EnrolReply: ...


def _abort(context: grpc.ServicerContext, exc: Exception) -> NoReturn:
    if isinstance(exc, CallRefused):
        _refuse(context, _CODES[exc.refusal], str(exc), exc.code)
    log.exception("unexpected error while serving a call")
    _refuse(context, grpc.StatusCode.INTERNAL, "internal error; the server log has the details",
            "internal")


def _refuse(context: grpc.ServicerContext, status: grpc.StatusCode, message: str,
            code: str) -> NoReturn:
    """End the call with ``status`` and ``message``, the reason ``code`` in its trailing
    metadata (``sync.status``)."""
    context.set_trailing_metadata(refusal_trailers(code, status=status.value[0],
                                                   message=message))
    context.abort(status, message)


def _peer(context: grpc.ServicerContext) -> bytes:
    pem = peer_certificate_pem(context)
    if pem is None:  # cannot happen behind require_client_auth; fail closed all the same
        _refuse(context, grpc.StatusCode.UNAUTHENTICATED, "no client certificate",
                "no_client_certificate")
    return pem


class _SyncServicer(sync_pb2_grpc.SyncServicer):
    def __init__(self, handler: SyncHandler) -> None:
        self._handler = handler

    def Push(self, request: sync_pb2.PushRequest,  # noqa: N802 -- gRPC method name
             context: grpc.ServicerContext) -> sync_pb2.PushReply:
        peer = _peer(context)
        records = [WireRecord(body=r.body, signature=r.signature) for r in request.records]
        heartbeat = (WireRecord(body=request.heartbeat.body,
                                signature=request.heartbeat.signature,
                                received_at_ms=request.heartbeat_received_at_ms)
                     if request.HasField("heartbeat") else None)
        try:
            result = self._handler.push(peer, request.log_id, records, heartbeat,
                                        list(request.certificates))
        except Exception as exc:
            _abort(context, exc)
        return sync_pb2.PushReply(
            committed_seq=result.committed_seq,
            results=[
                sync_pb2.RecordResult(seq=o.seq, status=_STATUS[o.status],
                                      reason_code=o.reason_code, message=o.message)
                for o in result.outcomes
            ],
        )

    def Pull(self, request: sync_pb2.PullRequest,  # noqa: N802 -- gRPC method name
             context: grpc.ServicerContext) -> Iterator[sync_pb2.PullReply]:
        peer = _peer(context)
        cursors = {c.log_id: c.after_seq for c in request.cursors}
        try:
            for batch in self._handler.pull(peer, cursors, float(request.follow_s),
                                            context.is_active):
                yield sync_pb2.PullReply(
                    records=[records_pb2.SignedRecord(body=r.body, signature=r.signature)
                             for r in batch.records],
                    certificates=list(batch.certificates),
                    cursors=[sync_pb2.LogCursor(log_id=k, after_seq=v)
                             for k, v in batch.cursors.items()],
                )
        except Exception as exc:
            _abort(context, exc)

    def BlobStatus(self, request: sync_pb2.BlobStatusRequest,  # noqa: N802 -- gRPC method name
                   context: grpc.ServicerContext) -> sync_pb2.BlobStatusReply:
        peer = _peer(context)
        try:
            states = self._handler.blob_status(peer, list(request.sha256), request.log_id)
        except Exception as exc:
            _abort(context, exc)
        return _blob_reply(states)

    def PutBlob(self, request_iterator: Iterator[sync_pb2.BlobChunk],  # noqa: N802
                context: grpc.ServicerContext) -> sync_pb2.BlobStatusReply:
        peer = _peer(context)
        chunks = (BlobChunk(sha256=c.sha256, size=c.size, offset=c.offset, data=c.data,
                            log_id=c.log_id) for c in request_iterator)
        try:
            states = self._handler.put_blob(peer, chunks)
        except Exception as exc:
            _abort(context, exc)
        return _blob_reply(states)

    def RotateKey(self, request: sync_pb2.RotateKeyRequest,  # noqa: N802 -- gRPC method name
                  context: grpc.ServicerContext) -> sync_pb2.RotateKeyReply:
        peer = _peer(context)
        try:
            certificate = self._handler.rotate_key(peer, RotateKey(
                records_csr=request.records_csr, node_id=request.node_id,
                authorization=request.authorization))
        except Exception as exc:
            _abort(context, exc)
        return sync_pb2.RotateKeyReply(records_certificate=certificate)


def _blob_reply(states: Sequence[BlobState]) -> sync_pb2.BlobStatusReply:
    return sync_pb2.BlobStatusReply(blobs=[
        sync_pb2.BlobState(sha256=s.sha256, size=s.size, received=s.received,
                           complete=s.complete) for s in states])


class _EnrolmentServicer(sync_pb2_grpc.EnrolmentServicer):
    def __init__(self, handler: EnrolHandler) -> None:
        self._handler = handler

    def Enrol(self, request: sync_pb2.EnrolRequest,  # noqa: N802 -- gRPC method name
              context: grpc.ServicerContext) -> sync_pb2.EnrolReply:
        try:
            reply = self._handler.enrol(
                EnrolRequest(token=request.token, node_id=request.node_id,
                             records_csr=request.records_csr, tls_csr=request.tls_csr,
                             replace_keys=request.replace_keys),
            )
        except Exception as exc:
            _abort(context, exc)
        return sync_pb2.EnrolReply(
            records_certificate=reply.records_certificate,
            tls_certificate=reply.tls_certificate,
            ca_certificate=reply.ca_certificate,
            upstream_certificates=list(reply.upstream_certificates),
            county_code=reply.county_code,
            tier=reply.tier,
            upstream_node_id=reply.upstream_node_id,
            name=reply.name,
            key_replacement=None if (grant := reply.key_replacement) is None else
            sync_pb2.KeyReplacementGrant(after_seq=grant.after_seq, prev_hash=grant.prev_hash,
                                         authorization=grant.authorization,
                                         hub_key_id=grant.hub_key_id, reason=grant.reason),
        )


@dataclass
class RunningServer:
    """The sync server (mutual TLS) and, if any, the enrolment server (server TLS). Both
    answer the same health service: SERVING once started, NOT_SERVING from ``drain`` on."""

    sync_server: grpc.Server
    sync_port: int
    enrol_server: grpc.Server | None
    enrol_port: int
    health: health.HealthServicer | None = None
    draining: bool = False

    def serving(self) -> bool:
        """Whether the servers take calls (what ``/readyz`` and the health service say)."""
        return not self.draining

    def drain(self, seconds: float) -> None:
        """Report NOT_SERVING (so a load balancer stops sending calls), then wait a little
        before the grace period starts."""
        self.draining = True
        if self.health is not None:
            self.health.enter_graceful_shutdown()
            time.sleep(seconds)

    def stop(self, grace_s: float = 5.0) -> None:
        events = [self.sync_server.stop(grace_s)]
        if self.enrol_server is not None:
            events.append(self.enrol_server.stop(grace_s))
        for event in events:
            event.wait(grace_s + 1)

    def wait(self, timeout_s: float | None = None) -> bool:
        return self.sync_server.wait_for_termination(timeout_s)


def start_server(
    *,
    tls: ServerTls,
    listen: str,
    handler: SyncHandler,
    enrol_listen: str | None = None,
    enrol_handler: EnrolHandler | None = None,
    max_workers: int = 32,
    reuse_port: bool = False,
) -> RunningServer:
    """Bind and start. Ports of ``:0`` addresses are chosen by the OS and reported back.
    ``reuse_port``: share the ports with other processes that set it too (SO_REUSEPORT); off,
    a second server on a taken port fails instead of silently splitting its calls."""
    options = [(k, 1 if k == "grpc.so_reuseport" and reuse_port else v)
               for k, v in SERVER_OPTIONS]
    sync_server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers,
                                                         thread_name_prefix="sync"),
                              options=options)
    sync_pb2_grpc.add_SyncServicer_to_server(_SyncServicer(handler), sync_server)  # type: ignore[no-untyped-call]
    # the standard health service (for load balancers) and reflection v1 and v1alpha (for
    # grpcurl and other languages' tooling), on both ports: the enrolment port's server TLS
    # lets a load balancer or a monitoring box without a client certificate ask
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, sync_server)
    enable_reflection(sync_server, (SYNC_SERVICE, health.SERVICE_NAME))
    sync_port = sync_server.add_secure_port(listen, tls.mutual())
    if sync_port == 0:
        raise OSError(f"cannot listen on {listen}")
    enrol_server, enrol_port = None, 0
    if enrol_listen is not None and enrol_handler is not None:
        enrol_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4,
                                                              thread_name_prefix="enrol"),
                                   options=options)
        sync_pb2_grpc.add_EnrolmentServicer_to_server(_EnrolmentServicer(enrol_handler),
                                                      enrol_server)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, enrol_server)
        enable_reflection(enrol_server, (ENROLMENT_SERVICE, health.SERVICE_NAME))
        enrol_port = enrol_server.add_secure_port(enrol_listen, tls.server_only())
        if enrol_port == 0:
            raise OSError(f"cannot listen on {enrol_listen}")
        enrol_server.start()
    sync_server.start()
    for service in ("", SYNC_SERVICE, ENROLMENT_SERVICE if enrol_server else None):
        if service is not None:
            health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(sync_server=sync_server, sync_port=sync_port,
                         enrol_server=enrol_server, enrol_port=enrol_port,
                         health=health_servicer)
