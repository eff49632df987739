"""``bianmin hub ...``: the county IT team's and operators' commands. Thin shells."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from county_hub.actions import decide as decide_case
from county_hub.actions import publish_catalog
from county_hub.enrolment import issue_token
from county_hub.hub import Hub, init_hub
from county_hub.server import ServeInfo
from county_hub.server import serve as serve_hub
from node.catalog import parse_catalog_toml
from node.cli_support import Output, bianmin_command
from node.clock import CST, SystemClock
from node.errors import UsageError
from node.identity import fingerprint
from node.payloads import CatalogPublished, Outcome

__all__ = ["hub"]


@click.group()
def hub() -> None:
    """The county hub: CA, enrolment, catalog, approvals."""


def _open(home: Path) -> Hub:
    return Hub.open(home, SystemClock())


def _read_catalog(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read catalog file {path}: {exc.strerror}") from exc
    return parse_catalog_toml(text, source=str(path))


@bianmin_command(hub, "init")
@click.option("--county-code", required=True, help="6-digit administrative division code.")
@click.option("--name", "county_name", required=True, help="The county's name, e.g. 新建区.")
@click.option("--db", "db_url", help="Database URL (default: SQLite file hub.db in --home).")
@click.option("--catalog", "catalog_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Publish this catalog (TOML) as version 1.")
def init(home: Path, out: Output, county_code: str, county_name: str, db_url: str | None,
         catalog_path: Path | None) -> None:
    """Create the county CA, the hub's keys and its database."""
    catalog = _read_catalog(catalog_path) if catalog_path else None
    if catalog is not None and catalog.county_code != county_code:
        raise UsageError(f"{catalog_path} is the catalog of county {catalog.county_code}, not "
                         f"{county_code}")
    clock = SystemClock()
    config = init_hub(home, county_code=county_code, county_name=county_name, db_url=db_url,
                      clock=clock)
    the_hub = Hub.open(home, clock)
    try:
        version = publish_catalog(the_hub, catalog).seq if catalog is not None else 0
        ca_fp = fingerprint(the_hub.keys.ca_cert)
    finally:
        the_hub.close()
    out.result(
        {"county_code": config.county_code, "name": config.county_name, "home": home,
         "ca_fingerprint": ca_fp, "catalog_version": version},
        [f"hub of {config.county_code} {config.county_name} created in {home}",
         f"  county CA fingerprint (sha256) {ca_fp}",
         f"  catalog version {version}" if version else
         "  no catalog yet: bianmin hub catalog publish FILE"],
    )


@bianmin_command(hub, "serve")
@click.option("--listen", default="127.0.0.1:50051", show_default=True,
              help="HOST:PORT for sync (mutual TLS); port 0 lets the OS choose.")
@click.option("--enrol-listen", help="HOST:PORT for enrolment (server TLS) "
              "[default: the sync port + 1, or OS-chosen when the sync port is 0].")
@click.option("--workers", default=32, show_default=True, help="Threads serving calls.")
def serve(home: Path, out: Output, listen: str, enrol_listen: str | None, workers: int) -> None:
    """Serve sync and enrolment over gRPC until SIGTERM or SIGINT."""
    host, _sep, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--listen {listen!r} is not HOST:PORT")
    if enrol_listen is None:
        enrol_listen = f"{host}:{int(port) + 1 if int(port) else 0}"

    def ready(info: ServeInfo) -> None:
        out.result(dict(info.__dict__),
                   f"hub {info.node_id} of county {info.county_code} serving sync on "
                   f"{info.sync} (mutual TLS) and enrolment on {info.enrol}; pid {info.pid}")
        sys.stdout.flush()

    try:
        serve_hub(home, listen=listen, enrol_listen=enrol_listen, clock=SystemClock(),
                  on_ready=ready, max_workers=workers)
    except OSError as exc:
        raise UsageError(f"cannot serve: {exc}", code="cannot_listen") from exc


@bianmin_command(hub, "token")
@click.option("--node-id", required=True, help="The node to enrol, e.g. V001.")
@click.option("--tier", type=click.Choice(["village", "township"]), required=True)
@click.option("--name", default="", help="Human name of the node, e.g. 某某村便民服务站.")
@click.option("--parent", default="", help="Township the village belongs to (default: none).")
@click.option("--ttl-hours", default=168, show_default=True, type=click.IntRange(1, 24 * 90))
def token(home: Path, out: Output, node_id: str, tier: str, name: str, parent: str,
          ttl_hours: int) -> None:
    """Make a one-time enrolment token for a node."""
    the_hub = _open(home)
    try:
        issued = issue_token(the_hub, node_id=node_id, tier=tier, name=name, parent=parent,
                             ttl=dt.timedelta(hours=ttl_hours))
    finally:
        the_hub.close()
    out.result(
        {"token": issued.token, "node_id": issued.node_id, "tier": issued.tier,
         "name": issued.name, "parent": issued.parent, "expires_at": issued.expires_at,
         "ca_fingerprint": issued.ca_fingerprint},
        [issued.token,
         f"  for {issued.tier} {issued.node_id} ({issued.name}), valid until "
         f"{issued.expires_at.astimezone(CST):%Y-%m-%d %H:%M} CST, use once"],
    )


