"""``bianmin hub ...``: the county IT team's and operators' commands. Thin shells."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from county_hub.accounts import TOKEN_ENV, Actor, cli_actor, hub_book, operator_of, read_token
from county_hub.actions import publish_catalog, resolve_alarm
from county_hub.actions import revoke as revoke_node
from county_hub.audit import export_case, verify_all
from county_hub.blobs import DbBlobStore
from county_hub.delegation import grant as grant_delegation
from county_hub.delegation import withdraw as withdraw_delegation
from county_hub.enrolment import issue_token
from county_hub.health import hub_health
from county_hub.home import HubConfig
from county_hub.hub import HUB_RESTORE, Hub, init_hub
from county_hub.operators import add_operator, disable_operator, import_operators, list_operators
from county_hub.processes import serve_processes
from county_hub.server import ServeInfo
from county_hub.server import serve as serve_hub
from county_hub.supervision import (
    GROUPINGS,
    hub_calendar,
    load_calendar,
    node_views,
    stats,
    supervise,
    trail,
)
from county_hub.workflow import ROLES, ActResult, act, parse_operators_toml
from node.cli_support import (
    RESTORE_ADVICE,
    Output,
    bianmin_command,
    clock,
    one_of,
    serve_settings,
)
from node.kernel.authority import AUTHORITY, EFFECTS, REASONS
from node.kernel.catalog import parse_catalog_toml
from node.kernel.clock import CST, describe_skew
from node.kernel.deadlines import Calendar, parse_calendar_toml
from node.kernel.errors import BianminError, UsageError
from node.kernel.identity import fingerprint
from node.kernel.payloads import CatalogPublished, NodeRevoked
from node.kernel.workflow import Action

__all__ = ["hub"]

RESTORE_ADVICE["hub.toml"] = lambda _home: HUB_RESTORE


@click.group()
def hub() -> None:
    """The county hub: CA, enrolment, catalog, approvals."""


def _open(home: Path) -> Hub:
    return Hub.open(home, clock())


def _read_calendar(path: Path) -> Calendar:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read calendar file {path}: {exc.strerror}") from exc
    return parse_calendar_toml(text, source=str(path))


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
@click.option("--calendar", "calendar_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Working-day calendar (TOML: holidays, adjusted working days).")
def init(home: Path, out: Output, county_code: str, county_name: str, db_url: str | None,
         catalog_path: Path | None, calendar_path: Path | None) -> None:
    """Create the county CA, the hub's keys and its database."""
    catalog = _read_catalog(catalog_path) if catalog_path else None
    calendar = _read_calendar(calendar_path) if calendar_path else None
    if catalog is not None and catalog.county_code != county_code:
        raise UsageError(f"{catalog_path} is the catalog of county {catalog.county_code}, not "
                         f"{county_code}")
    the_clock = clock()
    config = init_hub(home, county_code=county_code, county_name=county_name, db_url=db_url,
                      clock=the_clock)
    with Hub.open(home, the_clock) as the_hub:
        version = publish_catalog(the_hub, catalog).seq if catalog is not None else 0
        if calendar is not None:
            load_calendar(the_hub, calendar)
        ca_fp = fingerprint(the_hub.keys.ca_cert)
    out.result(
        {"county_code": config.county_code, "name": config.county_name, "home": home,
         "ca_fingerprint": ca_fp, "catalog_version": version},
        [f"hub of {config.county_code} {config.county_name} created in {home}",
         f"  county CA fingerprint (sha256) {ca_fp}",
         f"  catalog version {version}" if version else
         "  no catalog yet: bianmin hub catalog publish FILE"],
    )


@bianmin_command(hub, "serve")
@click.option("--listen", help="HOST:PORT for sync (mutual TLS); port 0 lets the OS choose "
              "[default: serve.listen in hub.toml, or 127.0.0.1:50051].")
@click.option("--enrol-listen", help="HOST:PORT for enrolment (server TLS) "
              "[default: the sync port + 1, or OS-chosen when the sync port is 0].")
@click.option("--metrics", help="HOST:PORT to serve Prometheus metrics on [default: off].")
@click.option("--log-format", type=click.Choice(["text", "json"]),
              help="Log lines as text or one JSON object per line (stderr).")
@click.option("--workers", type=click.IntRange(1, 1000), help="Threads serving calls.")
@click.option("--processes", type=click.IntRange(1, 64),
              help="Serving processes sharing the ports (SO_REUSEPORT) [default: 1]; one "
              "process uses about one core.")
@click.option("--worker", is_flag=True, hidden=True,
              help="Serve as one of --processes N's processes (started by the supervisor).")
