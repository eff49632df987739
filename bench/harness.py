"""Pieces every benchmark uses: a federation in a scratch folder, simulated nodes enrolled in
process, timing and summary helpers. Real processes for the hub; real mutual TLS."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bianmin.demo import sample_catalog, sample_operators
from bianmin.procs import ServerProcess, bianmin_argv, run
from county_hub.enrolment import issue_token
from county_hub.hub import Hub
from node.enrolment import init_node
from node.home import NodeConfig
from node.kernel.clock import SystemClock
from node.service import open_node, upstream_client
from sync import ONE_SHOT, WireRecord
from sync.client import UpstreamClient

__all__ = ["BACKLOG_DAYS", "County", "Timer", "machine", "percentile", "rss_mb"]

BACKLOG_DAYS = 22  # make_backlog dates its cases over the last 21 days


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / (1 << 20):.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import cryptography  # noqa: PLC0415
    import grpc  # noqa: PLC0415
    import sqlalchemy  # noqa: PLC0415

    return {"nproc": str(os.cpu_count()), "cpu": cpu, "memory": mem,
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "grpcio": grpc.__version__,
            "cryptography": cryptography.__version__, "sqlalchemy": sqlalchemy.__version__}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rss_mb(pid: int, field_name: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident memory of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


@dataclass
class County:
    """A county hub (a real ``hub serve`` process) in a scratch folder, and helpers to enrol
    simulated nodes quickly (in process, through the real enrolment service)."""

    root: Path
    db_url: str = ""
    hub: ServerProcess | None = None
    nodes: list[Path] = field(default_factory=list)
    code: Path | None = None  # run the hub from this checkout of another revision
    # the county was set up and its nodes enrolled this many days ago (the hub's clock set back
    # while it is made and enrols them), so that a backlog of weeks is dated after enrolment,
    # as it would be in the field
    enrolled_days_ago: int = 0

    @property
    def _then(self) -> dict[str, str] | None:
        if not self.enrolled_days_ago:
            return None
        return {"BIANMIN_UNSAFE_CLOCK_OFFSET_S": str(-86_400 * self.enrolled_days_ago)}

    @property
    def home(self) -> Path:
        return self.root / "county"

    def init(self) -> None:
        db = ["--db", self.db_url] if self.db_url else []
        run("hub", "init", "--home", str(self.home), "--county-code", "360112", "--name",
            "新建区", "--catalog", str(sample_catalog()), *db, cwd=self.code, env=self._then)
        # an older revision reads its own operators file (the roles have grown since)
        operators = (self.code / "bianmin" / "data" / "operators-example.toml"
                     if self.code is not None else sample_operators())
        run("hub", "operator", "import", str(operators), "--home", str(self.home),
            cwd=self.code)

    def serve(self, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
        self._extra, self._env = extra, env
        return self._start(env)

    def _start(self, env: dict[str, str] | None) -> ServerProcess:
        """(Re)start the hub with the arguments ``serve`` was given and this environment."""
        self.hub = ServerProcess(["hub", "serve", "--home", str(self.home), "--listen",
                                  "127.0.0.1:0", "--enrol-listen", "127.0.0.1:0", "--json",
                                  *self._extra], log=self.root / "hub.log", env=env,
                                 cwd=self.code)
        return self.hub

    _extra: tuple[str, ...] = ()
    _env: dict[str, str] | None = None

    def stop(self) -> None:
        if self.hub is not None:
            self.hub.stop()
            self.hub = None

    def enrol(self, count: int, prefix: str = "V") -> list[Path]:
        """Enrol ``count`` village nodes and fetch the catalog at each, as ``node init`` does
        (eight at a time)."""
        assert self.hub is not None
        start = len(self.nodes) + 1
        ids = [f"{prefix}{n:03d}" for n in range(start, start + count)]
        if self.code is not None:  # another revision's database: ask its own CLI
            tokens = {i: run("hub", "token", "--home", str(self.home), "--node-id", i,
                             "--tier", "village", "--json", cwd=self.code).json()["token"]
                      for i in ids}
        else:
            with Hub.open(self.home, SystemClock(), upgrade=False) as hub:
                tokens = {i: issue_token(hub, node_id=i, tier="village").token for i in ids}
        if self._then:  # enrolled then: the hub's clock set back while it certifies them
            self.stop()
            self._start({**(self._env or {}), **self._then})
        hub_process = self.hub
        assert hub_process is not None

        def enrol_one(item: tuple[str, str]) -> Path:
            node_id, token = item
            home = self.root / node_id.lower()
            init_node(home, upstream=hub_process.sync_address, token=token,
                      clock=SystemClock(), enrol_address=hub_process.enrol_address)
            return home

        def first_sync(home: Path) -> None:
            assert self.hub is not None
            with open_node(home, SystemClock()) as service, client_for(
                    home, self.hub.sync_address, 60) as client:
                service.sync(client, ONE_SHOT)

        with ThreadPoolExecutor(max_workers=8) as pool:
            homes = list(pool.map(enrol_one, tokens.items()))
            if self._then:  # and now back to the present, where the backlog is pushed
                self.stop()  # (the environment ``serve`` was given: not the set-back clock)
                self._start(self._env)
            list(pool.map(first_sync, homes))
        self.nodes += homes
        return homes


def enrolled_offline(root: Path) -> tuple[County, Path]:
    """A county with one enrolled village holding the catalog, the hub stopped again."""
    county = County(root=root, enrolled_days_ago=BACKLOG_DAYS)
    county.init()
    county.serve()
    try:
        (home,) = county.enrol(1)
    finally:
        county.stop()
    return county, home


def wait_measured(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, float]:
    """Wait for ``proc``: its exit code (-9 after ``timeout_s``: killed) and its own peak RSS
    (MiB). The peak is the image's ``VmHWM``, read every 20 ms while it runs: ``wait4``'s
    ``ru_maxrss`` is no use here, Linux carries the forking parent's peak into the child's
    at ``exec``, so a command started by a big benchmark process would report that
    process's size."""
    deadline = time.monotonic() + timeout_s
    peak = 0.0
    while True:
        with contextlib.suppress(OSError, ValueError):
            hwm = rss_mb(proc.pid)
            if not math.isnan(hwm):  # (a zombie has no VmHWM)
                peak = max(peak, hwm)
        pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return os.waitstatus_to_exitcode(status), peak
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return -9, peak
        time.sleep(0.02)


