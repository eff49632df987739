"""``bianmin township ...``: the township clerk's commands. The township's own desk uses the
``bianmin node`` commands with the township's ``--home``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from node.cli_support import Output, bianmin_command, clock, one_of, serve_settings
from node.daemon import ROUND_POLICY, DaemonSettings
from node.enrolment import init_node
from node.home import NodeConfig
from node.kernel.errors import ConfigError
from node.kernel.payloads import Outcome
from node.kernel.slip import verification_code
from node.service import open_node, upstream_client
from township_agent.decide import current_delegation, township_cases
from township_agent.decide import decide as decide_case
from township_agent.health import township_health
from township_agent.serve import ServeInfo, one_round, village_rows
from township_agent.serve import serve as serve_township

__all__ = ["township"]


@click.group()
def township() -> None:
    """A township service center: its villages' upstream, deciding delegated items."""


@bianmin_command(township, "init")
@click.option("--upstream", required=True, help="HOST:PORT of the county hub's sync service.")
@click.option("--token", required=True, help="One-time token from 'bianmin hub token --tier "
              "township'.")
@click.option("--enrol", "enrol_address", help="HOST:PORT of the county's enrolment service "
              "(default: the upstream's port + 1).")
@click.option("--node-id", help="Refuse the token unless it was made for this node id.")
def init(home: Path, out: Output, upstream: str, token: str, enrol_address: str | None,
         node_id: str | None) -> None:
    """Make the township's keys, enrol with the county, and fetch the catalog."""
    the_clock = clock()
    config = init_node(home, upstream=upstream, token=token, clock=the_clock,
                       enrol_address=enrol_address, node_id=node_id)
    if config.tier != "township":
        raise ConfigError(f"the token enrolled {config.node_id} as a {config.tier}; use "
                          "'bianmin node init' for villages")
    with open_node(home, the_clock) as service, \
            upstream_client(home, config, call_timeout_s=10) as client:
        version = one_round(service, client, ROUND_POLICY).own.catalog_version
    out.result({"node_id": config.node_id, "tier": config.tier, "upstream": upstream,
                "catalog_version": version},
               f"township {config.node_id} ({config.name}) enrolled; catalog version {version}")


@bianmin_command(township, "serve")
@click.option("--listen", help="HOST:PORT for the villages' sync (mutual TLS); port 0 lets the "
              "OS choose [default: serve.listen in node.toml, or 127.0.0.1:50061].")
@click.option("--interval", type=click.FloatRange(1, 86400),
              help="Seconds between rounds with the county when nothing new happens "
              "[default: run.interval_s, or 60].")
@click.option("--log-format", type=click.Choice(["text", "json"]))
def serve(home: Path, out: Output, listen: str | None, interval: float | None,
          log_format: str | None) -> None:
    """Serve the villages and keep the link to the county until SIGTERM or SIGINT."""
    config = NodeConfig.load(home)
    interval = interval or config.run.interval_s
    serving = serve_settings(config.serve, listen=listen, log_format=log_format)

    def ready(info: ServeInfo) -> None:
        out.result(dict(info.__dict__),
                   f"township {info.node_id} serving its villages on {info.sync} (mutual TLS); "
                   f"pid {info.pid}")
        sys.stdout.flush()

    serve_township(home, serving=serving, clock=clock(), on_ready=ready,
                   settings=DaemonSettings(interval_s=interval,
                                           log_json=serving.log_format == "json"),
                   write=lambda line: click.echo(line, err=True))


@bianmin_command(township, "health")
@click.option("--address", help="HOST:PORT to ask [default: the 'township serve' running from "
              "--home].")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=5.0, show_default=True,
              help="Seconds to wait for the answer.")
def health(home: Path, out: Output, address: str | None, timeout: float) -> None:
    """Ask the serving township whether it serves; exit 1 (one line on stderr) unless it does."""
    probes = township_health(home, address=address, timeout_s=timeout)
    out.result({"serving": True, "probes": probes},
               "township serving: " + "; ".join(str(p) for p in probes))