def serve(home: Path, out: Output, listen: str | None, enrol_listen: str | None,
          metrics: str | None, log_format: str | None, workers: int | None,
          processes: int | None, worker: bool) -> None:
    """Serve sync and enrolment over gRPC until SIGTERM or SIGINT."""
    config = HubConfig.load(home)
    settings = serve_settings(config.serve, listen=listen, enrol_listen=enrol_listen,
                              metrics=metrics, log_format=log_format, workers=workers,
                              processes=processes)

    def ready(info: ServeInfo) -> None:
        out.result(dict(info.__dict__),
                   f"hub {info.node_id} of county {info.county_code} serving sync on "
                   f"{info.sync} (mutual TLS) and enrolment on {info.enrol}; pid {info.pid}"
                   + (f" with {len(info.processes)} serving processes "
                      f"{', '.join(map(str, info.processes))}" if info.processes else "")
                   + (f"; metrics on http://{info.metrics}/metrics" if info.metrics else ""))
        sys.stdout.flush()

    try:
        if settings.processes > 1 and not worker:
            serve_processes(home, settings=settings, clock=clock(), on_ready=ready)
        else:
            serve_hub(home, settings=settings, clock=clock(), on_ready=ready, worker=worker)
    except OSError as exc:
        raise UsageError(f"cannot serve: {exc}", code="cannot_listen") from exc


@bianmin_command(hub, "health")
@click.option("--address", help="HOST:PORT of the sync port to ask [default: the 'hub serve' "
              "running from --home]; the enrolment port is then its port + 1.")
@click.option("--enrol-address", help="HOST:PORT of the enrolment port to ask.")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=5.0, show_default=True,
              help="Seconds to wait for each answer.")
def health(home: Path, out: Output, address: str | None, enrol_address: str | None,
           timeout: float) -> None:
    """Ask the serving hub whether it serves; exit 1 (one line on stderr) unless it does."""
    probes = hub_health(home, address=address, enrol_address=enrol_address, timeout_s=timeout)
    out.result({"serving": True, "probes": probes},
               "hub HUB serving: " + "; ".join(str(p) for p in probes))


@bianmin_command(hub, "token")
@click.option("--node-id", required=True, help="The node to enrol, e.g. V001.")
@click.option("--tier", type=click.Choice(["village", "township"]),
              help="The new node's tier (required unless --replace-keys).")
@click.option("--name", default="", help="Human name of the node, e.g. 某某村便民服务站.")
@click.option("--parent", default="", help="Township the village belongs to (default: none).")
@click.option("--ttl-hours", default=168, show_default=True, type=click.IntRange(1, 24 * 90))
@click.option("--replace-keys", "replace_keys", metavar="REASON", default="",
              help="For an enrolled node whose keys were lost (box stolen, wiped): a token "
                   "that re-enrols it under new keys ('bianmin node recover --token'); its old "
                   "keys sign nothing more here. Give the reason.")
