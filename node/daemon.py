"""``bianmin node run``: the node's sync daemon (issue 4), which also serves the desk's pages
(issue 11, ``node.desk``) on a thread.

Syncs on an interval, and sooner when the desk writes new records; backs off (exponentially,
with jitter, up to a cap) while the upstream is away; logs each round in one line, as text or
JSON; and on SIGTERM or SIGINT stops at a batch boundary -- every batch is one transaction, so
nothing is ever half applied -- and exits 0.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from node.desk.serve import serving_desk
from node.kernel.clock import CST, Clock, SystemClock
from node.kernel.errors import BianminError, TransportError
from node.recovery import home_held
from node.runner import Runner
from node.service import NodeService
from node.syncer import Stopped, SyncReport
from sync import RetryPolicy, SyncError
from sync.client import UpstreamClient

T = TypeVar("T")

__all__ = ["ROUND_POLICY", "DaemonSettings", "LineLog", "backoff_delay", "run_daemon"]

# Retries inside one round: a flaky link gets a few quick tries before the round gives up.
ROUND_POLICY = RetryPolicy(attempts=3, initial_s=1.0, max_backoff_s=8.0, budget_s=90.0,
                           call_timeout_s=30.0)


@dataclass(frozen=True, kw_only=True)
class DaemonSettings:
    interval_s: float = 60.0
    backoff_initial_s: float = 5.0
    backoff_cap_s: float = 600.0
    log_json: bool = False
    max_rounds: int | None = None  # for tests: stop after this many rounds


class LineLog:
    def __init__(self, as_json: bool, write: Callable[[str], None],
                 clock: Clock | None = None) -> None:
        self.as_json = as_json
        self.write = write
        self.clock = clock or SystemClock()

    def _now(self) -> str:
        return self.clock.now().astimezone(CST).isoformat(timespec="seconds")

    def __call__(self, event: str, text: str, **fields: object) -> None:
        if self.as_json:
            self.write(json.dumps({"at": self._now(), "event": event, **fields}, ensure_ascii=False,
                                  default=str))
        else:
            self.write(f"{self._now()} {text}")


def _summary(report: SyncReport) -> str:
    parts = [f"pushed {report.pushed}"]
    if report.received:
        parts.append(f"{report.received} case(s) received upstream")
    if report.blobs:
        parts.append(f"uploaded {report.blobs} file(s), {report.blob_bytes} bytes")
    parts.append(f"pulled {report.pulled}")
    if report.decisions:
        parts.append(f"{report.decisions} decision(s)")
    if report.requests:
        parts.append(f"{report.requests} supplement request(s)")
    if report.no_effect:
        parts.append(f"{len(report.no_effect)} record(s) without effect upstream "
                     f"(first: {report.no_effect[0]})")
    if report.lost_scans:
        parts.append(f"{len(report.lost_scans)} scan(s) lost at this desk: the county will ask "
                     "for them again")
    return ", ".join(parts)


def guarded_round(round_fn: Callable[[], T], *, settings: DaemonSettings, log: LineLog,
                  failures: int, upstream: str,
                  queued: Callable[[], str] | None = None) -> tuple[T | None, int, float]:
    """One sync round of a daemon loop (``node run``, the township's county link): its
    result (None if it failed), the failures in a row since the last good round, and the
    wait before the next. An unreachable upstream or a failed round is logged and backed off
    with jitter; ``Stopped`` (a signal) goes through to the loop."""
    try:
        result = round_fn()
    except TransportError as exc:
        delay = backoff_delay(settings, failures + 1)
        waiting = queued() if queued is not None else ""
        log("unreachable", f"{upstream} unreachable ({exc}); "
                           + (f"{waiting}; " if waiting else "") + f"next try in {delay:.0f} s",
            ok=False, error=str(exc), next_in_s=round(delay, 1), queued=waiting)
        return None, failures + 1, delay
    except BianminError as exc:
        delay = backoff_delay(settings, failures + 1)
        log("error", f"sync with {upstream} failed: {exc} [{exc.code}]; next try in "
                     f"{delay:.0f} s",
            ok=False, code=exc.code, error=str(exc), next_in_s=round(delay, 1))
        return None, failures + 1, delay
    return result, 0, settings.interval_s


def run_daemon(service: NodeService, client: UpstreamClient, settings: DaemonSettings,
               write: Callable[[str], None]) -> int:
    """Sync rounds until SIGTERM/SIGINT (``node.runner``), stopping at a batch boundary."""
    log = LineLog(settings.log_json, write, service.clock)
    failures, rounds = 0, 0
    held = home_held(service.home, by="node run") if service.home else contextlib.nullcontext()
    with held, Runner() as runner, serving_desk(service) as desk:
        log("start", f"node {service.config.node_id} syncing with {service.config.upstream} "
                     f"every {settings.interval_s:.0f} s"
                     + (f"; the desk's pages on {desk}" if desk else ""),
            node_id=service.config.node_id, upstream=service.config.upstream,
            interval_s=settings.interval_s, desk=desk)
        stop = runner.stop
        while not stop.is_set():
            started = time.monotonic()
            try:
                report, failures, delay = guarded_round(
                    lambda: service.sync(client, ROUND_POLICY, should_stop=stop.is_set),
                    settings=settings, log=log, failures=failures, upstream="upstream",
                    queued=service.queued)
            except Stopped:
                break
            if report is not None:
                took = time.monotonic() - started
                log("sync", f"sync ok in {took:.1f} s: {_summary(report)}", ok=True,
                    duration_s=round(took, 3), pushed=report.pushed, received=report.received,
                    pulled=report.pulled, decisions=report.decisions, blobs=report.blobs,
                    blob_bytes=report.blob_bytes)
            rounds += 1
            if settings.max_rounds is not None and rounds >= settings.max_rounds:
                break
            if failures:
                _wait(service, stop, delay)
            else:
                _follow(service, client, stop, delay, log)
    log("stop", "stopped", rounds=rounds)
    return 0


def backoff_delay(settings: DaemonSettings, failures: int) -> float:
    ceiling = min(settings.backoff_cap_s,
                  settings.backoff_initial_s * 2.0 ** min(failures - 1, 30))
    return float(ceiling * random.uniform(0.5, 1.0))  # noqa: S311 -- jitter, not a secret


def _follow(service: NodeService, client: UpstreamClient, stop: threading.Event,
            delay: float, log: LineLog) -> None:
    """Until the next round: keep a pull open so decisions arrive within about a second,
    and wake early when the desk writes new records (or on stop)."""
    cancel: list[Callable[[], None]] = []

    def listen() -> None:
        try:
            with service.store.reading() as r:
                cursors = r.cursors()
            for log_id in service.config.followed_logs:
                cursors.setdefault(log_id, 0)
            for batch in client.pull(cursors, follow_s=delay, on_open=cancel.append):
                report = SyncReport()
                service.apply_pull_batch(batch, report)
                if report.pulled:
                    log("pulled", f"received {report.pulled} record(s) as they were written: "
                                  f"{report.decisions} decision(s)", ok=True,
                        pulled=report.pulled, decisions=report.decisions)
        except (SyncError, BianminError):
            pass  # the next round will say what is wrong

    listener = threading.Thread(target=listen, name="follow", daemon=True)
    listener.start()
    _wait(service, stop, delay)
    for fn in cancel:
        fn()
    listener.join(timeout=10)


def _wait(service: NodeService, stop: threading.Event, delay: float) -> None:
    """Sleep ``delay`` seconds, waking early on stop or when the desk writes new records."""
    node_id = service.config.node_id

    def head() -> int:
        with service.store.reading() as r:
            return r.head(node_id).seq

    start_head = head()
    deadline = time.monotonic() + delay
    while not stop.is_set() and time.monotonic() < deadline:
        stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))
        if head() != start_head:
            return
