"""``bianmin demo``: a whole federation on loopback, narrated (issue 2).

A county hub and two village nodes run as real, separate processes on 127.0.0.1 with ports the
OS picks, each with its own SQLite file, in a fresh folder. The story: the villages enrol; the
hub goes down; five cases are taken offline (one incomplete at pre-review); the hub comes back;
the villages sync; an operator decides; the decisions travel back down to the village desks.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import click

from bianmin.procs import CommandFailed, ServerProcess, run
from node.resident_id import check_digit

__all__ = ["demo", "run_demo", "sample_calendar", "sample_catalog", "sample_operators"]


def sample_catalog() -> Path:
    """The sample catalog shipped with bianmin (a copy of ``shared/catalog``)."""
    return Path(str(resources.files("bianmin") / "data" / "sample-catalog.toml"))


def sample_operators() -> Path:
    """The sample county's operators (for the demo and the tests)."""
    return Path(str(resources.files("bianmin") / "data" / "operators-example.toml"))


def sample_calendar() -> Path:
    """An illustrative 2026 working-day calendar."""
    return Path(str(resources.files("bianmin") / "data" / "calendar-example.toml"))


def resident_id(first17: str) -> str:
    return first17 + check_digit(first17)


CASES: list[dict[str, Any]] = [
    {"node": "V001", "item": "MZ-001", "name": "张秀英", "id": resident_id("36011219580301102"),
     "materials": ["application", "id_card=SCAN", "hukou", "income_proof", "assets_statement"],
     "fields": ["household_size=3", "monthly_income_yuan=1200"]},
    {"node": "V001", "item": "SB-001", "name": "李建国", "id": resident_id("36011219710815203"),
     "materials": ["id_card", "hukou"], "fields": ["contribution_grade_yuan=300"]},
    {"node": "V001", "item": "WJ-001", "name": "王桂兰", "id": resident_id("36011219620122302"),
     "materials": ["application", "id_card", "hukou", "family_planning_cert"], "fields": []},
    {"node": "V002", "item": "CL-001", "name": "赵志强", "id": resident_id("36011219850607401"),
     "materials": ["id_card", "hukou", "photo"], "fields": []},
    {"node": "V002", "item": "LY-001", "name": "钱德明", "id": resident_id("36011219660909501"),
     "materials": ["application", "forest_right_cert", "felling_design"],
     "fields": ["volume_m3=12.5"]},
]

DECISIONS = [
    # (applicant, --approve/--reject, reason, operator of the item's department)
    ("张秀英", "--approve", "家庭人均收入低于当地低保标准，准予纳入最低生活保障", "刘芳"),
    ("李建国", "--approve", "材料齐全，准予参保登记", "王强"),
    ("王桂兰", "--approve", "符合农村部分计划生育家庭奖励扶助条件", "黄丽"),
    ("钱德明", "--reject", "采伐地块位于生态公益林保护区，依法不予许可", "张伟"),
]


class Narrator:
    def __init__(self) -> None:
        self.step = 0
        self.started = time.monotonic()

    def title(self, text: str) -> None:
        self.step += 1
        click.secho(f"\n[{self.step}] {text}", bold=True)

    def say(self, text: str) -> None:
        click.echo(f"    {text}")