def token(home: Path, out: Output, node_id: str, tier: str | None, name: str, parent: str,
          ttl_hours: int, replace_keys: str) -> None:
    """Make a one-time enrolment token for a node (or, with --replace-keys, for an enrolled
    node that lost its keys)."""
    if replace_keys and (tier or name or parent):
        raise UsageError("--replace-keys re-enrols a node as it is enrolled: leave out --tier, "
                         "--name and --parent", code="conflicting_options")
    if not replace_keys and not tier:
        raise UsageError("--tier is required: village or township", code="missing_option")
    with _open(home) as the_hub:
        issued = issue_token(the_hub, node_id=node_id, tier=tier or "", name=name,
                             parent=parent, ttl=dt.timedelta(hours=ttl_hours),
                             replace_keys=replace_keys)
    out.result(
        {"token": issued.token, "node_id": issued.node_id, "tier": issued.tier,
         "replaces_keys": bool(replace_keys),
         "name": issued.name, "parent": issued.parent, "expires_at": issued.expires_at,
         "ca_fingerprint": issued.ca_fingerprint},
        [issued.token,
         f"  for {issued.tier} {issued.node_id} ({issued.name}), valid until "
         f"{issued.expires_at.astimezone(CST):%Y-%m-%d %H:%M} CST, use once"
         + (f"; replaces its keys: at the new box run 'bianmin node recover --home HOME "
            f"--upstream HOST:PORT --token {issued.token[:8]}...'" if replace_keys else "")],
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
    with _open(home) as the_hub:
        record = publish_catalog(the_hub, parsed, validity=dt.timedelta(days=valid_days))
    payload = record.payload
    assert isinstance(payload, CatalogPublished)
    out.result({"version": payload.version, "items": len(parsed.items),
                "hash": record.hash, "expires_at": payload.expires_at},
               f"catalog version {payload.version} published: {len(parsed.items)} items, "
               f"expires {payload.expires_at.astimezone(CST):%Y-%m-%d}")


def _case_json(view: Any) -> dict[str, Any]:
    return {
        "case_id": view.case_id, "item": view.item_code, "item_name": view.item_name,
        "state": view.state, "origin_node": view.origin, "provisional": view.provisional,
        "applicant_name": view.applicant_name, "complete": view.complete,
        "missing": list(view.missing), "reason": view.reason, "operator": view.operator,
        "received_at": view.received_at, "decided_at": view.decided_at,
        "flags": list(view.flags),
    }


@bianmin_command(hub, "cases")
@click.option("--state", help="Only cases in this state (e.g. received, approved).")
def cases(home: Path, out: Output, state: str | None) -> None:
    """Cases the hub holds."""
    with _open(home) as the_hub, the_hub.store.reading() as r:
        views = r.cases.list(state=state)
    lines = [f"{v.case_id}  {v.item_code:<7} {v.state:<9} {v.applicant_name}"
             + ("" if v.complete else f"  (incomplete: missing {', '.join(v.missing)})")
             + (f"  -- {v.reason}" if v.reason else "")
             + "".join(f"\n    ! {f}" for f in v.flags)
             for v in views] or ["no cases"]
    out.result({"cases": [_case_json(v) for v in views]}, lines)


def _report_act(out: Output, result: ActResult, verb: str) -> None:
    decision = result.decision
    code = decision.verification_code if decision else ""
    out.result({"case_id": result.case_id, "state": result.state.value,
                "records": [str(r) for r in result.records],
                "verification_code": code},
               f"case {result.case_id} {verb}: now {result.state.value.replace('_', ' ')} "
               f"(records {', '.join(str(r) for r in result.records)})"
               + (f"; verification code {code}" if code else ""))


@dataclass(frozen=True)
class OperatorArg:
    """Who an operator command says acts, and the credential it gives for it
    (``county_hub.accounts.cli_actor`` decides)."""

    name: str | None
    token: str | None
    local_admin: bool

    def actor(self, the_hub: Hub, *, registered: bool = True) -> Actor:
        return cli_actor(the_hub, operator=self.name, token=self.token,
                         local_admin=self.local_admin, registered=registered)


def OPERATOR(fn: Callable[..., None]) -> Callable[..., None]:  # noqa: N802 -- an option set
    """``--operator``, ``--token-file`` and ``--local-admin``, given to the command as one
    ``OperatorArg`` named ``operator``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, operator: str | None, token_file: Path | None,
                local_admin: bool, **kwargs: Any) -> None:
        token = read_token(token_file, os.environ.get(TOKEN_ENV))
        fn(*args, operator=OperatorArg(operator, token, local_admin), **kwargs)

    options = [
        click.option("--operator", help="The registered operator acting (with a token: "
                     "optional, the token names them)."),
        click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False),
                     help=f"The operator's personal token (or ${TOKEN_ENV}); from 'bianmin hub "
                     "operator token NAME'."),
        click.option("--local-admin", is_flag=True, envvar="BIANMIN_LOCAL_ADMIN",
                     help="Act as --operator from the hub's own shell without a credential; "
                     "the trail says 'local-admin' [or $BIANMIN_LOCAL_ADMIN=1]."),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _act(home: Path, out: Output, case_id: str, action: Action, verb: str, *,
         operator: OperatorArg, **kwargs: Any) -> None:
    with _open(home) as the_hub:
        who = operator.actor(the_hub)
        result = act(the_hub, case_id, action, operator=who.name, via=who.via, **kwargs)
    _report_act(out, result, verb)


@bianmin_command(hub, "accept")
@click.argument("case_id")
@OPERATOR
def accept(home: Path, out: Output, case_id: str, operator: OperatorArg) -> None:
    """Accept a received case into processing (受理)."""
    _act(home, out, case_id, Action.ACCEPT, "accepted", operator=operator)


@bianmin_command(hub, "not-accept")
@click.argument("case_id")
@click.option("--reason", required=True, help="Why; shown to the applicant.")
@OPERATOR
def not_accept(home: Path, out: Output, case_id: str, reason: str,
               operator: OperatorArg) -> None:
    """Decline to accept a case (不予受理), with the reason the applicant is given."""
    _act(home, out, case_id, Action.NOT_ACCEPT, "not accepted", operator=operator,
         reason=reason)


@bianmin_command(hub, "request-supplement")
@click.argument("case_id")
@click.option("--material", "materials", multiple=True, required=True, metavar="CODE",
              help="A material needed; repeat for each.")
@click.option("--reason", required=True, help="What is wrong or missing; shown to the applicant.")
@OPERATOR
def request_supplement(home: Path, out: Output, case_id: str, materials: tuple[str, ...],
                       reason: str, operator: OperatorArg) -> None:
    """Ask for more materials (补正); the case's clock pauses until they arrive."""
    _act(home, out, case_id, Action.REQUEST_SUPPLEMENT, "sent back for a supplement",
         operator=operator, reason=reason, materials=materials)


@bianmin_command(hub, "opinion")
@click.argument("case_id")
@click.option("--department", required=True, help="The department giving the opinion.")
@click.option("--favourable", is_flag=True)
@click.option("--unfavourable", is_flag=True)
@click.option("--reason", required=True)
@OPERATOR
def opinion(home: Path, out: Output, case_id: str, department: str, favourable: bool,
            unfavourable: bool, reason: str, operator: OperatorArg) -> None:
    """One department's opinion on a joint item (并联审批); any unfavourable one rejects."""
    given = one_of(favourable=favourable, unfavourable=unfavourable)
    _act(home, out, case_id, Action.OPINION, "given an opinion", operator=operator,
         reason=reason, department=department, favourable=given == "favourable")


@bianmin_command(hub, "decide")
@click.argument("case_id")
@click.option("--approve", is_flag=True)
@click.option("--reject", is_flag=True)
@click.option("--reason", required=True, help="Why; shown to the applicant.")
@OPERATOR
def decide(home: Path, out: Output, case_id: str, approve: bool, reject: bool, reason: str,
           operator: OperatorArg) -> None:
    """Approve or reject a case (a case only received is accepted and decided at once)."""
    action = (Action.APPROVE if one_of(approve=approve, reject=reject) == "approve"
              else Action.REJECT)
    _act(home, out, case_id, action, "approved" if action is Action.APPROVE else "rejected",
         operator=operator, reason=reason)


@hub.group()
def operator() -> None:
    """Operators: who may act, for which department."""


@bianmin_command(operator, "add")
@click.argument("name")
@click.option("--department", required=True, help="e.g. 区民政局 (as the catalog names it).")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="clerk and head act on their department's cases; a supervisor sees all "
              "and acts on none.")
