"""Serving the hub: the sync and enrolment handlers, and the process's serve loop.

The handlers adapt the hub's services to ``sync.server``'s protocols and turn our errors into
refusals (``node.errmap``); the servicers stay thin (STYLE §4). ``serve`` runs until SIGTERM or
SIGINT and then stops accepting calls, lets running ones finish within a grace period, and
closes the database.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy.exc import SQLAlchemyError

from county_hub.enrolment import enrol
from county_hub.hub import Hub
from county_hub.ingest import Ingest
from county_hub.metrics import HttpEndpoint, HubMetrics, Readiness, count_metrics, hub_registry
from node.errmap import as_refusal, refusing, to_call_refused
from node.kernel.clock import Clock
from node.kernel.errors import BianminError
from node.logs import configure_logging, event
from node.runner import Runner, draining
from node.settings import ServeSettings
from sync import (
    BlobChunk,
    BlobState,
    EnrolReply,
    EnrolRequest,
    PullBatch,
    PushResult,
    RotateKey,
    WireRecord,
)
from sync.server import RunningServer, start_server
from sync.tls import ServerTls

__all__ = ["HubEnrolHandler", "HubSyncHandler", "ServeInfo", "next_port", "serve"]

log = logging.getLogger("bianmin.hub")

class HubSyncHandler:
    """The hub's sync service: our errors become refusals (``node.errmap``); every push is
    logged with a request id and counted in the metrics."""

    def __init__(self, ingest: Ingest, metrics: HubMetrics | None = None) -> None:
        self._ingest = ingest
        self._metrics = metrics

    def push(self, peer_pem: bytes, log_id: str, records: Sequence[WireRecord],
             heartbeat: WireRecord | None, certificates: Sequence[bytes]) -> PushResult:
        request_id = uuid.uuid4().hex[:12]
        started = time.monotonic()
        try:
            result = self._ingest.push(peer_pem, log_id, records, heartbeat, certificates)
        except BianminError as exc:
            event(log, f"push of {log_id} refused: {exc}", level=logging.WARNING,
                  request_id=request_id, log_id=log_id, code=exc.code)
            raise to_call_refused(exc) from exc
        took = time.monotonic() - started
        accepted = sum(o.status == "accepted" for o in result.outcomes)
        refused = [o for o in result.outcomes if o.status == "refused"]
        if self._metrics is not None:
            self._metrics.batch_seconds.observe(took)
            self._metrics.accepted.labels(tier="node").inc(accepted)
            for o in refused:  # not the records behind a refusal: they are not refused for
                # anything of their own, and the node sends them again
                if o.reason_code != "after_refusal":
                    self._metrics.refused.labels(reason=o.reason_code or "refused").inc()
            for o in result.outcomes:
                if o.status == "accepted" and o.reason_code:  # stands without effect
                    self._metrics.refused.labels(reason=o.reason_code).inc()
        if records or refused:
            event(log, f"push of {log_id}: {accepted} accepted, {len(refused)} refused, "
                       f"committed up to {result.committed_seq}",
                  request_id=request_id, node_id=log_id, log_id=log_id, records=len(records),
                  accepted=accepted, refused=len(refused), committed=result.committed_seq,
                  duration_ms=round(took * 1000, 1))
        return result

    def pull(self, peer_pem: bytes, cursors: Mapping[str, int], follow_s: float,
             alive: Callable[[], bool]) -> Iterator[PullBatch]:
        return refusing(self._ingest.pull(peer_pem, cursors, follow_s, alive))

    def rotate_key(self, peer_pem: bytes, request: RotateKey) -> bytes:
        return as_refusal(self._ingest.rotate_key, peer_pem, request)

    def blob_status(self, peer_pem: bytes, hashes: Sequence[bytes],
                    log_id: str = "") -> list[BlobState]:
        return as_refusal(self._ingest.blob_status, peer_pem, hashes, log_id)

    def put_blob(self, peer_pem: bytes, chunks: Iterator[BlobChunk]) -> list[BlobState]:
        return as_refusal(self._ingest.put_blob, peer_pem, chunks)


class HubEnrolHandler:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def enrol(self, request: EnrolRequest) -> EnrolReply:
        return as_refusal(enrol, self._hub, request)


@dataclass(frozen=True, kw_only=True)
class ServeInfo:
    node_id: str
    county_code: str
    sync: str
    enrol: str
    pid: int
    metrics: str = ""
    processes: tuple[int, ...] = ()  # with ``--processes N``: the serving processes' pids
    console: str = ""  # the console's address (issue 11), "" when [web] enabled = false


def serve(home: Path, *, settings: ServeSettings, clock: Clock,
          on_ready: Callable[[ServeInfo], None], worker: bool = False) -> None:
    """Serve until SIGTERM/SIGINT (``node.runner``); then report NOT_SERVING for ``drain_s``,
    let running calls finish within the grace period, and close the database.

    ``worker``: this is one of ``hub serve --processes N``'s processes (``county_hub.processes``):
    it listens on the shared ports with SO_REUSEPORT and counts its metrics into the
    supervisor's ``PROMETHEUS_MULTIPROC_DIR``, which the supervisor serves."""
    configure_logging(settings.log_format)
    listen, enrol_listen = settings.listen, settings.enrol_listen or next_port(settings.listen)
    with Runner(state_file=Runner.state_file_of(home, "serve")) as runner, \
            Hub.open(home, clock) as hub, closing(Ingest(
                hub, verify_threads=settings.verify_threads,
                max_followers=max(1, settings.workers // 2))) as ingest:
        registry: CollectorRegistry | None = None
        if worker:
            metrics = count_metrics() if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else None
        elif settings.metrics:
            registry, metrics = hub_registry(hub)
        else:
            metrics = None
        tls = ServerTls(private_key_pem=hub.keys.tls_key_pem,
                        certificate_chain_pem=hub.keys.tls_chain_pem,
                        client_ca_pem=hub.keys.ca_pem)
        started: list[RunningServer] = []
        # /healthz and /readyz before the servers start, and until they have drained
        http = (HttpEndpoint(settings.metrics, registry, readiness(hub, lambda: _why_not(
            started))) if registry else None)
        with closing_if(http):
            server = start_server(tls=tls, listen=listen,
                                  handler=HubSyncHandler(ingest, metrics),
                                  enrol_listen=enrol_listen, enrol_handler=HubEnrolHandler(hub),
                                  max_workers=settings.workers, reuse_port=worker)
            started.append(server)
            _serve(hub, server, settings, listen, enrol_listen, runner, on_ready,
                   worker=worker)


def _serve(hub: Hub, server: RunningServer, settings: ServeSettings, listen: str,
           enrol_listen: str, runner: Runner, on_ready: Callable[[ServeInfo], None], *,
           worker: bool) -> None:
    """Report ready, serve until a signal, then drain and stop the servers."""
    with draining(server, settings.drain_s), serving_console(hub, worker) as console:
        host, enrol_host = listen.rpartition(":")[0], enrol_listen.rpartition(":")[0]
        info = ServeInfo(node_id=hub.node_id, county_code=hub.config.county_code,
                         sync=f"{host}:{server.sync_port}",
                         enrol=f"{enrol_host}:{server.enrol_port}", pid=os.getpid(),
                         metrics=settings.metrics, console=console)
        event(log, f"serving sync on {info.sync}, enrolment on {info.enrol}"
                   + (f", the console on {console}" if console else ""),
              node_id=hub.node_id)
        runner.ready(info.__dict__, lambda _info: on_ready(info))
        runner.wait()
        event(log, "stopping: not serving any more, draining", node_id=hub.node_id)


def _why_not(started: list[RunningServer]) -> str:
    if not started:
        return "starting"
    return "" if started[0].serving() else "draining before a shutdown"


def readiness(hub: Hub, why_not: Callable[[], str]) -> Readiness:
    """What ``/readyz`` asks: the servers take calls (``why_not()`` is "" then, else why not),
    and the database answers."""

    def ready() -> str:
        reason = why_not()
        if reason:
            return reason
        try:
            with hub.store.reading() as r:
                r.head(hub.node_id)
        except SQLAlchemyError as exc:
            return f"the database does not answer ({type(exc).__name__})"
        return ""

    return ready


@contextmanager
def closing_if(endpoint: HttpEndpoint | None) -> Iterator[None]:
    try:
        yield
    finally:
        if endpoint is not None:
            endpoint.close()


@contextmanager
def serving_console(hub: Hub, worker: bool = False) -> Iterator[str]:
    """The county console on a thread of this process (issue 11): its URL, or "" when
    ``[web] enabled = false``. ``hub serve --processes N`` runs one in each process on the
    same port (SO_REUSEPORT); sessions are in the database, so any process serves any
    request."""
    web = hub.config.web
    if not web.enabled:
        yield ""
        return
    from county_hub.console.pages import console_app  # noqa: PLC0415
    from node.web.server import serving_web  # noqa: PLC0415

    with serving_web(console_app(hub), web.listen, reuse_port=worker, tls_cert=web.tls_cert,
                     tls_key=web.tls_key) as server:
        yield server.url


def next_port(listen: str) -> str:
    """The enrolment port by convention: the sync port + 1 (both OS-chosen when it is 0)."""
    host, _sep, port = listen.rpartition(":")
    return f"{host}:{int(port) + 1 if int(port) else 0}"
