"""One runner for every serving process (STYLE §23): ``hub serve`` (one process or the
supervisor of several), ``township serve`` and ``node run`` live and stop the same way.

``with Runner(state_file=...) as runner:`` installs the SIGTERM/SIGINT handlers (a signal sets
``runner.stop``; a second one is not needed to stop), ``runner.ready(info)`` writes the state
file (what ``ps``-less tools and tests read: addresses, pid), settles the heap for serving
(``settle_heap``) and reports ready, and
``runner.wait(check)`` sleeps until a signal -- or until ``check`` raises, for a supervisor
whose child died. On the way out the state file goes and the previous handlers come back;
resources opened inside the block (servers, databases) are closed first, in reverse order, by
the ``with`` statements that opened them. ``drain`` is how a gRPC server leaves: NOT_SERVING
for ``drain_s`` so a load balancer turns away, then the grace period for running calls.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Protocol

__all__ = ["GC_THRESHOLDS", "GRACE_S", "Runner", "draining", "settle_heap"]

GRACE_S = 5.0  # running calls may finish within this once a server stops
# the cycle collector's thresholds once a process serves (Python's own: 700, 10, 10)
GC_THRESHOLDS = (20_000, 20, 20)


def settle_heap() -> None:
    """Once a serving process has started: what it loaded to start (modules, settings, the
    catalog, certificates, compiled codecs) moves to the collector's permanent generation, and
    a young collection runs every 20,000 net allocations instead of 700. A push allocates
    hundreds of thousands of short-lived objects (parsed records, rows, cases) that form no
    cycles and are freed by reference counting; with Python's defaults the collector ran 400-600
    times per 20,000 records ingested and took 9-17 % of the hub's time walking what it had
    loaded at start (docs/benchmarks.md). Cycles that do form (a few per call, in gRPC and
    SQLAlchemy) are still collected, later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Drainable(Protocol):
    def drain(self, seconds: float) -> None: ...

    def stop(self, grace_s: float = GRACE_S) -> None: ...


class Runner:
    def __init__(self, *, state_file: Path | None = None, poll_s: float = 1.0) -> None:
        self.state_file = state_file
        self.poll_s = poll_s
        self.stop = threading.Event()
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Runner:
        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            self.stop.set()

        self._previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM,
                                                                    signal.SIGINT)}
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    @property
    def stopped(self) -> bool:
        return self.stop.is_set()

    def ready(self, info: Mapping[str, object],
              on_ready: Callable[[Mapping[str, object]], None] | None = None) -> None:
        """Write the state file (JSON of ``info``), then tell whoever waits for readiness. The
        process is serving from here on: its heap is settled (``settle_heap``)."""
        settle_heap()
        if self.state_file is not None:
            self.state_file.write_text(json.dumps(dict(info), default=str), encoding="utf-8")
        if on_ready is not None:
            on_ready(info)

    def wait(self, check: Callable[[], None] | None = None) -> None:
        """Until a signal (or ``check`` raises)."""
        while not self.stop.wait(self.poll_s):
            if check is not None:
                check()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if a signal came."""
        return self.stop.wait(seconds)

    @staticmethod
    def state_file_of(home: Path, name: str) -> Path:
        return home / f"{name}-{os.getpid()}.json"


@contextmanager
def draining(server: Drainable, drain_s: float) -> Iterator[None]:
    """A started gRPC server, drained and stopped on the way out (STYLE §23)."""
    try:
        yield
    finally:
        server.drain(drain_s)
        server.stop(GRACE_S)