def operator_add(home: Path, out: Output, name: str, department: str, role: str) -> None:
    """Register an operator."""
    with _open(home) as the_hub:
        add_operator(the_hub, name=name, department=department, role=role)
    out.result({"name": name, "department": department, "role": role},
               f"operator {name} ({department}, {role}) registered")


@bianmin_command(operator, "import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def operator_import(home: Path, out: Output, path: Path) -> None:
    """Register operators listed in a TOML file ([[operator]] name, department, role);
    those already registered are left as they are."""
    try:
        listed = parse_operators_toml(path.read_text(encoding="utf-8"), source=str(path))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    with _open(home) as the_hub:
        added = import_operators(the_hub, listed)
    out.result({"added": added, "listed": len(listed)},
               f"{len(added)} operator(s) registered from {path} "
               f"({len(listed) - len(added)} already were)")


@bianmin_command(operator, "list")
def operator_list(home: Path, out: Output) -> None:
    """Registered operators."""
    with _open(home) as the_hub:
        rows = list_operators(the_hub)
    out.result({"operators": [r.__dict__ for r in rows]},
               [f"{r.name:<10} {r.department:<14} {r.role:<10}"
                + ("" if r.active else " (disabled)") for r in rows]
               or ["no operators registered"])


@bianmin_command(operator, "disable")
@click.argument("name")
def operator_disable(home: Path, out: Output, name: str) -> None:
    """Disable an operator (their past actions stay on record)."""
    with _open(home) as the_hub:
        disable_operator(the_hub, name)
    out.result({"name": name, "active": False}, f"operator {name} disabled")


LOCAL = Actor(name="(hub shell)", via="local-admin")  # who changes accounts from the CLI
PASSWORD = click.option("--password", prompt="password", hide_input=True,
                        confirmation_prompt=True, envvar="BIANMIN_ACCOUNT_PASSWORD",
                        show_envvar=True,
                        help="Asked for at the terminal; or $BIANMIN_ACCOUNT_PASSWORD.")


@bianmin_command(operator, "password")
@click.argument("name")
@PASSWORD
def operator_password(home: Path, out: Output, name: str, password: str) -> None:
    """Set a registered operator's console password (making their login if need be); it
    unlocks the account and ends its sessions."""
    from county_hub.accounts import account_change, make_account  # noqa: PLC0415

    with _open(home) as the_hub:
        book = hub_book(the_hub)
        if book.get(name) is None:
            make_account(the_hub, name=name, password=password, by=LOCAL)
        else:
            book.set_password(name, password)
            account_change(the_hub, kind="password set for", name=name, by=LOCAL, detail="")
    out.result({"name": name}, f"console password of {name} set")


@bianmin_command(operator, "token")
@click.argument("name")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 3650))
def operator_token(home: Path, out: Output, name: str, days: int) -> None:
    """Issue a personal token for scripted use of the operator commands (shown once; give
    it as $BIANMIN_OPERATOR_TOKEN or --token-file)."""
    from county_hub.accounts import account_change  # noqa: PLC0415

    with _open(home) as the_hub:
        operator_of(the_hub, name)
        book = hub_book(the_hub)
        if book.get(name) is None:
            raise UsageError(f"{name} has no console account yet: set a password first with "
                             "'bianmin hub operator password NAME'", code="unknown_account")
        token = book.issue_token(name, days=days)
        account_change(the_hub, kind="token issued to", name=name, by=LOCAL,
                       detail=f"{days} days")
    out.result({"name": name, "token": token, "days": days},
               [f"token of {name} (valid {days} days; shown once, keep it secret):", token])


