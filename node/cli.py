"""``bianmin node ...``: the village agent's commands. Thin: parse, call ``node.service``, print.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from node.backup import backup_node
from node.cli_support import EXIT_QUEUED, Interrupted, Output, bianmin_command, clock
from node.daemon import DaemonSettings, run_daemon
from node.enrolment import check_home, init_node
from node.home import NodeConfig
from node.kernel.clock import CST
from node.kernel.errors import BianminError, TransportError, UsageError
from node.kernel.payloads import (
    Accepted,
    ActionRefused,
    Applicant,
    CaseSubmitted,
    CatalogPublished,
    Concluded,
    Decision,
    KeyReplaced,
    KeyRotated,
    NodeRevoked,
    NotAccepted,
    Opinion,
    Outcome,
    PreReviewed,
    Supplemented,
    SupplementRequested,
    Withdrawn,
)
from node.kernel.records import Record
from node.recovery import fresh_database, home_held, restore_node, set_aside
from node.service import MaterialInput, NodeService, open_node, upstream_client
from node.syncer import SyncReport
from sync import ONE_SHOT, SyncError

__all__ = ["mask_id", "node"]


@click.group()
def node() -> None:
    """A village (or township) node: intake offline, sync with the upstream."""


def mask_id(id_number: str) -> str:
    """A resident id as printed on paper: region and check digits only."""
    return id_number[:6] + "*" * 8 + id_number[-4:] if len(id_number) == 18 else id_number


@bianmin_command(node, "init")
@click.option("--upstream", required=True, help="HOST:PORT of the hub's (or township's) sync "
              "service.")
@click.option("--token", required=True, help="One-time enrolment token from 'bianmin hub token'.")
@click.option("--enrol", "enrol_address", help="HOST:PORT of the enrolment service "
              "(default: the upstream's port + 1).")
@click.option("--node-id", help="Refuse the token unless it was made for this node id.")
@click.option("--fallback", help="HOST:PORT of the county hub, for a village under a township: "
              "used when the township is unreachable.")
def init(home: Path, out: Output, upstream: str, token: str, enrol_address: str | None,
         node_id: str | None, fallback: str | None) -> None:
    """Make this node's keys, enrol with a token, and fetch the current catalog."""
    the_clock = clock()
    config = init_node(home, upstream=upstream, token=token, clock=the_clock,
                       enrol_address=enrol_address, node_id=node_id, fallback=fallback)
    catalog_version = 0
    with open_node(home, the_clock) as service:
        try:
            with upstream_client(home, config,
                                 call_timeout_s=ONE_SHOT.call_timeout_s) as client:
                catalog_version = service.sync(client, ONE_SHOT).catalog_version
        except BianminError as exc:  # enrolled already; the catalog can come with the next sync
            out.note(f"warning: enrolled, but the catalog could not be fetched yet ({exc}); "
                     "run 'bianmin node sync'")
    out.result(
        {"node_id": config.node_id, "tier": config.tier, "county_code": config.county_code,
         "name": config.name, "upstream": config.upstream,
         "upstream_node_id": config.upstream_node_id, "catalog_version": catalog_version},
        f"enrolled {config.tier} {config.node_id} ({config.name}) of county "
        f"{config.county_code}; upstream {config.upstream_node_id} at {config.upstream}; "
        f"catalog version {catalog_version or 'not yet fetched'}",
    )


def _materials(values: tuple[str, ...]) -> list[MaterialInput]:
    given, seen = [], set()
    for m in values:
        code, sep, path = m.partition("=")
        if not code:
            raise UsageError(f"--material {m!r}: write CODE or CODE=PATH")
        if code in seen:
            raise UsageError(f"material {code} is given twice")
        seen.add(code)
        given.append(MaterialInput(code=code, path=Path(path) if sep else None))
    return given


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise UsageError(f"{option} {value!r}: write it as NAME=VALUE")
        if name in fields:
            raise UsageError(f"{option} {name} is given twice")
        fields[name] = text
    return fields


