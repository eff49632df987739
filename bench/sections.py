"""The benchmark sections. Each returns its figures; ``bench.__main__`` writes them out."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import (
    BACKLOG_DAYS,
    County,
    Timer,
    client_for,
    cpu_s,
    enrolled_offline,
    median,
    own_records,
    percentile,
    rss_mb,
    run_measured,
    scratch,
    wait_measured,
)
from bianmin.backlog import make_backlog
from bianmin.procs import bianmin_argv, run
from node.kernel.identity import new_records_key
from node.settings import NodeConfig
from sync import batches

__all__ = ["backlog_sync", "cli_latency", "ingest", "ingest_against_base", "many_nodes",
           "peer_pouchdb", "profile_ingest", "pushdown_latency", "rules_cost", "verify_ceiling"]


# -- baseline: how fast can this machine check Ed25519 signatures? -----------------------------

def verify_ceiling(n: int = 20_000) -> dict[str, Any]:
    """Ed25519 verifications per second on ~600-byte messages: OpenSSL (pyca/cryptography)
    and libsodium (PyNaCl, what bianmin checks with), on one thread and on two."""
    from nacl.signing import SigningKey  # noqa: PLC0415

    key = new_records_key()
    public = key.public_key()
    messages = [os.urandom(600) for _ in range(256)]
    signed = [(m, key.sign(m)) for m in messages]
    work = [signed[i % len(signed)] for i in range(n)]
    sodium = SigningKey(key.private_bytes_raw()).verify_key

    def openssl(part: list[tuple[bytes, bytes]]) -> None:
        for m, s in part:
            public.verify(s, m)

    def libsodium(part: list[tuple[bytes, bytes]]) -> None:
        for m, s in part:
            sodium.verify(m, s)

    result: dict[str, Any] = {}
    for name, check in (("openssl", openssl), ("libsodium", libsodium)):
        with Timer() as one:
            check(work)
        with Timer() as two, ThreadPoolExecutor(max_workers=2) as pool:
            half = len(work) // 2
            list(pool.map(check, [work[:half], work[half:]]))
        result[f"{name}_one_thread_per_s"] = n / one.seconds
        result[f"{name}_two_threads_per_s"] = n / two.seconds
    return result


# -- hub ingest ------------------------------------------------------------------------------

def ingest(db_url: str | Callable[[], str], node_counts: tuple[int, ...] = (1, 10, 50),
           total_records: int = 20_000,
           multi: tuple[int, tuple[int, ...]] = (2, (10, 50))) -> list[dict[str, Any]]:
    """Signed records verified and durably committed per second, pushed over mutual-TLS gRPC
    by 1, 10 and 50 concurrent nodes (batches of 500), the same total each time; then again
    with ``hub serve --processes N`` for the ``multi`` node counts (one node is one
    connection, so it only ever reaches one process)."""
    processes_of, multi_counts = multi
    plan = [(1, n) for n in node_counts] + [(processes_of, n) for n in multi_counts]
    rows = []
    for processes, nodes in plan:
        with scratch("ingest") as root:
            county = County(root=root, db_url=db_url() if callable(db_url) else db_url,
                            enrolled_days_ago=BACKLOG_DAYS)
            county.init()
            county.serve(*(["--processes", str(processes)] if processes > 1 else []))
            try:
                homes = county.enrol(nodes)  # (restarts the hub: its clock is set back meanwhile)
                hub = county.hub
                assert hub is not None
                per_node = total_records // nodes // 2
                for n, home in enumerate(homes):
                    make_backlog(home, cases=per_node, seed=n)
                work = {home: list(batches(own_records(home))) for home in homes}
                records = sum(len(b) for bs in work.values() for b in bs)
                clients = {home: client_for(home, hub.sync_address) for home in homes}
                serving = hub.info.get("processes") or [hub.proc.pid]
                hub_cpu, own_cpu = sum(cpu_s(p) for p in serving), time.process_time()
                with Timer() as t, ThreadPoolExecutor(max_workers=nodes) as pool:
                    list(pool.map(_push_all, [(clients[h], h, work[h]) for h in homes]))
                hub_cpu = sum(cpu_s(p) for p in serving) - hub_cpu
                own_cpu = time.process_time() - own_cpu
                for c in clients.values():
                    c.close()
                hub_rss = sum(rss_mb(pid) for pid in serving)
            finally:
                county.stop()
            rows.append({"backend": "PostgreSQL" if county.db_url else "SQLite (FULL)",
                         "processes": processes, "nodes": nodes, "records": records,
                         "seconds": t.seconds, "per_s": records / t.seconds,
                         "hub_cores": hub_cpu / t.seconds,
                         "client_cores": own_cpu / t.seconds, "hub_peak_rss_mb": hub_rss})
    return rows


def _push_all(job: tuple[Any, Path, list[Any]]) -> None:
    client, home, work = job
    for batch in work:
        result = client.push(home.name.upper(), batch)
        assert not result.refused, result.refused[:1]


def profile_ingest(records: int = 6_000) -> str:
    """Where an in-process ingest spends its wall time (pyinstrument; verification runs in two
    worker threads, so the pushing thread shows it as waiting on their results)."""
    from pyinstrument import Profiler  # noqa: PLC0415

    from county_hub.hub import Hub  # noqa: PLC0415
    from county_hub.ingest import Ingest  # noqa: PLC0415
    from node.kernel.clock import SystemClock  # noqa: PLC0415

    with scratch("profile") as root:
        county, home = enrolled_offline(root)
        make_backlog(home, cases=records // 2)
        hub = Hub.open(county.home, SystemClock())
        ing = Ingest(hub)
        peer = (home / "certs" / "tls.pem").read_bytes()
        work = list(batches(own_records(home)))
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for batch in work:
            ing.push(peer, "V001", batch)
        profiler.stop()
        ing.close()
        hub.close()
    return str(profiler.output_text(unicode=False, color=False, show_all=False))


# -- many nodes at once ----------------------------------------------------------------------

def many_nodes(count: int = 500, per_node: int = 20, concurrency: int = 50) -> dict[str, Any]:
    """``count`` nodes each push ``per_node`` records and pull their decisions, ``concurrency``
    at a time, against one hub: completion time, per-sync p50/p99, errors."""
    from node.service import open_node  # noqa: PLC0415
    from sync import RetryPolicy  # noqa: PLC0415

    policy = RetryPolicy(attempts=3, initial_s=0.5, max_backoff_s=4, budget_s=60,
                         call_timeout_s=60)
    with scratch("many") as root:
        county = County(root=root)
        county.init()
        hub = county.serve("--workers", "64")
        try:
            homes = county.enrol(count)
            for n, home in enumerate(homes):
                make_backlog(home, cases=per_node // 2, seed=n)
            latencies: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()

            def one(home: Path) -> None:
                service = open_node(home, county_clock())
                try:
                    with client_for(home, hub.sync_address, 60) as client, Timer() as t:
                        service.sync(client, policy)
                    with lock:
                        latencies.append(t.seconds)
                except Exception as exc:
                    with lock:
                        errors.append(f"{home.name}: {exc}")
                finally:
                    service.close()

            with Timer() as total, ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(one, homes))
        finally:
            county.stop()
    return {"nodes": count, "records_each": per_node, "concurrency": concurrency,
            "seconds": total.seconds, "p50_s": percentile(latencies, 50),
            "p99_s": percentile(latencies, 99), "errors": len(errors),
            "first_error": errors[0] if errors else ""}


def county_clock() -> Any:
    from node.kernel.clock import SystemClock  # noqa: PLC0415

    return SystemClock()


# -- decision at the hub -> visible at the village ---------------------------------------------

def pushdown_latency(decisions: int = 15) -> dict[str, Any]:
    with scratch("pushdown") as root:
        county = County(root=root)
        county.init()
        county.serve()
        daemon = None
        try:
            (home,) = county.enrol(1)
            make_backlog(home, cases=decisions)
            run("node", "sync", "--home", str(home))
            daemon = subprocess.Popen(bianmin_argv("node", "run", "--home", str(home),
                                                   "--interval", "60"),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3)
            cases = [c["case_id"] for c in run("hub", "cases", "--home", str(county.home),
                                                "--json").json()["cases"]]
            latencies = []
            for case_id in cases[:decisions]:
                # the county's IT person at the hub's own console (issue 11: an operator
                # action names how its operator was authenticated)
                run("hub", "decide", case_id, "--approve", "--reason", "ok", "--operator",
                    "刘芳", "--local-admin", "--home", str(county.home))
                decided = time.monotonic()
                deadline = decided + 90
                while time.monotonic() < deadline:
                    with sqlite3.connect(home / "node.db") as db:
                        state = db.execute("SELECT state FROM cases WHERE case_id = ?",
                                           (case_id,)).fetchone()[0]
                    if state == "approved":
                        latencies.append(time.monotonic() - decided)
                        break
                    time.sleep(0.05)
            idle_rss = rss_mb(daemon.pid, "VmRSS")
        finally:
            if daemon is not None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=30)
            county.stop()
    return {"decisions": len(latencies), "p50_s": percentile(latencies, 50),
            "p90_s": percentile(latencies, 90), "max_s": max(latencies or [float("nan")]),
            "node_run_idle_rss_mb": idle_rss}


# -- the village desk --------------------------------------------------------------------------

def cli_latency(samples: int = 15) -> dict[str, Any]:
    from bianmin.demo import resident_id  # noqa: PLC0415

    with scratch("cli") as root:
        _county, home = enrolled_offline(root)
        times = []
        for n in range(samples):
            with Timer() as t:
                run("node", "intake", "--home", str(home), "--item", "MZ-003",
                    "--applicant-name", "王桂兰", "--applicant-id",
                    resident_id(f"3601121940012{2300 + n:04d}"), "--material", "id_card",
                    "--material", "bank_card")
            times.append(t.seconds)
        with Timer() as help_t:
            subprocess.run(bianmin_argv("--help"), capture_output=True, check=True)
        with Timer() as bare:
            subprocess.run([os.sys.executable, "-c", "pass"], check=True)  # type: ignore[attr-defined]
    return {"intake_p50_s": median(times), "intake_max_s": max(times),
            "bianmin_help_s": help_t.seconds, "python_start_s": bare.seconds}


# -- a weeks-long backlog (issue 4) ---------------------------------------------------------------

def backlog_sync(cases: int = 10_000, attachments: int = 1_000,
                 attachment_bytes: int = 20_000, *, shaped: bool = True) -> dict[str, Any]:
    """The weeks-long backlog: one ``node sync`` straight to the hub (its time and peak RSS,
    with no proxy in the way), then the same backlog again through a link shaped like a weak
    rural uplink (``bench.shaper``: 1 Mbit/s, 300 ms round trip, cut every 30 s), synced by
    rounds of ``node sync`` until nothing waits, with the wire bytes against the payload's
    own size; then the resume after a kill."""
    result: dict[str, Any] = {}
    with scratch("backlog") as root:
        county = County(root=root)
        county.init()
        hub = county.serve()
        try:
            (home,) = county.enrol(1)
            made = make_backlog(home, cases=cases, attachments=attachments,
                                attachment_bytes=attachment_bytes)
            signed = sum(len(r.body) + len(r.signature) for r in own_records(home))
            seconds, node_rss = run_measured("node", "sync", "--home", str(home))
            hub_rss = rss_mb(hub.proc.pid)
            result |= {"cases": made.cases, "records": made.records,
                       "attachments": made.attachments,
                       "attachment_bytes": made.attachment_bytes, "seconds": seconds,
                       "records_per_s": made.records / seconds,
                       "signed_bytes_per_record": signed / made.records,
                       "payload_bytes": signed + made.attachment_bytes,
                       "node_peak_rss_mb": node_rss,
                       "hub_peak_rss_mb": hub_rss}
        finally:
            county.stop()
        if shaped:
            result |= _backlog_shaped(root / "shaped", cases=cases, attachments=attachments,
                                      attachment_bytes=attachment_bytes)
        # resume after a cut at 50%: a second hub, the same backlog, the sync killed halfway
        county2 = County(root=root / "second")
        county2.root.mkdir()
        county2.init()
        county2.serve()
        try:
            (home2,) = county2.enrol(1)
            make_backlog(home2, cases=cases, attachments=attachments,
                         attachment_bytes=attachment_bytes)
            proc = subprocess.Popen(bianmin_argv("node", "sync", "--home", str(home2)),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            half = made.records // 2
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and proc.poll() is None:
                with sqlite3.connect(home2 / "node.db") as db:
                    pushed = db.execute("SELECT value FROM sync_state WHERE name='pushed'"
                                        ).fetchone()
                if pushed and pushed[0] >= half:
                    break
                time.sleep(0.1)
            proc.kill()
            proc.wait(timeout=30)
            with Timer() as resume:
                run("node", "sync", "--home", str(home2), timeout_s=900)
            result |= {"resume_after_cut_s": resume.seconds}
        finally:
            county2.stop()
    return result


def _backlog_shaped(root: Path, *, cases: int, attachments: int,
                    attachment_bytes: int) -> dict[str, Any]:
    """The same backlog on a second hub, synced through the shaped link by rounds of ``node
    sync`` (a cut ends a round with exit 3; the next resumes) until nothing waits."""
    from bench.shaper import ShapedProxy  # noqa: PLC0415

    root.mkdir()
    county = County(root=root)
    county.init()
    hub = county.serve()
    rounds, peak = 0, 0.0
    exits: list[int] = []
    try:
        (spare,) = county.enrol(1)
        make_backlog(spare, cases=cases, attachments=attachments,
                     attachment_bytes=attachment_bytes)
        with ShapedProxy(hub.sync_address) as link:
            _point(spare, link.address)
            start = time.perf_counter()
            while rounds < 200 and time.perf_counter() - start < 3_600:
                rounds += 1
                code, rss = _sync_once(spare)
                peak, exits = max(peak, rss), [*exits, code]
                with sqlite3.connect(spare / "node.db") as db:
                    pushed = db.execute("SELECT value FROM sync_state WHERE name='pushed'"
                                        ).fetchone()
                    head = db.execute("SELECT max(seq) FROM records WHERE log_id=?",
                                      (_node_id(spare),)).fetchone()
                if code == 0 and pushed and head and pushed[0] >= head[0]:
                    break
            seconds = time.perf_counter() - start
            wire = link.bytes_up + link.bytes_down
            cuts = link.cuts
    finally:
        county.stop()
    return {"shaped_seconds": seconds, "shaped_rounds": rounds, "shaped_cuts": cuts,
            "shaped_wire_bytes": wire, "shaped_node_peak_rss_mb": peak,
            "shaped_exit_codes": sorted(set(exits))}


def _node_id(home: Path) -> str:
    return NodeConfig.load(home).node_id


def _sync_once(home: Path) -> tuple[int, float]:
    """One ``node sync``: its exit code (0, or 3 when a cut ended the round) and peak RSS."""
    proc = subprocess.Popen(bianmin_argv("node", "sync", "--home", str(home)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return wait_measured(proc, 1_800)


def _point(home: Path, address: str) -> None:
    text = (home / "node.toml").read_text(encoding="utf-8")
    lines = [f'upstream = "{address}"' if line.startswith("upstream =") else line
             for line in text.splitlines()]
    (home / "node.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- the peer baseline: PouchDB replicating to a CouchDB-protocol server ------------------------

def peer_pouchdb(shared: Path, quick: bool = False) -> dict[str, Any]:
    source = shared / "peers" / "pouchdb"
    if not (source / "bench.js").exists():
        return {"skipped": f"no peer benchmark at {source}"}
    if shutil.which("node") is None or shutil.which("npm") is None:
        return {"skipped": "node and npm are not installed"}
    with scratch("pouchdb") as root:
        work = root / "pouchdb"
        shutil.copytree(source, work)
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=work, capture_output=True, text=True, timeout=600,
                              check=False)
        if done.returncode != 0:
            return {"skipped": f"npm install failed: {done.stderr.strip()[-300:]}"}
        out = work / "results.json"
        done = subprocess.run(["node", "bench.js"], cwd=work, capture_output=True, text=True,
                              timeout=1200, check=False,
                              env={**os.environ, "BENCH_OUT": str(out),
                                   "BENCH_QUICK": "1" if quick else "0",
                                   "BENCH_DATA": str(root / "data")})
        if done.returncode != 0 or not out.exists():
            return {"skipped": f"node bench.js failed: {done.stderr.strip()[-300:]}"}
        data = json.loads(out.read_text())
    rows = [{"direction": s["dir"], "records": s["n"], "batch": str(s["batch_size"]),
             "median_per_s": s["rep_docs_s"]["median"], "min_per_s": s["rep_docs_s"]["min"],
             "max_per_s": s["rep_docs_s"]["max"], "runs": s["reps_ok"]}
            for s in data["summary"] if s["rep_docs_s"]]
    pushes = [r["median_per_s"] for r in rows if r["direction"] == "push"]
    return {"env": data["env"], "rows": rows, "best_push_per_s": max(pushes, default=None)}




# -- the authority rules: what they cost, and ingest against the revision before them --------

BASE_REVISION = "0e878fd"  # the last revision before one receive path and the authority table


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """``revision`` checked out beside this one (a git worktree in a scratch folder), so that
    its hub runs in the same run, on the same machine, as this one's."""
    with scratch(f"rev-{revision}") as root:
        folder = root / "code"
        subprocess.run(["git", "worktree", "add", "--detach", str(folder), revision],
                       check=True, capture_output=True, timeout=120)
        try:
            yield folder
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(folder)],
                           check=False, capture_output=True, timeout=120)