@bianmin_command(operator, "unlock")
@click.argument("name")
def operator_unlock(home: Path, out: Output, name: str) -> None:
    """Lift a console lockout after repeated wrong passwords."""
    from county_hub.accounts import account_change  # noqa: PLC0415

    with _open(home) as the_hub:
        hub_book(the_hub).unlock(name)
        account_change(the_hub, kind="unlocked", name=name, by=LOCAL, detail="")
    out.result({"name": name}, f"console account {name} unlocked")


@bianmin_command(operator, "totp")
@click.argument("name")
@click.option("--off", is_flag=True, help="Remove the second factor instead.")
def operator_totp(home: Path, out: Output, name: str, off: bool) -> None:
    """Give a console account a TOTP second factor (prints the secret and the otpauth URI
    for an authenticator app), or remove it."""
    from county_hub.accounts import account_change  # noqa: PLC0415
    from node.web.security import totp_uri  # noqa: PLC0415

    with _open(home) as the_hub:
        book = hub_book(the_hub)
        if off:
            book.drop_totp(name)
            account_change(the_hub, kind="second factor removed for", name=name, by=LOCAL,
                           detail="")
            out.result({"name": name, "totp": False}, f"{name}: no second factor")
            return
        secret = book.enrol_totp(name)
        account_change(the_hub, kind="second factor set for", name=name, by=LOCAL, detail="")
        uri = totp_uri(secret, name, f"bianmin {the_hub.config.county_name}")
    out.result({"name": name, "secret": secret, "uri": uri},
               [f"TOTP secret of {name}: {secret}", uri])


@bianmin_command(hub, "nodes")
def nodes(home: Path, out: Output) -> None:
    """Enrolled nodes: last heartbeat, head, what the hub holds, backlog, missing records."""
    with _open(home) as the_hub:
        views: list[dict[str, Any]] = node_views(the_hub)

    def line(v: dict[str, Any]) -> str:
        beat = v["last_heartbeat"]
        seen = f"{beat.astimezone(CST):%Y-%m-%d %H:%M}" if beat else "never"
        state = ("REVOKED" if v["revoked"] else "silent" if v["silent"] else "active")
        extra = ""
        if v["missing"]:
            lo, hi = v["missing"]
            extra += f"; missing {lo}-{hi} from {v['node_id']}" if hi > lo else (
                f"; missing {lo} from {v['node_id']}")
        if v["open_alarms"]:
            extra += f"; {v['open_alarms']} open alarm(s)"
        if v["clock_flagged"]:
            extra += f"; CLOCK {describe_skew(v['clock_skew_s'])} the county's"
        return (f"{v['node_id']:<6} {v['tier']:<9} {state:<7} heartbeat {seen}, head "
                f"{v['head_seq']}, synced {v['synced_seq']}, backlog {v['backlog']}{extra}  "
                f"{v['name']}")

    out.result({"nodes": views}, [line(v) for v in views] or ["no nodes enrolled"])


@bianmin_command(hub, "revoke")
@click.argument("node_id")
@click.option("--reason", required=True)
@OPERATOR
@click.option("--from-seq", type=click.IntRange(min=1), help="Refuse the node's records from "
              "this seq on (default: everything the hub has not yet received).")
def revoke(home: Path, out: Output, node_id: str, reason: str, operator: OperatorArg,
           from_seq: int | None) -> None:
    """Revoke a node: a signed record sent to every node; its later records are refused."""
    with _open(home) as the_hub:
        who = operator.actor(the_hub, registered=False)
        record = revoke_node(the_hub, node_id, reason=reason, operator=who.name,
                             from_seq=from_seq, via=who.via)
    payload = record.payload
    assert isinstance(payload, NodeRevoked)
    out.result({"node_id": node_id, "from_seq": payload.from_seq, "record": str(record)},
               f"{node_id} revoked from seq {payload.from_seq} on (record {record}); every "
               "node learns it with its next sync")


@hub.group("alarms", invoke_without_command=True)
@click.option("--home", type=click.Path(path_type=Path, file_okay=False),
              envvar="BIANMIN_HOME", help="The hub's data folder (default: $BIANMIN_HOME).")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved alarms.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
