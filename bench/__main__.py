"""``make bench``: run every benchmark section in one go and write ``docs/benchmarks.md``.

    python -m bench                      # everything (about 10 minutes on 2 cores)
    python -m bench --quick              # small sizes: checks the harness, not the figures
    python -m bench --only ingest,cli    # some sections; the others are left out of the report
    python -m bench --shared ../shared   # where the peer benchmark lives

Every baseline a figure is compared with is measured in the same run (these machines are
noisy: a figure from another run is not a baseline). Raw figures go to
``docs/benchmarks.json`` next to the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import faces, report, sections
from bench.harness import git_describe, machine

SECTIONS = ("verify", "ingest", "ingest_pg", "ingest_vs_base", "rules", "profile", "peer",
            "many_nodes", "pushdown", "cli", "backlog", "faces")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, to check the harness (figures are not meaningful)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated sections among: {', '.join(SECTIONS)}")
    parser.add_argument("--shared", type=Path, default=Path("../shared"),
                        help="folder holding peers/pouchdb (default ../shared)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose among "
                     f"{', '.join(SECTIONS)}")

    q = args.quick
    # every serving process of the benchmarks serves its pages on an OS-chosen port
    os.environ.setdefault("BIANMIN_WEB__LISTEN", "127.0.0.1:0")
    results: dict[str, Any] = {"machine": machine(), "revision": git_describe(),
                               "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                               "quick": q, "seconds": {}}
    runs: dict[str, Callable[[], Any]] = {
        "verify": lambda: sections.verify_ceiling(2_000 if q else 20_000),
        "ingest": lambda: sections.ingest("", (1, 10, 50) if not q else (1, 5),
                                          2_000 if q else 20_000,
                                          (2, (10, 50) if not q else (5,))),
        "ingest_pg": lambda: _ingest_pg(q),
        "ingest_vs_base": lambda: sections.ingest_against_base(
            node_counts=(1,) if q else (1, 10), total_records=2_000 if q else 20_000,
            rounds=1 if q else 3),
        "rules": lambda: sections.rules_cost(1_000 if q else 6_000),
        "profile": lambda: sections.profile_ingest(1_000 if q else 6_000),
        "peer": lambda: sections.peer_pouchdb(args.shared.resolve(), quick=q),
        "many_nodes": lambda: sections.many_nodes(20 if q else 500, 20, 10 if q else 50),
        "pushdown": lambda: sections.pushdown_latency(3 if q else 15),
        "cli": lambda: sections.cli_latency(3 if q else 15),
        "backlog": lambda: (sections.backlog_sync(300, 30) if q else sections.backlog_sync()),
        "faces": lambda: faces.faces(500 if q else 10_000, 5 if q else 30),
    }
    for name in chosen:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        try:
            results[name] = runs[name]()
        except Exception as exc:  # a failed section is reported, not hidden; the rest still run
            results[name] = {"failed": f"{type(exc).__name__}: {exc}"}
        results["seconds"][name] = time.perf_counter() - began
        print(f"bench: {name} done in {results['seconds'][name]:.0f} s", file=sys.stderr,
              flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, ensure_ascii=False, indent=1,
                                                        default=str) + "\n", encoding="utf-8")
    args.out.write_text(report.render(results), encoding="utf-8")
    print(f"bench: wrote {args.out} and {args.out.with_suffix('.json')}", file=sys.stderr)
    failed = [n for n in chosen if isinstance(results.get(n), dict) and "failed" in results[n]]
    return 1 if failed else 0


def _ingest_pg(quick: bool) -> Any:
    with _postgres() as server:
        if server is None:
            return {"skipped": "PostgreSQL is not installed here (no initdb); "
                               "set BIANMIN_TEST_PG_URL to use a running server"}
        return sections.ingest(lambda: _fresh_database(server), (1, 10, 50) if not quick
                               else (1, 5), 2_000 if quick else 20_000,
                               (2, (10, 50) if not quick else (5,)))


@contextmanager
def _postgres() -> Iterator[str | None]:
    from tests import pgcluster  # noqa: PLC0415

    if os.environ.get("BIANMIN_TEST_PG_URL"):
        yield os.environ["BIANMIN_TEST_PG_URL"]
        return
    if pgcluster.find_bin() is None:
        yield None
        return
    cluster = pgcluster.start()
    try:
        yield cluster.url
    finally:
        pgcluster.stop(cluster)


def _fresh_database(server: str) -> str:
    from sqlalchemy import create_engine  # noqa: PLC0415

    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    sys.exit(main())
