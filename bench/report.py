"""Render one benchmark run as ``docs/benchmarks.md``: the targets first, each against its
baseline from the same run, then every section with its method, then where the time goes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["render"]

ANALYSIS = Path(__file__).with_name("analysis.md")


def render(r: dict[str, Any]) -> str:
    out: list[str] = []
    m = r["machine"]
    out += [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand: the prose comes from",
        "`bench/analysis.md`, the figures from the run. Raw figures: `docs/benchmarks.json`.",
        "",
        f"Run {r['started']}, revision `{r['revision']}`"
        + (" — **quick mode: sizes too small for the figures to mean anything**"
           if r.get("quick") else "") + ".",
        "",
        *([f"Sections {', '.join(f'`{n}`' for n in r['rerun']['sections'])} re-run "
           f"{r['rerun']['started']}, revision `{r['rerun']['revision']}`: "
           f"{r['rerun']['why']}", ""] if r.get("rerun") else []),
        "| machine | |",
        "|---|---|",
        f"| CPU | {m['cpu']}, nproc = {m['nproc']} |",
        f"| memory | {m['memory']} |",
        f"| OS | {m['os']} |",
        f"| Python | {m['python']} (grpcio {m['grpcio']}, cryptography {m['cryptography']}, "
        f"SQLAlchemy {m['sqlalchemy']}) |",
        "",
        "Every ratio below is against a baseline measured in the same run: these machines are",
        "shared and noisy (the peer's own notes show ±30 % between passes), so a figure from",
        "another run is not a baseline.",
        "",
    ]
    out += _targets(r)
    out += _verify(r.get("verify"))
    out += _ingest(r.get("ingest"), r.get("ingest_pg"))
    out += _peer(r.get("peer"))
    out += _many(r.get("many_nodes"))
    out += _pushdown(r.get("pushdown"))
    out += _cli(r.get("cli"))
    out += _against_base(r.get("ingest_vs_base"), r.get("rules"))
    out += _backlog(r.get("backlog"))
    out += _faces(r.get("faces"))
    if ANALYSIS.exists():
        out += [ANALYSIS.read_text(encoding="utf-8").rstrip(), ""]
    prof = r.get("profile")
    if isinstance(prof, str):
        out += ["### Profile: one in-process ingest (pyinstrument, wall time, pushing thread)",
                "", "```", prof.strip(), "```", ""]
    secs = r.get("seconds", {})
    out += ["## Run time of each section", "", "| section | seconds |", "|---|---:|"]
    out += [f"| {k} | {v:.0f} |" for k, v in secs.items()]
    return "\n".join(out) + "\n"


# -- helpers ---------------------------------------------------------------------------------

def _ok(section: Any) -> bool:
    return isinstance(section, (dict, list)) and not (
        isinstance(section, dict) and ("failed" in section or "skipped" in section))


def _why_not(name: str, section: Any) -> list[str]:
    if section is None:
        return []
    if isinstance(section, dict) and "failed" in section:
        return [f"**{name} failed in this run:** {section['failed']}", ""]
    if isinstance(section, dict) and "skipped" in section:
        return [f"*{name} skipped in this run:* {section['skipped']}", ""]
    return []


def _n(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**not met**")


# -- targets ---------------------------------------------------------------------------------

def _targets(r: dict[str, Any]) -> list[str]:
    rows: list[tuple[str, str, str, bool | None]] = []
    ingest = r.get("ingest") if _ok(r.get("ingest")) else None
    verify = r.get("verify") if _ok(r.get("verify")) else None
    peer = r.get("peer") if _ok(r.get("peer")) else None
    best = max(ingest, key=lambda row: row["per_s"]) if ingest else None
    one = next((row for row in ingest if row["nodes"] == 1), None) if ingest else None
    if best:
        rows.append(("hub ingest on SQLite (synchronous=FULL) ≥ 10,000 records/s",
                     f"{_n(best['per_s'])}/s ({best['nodes']} nodes, "
                     f"{best.get('processes', 1)} hub process"
                     f"{'es' if best.get('processes', 1) > 1 else ''})", "–",
                     best["per_s"] >= 10_000))
    if one and peer and peer.get("best_push_per_s"):
        ratio = one["per_s"] / peer["best_push_per_s"]
        rows.append(("≥ 3× the peer's push rate (one node against one PouchDB client)",
                     f"{ratio:.1f}× ({_n(one['per_s'])}/s)",
                     f"PouchDB push {_n(peer['best_push_per_s'])}/s", ratio >= 3))
    if best and verify:
        ceiling = verify["libsodium_two_threads_per_s"]
        share = best["per_s"] / ceiling
        rows.append(("≥ 70 % of the Ed25519 verify ceiling (libsodium, both cores)",
                     f"{share:.0%}", f"{_n(ceiling)} verifications/s "
                     f"(OpenSSL: {_n(verify['openssl_two_threads_per_s'])}/s, "
                     f"{best['per_s'] / verify['openssl_two_threads_per_s']:.0%})",
                     share >= 0.7))
    many: Any = r.get("many_nodes")
    if _ok(many):
        rows.append(("500 nodes push and pull at once: 0 errors",
                     f"{many['errors']} errors, {many['seconds']:.0f} s, p99 "
                     f"{many['p99_s']:.1f} s", "–", many["errors"] == 0))
    down: Any = r.get("pushdown")
    if _ok(down):
        rows.append(("decision → visible at the village, p50 < 2 s (`node run` going)",
                     f"p50 {down['p50_s']:.2f} s", "–", down["p50_s"] < 2))
    cli: Any = r.get("cli")
    if _ok(cli):
        rows.append(("`bianmin node intake` p50 < 400 ms",
                     f"{cli['intake_p50_s'] * 1000:.0f} ms",
                     f"bare `python -c pass` {cli['python_start_s'] * 1000:.0f} ms",
                     cli["intake_p50_s"] < 0.4))
    if _ok(down):
        rows.append(("`node run` idle RSS (reported; the field target is < 150 MiB)",
                     f"{down['node_run_idle_rss_mb']:.0f} MiB", "–",
                     down["node_run_idle_rss_mb"] < 150))
    faces: Any = r.get("faces")
    if _ok(faces):
        rows.append(("the desk's intake, submit to receipt page, server time p50 < 100 ms",
                     f"{faces['intake_server_p50_ms']:.0f} ms",
                     f"wall time on loopback {faces['intake_wall_p50_ms']:.0f} ms",
                     faces["intake_server_p50_ms"] < 100))
        rows.append((f"the console's queue page with {faces['open_cases']:,} open cases, "
                     "p50 < 200 ms", f"{faces['queue_server_p50_ms']:.0f} ms",
                     f"wall time on loopback {faces['queue_wall_p50_ms']:.0f} ms",
                     faces["queue_server_p50_ms"] < 200))
        rows.append(("`node run` serving the desk < 150 MiB RSS",
                     f"{faces['desk_rss_mib']:.0f} MiB (peak {faces['desk_rss_peak_mib']:.0f})",
                     f"at start {faces['desk_rss_start_mib']:.0f} MiB",
                     faces["desk_rss_peak_mib"] < 150))
    base: Any = r.get("ingest_vs_base")
    if _ok(base):
        for nodes, ratio in sorted(base["ratio_by_nodes"].items(), key=lambda kv: int(kv[0])):
            rows.append((f"ingest not slower than before the authority table ({nodes} "
                         f"node{'s' if int(nodes) > 1 else ''}, SQLite)", f"{ratio:.2f}×",
                         f"`{base['revision']}` checked out beside it, best of "
                         f"{_rounds(base)} rounds each", ratio >= 1.0))
    backlog: Any = r.get("backlog")
    if _ok(backlog):
        peak = max(backlog["node_peak_rss_mb"], backlog.get("shaped_node_peak_rss_mb", 0.0))
        rows.append(("the weeks-long backlog: node peak RSS < 150 MiB (straight and shaped)",
                     f"{peak:.0f} MiB", "–", peak < 150))
    out = ["## Targets", "", "| target | measured | baseline (same run) | |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {_met(d)} |" for a, b, c, d in rows]
    return [*out, ""]


# -- sections --------------------------------------------------------------------------------

def _verify(v: Any) -> list[str]:
    if v is None:  # not run this time
        return []
    out = ["## Baseline: Ed25519 verifications per second", "",
           "`Ed25519PublicKey.verify` of pyca/cryptography (OpenSSL) and `VerifyKey.verify` of",
           "PyNaCl (libsodium) on 600-byte messages, one thread, then two threads over halves",
           "of the same work (both release the GIL while verifying). bianmin verifies with",
           "libsodium (`node/identity.py`), so its two-thread figure is the ceiling.", ""]
    out += _why_not("the verify baseline", v)
    if _ok(v):
        out += ["| verifier | one thread | two threads |", "|---|---:|---:|",
                f"| OpenSSL (pyca/cryptography) | {_n(v['openssl_one_thread_per_s'])}/s | "
                f"{_n(v['openssl_two_threads_per_s'])}/s |",
                f"| libsodium (PyNaCl) | {_n(v['libsodium_one_thread_per_s'])}/s | "
                f"{_n(v['libsodium_two_threads_per_s'])}/s |", ""]
    return out


def _ingest(sqlite: Any, pg: Any) -> list[str]:
    if sqlite is None and pg is None:  # not run this time
        return []
    out = ["## Hub ingest", "",
           "A real `hub serve` process; N enrolled nodes each push their own signed log (20,000",
           "records in total, about 600 bytes each: intake records of `bianmin.backlog`) over",
           "mutual-TLS gRPC in batches of 500, all N at once. Counted from the first push to",
           "the last acknowledgement: every record verified, chained, stored, projected into",
           "cases and durably committed. SQLite runs `synchronous=FULL` in WAL mode;",
           "PostgreSQL is a local throwaway cluster with `fsync=on`, default settings.",
           "With 2 hub processes, `hub serve --processes 2` shares the ports (SO_REUSEPORT):",
           "the kernel gives each node's connection to one of them, so one node never reaches",
           "both and the two-process rows start at 10 nodes. The pushing clients run on the",
           "same 2 cores (threads of the bench process); the cores each side used during the",
           "timed push (CPU seconds over wall seconds) are in the table.", ""]
    out += _why_not("SQLite ingest", sqlite)
    out += _why_not("PostgreSQL ingest", pg)
    rows = [*(sqlite if _ok(sqlite) else []), *(pg if _ok(pg) else [])]
    if rows:
        out += ["| database | hub processes | nodes | records | seconds | records/s | "
                "cores used: hub / pushing clients | hub peak RSS (all processes) |",
                "|---|---:|---:|---:|---:|---:|---|---:|"]
        out += [f"| {x['backend']} | {x.get('processes', 1)} | {x['nodes']} | "
                f"{_n(x['records'])} | {x['seconds']:.2f} | {_n(x['per_s'])} | "
                f"{x.get('hub_cores', 0):.2f} / {x.get('client_cores', 0):.2f} | "
                f"{x['hub_peak_rss_mb']:.0f} MiB |" for x in rows]
        out.append("")
    return out


def _peer(p: Any) -> list[str]:
    if p is None:  # not run this time
        return []
    out = ["## Baseline: the peer, PouchDB replication", "",
           "`../shared/peers/pouchdb`: `npm install && node bench.js`, run in a scratch copy.",
           "PouchDB (LevelDB) replicating ~600-byte records to an express-pouchdb server in a",
           "second process over HTTP: unsigned, unverified, and **not fsync'd per commit**",
           "(LevelDB writes without `sync`), so it is a generous baseline.", ""]
    out += _why_not("the peer benchmark", p)
    if _ok(p):
        out += ["| direction | records | batch | median/s | min/s | max/s | runs |",
                "|---|---:|---|---:|---:|---:|---:|"]
        out += [f"| {x['direction']} | {_n(x['records'])} | {x['batch']} | "
                f"{_n(x['median_per_s'])} | {_n(x['min_per_s'])} | {_n(x['max_per_s'])} | "
                f"{x['runs']} |" for x in p["rows"]]
        env = p.get("env", {})
        out += ["", f"node {env.get('node', '?')}, pouchdb {env.get('pouchdb', '?')}, "
                    f"express-pouchdb {env.get('express_pouchdb', '?')}.", ""]
    return out


def _many(v: Any) -> list[str]:
    if v is None:  # not run this time
        return []
    out = ["## Many nodes at once", "",
           "One hub (`--workers 64`); each simulated node is enrolled through the real",
           "enrolment service, holds 10 cases (20 records) and runs one full `sync` (push, then",
           "pull its decisions and the catalog) with its own mutual-TLS channel, 50 at a time.",
           ""]
    out += _why_not("the many-nodes run", v)
    if _ok(v):
        out += ["| nodes | records each | at once | total s | sync p50 | sync p99 | errors |",
                "|---:|---:|---:|---:|---:|---:|---:|",
                f"| {v['nodes']} | {v['records_each']} | {v['concurrency']} | "
                f"{v['seconds']:.1f} | {v['p50_s']:.2f} s | {v['p99_s']:.2f} s | "
                f"{v['errors']} |", ""]
        if v.get("first_error"):
            out += [f"First error: `{v['first_error']}`", ""]
    return out


def _pushdown(v: Any) -> list[str]:
    if v is None:  # not run this time
        return []
    out = ["## Push-down latency", "",
           "A village runs `bianmin node run --interval 60` (the daemon keeps a follow-mode pull",
           "open between rounds). For each case, `bianmin hub decide` approves it; the clock",
           "starts when that command returns and stops when the village's own database shows",
           "the case approved (polled every 50 ms).", ""]
    out += _why_not("push-down", v)
    if _ok(v):
        out += ["| decisions | p50 | p90 | max | `node run` idle RSS |",
                "|---:|---:|---:|---:|---:|",
                f"| {v['decisions']} | {v['p50_s']:.2f} s | {v['p90_s']:.2f} s | "
                f"{v['max_s']:.2f} s | {v['node_run_idle_rss_mb']:.0f} MiB |", ""]
    return out


def _cli(v: Any) -> list[str]:
    if v is None:  # not run this time
        return []
    out = ["## The village desk", "",
           "Wall time of `bianmin node intake` (a whole new process: start Python, open the",
           "node's database, check the materials against the catalog, sign, commit, print the",
           "receipt), against a bare `python -c pass` and `bianmin --help` in the same run.", ""]
    out += _why_not("CLI latency", v)
    if _ok(v):
        out += ["| command | wall time |", "|---|---:|",
                f"| `node intake`, p50 | {v['intake_p50_s'] * 1000:.0f} ms |",
                f"| `node intake`, max | {v['intake_max_s'] * 1000:.0f} ms |",
                f"| `bianmin --help` | {v['bianmin_help_s'] * 1000:.0f} ms |",
                f"| `python -c pass` | {v['python_start_s'] * 1000:.0f} ms |", ""]
    return out


def _faces(v: Any) -> list[str]:
    if v is None:  # not run this time
        return []
    out = ["## The pages (issue 11)", "",
           "Server time (the pages' `Server-Timing` header: request in to first byte out) of",
           "the desk's intake -- the form POSTed with a 60 kB scan, then the receipt page it",
           "redirects to -- on a fresh village served by `node run`; of an operator's queue",
           "page, whose department holds every one of the open cases, served by `hub serve`;",
           "and the resident memory of that `node run` after the intakes and a receipt PDF.", ""]
    out += _why_not("The pages", v)
    if _ok(v):
        out += ["| figure | value |", "|---|---:|",
                f"| intake + receipt page, server p50 | {v['intake_server_p50_ms']:.0f} ms |",
                f"| intake + receipt page, server p90 | {v['intake_server_p90_ms']:.0f} ms |",
                f"| of which the intake POST, p50 | {v['intake_post_p50_ms']:.0f} ms |",
                f"| of which the receipt page, p50 | {v['receipt_page_p50_ms']:.0f} ms |",
                f"| intake + receipt, wall on loopback, p50 | {v['intake_wall_p50_ms']:.0f} ms |",
                f"| queue page, {v['open_cases']:,} open cases, server p50 | "
                f"{v['queue_server_p50_ms']:.0f} ms |",
                f"| queue page, server p90 | {v['queue_server_p90_ms']:.0f} ms |",
                f"| `node run` RSS at start / after / peak | {v['desk_rss_start_mib']:.0f} / "
                f"{v['desk_rss_mib']:.0f} / {v['desk_rss_peak_mib']:.0f} MiB |",
                f"| loading the open cases (backlog + sync) | {v['load_s']:.0f} s |", ""]
    return out


def _rounds(v: Any) -> int:
    return len({row["round"] for row in v["rows"]})


def _against_base(v: Any, rules: Any) -> list[str]:
    if v is None and rules is None:  # not run this time
        return []
    out = ["## Ingest against the revision before the authority table", "",
           "The ingest workload above (SQLite, one hub process, batches of 500) against the hub",
           "of the last revision before one receive path and the authority table, checked out",
           "beside this one (a git worktree) and run alternately with it on the same machine,",
           "in the same run; the best round of each. Then, in process, what the new rules cost",
           "per record against the whole ingest of the same batches.", ""]
    if v is not None:
        out += _why_not("the same-run comparison", v)
    if _ok(v):
        best: dict[tuple[str, int], float] = {}
        for row in v["rows"]:
            key = (row["label"], row["nodes"])
            best[key] = max(best.get(key, 0.0), row["per_s"])
        out += [f"| nodes | `{v['revision']}` | this revision | ratio |", "|---:|---:|---:|---:|"]
        for nodes, ratio in sorted(v["ratio_by_nodes"].items(), key=lambda kv: int(kv[0])):
            n = int(nodes)
            out.append(f"| {n} | {_n(best[('base', n)])}/s | {_n(best[('this', n)])}/s | "
                       f"{ratio:.2f}× |")
        out.append("")
    if rules is not None:
        out += _why_not("the rules' cost", rules)
    if _ok(rules):
        per = rules["us_per_record"]
        out += ["| per record, in process (one thread) | µs |", "|---|---:|",
                f"| parse, signer and signature checks | {per['verify_checks']:.1f} |",
                f"| placement on the log (`chain_batch`) | {per['placement']:.1f} |",
                f"| the authority rules (`judge_batch`, the county's facts from the database) "
                f"| {per['authority_rules']:.1f} |",
                f"| the whole ingest (verify threads, store, projection, commit) | "
                f"{per['whole_ingest']:.1f} |",
                f"| the rules' share of the whole | {rules['rules_share_of_ingest']:.0%} |", ""]
    return out


def _backlog(v: Any) -> list[str]:
    if v is None:  # not run this time
        return []
    out = ["## A weeks-long backlog", "",
           "One village with 10,000 cases taken offline (intake, pre-review and attachment",
           "records) and 1,000 attachments of 20 kB syncs with one `bianmin node sync` straight",
           "to the hub (no proxy in the way: the time is the sync's own). Then the same backlog",
           "on a second hub through a link shaped like a weak rural uplink (`bench/shaper.py`:",
           "1 Mbit/s each way, 300 ms round trip, every connection cut every 30 s), synced by",
           "rounds of `node sync` until nothing waits (a cut ends a round with exit 3, 'queued,",
           "nothing lost'; the next resumes); its wire bytes, both ways, against the payload's",
           "own size (signed records and attachment bytes: the physical floor). Then the",
           "backlog on a third hub, the sync killed (SIGKILL) once half the records are",
           "acknowledged, and the time of the sync that finishes the job.", ""]
    out += _why_not("the backlog run", v)
    if _ok(v):
        payload = v["payload_bytes"]
        out += ["| | |", "|---|---:|",
                f"| records / attachments | {_n(v['records'])} / {_n(v['attachments'])} |",
                f"| payload (signed records + attachments) | {payload / 1e6:.1f} MB |",
                f"| one sync, straight to the hub | {v['seconds']:.1f} s "
                f"({_n(v['records_per_s'])} records/s) |",
                f"| signed bytes per record | {v['signed_bytes_per_record']:.0f} |",
                f"| node peak RSS, straight | {v['node_peak_rss_mb']:.0f} MiB |",
                f"| hub peak RSS | {v['hub_peak_rss_mb']:.0f} MiB |"]
        if "shaped_seconds" in v:
            floor = payload * 8 / 1e6
            out += [f"| through the shaped link | {v['shaped_seconds']:.0f} s in "
                    f"{v['shaped_rounds']} round(s), {v['shaped_cuts']} cut(s) "
                    f"(the payload alone at 1 Mbit/s: {floor:.0f} s) |",
                    f"| wire bytes through it / payload | "
                    f"{v['shaped_wire_bytes'] / 1e6:.1f} MB / {payload / 1e6:.1f} MB = "
                    f"{v['shaped_wire_bytes'] / payload:.2f} |",
                    f"| node peak RSS, shaped | {v['shaped_node_peak_rss_mb']:.0f} MiB |"]
        out += [f"| sync after a kill at 50 % | {v['resume_after_cut_s']:.1f} s |", ""]
    return out
