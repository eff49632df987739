"""Serving the hub: the sync and enrolment handlers, and the process's serve loop.

The handlers adapt the hub's services to ``sync.server``'s protocols and turn our errors into
refusals (``node.errmap``); the servicers stay thin (STYLE §4). ``serve`` runs until SIGTERM or
SIGINT and then stops accepting calls, lets running ones finish within a grace period, and
closes the database.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from county_hub.enrolment import enrol
from county_hub.hub import Hub
from county_hub.ingest import Ingest
from node.clock import Clock
from node.errmap import to_call_refused
from node.errors import BianminError
from sync import (
    BlobChunk,
    BlobState,
    EnrolReply,
    EnrolRequest,
    PullBatch,
    PushResult,
    WireRecord,
)
from sync.server import start_server
from sync.tls import ServerTls

__all__ = ["HubEnrolHandler", "HubSyncHandler", "ServeInfo", "serve"]

GRACE_S = 5.0


class HubSyncHandler:
    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest

    def push(self, peer_pem: bytes, log_id: str, records: Sequence[WireRecord],
             heartbeat: WireRecord | None, certificates: Sequence[bytes]) -> PushResult:
        try:
            return self._ingest.push(peer_pem, log_id, records, heartbeat, certificates)
        except BianminError as exc:
            raise to_call_refused(exc) from exc

    def rotate_key(self, peer_pem: bytes, records_csr: bytes) -> bytes:
        try:
            return self._ingest.rotate_key(peer_pem, records_csr)
        except BianminError as exc:
            raise to_call_refused(exc) from exc

    def blob_status(self, peer_pem: bytes, hashes: Sequence[bytes]) -> list[BlobState]:
        try:
            return self._ingest.blob_status(peer_pem, hashes)
        except BianminError as exc:
            raise to_call_refused(exc) from exc

    def put_blob(self, peer_pem: bytes, chunks: Iterator[BlobChunk]) -> list[BlobState]:
        try:
            return self._ingest.put_blob(peer_pem, chunks)
        except BianminError as exc:
            raise to_call_refused(exc) from exc

    def pull(self, peer_pem: bytes, cursors: Mapping[str, int]) -> Iterator[PullBatch]:
        try:
            yield from self._ingest.pull(peer_pem, cursors)
        except BianminError as exc:
            raise to_call_refused(exc) from exc


class HubEnrolHandler:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def enrol(self, request: EnrolRequest) -> EnrolReply:
        try:
            return enrol(self._hub, request)
        except BianminError as exc:
            raise to_call_refused(exc) from exc


@dataclass(frozen=True, kw_only=True)
class ServeInfo:
    node_id: str
    county_code: str
    sync: str
    enrol: str
    pid: int


def serve(home: Path, *, listen: str, enrol_listen: str, clock: Clock,
          on_ready: Callable[[ServeInfo], None], max_workers: int = 32) -> None:
    hub = Hub.open(home, clock)
    ingest = Ingest(hub)
    tls = ServerTls(private_key_pem=hub.keys.tls_key_pem,
                    certificate_chain_pem=hub.keys.tls_chain_pem,
                    client_ca_pem=hub.keys.ca_pem)
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    server = start_server(tls=tls, listen=listen, handler=HubSyncHandler(ingest),
                          enrol_listen=enrol_listen, enrol_handler=HubEnrolHandler(hub),
                          max_workers=max_workers)
    host = listen.rpartition(":")[0]
    enrol_host = enrol_listen.rpartition(":")[0]
    info = ServeInfo(node_id=hub.node_id, county_code=hub.config.county_code,
                     sync=f"{host}:{server.sync_port}",
                     enrol=f"{enrol_host}:{server.enrol_port}", pid=os.getpid())
    state_file = home / "serve.json"
    state_file.write_text(json.dumps(info.__dict__), encoding="utf-8")
    try:
        on_ready(info)
        while not stop.wait(1.0):
            pass
    finally:
        server.stop(GRACE_S)
        ingest.close()
        hub.close()
        state_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