def ingest_against_base(revision: str = BASE_REVISION, node_counts: tuple[int, ...] = (1, 10),
                        total_records: int = 20_000, rounds: int = 2) -> dict[str, Any]:
    """The ingest workload of ``ingest`` (SQLite, one process) against the hub of ``revision``
    and against this one, alternately, ``rounds`` times each: the ratio this / that."""
    rows: list[dict[str, Any]] = []
    with checkout(revision) as code:
        for n in range(rounds):
            for label, folder in (("base", code), ("this", None)):
                for nodes in node_counts:
                    rows.append({"revision": revision if folder else "this", "round": n,
                                 "nodes": nodes, "label": label,
                                 **_one_ingest(nodes, total_records, folder)})
    best: dict[tuple[str, int], float] = {}
    for row in rows:
        key = (row["label"], row["nodes"])
        best[key] = max(best.get(key, 0.0), row["per_s"])
    ratios = {nodes: best[("this", nodes)] / best[("base", nodes)] for nodes in node_counts}
    return {"revision": revision, "rows": rows, "ratio_by_nodes": ratios}


def _one_ingest(nodes: int, total_records: int, code: Path | None) -> dict[str, Any]:
    with scratch("ingest-rev") as root:
        county = County(root=root, code=code, enrolled_days_ago=BACKLOG_DAYS)
        county.init()
        county.serve()
        try:
            homes = county.enrol(nodes)  # (restarts the hub: its clock is set back meanwhile)
            for n, home in enumerate(homes):
                make_backlog(home, cases=total_records // nodes // 2, seed=n)
            work = {home: list(batches(own_records(home))) for home in homes}
            records = sum(len(b) for bs in work.values() for b in bs)
            assert county.hub is not None
            clients = {home: client_for(home, county.hub.sync_address) for home in homes}
            with Timer() as t, ThreadPoolExecutor(max_workers=nodes) as pool:
                list(pool.map(_push_all, [(clients[h], h, work[h]) for h in homes]))
            for c in clients.values():
                c.close()
        finally:
            county.stop()
    return {"records": records, "seconds": t.seconds, "per_s": records / t.seconds}


def rules_cost(records: int = 6_000) -> dict[str, Any]:
    """Per record, in process, on SQLite: the verifier's own checks (parse and signature, one
    thread), the placement on the log, the authority rules (``judge_batch`` with the county's
    facts read from the database), and the whole ingest of the same batches."""
    from county_hub.hub import Hub  # noqa: PLC0415
    from county_hub.ingest import Ingest  # noqa: PLC0415
    from node.kernel.authority import judge_batch  # noqa: PLC0415
    from node.kernel.chain import chain_batch, check_records  # noqa: PLC0415
    from node.kernel.clock import SystemClock  # noqa: PLC0415
    from node.kernel.records import LogHead, parse_record  # noqa: PLC0415

    with scratch("rules") as root:
        county, home = enrolled_offline(root)
        make_backlog(home, cases=records // 2)
        work = list(batches(own_records(home)))
        raw = [[(r.body, r.signature) for r in batch] for batch in work]
        n = sum(len(b) for b in raw)
        with Hub.open(county.home, SystemClock()) as hub:
            ing = Ingest(hub)
            tier = ing.receiver.tier
            with hub.store.reading() as reader, Timer() as t_check:
                keyring = reader.keyring()
                for batch in raw:
                    check_records(batch, log_id="V001", keyring=keyring)
            parsed = [[parse_record(b, s) for b, s in batch] for batch in raw]
            with Timer() as t_chain:
                head = LogHead()
                for batch_records in parsed:
                    head = chain_batch(batch_records, log_id="V001", head=head,
                                       known_hash=lambda _s: None).head
            with hub.store.reading() as reader, Timer() as t_judge:
                for batch_records in parsed:
                    judge_batch(batch_records, tier.facts(reader),  # type: ignore[arg-type]
                                items={"MZ-001": "county"})
            peer = (home / "certs" / "tls.pem").read_bytes()
            with Timer() as t_ingest:
                for pushed in work:
                    ing.push(peer, "V001", pushed)
            ing.close()
    per = {name: t.seconds / n * 1e6 for name, t in (("verify_checks", t_check),
                                                       ("placement", t_chain),
                                                       ("authority_rules", t_judge),
                                                       ("whole_ingest", t_ingest))}
    return {"records": n, "us_per_record": per,
            "rules_share_of_ingest": per["authority_rules"] / per["whole_ingest"]}