@click.pass_context
def alarms(ctx: click.Context, home: Path | None, include_resolved: bool,
           as_json: bool) -> None:
    """Open alarms (forks, forged or altered records, impersonation); 'resolve' closes one."""
    if ctx.invoked_subcommand is not None:
        return
    out = Output(as_json)
    if home is None:
        raise click.UsageError("Missing option '--home' (or set BIANMIN_HOME).")
    try:
        with _open(home) as the_hub, the_hub.store.reading() as r:
            found = r.open_alarms(include_resolved=include_resolved)
    except BianminError as exc:
        out.error(exc)
        sys.exit(1)
    out.result({"alarms": [a.__dict__ for a in found]},
               [f"#{a.id} {a.kind:<13} {a.node_id:<6} {a.raised_at.astimezone(CST):%Y-%m-%d %H:%M}"
                f"  {a.message}" + (f"  [resolved by {a.resolved_by}: {a.resolution}]"
                                    if a.resolved_at else "")
                for a in found] or ["no open alarms"])


@bianmin_command(alarms, "resolve")
@click.argument("alarm_id", type=int)
@OPERATOR
@click.option("--note", required=True, help="What was found and done.")
def resolve(home: Path, out: Output, alarm_id: int, operator: OperatorArg, note: str) -> None:
    """Close an alarm; a resolved fork alarm releases the node's held pushes."""
    with _open(home) as the_hub:
        who = operator.actor(the_hub, registered=False)
        resolve_alarm(the_hub, alarm_id, operator=who.name, note=note)
    out.result({"alarm": alarm_id, "resolved_by": who.name}, f"alarm #{alarm_id} resolved")


@bianmin_command(hub, "refusals")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def refusals(home: Path, out: Output, limit: int) -> None:
    """What the county refused: records kept as evidence (by reason: whether the log went on
    or stopped there), actions that had no effect (the county's signed refusals, by reason),
    and the logs stopped until an operator looks; then the most recent evidence."""
    with _open(home) as the_hub, the_hub.store.reading() as r:
        counts = r.refusal_counts()
        answered = r.answered_counts()
        recent = r.recent_evidence(limit)
        alarms = r.open_alarms()
    stopped = [{"node_id": a.node_id, "alarm": a.id, "kind": a.kind, "seq": a.seq}
               for a in alarms if a.kind == "fork"]

    def how(reason: str) -> str:
        return ("stood in its log without effect; the writer was told" if reason in AUTHORITY
                else "refused; the log takes nothing past it until the node resends it right")

    lines = ["records refused, kept as evidence:"]
    lines += [f"  {n:>6}  {reason}: {how(reason)}" for reason, n in sorted(counts.items())
              ] or ["        none"]
    lines += ["actions without effect, answered with a signed refusal:"]
    lines += [f"  {n:>6}  {code}: {_meaning(code)}" for code, n in sorted(answered.items())
              ] or ["        none"]
    lines += [f"log {s['node_id']} stopped at seq {s['seq']}: fork alarm #{s['alarm']} is open "
              f"('bianmin hub alarms resolve {s['alarm']}')" for s in stopped]
    if recent:
        lines += ["most recent evidence:"]
    lines += [f"  #{e['id']} {e['log_id']}#{e['seq']} from {e['peer']}: {e['message']}"
              for e in recent]
    out.result({"counts": counts, "answered": answered, "stopped": stopped,
                "recent": recent}, lines)


def _meaning(code: str) -> str:
    return EFFECTS.get(code) or (REASONS[code].means if code in REASONS else "")


@hub.group()
def audit() -> None:
    """Re-verify what the hub holds."""


@bianmin_command(audit, "verify")
def audit_verify(home: Path, out: Output) -> None:
    """Re-check every stored record's signature, certificate and chain from the raw bytes.
    Exits 0 only when everything verifies."""
    with _open(home) as the_hub:
        report = verify_all(the_hub)
    summary = (f"checked {report.records} records in {report.logs} logs and "
               f"{report.certificates} certificates: "
               + ("all verify" if report.clean else f"{len(report.problems)} problem(s)")
               + (f"; {report.without_effect} record(s) stand without effect, refused at "
                  "receipt and answered (see 'bianmin hub refusals')"
                  if report.without_effect else ""))
    out.result({"clean": report.clean, "records": report.records, "logs": report.logs,
                "certificates": report.certificates, "without_effect": report.without_effect,
                "problems": [p.__dict__ for p in report.problems]},
               [summary, *(f"  {p}" for p in report.problems)])
    if not report.clean:
        sys.exit(1)


