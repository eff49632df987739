"""``bianmin township serve``: one process that is at once a node and its villages' upstream.

It serves the sync service to its villages (mutual TLS with the county CA) and, in a thread,
keeps the link to the county: each round relays every village's log verbatim (first, so the
county holds a case before the township's decision on it), then pushes the township's own log
and pulls the county's records for the township and its villages. While the county is away the
rounds back off; the villages are served all the same.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from node.daemon import ROUND_POLICY, DaemonSettings, LineLog, guarded_round
from node.desk.serve import serving_desk
from node.errmap import from_sync_error
from node.kernel.clock import Clock, describe_skew
from node.kernel.errors import ConfigError, PeerError
from node.kernel.identity import CATALOG_LOG_ID, HUB_NODE_ID
from node.kernel.wire import decode_heartbeat
from node.runner import GRACE_S, Runner, draining
from node.service import NodeService, open_node, upstream_client
from node.settings import ServeSettings
from node.syncer import Stopped, Syncer, SyncReport
from sync import RetryPolicy, SyncError
from sync.client import UpstreamClient
from sync.relay import TcpRelay
from sync.server import start_server
from sync.tls import ServerTls
from township_agent.desk import FOLDER as DESK_FOLDER
from township_agent.desk import NAV as DESK_NAV
from township_agent.desk import township_routes
from township_agent.upstream import TownshipUpstream

__all__ = ["LinkReport", "ServeInfo", "one_round", "serve"]

@dataclass(frozen=True, kw_only=True)
class ServeInfo:
    node_id: str
    county_code: str
    sync: str
    pid: int
    desk: str = ""  # the township's desk pages (issue 11)
    enrol: str = ""  # the relay of its villages' enrolment to the county's (issue 12)


@dataclass(frozen=True, kw_only=True)
class LinkReport:
    relayed: int
    own: SyncReport


def village_logs(service: NodeService) -> list[str]:
    """The villages this township relays: those whose records or heartbeats it holds."""
    with service.store.reading() as r:
        logs = set(r.all_log_ids()) | {b.node_id for b in r.village_beats()}
    return sorted(log for log in logs
                  if log not in (service.config.node_id, HUB_NODE_ID, CATALOG_LOG_ID))


def village_rows(service: NodeService) -> list[dict[str, object]]:
    """What ``township nodes`` shows of each village (issue 12)."""
    with service.store.reading() as r:
        beats = {b.node_id: b for b in r.village_beats()}
        logs = village_logs(service)
        rows: list[dict[str, object]] = []
        for log_id in logs:
            beat = beats.get(log_id)
            claimed, skew = 0, None
            if beat is not None:
                decoded = decode_heartbeat(beat.body)
                claimed = decoded.head_seq
                skew = (decoded.sent_at - beat.received_at).total_seconds()
            rows.append({
                "node_id": log_id,
                "heartbeat_at": beat.received_at.isoformat() if beat else None,
                "claimed_seq": claimed, "held_seq": r.head(log_id).seq,
                "relayed_seq": r.mark(f"relayed:{log_id}"),
                "heartbeat_relayed": beat.relayed if beat else True,
                "clock_skew_s": skew,
                "clock": describe_skew(skew) if skew is not None and abs(skew) > 600 else "",
            })
    return rows


def one_round(service: NodeService, client: UpstreamClient, policy: RetryPolicy,
              should_stop: Callable[[], bool] = lambda: False) -> LinkReport:
    """Relay the villages' logs, then sync the township's own log with the county."""
    syncer = Syncer(service, client, policy, should_stop=should_stop)
    relayed = 0
    refused: PeerError | None = None
    try:
        for log_id in village_logs(service):
            try:
                relayed += syncer.relay(log_id)
            except PeerError as exc:  # one village's refused record holds back only that log
                refused = refused or exc
    except SyncError as exc:
        raise from_sync_error(exc) from exc
    report = LinkReport(relayed=relayed, own=syncer.run())
    if refused is not None:
        raise refused
    return report


def _county_link(service: NodeService, client: UpstreamClient, stop: threading.Event,
                 settings: DaemonSettings, write: Callable[[str], None]) -> None:
    log = LineLog(settings.log_json, write)
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            report, failures, delay = guarded_round(
                lambda: one_round(service, client, ROUND_POLICY, stop.is_set),
                settings=settings, log=log, failures=failures, upstream="county")
        except Stopped:
            return
        if report is not None:
            log("sync", f"county sync ok in {time.monotonic() - started:.1f} s: relayed "
                        f"{report.relayed}, pushed {report.own.pushed}, pulled "
                        f"{report.own.pulled}", ok=True, relayed=report.relayed,
                pushed=report.own.pushed, pulled=report.own.pulled,
                decisions=report.own.decisions)
        _wait_for_work(service, stop, delay)


def _wait_for_work(service: NodeService, stop: threading.Event, delay: float) -> None:
    """Sleep, waking early when new records arrive (from the desk or from a village)."""

    def heads() -> dict[str, int]:
        with service.store.reading() as r:
            return {log: r.head(log).seq for log in r.all_log_ids()
                    if log not in (HUB_NODE_ID, CATALOG_LOG_ID)}

    before = heads()
    deadline = time.monotonic() + delay
    while not stop.is_set() and time.monotonic() < deadline:
        stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))
        if heads() != before:
            return


@contextmanager
def enrolment_relay(service: NodeService, serving: ServeSettings,
                    sync_port: int) -> Iterator[str]:
    """The villages' enrolment passed through to the county's (``sync.relay``), on
    ``serve.enrol_listen`` or the sync port + 1; its address ("" when the township does not
    know where the county enrols: a home made before the address was kept)."""
    county = service.config.enrol
    if not county:
        yield ""
        return
    host, _sep, port = serving.listen.rpartition(":")
    listen = serving.enrol_listen or f"{host}:{sync_port + 1 if int(port) else 0}"
    with TcpRelay(listen, county) as relay:
        yield relay.address


def serve(home: Path, *, serving: ServeSettings, clock: Clock,
          on_ready: Callable[[ServeInfo], None], settings: DaemonSettings,
          write: Callable[[str], None]) -> None:
    """Serve until SIGTERM/SIGINT (``node.runner``); then report NOT_SERVING for
    ``serving.drain_s`` (so a load balancer or a village's health check turns away), and
    stop."""
    note = LineLog(settings.log_json, write)
    with Runner(state_file=home / "serve.json") as runner, \
            open_node(home, clock, thorough=True) as service:
        if service.config.tier != "township":
            raise ConfigError(f"{home} is the home of a {service.config.tier}, not a township")
        if serving.metrics:
            note("config", f"serve.metrics = {serving.metrics!r} is ignored: only the county "
                           "hub serves Prometheus metrics so far", ok=False)
        if serving.processes > 1:
            note("config", f"serve.processes = {serving.processes} is ignored: a township "
                           "serves from one process (its villages are few)", ok=False)
        tls = ServerTls(
            private_key_pem=(home / "keys" / "tls.key").read_bytes(),
            certificate_chain_pem=(home / "certs" / "tls.pem").read_bytes()
            + (home / "certs" / "ca.pem").read_bytes(),
            client_ca_pem=(home / "certs" / "ca.pem").read_bytes(),
        )
        server = start_server(tls=tls, listen=serving.listen,
                              handler=TownshipUpstream(service), max_workers=serving.workers)
        with draining(server, serving.drain_s), \
                enrolment_relay(service, serving, server.sync_port) as relay, \
                upstream_client(home, service.config, call_timeout_s=30) as client, \
                serving_desk(service, extra=township_routes(service), nav=DESK_NAV,
                             folders=[DESK_FOLDER]) as desk:
            host = serving.listen.rpartition(":")[0]
            info = ServeInfo(node_id=service.config.node_id,
                             county_code=service.config.county_code,
                             sync=f"{host}:{server.sync_port}", pid=os.getpid(), desk=desk,
                             enrol=relay)
            link = threading.Thread(target=_county_link,
                                    args=(service, client, runner.stop, settings, write),
                                    name="county-link", daemon=True)
            runner.ready(info.__dict__, lambda _info: on_ready(info))
            link.start()
            try:
                runner.wait()
            finally:
                runner.stop.set()
                link.join(timeout=GRACE_S + 30)
