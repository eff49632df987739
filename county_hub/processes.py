"""Several hub processes on one machine: ``hub serve --processes N`` (issue 7, DESIGN §9).

One hub process is bound by the GIL at about one core of Python per record; a second core
only helps with what releases the GIL (signature checks, fsync). The hub keeps no state
outside its database, so N ``hub serve`` processes can share the sync and enrolment ports
with ``SO_REUSEPORT``: the kernel hands each new connection to one of them, and the
database (SQLite's write lock, or PostgreSQL) keeps them consistent, exactly as several hubs
behind a load balancer do.

This module is the supervisor: it reserves the two ports (OS-chosen when 0), starts N
serving processes (``bianmin hub serve --worker``) and waits for each to report ready. It
serves ``/metrics`` itself, adding up the processes' counters (prometheus_client's
multiprocess mode) to the database-wide gauges. On SIGTERM it passes the signal on and
waits for every process to drain; if one process dies, it stops the others and exits
non-zero, so the service manager (systemd ``Restart=on-failure``) restarts the hub whole
rather than running on with fewer processes than configured.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, closing
from pathlib import Path

from county_hub.hub import Hub
from county_hub.metrics import start_metrics
from county_hub.server import ServeInfo, next_port, readiness
from node.kernel.clock import Clock
from node.kernel.errors import BianminError, UsageError
from node.logs import configure_logging, event
from node.runner import GRACE_S, Runner
from node.settings import ServeSettings
from sync.tls import parse_address

__all__ = ["PROCESS_READY_S", "ProcessDied", "serve_processes"]

log = logging.getLogger("bianmin.hub")

PROCESS_READY_S = 60.0
_POLL_S = 0.5
_STOP_MARGIN_S = 10.0


class ProcessDied(BianminError):
    code = "hub_process_died"


def serve_processes(home: Path, *, settings: ServeSettings, clock: Clock,
                    on_ready: Callable[[ServeInfo], None]) -> None:
    """Run ``settings.processes`` serving processes until SIGTERM/SIGINT (see the module
    docstring). ``on_ready`` gets the shared addresses and the processes' pids."""
    configure_logging(settings.log_format)
    children: list[subprocess.Popen[bytes]] = []

    def check_children() -> None:
        dead = [c for c in children if c.poll() is not None]
        if dead:
            raise ProcessDied(
                f"hub process {dead[0].pid} exited with {dead[0].returncode}; stopping the "
                f"other {len(children) - 1} so the service manager restarts the hub whole "
                "(see its log above for why)")

    with ExitStack() as stack:
        runner = stack.enter_context(Runner(state_file=Runner.state_file_of(home, "serve"),
                                            poll_s=_POLL_S))
        enrol_listen = settings.enrol_listen or next_port(settings.listen)
        reserved = [stack.enter_context(closing(_reserve(a)))
                    for a in (settings.listen, enrol_listen)]
        sync_at = _bound(settings.listen, reserved[0])
        enrol_at = _bound(enrol_listen, reserved[1])
        # opened (and upgraded) first: the processes find the database at the newest schema
        hub = stack.enter_context(Hub.open(home, clock))
        metrics_dir: Path | None = None
        all_ready: list[bool] = []
        if settings.metrics:
            metrics_dir = Path(tempfile.mkdtemp(prefix="bianmin-metrics-"))
            stack.callback(shutil.rmtree, metrics_dir, True)
            # served from before the processes start until they have all stopped: /readyz
            # says 503 while they start, and from the stop signal on
            def why_not() -> str:
                if runner.stopped:
                    return "draining before a shutdown"
                if not all_ready:
                    return "starting"
                dead = [c.pid for c in children if c.poll() is not None]
                return f"hub process {dead[0]} exited" if dead else ""

            endpoint, _none = start_metrics(hub, settings.metrics,
                                            ready=readiness(hub, why_not),
                                            multiprocess_dir=metrics_dir)
            stack.callback(endpoint.close)
        env = dict(os.environ)
        if metrics_dir is not None:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        console_at = ""
        if hub.config.web.enabled:  # the console's port, shared by the processes as well
            web_sock = stack.enter_context(closing(_reserve(hub.config.web.listen)))
            console_at = _bound(hub.config.web.listen, web_sock)
            env["BIANMIN_WEB__LISTEN"] = console_at
        argv = [sys.executable, "-m", "bianmin", "hub", "serve", "--worker", "--json",
                "--home", str(home), "--listen", sync_at, "--enrol-listen", enrol_at,
                "--workers", str(settings.workers), "--log-format", settings.log_format]
        stack.callback(_stop_all, home, children,
                       settings.drain_s + GRACE_S + _STOP_MARGIN_S)
        deadline = time.monotonic() + PROCESS_READY_S
        for _ in range(settings.processes):
            children.append(subprocess.Popen(argv, stdout=subprocess.PIPE, env=env))
        for child in children:
            _wait_ready(child, deadline)
        all_ready.append(True)
        info = ServeInfo(node_id=hub.node_id, county_code=hub.config.county_code,
                         sync=sync_at, enrol=enrol_at, pid=os.getpid(),
                         metrics=settings.metrics, processes=tuple(c.pid for c in children),
                         console=f"{'https' if hub.config.web.tls_cert else 'http'}://{console_at}"
                         if console_at else "")
        event(log, f"{len(children)} hub processes serving sync on {sync_at}, enrolment on "
                   f"{enrol_at}", node_id=hub.node_id)
        runner.ready(info.__dict__, lambda _info: on_ready(info))
        runner.wait(check_children)


def _reserve(address: str) -> socket.socket:
    """A bound (not listening) ``SO_REUSEPORT`` socket: it holds the port, OS-chosen when 0,
    for the serving processes to listen on together. It never accepts a connection."""
    host, port = parse_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {address}: {exc.strerror}",
                         code="cannot_listen") from exc
    return sock


def _bound(address: str, sock: socket.socket) -> str:
    host = address.rpartition(":")[0]
    return f"{host}:{sock.getsockname()[1]}"


def _wait_ready(child: subprocess.Popen[bytes], deadline: float) -> None:
    """The serving process's ready line (its ``--json`` report); then its stdout is drained in
    the background so a later line can never block it."""
    stdout = child.stdout
    assert stdout is not None
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(max(0.0, deadline - time.monotonic()))
    first = lines[0] if lines else b""
    try:
        ready = json.loads(first) if first else {}
    except json.JSONDecodeError:
        ready = {}
    if not isinstance(ready, dict) or "sync" not in ready:
        error = ready.get("error") if isinstance(ready, dict) else None
        reason = (error.get("message") if isinstance(error, dict) else None) or \
            first.decode(errors="replace").strip() or \
            f"no ready report within {PROCESS_READY_S:.0f} s"
        raise UsageError(f"hub process {child.pid} did not start: {reason}",
                         code="cannot_listen")
    threading.Thread(target=stdout.read, daemon=True).start()


def _stop_all(home: Path, children: list[subprocess.Popen[bytes]], within_s: float) -> None:
    """SIGTERM to every live process (each drains, then finishes its calls); SIGKILL to any
    still running after ``within_s``. The state file of a process that could not remove its
    own (killed) goes too."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + within_s
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            event(log, f"hub process {child.pid} did not stop in {within_s:.0f} s: killed",
                  level=logging.WARNING)
            child.kill()
            child.wait(timeout=10)
        (home / f"serve-{child.pid}.json").unlink(missing_ok=True)