@bianmin_command(hub, "export")
@click.argument("case_id")
@click.option("--out", "out_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False))
def export(home: Path, out: Output, case_id: str, out_dir: Path) -> None:
    """Write a case's records, certificates and VERIFY.md (openssl commands) to a folder."""
    with _open(home) as the_hub:
        manifest = export_case(the_hub, case_id, out_dir)
    out.result({"case_id": case_id, "out": out_dir, "records": manifest},
               f"{len(manifest)} records of {case_id} exported to {out_dir}; see "
               f"{out_dir / 'VERIFY.md'}")


@hub.group()
def calendar() -> None:
    """The working-day calendar deadlines count in."""


@bianmin_command(calendar, "load")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def calendar_load(home: Path, out: Output, path: Path) -> None:
    """Replace the calendar with a TOML file (holidays, adjusted working days 调休)."""
    loaded = _read_calendar(path)
    with _open(home) as the_hub:
        load_calendar(the_hub, loaded)
    out.result({"name": loaded.name, "holidays": len(loaded.holidays),
                "workdays": len(loaded.workdays)},
               f"calendar {loaded.name!r} loaded: {len(loaded.holidays)} holidays, "
               f"{len(loaded.workdays)} adjusted working days")


@bianmin_command(calendar, "show")
def calendar_show(home: Path, out: Output) -> None:
    """The calendar in force."""
    with _open(home) as the_hub, the_hub.store.reading() as r:
        current = hub_calendar(r)
    holidays = sorted(d.isoformat() for d in current.holidays)
    workdays = sorted(d.isoformat() for d in current.workdays)
    out.result({"name": current.name, "holidays": holidays, "workdays": workdays},
               [f"calendar {current.name or '(none loaded: weekends only)'}",
                f"  holidays: {', '.join(holidays) or 'none'}",
                f"  adjusted working days: {', '.join(workdays) or 'none'}"])


DATE = click.DateTime(formats=["%Y-%m-%d"])
_COLOUR = {"on_time": "on time", "yellow": "YELLOW", "red": "RED",
           "statutory_breach": "STATUTORY BREACH"}


@bianmin_command(hub, "supervise")
@click.option("--as-of", type=DATE, help="The day to judge deadlines on (default: today).")
@click.option("--yellow-within", default=2, show_default=True, type=click.IntRange(0, 30),
              help="Yellow when this many working days or fewer are left of the promised limit.")
def supervise_cmd(home: Path, out: Output, as_of: dt.datetime | None,
                  yellow_within: int) -> None:
    """Open cases by urgency: colour, department, operator, working days left."""
    with _open(home) as the_hub:
        day = as_of.date() if as_of else the_hub.clock.now().astimezone(CST).date()
        found = supervise(the_hub, as_of=day, yellow_within=yellow_within)
    rows: list[dict[str, Any]] = [{
        "case_id": d.case.case_id, "item": d.case.item_code, "item_name": d.case.item_name,
        "state": d.case.state, "colour": d.status.colour.value,
        "department": ", ".join(d.case.departments), "operator": d.case.operator,
        "elapsed": d.status.elapsed, "days_left": d.status.promised_left,
        "statutory_left": d.status.statutory_left, "due": d.status.promised_due,
        "statutory_due": d.status.statutory_due, "paused": d.status.paused,
    } for d in found]
    out.result({"as_of": day, "cases": rows},
               [f"as of {day}: {len(rows)} open case(s)"]
               + [f"{_COLOUR[r['colour']]:<16} {r['case_id']}  {r['item']:<7} "
                  f"{r['days_left']:>3} working day(s) left (due {r['due']})"
                  + (" [paused: waiting for a supplement]" if r["paused"] else "")
                  + f"  {r['department']}" + (f" / {r['operator']}" if r["operator"] else "")
                  for r in rows])


@bianmin_command(hub, "stats")
@click.option("--from", "since", type=DATE, help="Cases received on or after this day.")
@click.option("--to", "until", type=DATE, help="Cases received on or before this day.")
@click.option("--by", type=click.Choice(GROUPINGS), default="item", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def stats_cmd(home: Path, out: Output, since: dt.datetime | None, until: dt.datetime | None,
              by: str, fmt: str) -> None:
    """Received, accepted, concluded, approved, rejected, on-time rate, average working days
    and supplements, per item, node or department."""
    with _open(home) as the_hub:
        rows = stats(the_hub, since=since.date() if since else None,
                     until=until.date() if until else None, by=by)
    if fmt == "csv" and not out.as_json:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [by])
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
        return
    if fmt == "json":
        out = Output(True)
    columns = ["received", "accepted", "concluded", "approved", "rejected", "supplements"]
    lines = [f"{by:<28} " + " ".join(f"{c[:9]:>9}" for c in columns) + "  on time  avg days"]
    for r in rows:
        rate, avg = r["on_time_rate"], r["average_working_days"]
        lines.append(f"{r[by]!s:<28} " + " ".join(f"{r[c]!s:>9}" for c in columns)
                     + f"  {'-' if rate is None else f'{rate:.0%}':>7}"
                     + f"  {'-' if avg is None else avg!s:>8}")
    out.result({"by": by, "rows": rows}, lines if rows else ["no cases in that period"])


@bianmin_command(hub, "trail")
@click.option("--case", "case_id", help="Only this case.")
@click.option("--node", "node_id", help="Only this node.")
@click.option("--operator", help="Only this operator's actions.")
@click.option("--from", "since", type=DATE)
@click.option("--to", "until", type=DATE)
def trail_cmd(home: Path, out: Output, case_id: str | None, node_id: str | None,
              operator: str | None, since: dt.datetime | None,
              until: dt.datetime | None) -> None:
    """The audit trail: operator actions, node actions, refusals and alarms."""
    with _open(home) as the_hub:
        rows = trail(the_hub, case_id=case_id, node_id=node_id, operator=operator,
                     since=since.date() if since else None,
                     until=until.date() if until else None)
    out.result({"trail": rows},
               [f"{r['at'].astimezone(CST):%Y-%m-%d %H:%M}  {r['kind']:<20} "  # type: ignore[attr-defined]
                f"{r['case_id'] or r['node_id']}  {r['operator']}"
                + (f" ({r['via']})" if r.get("via") else "") + f"  {r['detail']}"
                + (f"  [{r['record']}]" if r["record"] else "") for r in rows]
               or ["nothing recorded for that selection"])


@hub.group()
def blob() -> None:
    """Attachments the hub holds."""


@bianmin_command(blob, "get")
@click.argument("sha256")
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path,
                                                                  dir_okay=False))