def run_measured(*args: str, timeout_s: float = 900) -> tuple[float, float]:
    """Run one ``bianmin`` command to completion: its wall time and its own peak RSS (MiB,
    ``wait_measured``)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(bianmin_argv(*args), stdout=subprocess.DEVNULL, stderr=err)
        code, peak = wait_measured(proc, timeout_s)
        seconds = time.perf_counter() - start
        if code == -9:
            raise TimeoutError(f"bianmin {' '.join(args)} took over {timeout_s} s")
        if code != 0:
            err.seek(0)
            raise RuntimeError(f"bianmin {' '.join(args)} failed: "
                               f"{err.read().decode(errors='replace')[-500:]}")
    return seconds, peak


def client_for(home: Path, address: str, timeout_s: float = 120) -> UpstreamClient:
    """A node's mutual-TLS client to ``address`` (its hub, or a proxy in front of it)."""
    config = NodeConfig.load(home).model_copy(update={"upstream": address})
    return upstream_client(home, config, call_timeout_s=timeout_s)


def own_records(home: Path) -> list[WireRecord]:
    import sqlite3  # noqa: PLC0415

    node_id = home.name.upper()
    with sqlite3.connect(home / "node.db") as db:
        return [WireRecord(body=b, signature=s, seq=q) for q, b, s in db.execute(
            "SELECT seq, body, signature FROM records WHERE log_id = ? ORDER BY seq",
            (node_id,))]


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"bianmin-bench-{prefix}-") as folder:
        yield Path(folder)


def git_describe() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return "?"