@bianmin_command(township, "sync")
def sync_cmd(home: Path, out: Output) -> None:
    """One round with the county: relay the villages' logs, push our own, pull."""
    with open_node(home, clock()) as service, \
            upstream_client(home, service.config, call_timeout_s=10) as client:
        report = one_round(service, client, ROUND_POLICY)
    out.result({"relayed": report.relayed, "pushed": report.own.pushed,
                "pulled": report.own.pulled, "decisions": report.own.decisions},
               f"relayed {report.relayed} village record(s); pushed {report.own.pushed}, "
               f"pulled {report.own.pulled} ({report.own.decisions} decision(s))")


@bianmin_command(township, "nodes")
def nodes(home: Path, out: Output) -> None:
    """This township's villages: their last heartbeat here (and their clocks against the
    township's), the records held here and how far they are relayed to the county."""
    with open_node(home, clock()) as service:
        rows = village_rows(service)
    out.result({"villages": rows}, [
        f"{r['node_id']:<6} heartbeat {r['heartbeat_at'] or 'never':<25} "
        f"claims seq {r['claimed_seq']:<5} held {r['held_seq']:<5} relayed {r['relayed_seq']:<5}"
        + (f" clock {r['clock']}" if r["clock"] else "")
        + ("" if r["heartbeat_relayed"] else " (heartbeat not yet at the county)")
        for r in rows] or ["no village has synced with this township yet"])


@bianmin_command(township, "cases")
@click.option("--state", help="Only cases in this state.")
def cases(home: Path, out: Output, state: str | None) -> None:
    """The township's cases: its own desk's and its villages', and who decides each."""
    with open_node(home, clock()) as service:
        found = township_cases(service, state)
    out.result(
        {"cases": [{"case_id": v.case_id, "item": v.item_code, "item_name": v.item_name,
                    "state": v.state.value, "decided_by": v.decided_by,
                    "applicant_name": v.applicant_name, "complete": v.complete,
                    "missing": list(v.missing), "reason": v.reason,
                    "provisional": bool(v.pending)} for v in found]},
        [f"{v.case_id}  {v.item_code:<7} {v.state:<11} "
         f"{'DECIDE HERE' if v.decided_by == 'township' else 'county':<11} {v.applicant_name}"
         + (" (awaiting the county's confirmation)" if v.pending else "")
         + (f"  -- {v.reason}" if v.reason else "") for v in found] or ["no cases"])


@bianmin_command(township, "decide")
@click.argument("case_id")
@click.option("--approve", is_flag=True)
@click.option("--reject", is_flag=True)
@click.option("--reason", required=True)
@click.option("--operator", required=True)
def decide(home: Path, out: Output, case_id: str, approve: bool, reject: bool, reason: str,
           operator: str) -> None:
    """Decide a delegated item: a record of the township's log, sent down and up."""
    outcome = (Outcome.APPROVE if one_of(approve=approve, reject=reject) == "approve"
               else Outcome.REJECT)
    with open_node(home, clock()) as service:
        record, state = decide_case(service, case_id, outcome=outcome, reason=reason,
                                    operator=operator, verification_code=verification_code())
    out.result({"case_id": case_id, "state": state.value, "record": str(record)},
               f"case {case_id} {state.value} by {operator} (record {record}); the village "
               "gets it at its next sync, the county at the township's next round")


@bianmin_command(township, "delegation")
def delegation(home: Path, out: Output) -> None:
    """The delegation the county granted this township, if any is in force."""
    with open_node(home, clock()) as service, service.store.reading() as r:
        granted = current_delegation(service, r)
    if granted is None:
        out.result({"delegation": None}, "no delegation in force: everything goes to the county")
        return
    d = granted.delegation
    out.result({"delegation": {"items": list(d.items), "valid_from": d.valid_from,
                               "valid_until": d.valid_until, "record": str(granted.record)}},
               f"may decide {', '.join(d.items)} from {d.valid_from:%Y-%m-%d} to "
               f"{d.valid_until:%Y-%m-%d} (record {granted.record})")