@hub.group()
def catalog() -> None:
    """The county's catalog of service items."""


@bianmin_command(catalog, "publish")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--valid-days", default=365, show_default=True, type=click.IntRange(1, 3650))
def publish(home: Path, out: Output, path: Path, valid_days: int) -> None:
    """Sign and publish the next catalog version."""
    parsed = _read_catalog(path)
    the_hub = _open(home)
    try:
        record = publish_catalog(the_hub, parsed, validity=dt.timedelta(days=valid_days))
    finally:
        the_hub.close()
    payload = record.payload
    assert isinstance(payload, CatalogPublished)
    out.result({"version": payload.version, "items": len(parsed.items),
                "hash": record.hash, "expires_at": payload.expires_at},
               f"catalog version {payload.version} published: {len(parsed.items)} items, "
               f"expires {payload.expires_at.astimezone(CST):%Y-%m-%d}")


def _case_json(view: Any) -> dict[str, Any]:
    return {
        "case_id": view.case_id, "item": view.item_code, "item_name": view.item_name,
        "state": view.state, "origin_node": view.origin_node,
        "applicant_name": view.applicant_name, "complete": view.complete,
        "missing": list(view.missing), "reason": view.reason, "operator": view.operator,
        "received_at": view.received_at, "decided_at": view.decided_at,
    }


@bianmin_command(hub, "cases")
@click.option("--state", help="Only cases in this state (e.g. received, approved).")
def cases(home: Path, out: Output, state: str | None) -> None:
    """Cases the hub holds."""
    the_hub = _open(home)
    try:
        with the_hub.store.db.read() as conn:
            views = the_hub.store.list_cases(conn, state=state)
    finally:
        the_hub.close()
    lines = [f"{v.case_id}  {v.item_code:<7} {v.state:<9} {v.applicant_name}"
             + ("" if v.complete else f"  (incomplete: missing {', '.join(v.missing)})")
             + (f"  -- {v.reason}" if v.reason else "")
             for v in views] or ["no cases"]
    out.result({"cases": [_case_json(v) for v in views]}, lines)


@bianmin_command(hub, "decide")
@click.argument("case_id")
@click.option("--approve", "outcome", flag_value=Outcome.APPROVE.value)
@click.option("--reject", "outcome", flag_value=Outcome.REJECT.value)
@click.option("--reason", required=True, help="Why; shown to the applicant.")
@click.option("--operator", required=True, help="The operator deciding.")
def decide(home: Path, out: Output, case_id: str, outcome: str | None, reason: str,
           operator: str) -> None:
    """Record a signed decision on a case (accepting it first if it is only received)."""
    if outcome is None:
        raise click.UsageError("give --approve or --reject")
    the_hub = _open(home)
    try:
        record, state = decide_case(the_hub, case_id, outcome=Outcome(outcome), reason=reason,
                                    operator=operator)
    finally:
        the_hub.close()
    out.result({"case_id": case_id, "state": state.value, "record": f"{record}",
                "hash": record.hash},
               f"case {case_id} {state.value} by {operator}: {reason} (record {record})")


@bianmin_command(hub, "nodes")
def nodes(home: Path, out: Output) -> None:
    """Enrolled nodes and when they were last seen."""
    the_hub = _open(home)
    try:
        with the_hub.store.db.read() as conn:
            rows = the_hub.store.list_nodes(conn)
            heads = {r.node_id: the_hub.store.logs.head(conn, r.node_id).seq for r in rows}
    finally:
        the_hub.close()
    out.result(
        {"nodes": [{**r.__dict__, "synced_seq": heads[r.node_id]} for r in rows]},
        [f"{r.node_id:<6} {r.tier:<9} {r.name}  synced up to {heads[r.node_id]}, last seen "
         + (f"{r.last_seen.astimezone(CST):%Y-%m-%d %H:%M}" if r.last_seen else "never")
         for r in rows] or ["no nodes enrolled"],
    )