def blob_get(home: Path, out: Output, sha256: str, out_path: Path) -> None:
    """Write a stored attachment (by its sha256) to a file."""
    try:
        digest = bytes.fromhex(sha256)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise UsageError(f"{sha256!r} is not a sha256 (64 hexadecimal digits)")
    with _open(home) as the_hub:
        try:
            with out_path.open("wb") as f:
                for data in DbBlobStore(the_hub.store.db, the_hub.clock).read_all(digest):
                    f.write(data)
        except BianminError:
            out_path.unlink(missing_ok=True)
            raise
    size = out_path.stat().st_size
    out.result({"sha256": sha256, "out": out_path, "size": size}, f"{out_path}: {size} bytes")


@hub.group()
def delegation() -> None:
    """Items the county lets a township decide (下放事项)."""


@bianmin_command(delegation, "grant")
@click.argument("township")
@click.option("--item", "items", multiple=True, required=True, metavar="CODE",
              help="A delegated item (its catalog entry must say decided_by = township).")
@click.option("--from", "since", type=DATE, help="First day in force (default: now).")
@click.option("--until", type=DATE, help="Last day in force (default: a year from now).")
@OPERATOR
def delegation_grant(home: Path, out: Output, township: str, items: tuple[str, ...],
                     since: dt.datetime | None, until: dt.datetime | None,
                     operator: OperatorArg) -> None:
    """Grant a township the power to decide items; replaces its previous grant."""
    with _open(home) as the_hub:
        record = grant_delegation(
            the_hub, township, items, operator=operator.actor(the_hub, registered=False).name,
            valid_from=since.replace(tzinfo=CST) if since else None,
            valid_until=(until.replace(tzinfo=CST) + dt.timedelta(days=1, seconds=-1))
            if until else None)
    out.result({"township": township, "items": list(items), "record": str(record),
                "hash": record.hash},
               f"{township} may decide {', '.join(items)} (record {record}); it learns it "
               "with its next sync")


@bianmin_command(delegation, "withdraw")
@click.argument("township")
@click.option("--reason", required=True)
@OPERATOR
def delegation_withdraw(home: Path, out: Output, township: str, reason: str,
                        operator: OperatorArg) -> None:
    """Take a township's delegated powers back; its later decisions are refused."""
    with _open(home) as the_hub:
        record = withdraw_delegation(the_hub, township, reason=reason,
                                     operator=operator.actor(the_hub, registered=False).name)
    out.result({"township": township, "record": str(record)},
               f"delegation of {township} withdrawn (record {record})")


@bianmin_command(delegation, "list")
def delegation_list(home: Path, out: Output) -> None:
    """Delegations granted, in force or ended."""
    with _open(home) as the_hub, the_hub.store.reading() as r:
        found = r.grants()
    out.result({"delegations": [g.__dict__ for g in found]},
               [f"{g.township}: {', '.join(g.items)} from {g.valid_from:%Y-%m-%d} to "
                f"{g.valid_until:%Y-%m-%d}" + (f" (ended {g.ended_at:%Y-%m-%d %H:%M})"
                                                if g.ended_at else " (in force)")
                for g in found] or ["no delegations"])
