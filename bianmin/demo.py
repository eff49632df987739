"""``bianmin demo``: a whole federation on loopback, narrated (issues 2, 5, 6).

A county hub, a township and three villages (two behind the township, one directly under the
county) run as real, separate processes on 127.0.0.1 with ports the OS picks, each with its own
SQLite file, in a fresh folder. The story: everyone enrols; the county link goes down; five
cases are taken offline (one incomplete at pre-review); the villages behind the township sync
with it, and the township decides a delegated case while the county is still down; the county
comes back; everything converges; operators decide or ask for what is missing; the decisions
travel back down to the village desks; the results are handed over; the county audits.

With ``--keep-running`` the processes stay up at the end, with logins made for the pages
(issue 11): the county console, the township's desk and a village desk, whose addresses and
logins are printed, until Ctrl-C. The operator commands of the story act from the hub's own
shell (``--local-admin``), as the trail records.
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
from node.kernel.resident_id import check_digit
from node.runner import Runner

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
    {"node": "V001", "item": "CL-001", "name": "赵志强", "id": resident_id("36011219850607401"),
     "materials": ["id_card", "hukou", "photo"], "fields": []},
    {"node": "V011", "item": "MZ-002", "name": "钱秀梅", "id": resident_id("36011219660909502"),
     "materials": ["application", "id_card", "hardship_proof"],
     "fields": ["amount_requested_yuan=1500"]},
    {"node": "V011", "item": "SB-001", "name": "李建国", "id": resident_id("36011219710815203"),
     "materials": ["id_card", "hukou"], "fields": ["contribution_grade_yuan=300"]},
    {"node": "V012", "item": "LY-001", "name": "钱德明", "id": resident_id("36011219660909501"),
     "materials": ["application", "forest_right_cert", "felling_design"],
     "fields": ["volume_m3=12.5"]},
]

DECISIONS = [
    # (applicant, --approve/--reject, reason, operator of the item's department)
    ("张秀英", "--approve", "家庭人均收入低于当地低保标准，准予纳入最低生活保障", "刘芳"),
    ("李建国", "--approve", "材料齐全，准予参保登记", "王强"),
    ("钱德明", "--reject", "采伐地块位于生态公益林保护区，依法不予许可", "张伟"),
]
VILLAGES = {"V001": None, "V011": "T01", "V012": "T01"}  # village -> its township (None: direct)


class Narrator:
    def __init__(self) -> None:
        self.step = 0
        self.started = time.monotonic()

    def title(self, text: str) -> None:
        self.step += 1
        click.secho(f"\n[{self.step}] {text}", bold=True)

    def say(self, text: str) -> None:
        click.echo(f"    {text}")


class DemoFailed(Exception):
    pass


# every process serves its pages on a port the OS picks (printed with --keep-running)
WEB = {"BIANMIN_WEB__LISTEN": "127.0.0.1:0"}
DESK_PASSWORD = "bianmin-demo"  # noqa: S105 -- the demo's published logins
LOGINS = [("刘芳", "区民政局 窗口工作人员：她的待办、审批"), ("孙丽", "监督员：电子监察、审计轨迹"),
          ("吴磊", "管理员：账号、节点")]


class Federation:
    """The processes of the demo and the folders they live in."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.county = base / "county"
        self.township = base / "t01"
        self.homes = {v: base / v.lower() for v in VILLAGES}
        self.logs = base / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.hub: ServerProcess | None = None
        self.t01: ServerProcess | None = None
        self.desk: ServerProcess | None = None
        self.sync_at = self.enrol_at = ""

    def start_hub(self) -> None:
        listen, enrol = self.sync_at or "127.0.0.1:0", self.enrol_at or "127.0.0.1:0"
        self.hub = ServerProcess(["hub", "serve", "--home", str(self.county), "--listen",
                                  listen, "--enrol-listen", enrol, "--json"],
                                 log=self.logs / "hub.log", env=WEB)
        self.sync_at, self.enrol_at = self.hub.sync_address, self.hub.enrol_address

    def start_township(self) -> None:
        self.t01 = ServerProcess(["township", "serve", "--home", str(self.township),
                                  "--listen", "127.0.0.1:0", "--interval", "5", "--json"],
                                 log=self.logs / "t01.log", env=WEB)

    def start_desk(self, village: str) -> None:
        self.desk = ServerProcess(["node", "run", "--home", str(self.homes[village]),
                                   "--interval", "5", "--log-format", "json"],
                                  log=self.logs / f"{village.lower()}.log", env=WEB)

    def stop(self) -> None:
        for proc in (self.desk, self.t01, self.hub):
            if proc is not None:
                proc.stop()

    def node(self, village: str, *args: str) -> Any:
        return run("node", *args, "--home", str(self.homes[village]), "--json").json()

    def hub_cmd(self, *args: str) -> Any:
        return run("hub", *args, "--home", str(self.county), "--json").json()