@bianmin_command(node, "intake")
@click.option("--item", "item_code", required=True, help="Catalog item code, e.g. MZ-001.")
@click.option("--applicant-name", required=True)
@click.option("--applicant-id", required=True, help="18-character resident identity number.")
@click.option("--phone", default="")
@click.option("--material", "materials", multiple=True, metavar="CODE[=PATH]",
              help="A material presented; CODE=PATH also stores its scan. Repeat per material.")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE",
              help="A form field of the item. Repeat per field.")
@click.option("--confirm-duplicate", is_flag=True,
              help="Take it although the person has an open case for the same item.")
def intake(home: Path, out: Output, item_code: str, applicant_name: str, applicant_id: str,
           phone: str, materials: tuple[str, ...], fields: tuple[str, ...],
           confirm_duplicate: bool) -> None:
    """Take a case at the desk, offline: pre-review it and print the receipt. A person who
    already has an open case for the item is asked about first (at a terminal), or refused
    unless --confirm-duplicate."""
    given = _materials(materials)
    applicant = Applicant(name=applicant_name, id_number=applicant_id, phone=phone)
    with open_node(home, clock()) as service:
        try:
            with _saving(service, "the case"):
                result = service.intake(item_code=item_code, applicant=applicant,
                                        materials=given, fields=_pairs(fields, "--field"),
                                        confirm_duplicate=confirm_duplicate)
        except UsageError as exc:
            if exc.code != "duplicate_application" or out.as_json or not sys.stdin.isatty():
                raise
            click.echo(f"warning: {exc}", err=True)
            if not click.confirm("Take this application all the same?", err=True):
                raise UsageError("not taken: nothing was saved", code="not_confirmed") from exc
            with _saving(service, "the case"):
                result = service.intake(item_code=item_code, applicant=applicant,
                                        materials=given, fields=_pairs(fields, "--field"),
                                        confirm_duplicate=True)
    missing = [f"{c} ({spec.name})" for c in result.pre_review.missing
               if (spec := result.item.material(c)) is not None]
    lines = [
        "受理回执 / receipt",
        f"  case       {result.case_id}",
        f"  item       {result.item.code} {result.item.name}",
        f"  applicant  {result.applicant.name} ({mask_id(result.applicant.id_number)})",
        "  pre-review " + ("complete" if result.pre_review.complete
                           else "incomplete -- missing: " + ", ".join(missing)),
        f"  catalog    version {result.catalog_version}"
        + (" (EXPIRED: sync when the upstream is reachable)" if result.catalog_expired else ""),
    ]
    out.result(
        {"case_id": result.case_id, "item": result.item.code, "state": result.state,
         "pre_review": {"complete": result.pre_review.complete,
                        "missing": list(result.pre_review.missing)},
         "catalog_version": result.catalog_version, "catalog_expired": result.catalog_expired},
        lines,
    )


@contextmanager
def _saving(service: NodeService, what: str) -> Iterator[None]:
    """Ctrl-C in the middle says whether ``what`` was saved: a command's records commit whole
    or not at all, so the log tells."""
    before = service.head_seq()
    try:
        yield
    except KeyboardInterrupt:
        saved = service.saved_since(before)
        if saved:
            raise Interrupted(f"interrupted, but {what} was saved first: {', '.join(saved)} "
                              f"('bianmin node show {saved[-1]}' prints it)") from None
        raise Interrupted(f"interrupted: {what} was not saved (nothing was written); do it "
                          "again") from None


def _case_json(view: Any) -> dict[str, Any]:
    return {
        "case_id": view.case_id, "item": view.item_code, "item_name": view.item_name,
        "state": view.state, "applicant_name": view.applicant_name,
        "complete": view.complete, "missing": list(view.missing), "reason": view.reason,
        "operator": view.operator, "submitted_at": view.submitted_at,
        "updated_at": view.updated_at, "catalog_version": view.catalog_version,
        "catalog_expired": view.catalog_expired, "requested": list(view.requested),
        "provisional": view.pending is not None, "flags": list(view.flags),
    }