def run_demo(base: Path) -> None:
    say = Narrator()
    county, villages = base / "county", {v: base / v.lower() for v in ("V001", "V002")}
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    hub_proc: ServerProcess | None = None

    def start_hub(listen: str, enrol: str) -> ServerProcess:
        return ServerProcess(["hub", "serve", "--home", str(county), "--listen", listen,
                              "--enrol-listen", enrol, "--json"], log=logs / "hub.log")

    def step(title: str, action: Callable[[], None]) -> None:
        say.title(title)
        try:
            action()
        except (CommandFailed, RuntimeError, OSError) as exc:
            raise DemoFailed(f"step {say.step} ({title}) failed: {exc}") from exc

    try:
        def init_county() -> None:
            out = run("hub", "init", "--home", str(county), "--county-code", "360112",
                      "--name", "新建区", "--catalog", str(sample_catalog()), "--calendar",
                      str(sample_calendar()), "--json").json()
            say.say(f"county CA made; fingerprint {out['ca_fingerprint'][:16]}...")
            say.say(f"catalog version {out['catalog_version']} signed and published "
                    "(12 service items); 2026 holiday calendar loaded")
            ops = run("hub", "operator", "import", str(sample_operators()), "--home",
                      str(county), "--json").json()
            say.say(f"{len(ops['added'])} department operators registered")

        step("The county IT team creates the hub of 新建区 (360112)", init_county)

        def serve() -> None:
            nonlocal hub_proc
            hub_proc = start_hub("127.0.0.1:0", "127.0.0.1:0")
            say.say(f"hub serving sync on {hub_proc.sync_address} (mutual TLS), enrolment on "
                    f"{hub_proc.enrol_address}")

        step("The hub starts", serve)
        assert hub_proc is not None
        sync_at, enrol_at = hub_proc.sync_address, hub_proc.enrol_address

        def enrol() -> None:
            for node_id, home in villages.items():
                tok = run("hub", "token", "--home", str(county), "--node-id", node_id,
                          "--tier", "village", "--name", f"{node_id} 村便民服务站",
                          "--json").json()
                say.say(f"operator issues a one-time token for {node_id}")
                out = run("node", "init", "--home", str(home), "--upstream", sync_at,
                          "--enrol", enrol_at, "--token", tok["token"], "--json").json()
                say.say(f"{node_id} made its keys locally, enrolled, and holds catalog "
                        f"version {out['catalog_version']}")

        step("Two village proxy points enrol", enrol)

        def hub_down() -> None:
            assert hub_proc is not None
            hub_proc.stop()
            say.say("the county link is down: villages keep working offline")

        step("The hub goes down", hub_down)

        scan = base / "scan-id-card.jpg"
        scan.write_bytes(b"\xff\xd8\xff\xe0 demo scan of an identity card \xff\xd9")

        def intake() -> None:
            for case in CASES:
                argv = ["node", "intake", "--home", str(villages[case["node"]]),
                        "--item", case["item"], "--applicant-name", case["name"],
                        "--applicant-id", case["id"], "--json"]
                for m in case["materials"]:
                    argv += ["--material", m.replace("SCAN", str(scan))]
                for f in case["fields"]:
                    argv += ["--field", f]
                out = run(*argv).json()
                review = out["pre_review"]
                verdict = ("complete" if review["complete"] else
                           "INCOMPLETE, missing " + ", ".join(review["missing"]))
                say.say(f"{case['node']}: {out['case_id']} {case['item']} for {case['name']}: "
                        f"pre-review {verdict}; receipt printed")

        step("Five cases are taken at the village desks, offline", intake)

        def try_offline_sync() -> None:
            attempt = run("node", "sync", "--home", str(villages["V001"]), check=False)
            if attempt.returncode == 0:
                raise RuntimeError("sync succeeded although the hub is down")
            say.say(f"V001 tries to sync: {attempt.stderr.strip()} -- nothing is lost")

        step("A village tries to sync while the hub is down", try_offline_sync)

        def hub_up() -> None:
            nonlocal hub_proc
            hub_proc = start_hub(sync_at, enrol_at)
            say.say(f"hub back on {hub_proc.sync_address}")

        step("The hub comes back", hub_up)

        def sync_up() -> None:
            for node_id, home in villages.items():
                out = run("node", "sync", "--home", str(home), "--json").json()
                say.say(f"{node_id} pushed {out['pushed']} signed records; the hub verified "
                        f"and committed them ({out['received']} cases received)")

        step("The villages sync", sync_up)

        def review_at_hub() -> None:
            cases = run("hub", "cases", "--home", str(county), "--json").json()["cases"]
            for c in cases:
                note = "" if c["complete"] else f" -- incomplete, missing {', '.join(c['missing'])}"
                say.say(f"{c['case_id']} {c['item']} {c['item_name']} ({c['applicant_name']}): "
                        f"{c['state']}{note}")

        step("County operators see the cases", review_at_hub)

        def decide() -> None:
            cases = run("hub", "cases", "--home", str(county), "--json").json()["cases"]
            by_name = {c["applicant_name"]: c for c in cases}
            for name, verdict, reason, operator in DECISIONS:
                case = by_name[name]
                out = run("hub", "decide", "--home", str(county), case["case_id"], verdict,
                          "--reason", reason, "--operator", operator, "--json").json()
                say.say(f"{case['case_id']}: {out['state']} by {operator} -- {reason} "
                        f"(slip code {out['verification_code']})")
            for c in (c for c in cases if not c["complete"]):
                run("hub", "request-supplement", "--home", str(county), c["case_id"],
                    *[a for m in c["missing"] for a in ("--material", m)],
                    "--reason", "请补交残疾评定表", "--operator", "陈静")
                say.say(f"{c['case_id']}: supplement requested (补正) for "
                        f"{', '.join(c['missing'])}; its clock pauses")

        step("Operators decide, or ask for what is missing, with signed records", decide)

        def sync_down() -> None:
            for node_id, home in villages.items():
                out = run("node", "sync", "--home", str(home), "--json").json()
                say.say(f"{node_id} pulled {out['decisions']} decision(s), verified the hub's "
                        "signatures and applied them")

        step("Decisions travel back down", sync_down)

        def supplement_round_trip() -> None:
            home = villages["V002"]
            waiting = [c for c in run("node", "cases", "--home", str(home), "--json").json()[
                "cases"] if c["state"] == "supplement_requested"]
            for c in waiting:
                say.say(f"V002 desk sees {c['case_id']}: bring {', '.join(c['requested'])}")
                scan2 = base / "medical-assessment.pdf"
                scan2.write_bytes(b"%PDF-1.4 demo assessment")
                run("node", "supplement", "--home", str(home), c["case_id"], "--material",
                    f"medical_assessment={scan2}")
                run("node", "sync", "--home", str(home))
                out = run("hub", "decide", "--home", str(county), c["case_id"], "--approve",
                          "--reason", "经评定符合残疾人证核发条件", "--operator", "陈静",
                          "--json").json()
                say.say(f"supplemented at V002, synced; the county accepts and approves it "
                        f"({out['state']})")
                run("node", "sync", "--home", str(home))

        step("The missing material arrives (补正) and the case is decided", supplement_round_trip)

        def final() -> None:
            for node_id, home in villages.items():
                for c in run("node", "cases", "--home", str(home), "--json").json()["cases"]:
                    detail = f" -- {c['reason']}" if c["reason"] else ""
                    say.say(f"{node_id} desk: {c['case_id']} {c['item']} {c['applicant_name']}: "
                            f"{c['state'].upper()}{detail}")

        step("What each village desk now shows", final)

        def hand_over() -> None:
            for node_id, home_dir in villages.items():
                done = 0
                for c in run("node", "cases", "--home", str(home_dir), "--json").json()[
                        "cases"]:
                    if c["state"] in ("approved", "rejected"):
                        run("node", "conclude", "--home", str(home_dir), c["case_id"])
                        done += 1
                run("node", "sync", "--home", str(home_dir))
                say.say(f"{node_id} hands {done} result(s) to the applicants (办结) and syncs")

        step("Results are handed over at the desks", hand_over)

        def supervision() -> None:
            stats = run("hub", "stats", "--home", str(county), "--by", "node", "--json").json()
            for r in stats["rows"]:
                say.say(f"{r['node']}: received {r['received']}, approved {r['approved']}, "
                        f"rejected {r['rejected']}, concluded {r['concluded']}, on time "
                        f"{r['on_time_rate']:.0%}")
            audit = run("hub", "audit", "verify", "--home", str(county), "--json").json()
            say.say(f"audit: {audit['records']} signed records re-verified, "
                    + ("all verify" if audit["clean"] else "PROBLEMS"))

        step("The county's supervision and audit", supervision)

        def shutdown() -> None:
            assert hub_proc is not None
            code = hub_proc.stop()
            say.say(f"hub stopped cleanly (exit {code}) after "
                    f"{time.monotonic() - say.started:.1f} s in all")

        step("Done", shutdown)
    finally:
        if hub_proc is not None:
            hub_proc.stop()


class DemoFailed(Exception):
    pass


@click.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False),
              help="Work in this folder and keep it afterwards (default: a temporary folder, "
              "removed at the end).")
def demo(directory: Path | None) -> None:
    """Run a county hub and two villages on loopback and follow five cases."""
    keep = directory is not None
    base = directory if directory is not None else Path(tempfile.mkdtemp(prefix="bianmin-demo-"))
    if keep and base.exists() and any(base.iterdir()):
        raise click.UsageError(f"--dir {base} is not empty; give a new or empty folder")
    base.mkdir(parents=True, exist_ok=True)
    click.echo(f"bianmin demo in {base}")
    try:
        run_demo(base)
    except DemoFailed as exc:
        click.secho(f"\ndemo failed: {exc}", fg="red", err=True)
        click.echo(f"logs kept in {base}", err=True)
        sys.exit(1)
    if keep:
        click.echo(f"\nall data kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
