"""Prometheus metrics of a hub process (issue 7, DESIGN §7), and HTTP health beside them:
``hub serve --metrics HOST:PORT`` serves ``/metrics``, ``/healthz`` and ``/readyz``.

Counters and the batch-latency histogram are this process's own (with ``hub serve
--processes N``, the sum over its processes); the per-node and per-case figures are read from
the database at scrape time (and kept for a few seconds), so every hub process behind a load
balancer reports the same county-wide view.

Health for a load balancer or a monitoring box that has no client certificate (issue 13):
``/healthz`` answers 200 while the process runs (liveness); ``/readyz`` answers 200 while it
takes calls and its database answers, and 503 with the reason otherwise -- while it drains
before a shutdown, say (readiness). Any other path serves the metrics, as before.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from county_hub.hub import Hub
from node.kernel.clock import CST
from node.kernel.errors import UsageError

if TYPE_CHECKING:
    from wsgiref.types import StartResponse

__all__ = ["HttpEndpoint", "HubMetrics", "Readiness", "count_metrics", "hub_registry",
           "start_metrics"]

_CACHE_S = 10.0


class HubMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter("bianmin_records_ingested_total",
                                "Records verified and committed by this hub process",
                                ["tier"], registry=registry)
        self.refused = Counter("bianmin_records_refused_total",
                               "Records refused by this hub process, by reason", ["reason"],
                               registry=registry)
        self.batch_seconds = Histogram(
            "bianmin_push_batch_seconds", "Time to verify and commit one pushed batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry)


class _DatabaseCollector(Collector):
    """Per-node sync state and open cases by deadline colour, from the database."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] = (0.0, [])

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            at, metrics = self._cached
            if time.monotonic() - at > _CACHE_S:
                metrics = self._read()
                self._cached = (time.monotonic(), metrics)
        yield from metrics

    def _read(self) -> list[Metric]:
        from county_hub.supervision import supervise  # noqa: PLC0415 -- heavy, scrape-time only

        last = GaugeMetricFamily("bianmin_node_last_sync_timestamp_seconds",
                                 "When the node last synced (its last heartbeat)", labels=["node"])
        head = GaugeMetricFamily("bianmin_node_head_seq",
                                 "The head of the node's log, as its heartbeat says",
                                 labels=["node"])
        synced = GaugeMetricFamily("bianmin_node_synced_seq",
                                   "How much of the node's log the hub holds", labels=["node"])
        backlog = GaugeMetricFamily("bianmin_node_backlog_records",
                                    "Records the node has and the hub does not",
                                    labels=["node"])
        with self.hub.store.reading() as r:
            for node in r.list_nodes():
                held = r.head(node.node_id).seq
                if node.heartbeat_at is not None:
                    last.add_metric([node.node_id], node.heartbeat_at.timestamp())
                head.add_metric([node.node_id], node.claimed_seq)
                synced.add_metric([node.node_id], held)
                backlog.add_metric([node.node_id], max(0, node.claimed_seq - held))
        colours = GaugeMetricFamily("bianmin_open_cases", "Open cases by deadline colour",
                                    labels=["colour"])
        counts = {"on_time": 0, "yellow": 0, "red": 0, "statutory_breach": 0}
        for found in supervise(self.hub, as_of=self.hub.clock.now().astimezone(CST).date()):
            counts[found.status.colour.value] += 1
        for colour, n in counts.items():
            colours.add_metric([colour], n)
        return [last, head, synced, backlog, colours]


def count_metrics() -> HubMetrics:
    """This process's counters, not served: one of several hub processes counts into the
    ``PROMETHEUS_MULTIPROC_DIR`` its supervisor serves (``county_hub.processes``)."""
    return HubMetrics(CollectorRegistry())


def hub_registry(hub: Hub, *, multiprocess_dir: Path | None = None,
                 ) -> tuple[CollectorRegistry, HubMetrics | None]:
    """The registry ``/metrics`` serves: this process's counters (returned, to count into),
    or with ``multiprocess_dir`` the sum of the serving processes' counters (the supervisor of
    ``hub serve --processes N`` counts nothing itself); and the database's gauges."""
    registry = CollectorRegistry()
    metrics = HubMetrics(registry) if multiprocess_dir is None else None
    if multiprocess_dir is not None:
        MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    registry.register(_DatabaseCollector(hub))
    return registry, metrics


Readiness = Callable[[], str]  # "" when ready, else why not (for the 503's body)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes and probes every few seconds: not worth a log line each."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class HttpEndpoint:
    """``/metrics``, ``/healthz`` and ``/readyz`` on one address, in a background thread;
    ``close()`` stops it."""

    def __init__(self, address: str, registry: CollectorRegistry, ready: Readiness) -> None:
        metrics_app = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/healthz":
                return _text(start_response, "200 OK", "ok")
            if path == "/readyz":
                why = ready()
                return (_text(start_response, "503 Service Unavailable", f"not ready: {why}")
                        if why else _text(start_response, "200 OK", "ready"))
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]

        host, _sep, port = address.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_Server", (_Server,), {"address_family": family})
        try:
            self._server: WSGIServer = make_server(host, int(port), app,
                                                   server_class=server_class,
                                                   handler_class=_Quiet)
        except OSError as exc:
            raise UsageError(f"cannot serve metrics on {address}: {exc.strerror}",
                             code="cannot_listen") from exc
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = (body + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(data)))])
    return [data]


def start_metrics(hub: Hub, address: str, *, ready: Readiness,
                  multiprocess_dir: Path | None = None) -> tuple[HttpEndpoint, HubMetrics | None]:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``address`` (HOST:PORT); the
    endpoint (to close) and this process's counters (see ``hub_registry``)."""
    registry, metrics = hub_registry(hub, multiprocess_dir=multiprocess_dir)
    return HttpEndpoint(address, registry, ready), metrics