@bianmin_command(node, "cases")
@click.option("--state", help="Only cases in this state (e.g. submitted, received, approved).")
def cases(home: Path, out: Output, state: str | None) -> None:
    """The node's cases and their state."""
    with open_node(home, clock()) as service:
        views = service.cases(state)
    lines = [f"{v.case_id}  {v.item_code:<7} {v.state:<11} {v.applicant_name}"
             + (f"  -- {v.reason}" if v.reason else "")
             + (f"  (missing: {', '.join(v.missing)})" if v.missing and not v.reason else "")
             for v in views] or ["no cases"]
    out.result({"cases": [_case_json(v) for v in views]}, lines)


def describe(record: Record) -> str:
    """One line of a case's history."""
    p = record.payload
    match p:
        case CaseSubmitted():
            return f"submitted: item {p.item_code}, {len(p.materials)} material(s)"
        case PreReviewed():
            return ("pre-reviewed: complete" if p.complete
                    else f"pre-reviewed: incomplete, missing {', '.join(p.missing)}")
        case Decision():
            verdict = "approved" if p.outcome is Outcome.APPROVE else "rejected"
            return f"{verdict} by {p.operator}: {p.reason}"
        case CatalogPublished():
            return f"catalog version {p.version} published"
        case Supplemented():
            state = "complete" if p.complete else f"still missing {', '.join(p.missing)}"
            return f"supplemented: {', '.join(m.code for m in p.materials)} ({state})"
        case Withdrawn():
            return f"withdrawn by the applicant: {p.reason}"
        case Concluded():
            return "concluded: result handed to the applicant" + (f" ({p.note})" if p.note
                                                                   else "")
        case Accepted():
            return f"accepted by {p.operator} ({p.department})"
        case NotAccepted():
            return f"not accepted by {p.operator}: {p.reason}"
        case SupplementRequested():
            return (f"supplement requested by {p.operator}: {', '.join(p.materials)} -- "
                    f"{p.reason}")
        case Opinion():
            verdict = "favourable" if p.favourable else "unfavourable"
            return f"opinion of {p.department} ({p.operator}): {verdict} -- {p.reason}"
        case ActionRefused():
            return f"{p.refused_log_id}#{p.refused_seq} refused upstream: {p.reason}"
        case KeyRotated():
            return "records key rotated"
        case KeyReplaced():
            return f"records key replaced after the old one was lost: {p.reason}"
        case NodeRevoked():
            return f"{p.node_id} revoked from seq {p.from_seq}: {p.reason}"
    return "record"


@bianmin_command(node, "show")
@click.argument("case_id")
def show(home: Path, out: Output, case_id: str) -> None:
    """One case with its history."""
    with open_node(home, clock()) as service:
        view, history = service.case(case_id)
    events: list[dict[str, Any]] = [
        {"at": r.header.recorded_at, "log_id": r.log_id, "seq": r.seq, "event": describe(r)}
        for r in history
    ]
    decisions = [r.payload for r in history if isinstance(r.payload, Decision)]
    code = decisions[-1].verification_code if decisions else ""
    lines = [
        f"case {view.case_id}: {view.state}",
        f"  item       {view.item_code} {view.item_name}",
        f"  applicant  {view.applicant_name} ({mask_id(view.applicant_id)})",
    ]
    if view.missing:
        lines.append(f"  missing    {', '.join(view.missing)}")
    if view.requested:
        lines.append(f"  REQUESTED  {', '.join(view.requested)} -- bring them and run "
                     f"'bianmin node supplement {view.case_id} --material CODE[=PATH]'")
    if view.pending is not None:
        lines.append(f"  decided by township {view.pending.record.split('#')[0]}: not yet "
                     "confirmed by the county (it may still refuse it)")
    if view.reason:
        lines.append(f"  reason     {view.reason} ({view.operator})")
    lines += [f"  ! {flag}" for flag in view.flags]
    if code:
        lines.append(f"  verification code {code} (print it on the result slip)")
    if view.catalog_expired:
        lines.append(f"  ! taken under catalog version {view.catalog_version} after it expired")
    lines.append("  history")
    lines += [f"    {e['at'].astimezone(CST):%Y-%m-%d %H:%M}  {e['log_id']}#{e['seq']}  "
              f"{e['event']}" for e in events]
    out.result({**_case_json(view), "verification_code": code, "history": events}, lines)