def run_demo(base: Path, *, keep_running: bool = False) -> None:
    say = Narrator()
    fed = Federation(base)

    def step(title: str, action: Callable[[], None]) -> None:
        say.title(title)
        try:
            action()
        except (CommandFailed, RuntimeError, OSError) as exc:
            raise DemoFailed(f"step {say.step} ({title}) failed: {exc}") from exc

    def init_county() -> None:
        out = run("hub", "init", "--home", str(fed.county), "--county-code", "360112",
                  "--name", "新建区", "--catalog", str(sample_catalog()), "--calendar",
                  str(sample_calendar()), "--json").json()
        say.say(f"county CA made; fingerprint {out['ca_fingerprint'][:16]}...")
        say.say(f"catalog version {out['catalog_version']} signed and published (12 service "
                "items); 2026 holiday calendar loaded")
        ops = fed.hub_cmd("operator", "import", str(sample_operators()))
        say.say(f"{len(ops['added'])} department operators registered")
        fed.start_hub()
        say.say(f"hub serving sync on {fed.sync_at} (mutual TLS), enrolment on {fed.enrol_at}")

    def enrol() -> None:
        tok = fed.hub_cmd("token", "--node-id", "T01", "--tier", "township", "--name",
                          "某某镇便民服务中心")["token"]
        run("township", "init", "--home", str(fed.township), "--upstream", fed.sync_at,
            "--enrol", fed.enrol_at, "--token", tok)
        fed.start_township()
        assert fed.t01 is not None
        say.say(f"township T01 enrolled and serving its villages on {fed.t01.sync_address}")
        fed.hub_cmd("delegation", "grant", "T01", "--item", "MZ-002", "--item", "MZ-003",
                    "--operator", "县政务办-陈工", "--local-admin")
        run("township", "sync", "--home", str(fed.township))
        say.say("the county delegates 临时救助 (MZ-002) and 高龄津贴 (MZ-003) to T01, by a "
                "signed record")
        for village, township in VILLAGES.items():
            extra = ["--parent", township] if township else []
            tok = fed.hub_cmd("token", "--node-id", village, "--tier", "village", "--name",
                              f"{village} 村便民服务站", *extra)["token"]
            upstream = fed.t01.sync_address if township else fed.sync_at
            out = run("node", "init", "--home", str(fed.homes[village]), "--upstream",
                      upstream, "--enrol", fed.enrol_at, "--token", tok, "--json").json()
            where = f"behind township {township}" if township else "directly under the county"
            say.say(f"{village} ({where}) made its keys locally, enrolled, holds catalog "
                    f"version {out['catalog_version']}")

    def county_down() -> None:
        assert fed.hub is not None
        fed.hub.stop()
        say.say("the county link is down: villages and the township keep working")

    scan = base / "scan-id-card.jpg"
    scan.write_bytes(b"\xff\xd8\xff\xe0 demo scan of an identity card \xff\xd9")

    def intake() -> None:
        for case in CASES:
            argv = ["intake", "--item", case["item"], "--applicant-name", case["name"],
                    "--applicant-id", case["id"]]
            for m in case["materials"]:
                argv += ["--material", m.replace("SCAN", str(scan))]
            for f in case["fields"]:
                argv += ["--field", f]
            out = fed.node(case["node"], *argv)
            review = out["pre_review"]
            verdict = ("complete" if review["complete"] else
                       "INCOMPLETE, missing " + ", ".join(review["missing"]))
            say.say(f"{case['node']}: {out['case_id']} {case['item']} for {case['name']}: "
                    f"pre-review {verdict}; receipt printed")

    def offline_syncs() -> None:
        attempt = run("node", "sync", "--home", str(fed.homes["V001"]), check=False)
        if attempt.returncode != 3:  # queued, nothing lost (docs/operations.md)
            raise RuntimeError(f"sync with the hub down ended {attempt.returncode}, not 3")
        say.say(f"V001 tries to sync (exit 3): {attempt.stdout.strip()}")
        for village in ("V011", "V012"):
            out = fed.node(village, "sync")
            say.say(f"{village} syncs with township T01: {out['pushed']} signed records "
                    "stored there, verified")

    def township_decides() -> None:
        cases = run("township", "cases", "--home", str(fed.township), "--json").json()["cases"]
        for c in cases:
            if c["decided_by"] == "township":
                run("township", "decide", c["case_id"], "--approve", "--reason",
                    "经入户核实，情况属实，准予临时救助", "--operator", "镇社会事务办-赵敏",
                    "--home", str(fed.township))
                say.say(f"T01 decides {c['case_id']} ({c['item_name']}) itself: approved, "
                        "signed by the township")
            else:
                say.say(f"{c['case_id']} ({c['item_name']}) waits at T01 for the county")
        out = fed.node("V011", "sync")
        say.say(f"V011 syncs: {out['decisions']} decision received while the county is still "
                "down")

    def county_up() -> None:
        fed.start_hub()
        say.say(f"hub back on {fed.sync_at}")
        out = fed.node("V001", "sync")
        say.say(f"V001 pushed {out['pushed']} signed records; the hub verified and committed "
                f"them ({out['received']} cases received)")
        out = run("township", "sync", "--home", str(fed.township), "--json").json()
        say.say(f"T01 relays {out['relayed']} village records verbatim and reports its own "
                "decision; the county checks the villages' own signatures")

    def review_at_hub() -> None:
        for c in fed.hub_cmd("cases")["cases"]:
            note = "" if c["complete"] else f" -- incomplete, missing {', '.join(c['missing'])}"
            by = f" by {c['operator']}" if c["state"] == "approved" else ""
            say.say(f"{c['case_id']} {c['item']} {c['item_name']} ({c['applicant_name']}): "
                    f"{c['state']}{by}{note}")

    def decide() -> None:
        cases = fed.hub_cmd("cases")["cases"]
        by_name = {c["applicant_name"]: c for c in cases}
        for name, verdict, reason, operator in DECISIONS:
            case = by_name[name]
            out = fed.hub_cmd("decide", case["case_id"], verdict, "--reason", reason,
                              "--operator", operator, "--local-admin")
            say.say(f"{case['case_id']}: {out['state']} by {operator} -- {reason} "
                    f"(slip code {out['verification_code']})")
        for c in (c for c in cases if not c["complete"]):
            fed.hub_cmd("request-supplement", c["case_id"],
                        *[a for m in c["missing"] for a in ("--material", m)],
                        "--reason", "请补交残疾评定表", "--operator", "陈静", "--local-admin")
            say.say(f"{c['case_id']}: supplement requested (补正) for "
                    f"{', '.join(c['missing'])}; its clock pauses")

    def sync_down() -> None:
        run("township", "sync", "--home", str(fed.township))
        for village in VILLAGES:
            out = fed.node(village, "sync")
            say.say(f"{village} pulled {out['decisions']} decision(s) and "
                    f"{out['pulled'] - out['decisions']} other record(s), verified and applied")

    def supplement_round_trip() -> None:
        waiting = [c for c in fed.node("V001", "cases")["cases"]
                   if c["state"] == "supplement_requested"]
        for c in waiting:
            say.say(f"V001 desk sees {c['case_id']}: bring {', '.join(c['requested'])}")
            scan2 = base / "medical-assessment.pdf"
            scan2.write_bytes(b"%PDF-1.4\n% demo assessment\n%%EOF\n")
            fed.node("V001", "supplement", c["case_id"], "--material",
                     f"medical_assessment={scan2}")
            fed.node("V001", "sync")
            out = fed.hub_cmd("decide", c["case_id"], "--approve", "--reason",
                              "经评定符合残疾人证核发条件", "--operator", "陈静", "--local-admin")
            say.say(f"supplemented at V001 and synced; the county accepts and approves it "
                    f"({out['state']})")
            fed.node("V001", "sync")

    def final() -> None:
        for village in VILLAGES:
            for c in fed.node(village, "cases")["cases"]:
                detail = f" -- {c['reason']}" if c["reason"] else ""
                say.say(f"{village} desk: {c['case_id']} {c['item']} {c['applicant_name']}: "
                        f"{c['state'].upper()}{detail}")

    def hand_over() -> None:
        for village in VILLAGES:
            done = 0
            for c in fed.node(village, "cases")["cases"]:
                if c["state"] in ("approved", "rejected"):
                    fed.node(village, "conclude", c["case_id"])
                    done += 1
            fed.node(village, "sync")
            say.say(f"{village} hands {done} result(s) to the applicants (办结) and syncs")
        run("township", "sync", "--home", str(fed.township))

    def supervision() -> None:
        for r in fed.hub_cmd("stats", "--by", "node")["rows"]:
            rate = r["on_time_rate"]
            say.say(f"{r['node']}: received {r['received']}, approved {r['approved']}, "
                    f"rejected {r['rejected']}, concluded {r['concluded']}, on time "
                    + ("-" if rate is None else f"{rate:.0%}"))
        audit = fed.hub_cmd("audit", "verify")
        say.say(f"audit: {audit['records']} signed records in {audit['logs']} logs "
                "re-verified, " + ("all verify" if audit["clean"] else "PROBLEMS"))

    def open_the_pages() -> None:
        for name, _what in LOGINS:
            fed.hub_cmd("operator", "password", name, "--password", DESK_PASSWORD)
        run("node", "account", "add", "zhaomin", "--display-name", "赵敏", "--password",
            DESK_PASSWORD, "--home", str(fed.township))
        run("node", "account", "add", "wang", "--display-name", "王小红", "--password",
            DESK_PASSWORD, "--home", str(fed.homes["V001"]))
        assert fed.t01 is not None
        assert fed.hub is not None
        fed.t01.stop()  # restarted: its desk reads the accounts' table afresh
        fed.start_township()
        fed.start_desk("V001")
        assert fed.desk is not None
        say.say(f"county console   {fed.hub.info['console']}")
        for name, what in LOGINS:
            say.say(f"                 login {name} / {DESK_PASSWORD}   ({what})")
        say.say(f"                 public status lookup: {fed.hub.info['console']}/lookup")
        say.say(f"township T01     {fed.t01.info['desk']}   login zhaomin / {DESK_PASSWORD}")
        say.say(f"village V001     {fed.desk.info['desk']}   login wang / {DESK_PASSWORD}")
        say.say("everything keeps running until Ctrl-C")

    def shutdown() -> None:
        assert fed.t01 is not None
        assert fed.hub is not None
        codes = (fed.t01.stop(), fed.hub.stop())
        say.say(f"township and hub stopped cleanly (exit {codes[0]}, {codes[1]}) after "
                f"{time.monotonic() - say.started:.1f} s in all")

    try:
        step("The county IT team creates the hub of 新建区 (360112)", init_county)
        step("A township and three village proxy points enrol", enrol)
        step("The county link goes down", county_down)
        step("Five cases are taken at the village desks, offline", intake)
        step("The villages try to sync", offline_syncs)
        step("The township decides a delegated case while the county is down",
             township_decides)
        step("The county comes back", county_up)
        step("County operators see the cases", review_at_hub)
        step("Operators decide, or ask for what is missing, with signed records", decide)
        step("Decisions travel back down (through the township where there is one)",
             sync_down)
        step("The missing material arrives (补正) and the case is decided",
             supplement_round_trip)
        step("What each village desk now shows", final)
        step("Results are handed over at the desks", hand_over)
        step("The county's supervision and audit", supervision)
        if keep_running:
            step("The pages: open them in a browser", open_the_pages)
            with Runner() as runner:
                runner.wait()
            say.say("stopping")
        else:
            step("Done", shutdown)
            say.say("(bianmin demo --keep-running leaves the county console and the desks "
                    "running for a browser)")
    finally:
        fed.stop()


@click.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path, file_okay=False),
              help="Work in this folder and keep it afterwards (default: a temporary folder, "
              "removed at the end).")
@click.option("--keep-running", is_flag=True,
              help="At the end, leave the county console and the desks running (their "
              "addresses and logins are printed) until Ctrl-C.")
def demo(directory: Path | None, keep_running: bool) -> None:
    """Run a county hub and two villages on loopback and follow five cases."""
    keep = directory is not None
    base = directory if directory is not None else Path(tempfile.mkdtemp(prefix="bianmin-demo-"))
    if keep and base.exists() and any(base.iterdir()):
        raise click.UsageError(f"--dir {base} is not empty; give a new or empty folder")
    base.mkdir(parents=True, exist_ok=True)
    click.echo(f"bianmin demo in {base}")
    try:
        run_demo(base, keep_running=keep_running)
    except DemoFailed as exc:
        click.secho(f"\ndemo failed: {exc}", fg="red", err=True)
        click.echo(f"logs kept in {base}", err=True)
        sys.exit(1)
    if keep:
        click.echo(f"\nall data kept in {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