@bianmin_command(node, "sync")
def sync_cmd(home: Path, out: Output) -> None:
    """One round with the upstream: push unsynced records, pull what is new. An upstream that
    cannot be reached is not an error: what waits is queued here, safe, and the command says so
    and exits 3 (docs/operations.md)."""
    progress = TerminalProgress() if sys.stderr.isatty() and not out.as_json else None
    with open_node(home, clock()) as service:
        try:
            report = _sync_round(home, service, out, progress)
        except TransportError as exc:
            if progress is not None:
                progress.finish()
            waiting = service.queued()
            out.result({"reachable": False, "queued": waiting, "message": str(exc)},
                       f"not synced: {exc}. {waiting[0].upper()}{waiting[1:]}.")
            sys.exit(EXIT_QUEUED)
        finally:
            if progress is not None:
                progress.finish()
    text = [f"pushed {report.pushed} record(s), {report.received} case(s) now received "
            f"upstream; pulled {report.pulled} record(s): {report.decisions} decision(s)"
            + (f", catalog version {report.catalog_version}" if report.catalog_version else "")
            + (f"; uploaded {report.blobs} file(s), {report.blob_bytes} bytes"
               if report.blobs else "")]
    text += [f"  without effect upstream: {line}" for line in report.no_effect]
    if report.recovered:
        text.append(f"  fetched {report.recovered} record(s) of this node's own log back from "
                    "the upstream (this database was older than what the node had sent)")
    if report.lost_scans:
        text.append(f"  {len(report.lost_scans)} scan(s) named by records are not at this desk "
                    "(lost or empty): the county will ask for them again; see 'bianmin node "
                    "cases'")
    out.result({"pushed": report.pushed, "received": report.received,
                "pulled": report.pulled, "decisions": report.decisions,
                "catalog_version": report.catalog_version, "blobs": report.blobs,
                "blob_bytes": report.blob_bytes, "no_effect": report.no_effect,
                "lost_scans": report.lost_scans,
                **({"recovered": report.recovered, "not_reprojected": report.not_reprojected}
                   if report.recovered else {})}, text)


def _sync_round(home: Path, service: NodeService, out: Output,
                progress: TerminalProgress | None) -> SyncReport:
    """A round with the upstream, or, if it cannot be reached and a fallback is set, with
    the county directly."""
    try:
        with upstream_client(home, service.config,
                             call_timeout_s=ONE_SHOT.call_timeout_s) as client:
            return service.sync(client, ONE_SHOT, progress=progress)
    except TransportError as exc:
        if not service.config.fallback:
            raise
        out.note(f"{exc}; trying the county directly at {service.config.fallback}")
        with upstream_client(home, service.config, call_timeout_s=ONE_SHOT.call_timeout_s,
                             fallback=True) as client:
            return service.sync(client, ONE_SHOT, progress=progress)


def _cst(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(CST).strftime("%Y-%m-%d %H:%M")


@bianmin_command(node, "status")
def status(home: Path, out: Output) -> None:
    """This node: identity, upstream reachable or not, last sync, what is unsynced, catalog."""
    with open_node(home, clock()) as service:
        info = service.status()
        try:
            with upstream_client(home, service.config, call_timeout_s=2.0) as client:
                client.blob_status([])
            info["upstream_reachable"] = True
        except SyncError:
            info["upstream_reachable"] = False
    catalog: Any = info["catalog"]
    revoked: Any = info["revoked"]
    failure: Any = info["last_failure"]
    last = str(info["last_sync"] or "")
    lines = [
        f"node {info['node_id']} ({info['tier']}), upstream {info['upstream']}: "
        + ("reachable" if info["upstream_reachable"] else "NOT reachable"),
        "  last successful sync "
        + (_cst(last) if last else "never")
        + (" (the last attempt failed)" if info["last_attempt_failed"] and not failure else ""),
        *([f"  the last attempt failed at {_cst(failure['at'])}: {failure['reason']}"]
          if failure else []),
        f"  log head {info['log_head']}, synced up to {info['synced_seq']} "
        f"({info['unsynced_records']} unsynced records, {info['unsynced_bytes']} bytes with "
        "their files)",
        f"  cases {info['cases']}",
        *([f"  {info['open_alarms']} open alarm(s): records from the upstream were refused"]
          if info["open_alarms"] else []),
        f"  catalog version {catalog.get('version') or 'none'}"
        + (f", expires {catalog['expires_at'][:10]}" if catalog.get("expires_at") else "")
        + (" (EXPIRED: intake continues, cases are flagged; sync to renew)"
           if catalog.get("expired") else ""),
    ]
    if revoked:
        lines.insert(0, f"THIS NODE IS REVOKED from seq {revoked['from_seq']} "
                        f"({revoked['reason']}): the county refuses its new records")
    out.result(info, lines)


@bianmin_command(node, "rotate-key")
def rotate_key(home: Path, out: Output) -> None:
    """Continue this node's log under a new records key, certified by the upstream."""
    with open_node(home, clock()) as service, upstream_client(home, service.config,
                         call_timeout_s=ONE_SHOT.call_timeout_s) as client:
        record = service.rotate_key(client)
    out.result({"record": str(record), "key_id": service.signer.key_id},
               f"new records key {service.signer.key_id.hex()[:16]} in force from "
               f"{service.config.node_id}#{record.seq + 1}; records signed under the old key "
               "still verify")


@bianmin_command(node, "supplement")
@click.argument("case_id")
@click.option("--material", "materials", multiple=True, metavar="CODE[=PATH]",
              help="A material brought (补正); CODE=PATH also stores its scan. Repeat.")
def supplement(home: Path, out: Output, case_id: str, materials: tuple[str, ...]) -> None:
    """Add materials the applicant brought; the case is pre-reviewed again."""
    with open_node(home, clock()) as service, _saving(service, "the supplement"):
        record, state, review = service.supplement(case_id, _materials(materials))
    out.result({"case_id": case_id, "state": state.value, "record": str(record),
                "pre_review": {"complete": review.complete, "missing": list(review.missing)}},
               f"case {case_id} supplemented ({state.value}); pre-review "
               + ("complete" if review.complete else f"still missing {', '.join(review.missing)}"))


@bianmin_command(node, "withdraw")
@click.argument("case_id")
@click.option("--reason", required=True, help="Why the applicant withdraws.")
def withdraw(home: Path, out: Output, case_id: str, reason: str) -> None:
    """The applicant withdraws the case (撤回); refused upstream if already decided."""
    with open_node(home, clock()) as service:
        record, state = service.withdraw(case_id, reason)
    out.result({"case_id": case_id, "state": state.value, "record": str(record)},
               f"case {case_id} withdrawn; the county learns it with the next sync")


@bianmin_command(node, "conclude")
@click.argument("case_id")
@click.option("--note", default="", help="e.g. who collected the result.")
def conclude(home: Path, out: Output, case_id: str, note: str) -> None:
    """The result was handed to the applicant (办结)."""
    with open_node(home, clock()) as service:
        record, state = service.conclude(case_id, note)
    out.result({"case_id": case_id, "state": state.value, "record": str(record)},
               f"case {case_id} concluded")


class TerminalProgress:
    """A one-line progress display for a long sync, on a terminal only (stderr): the real
    totals from the start (the syncer counts what waits before it sends), the rate so far,
    and what is left at that rate."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.shown = 0.0
        self.used = False

    def update(self, *, records: int, records_total: int, bytes_sent: int,
               bytes_total: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.2 and records < records_total:
            return
        self.shown, self.used = now, True
        click.echo("\r" + progress_line(records=records, records_total=records_total,
                                        bytes_sent=bytes_sent, bytes_total=bytes_total,
                                        elapsed=now - self.started) + "   ", nl=False, err=True)

    def finish(self) -> None:
        if self.used:
            click.echo("", err=True)
            self.used = False


def progress_line(*, records: int, records_total: int, bytes_sent: int, bytes_total: int,
                  elapsed: float) -> str:
    """``pushed 1200/10000 records, 12.3/90.0 MB, 1.1 MB/s, about 1 min 10 s left``."""
    mb = 1 << 20
    line = (f"pushed {records}/{records_total} records, "
            f"{bytes_sent / mb:.1f}/{bytes_total / mb:.1f} MB")
    if bytes_sent <= 0 or elapsed < 1.0:
        return line + ", estimating the time left"
    rate = bytes_sent / elapsed
    left = max(0.0, (bytes_total - bytes_sent) / rate)
    return line + f", {rate / mb:.2f} MB/s, about {_duration(left)} left"


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


@bianmin_command(node, "run")
@click.option("--interval", type=click.FloatRange(1, 86400),
              help="Seconds between rounds when nothing new happens [default: run.interval_s "
              "in node.toml, or 60].")
@click.option("--log-format", type=click.Choice(["text", "json"]),
              help="One line per round, as text or as a JSON object [default: run.log_format].")
@click.option("--rounds", type=click.IntRange(min=1), hidden=True,
              help="Stop after this many rounds (for tests).")
def run_cmd(home: Path, out: Output, interval: float | None, log_format: str | None,
            rounds: int | None) -> None:
    """Keep syncing with the upstream until SIGTERM or SIGINT."""
    with open_node(home, clock(), thorough=True) as service:
        interval = interval or service.config.run.interval_s
        log_format = log_format or service.config.run.log_format
        with upstream_client(home, service.config, call_timeout_s=30) as client:
            run_daemon(service, client,
                       DaemonSettings(interval_s=interval, log_json=log_format == "json",
                                      max_rounds=rounds),
                       write=click.echo)


@node.group()
def blob() -> None:
    """Attachments stored at this node."""


@bianmin_command(blob, "get")
@click.argument("sha256")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path,
                                                                  dir_okay=False))
def blob_get(home: Path, out: Output, sha256: str, out_path: Path) -> None:
    """Copy a stored attachment (by its sha256) to a file."""
    digest = _sha256_arg(sha256)
    with open_node(home, clock()) as service:
        source = service.blobs.open(digest)
        shutil.copyfile(source, out_path)
    out.result({"sha256": sha256, "out": out_path, "size": out_path.stat().st_size},
               f"{out_path}: {out_path.stat().st_size} bytes")


def _sha256_arg(text: str) -> bytes:
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise UsageError(f"{text!r} is not a sha256 (64 hexadecimal digits)")
    return digest


@bianmin_command(node, "backup")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path,
                                                                  dir_okay=False))
def backup(home: Path, out: Output, out_path: Path) -> None:
    """Copy the node's database with SQLite's online backup, then reopen the copy and check
    it (the node may keep working meanwhile). Attachments in blobs/ are plain files: copy them
    with rsync or the like."""
    report = backup_node(home, out_path)
    out.result(report, f"{out_path}: {report['records']} records, {report['cases']} cases, "
                       f"integrity {report['integrity']}")


@bianmin_command(node, "restore")
@click.argument("backup_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def restore(home: Path, out: Output, backup_file: Path) -> None:
    """Put a backup made by 'node backup' in place of this node's database (the one it
    replaces is kept beside it, renamed). The node then fetches from its upstream what it had
    sent after the backup was made, and signs nothing until it has (docs/operations.md)."""
    check_home(home)
    config = NodeConfig.load(home)
    with home_held(home, by="restore"):
        done = restore_node(home, backup_file, node_id=config.node_id, clock=clock())
    _catch_up_now(home, out, {**done}, f"restored {backup_file}: {done['cases']} case(s), "
                  f"log up to seq {done['log_head']}"
                  + (f"; the database it replaced is kept as {done['kept']}"
                     if done["kept"] else ""))


@bianmin_command(node, "recover")
@click.option("--token", default=None, help="A key-replacement token ('bianmin hub token "
              "--replace-keys'), when the keys are lost too: the node re-enrols under new keys "
              "into an empty --home and its log continues.")
@click.option("--upstream", default=None, help="With --token: HOST:PORT of the upstream's "
              "sync service.")
@click.option("--enrol", "enrol_address", default=None, help="With --token: HOST:PORT of the "
              "enrolment service (default: the upstream's port + 1).")
@click.option("--fallback", default=None, help="With --token: HOST:PORT of the county hub, "
              "for a village under a township.")
def recover(home: Path, out: Output, token: str | None, upstream: str | None,
            enrol_address: str | None, fallback: str | None) -> None:
    """Rebuild a lost or damaged database from the upstream, which holds every record of this
    node's log it acknowledged: this node's keys and certificates (in the home folder) check
    that every record fetched back is its own. The damaged file is kept beside, renamed.
    With --token, when the keys are lost as well: re-enrol under new keys, fetch the log back
    and continue it (the old keys sign nothing more at the county)."""
    if token is not None or upstream is not None:
        if token is None or upstream is None:
            raise UsageError("--token and --upstream go together: a key-replacement token and "
                             "the upstream to re-enrol with", code="missing_option")
        config = init_node(home, upstream=upstream, token=token, clock=clock(),
                           enrol_address=enrol_address, fallback=fallback, replacing=True)
        _catch_up_now(home, out, {"node_id": config.node_id, "keys_replaced": True},
                      f"re-enrolled {config.tier} {config.node_id} under new keys")
        return
    if enrol_address is not None or fallback is not None:
        raise UsageError("--enrol and --fallback only go with --token", code="conflicting_options")
    check_home(home)
    with home_held(home, by="recover"):
        fresh = fresh_database(home, home / "certs" / "records.pem", clock())
        kept = set_aside(home / "node.db", "damaged", clock())
        fresh.replace(home / "node.db")
    _catch_up_now(home, out, {"kept": str(kept or "")},
                  "a new, empty database" + (f" (the old one is kept as {kept})" if kept else ""))


def _catch_up_now(home: Path, out: Output, done: dict[str, object], said: str) -> None:
    """One sync round at once, so the node catches up; an unreachable upstream leaves it to
    the next round (the node signs nothing meanwhile)."""
    with open_node(home, clock()) as service:
        try:
            report = _sync_round(home, service, out, None)
        except TransportError as exc:
            out.result({**done, "caught_up": False, "message": str(exc)},
                       f"{said}. The upstream cannot be reached ({exc}): this node takes no "
                       "cases until 'bianmin node sync' has fetched its newer records back")
            sys.exit(EXIT_QUEUED)
        cases = len(service.cases())
    lines = [f"{said}. Fetched {report.recovered} record(s) of this node's own log back from "
             f"the upstream and {report.pulled} of the county's; {cases} case(s) here now"]
    if report.keys_replaced:
        lines.append("  the log continues under the new key (its KeyReplaced record goes up "
                     "with this round); the old keys sign nothing more at the county")
    lines += [f"  still without effect here: {line}" for line in report.not_reprojected]
    out.result({**done, "caught_up": True, "recovered": report.recovered,
                "pulled": report.pulled, "cases": cases,
                "not_reprojected": report.not_reprojected}, lines)


def _mount_desk_commands() -> None:
    from node.desk.cli import account  # noqa: PLC0415 -- issue 11: the desk's accounts

    node.add_command(account)


_mount_desk_commands()
