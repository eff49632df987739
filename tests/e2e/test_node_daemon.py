"""The node daemon, node status, clock skew and attachment limits (issue 4)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time

import pytest

from bianmin.demo import resident_id
from bianmin.procs import _env, bianmin_argv, run

pytestmark = pytest.mark.e2e

DAY_S = 86_400


class Daemon:
    """``bianmin node run`` with its JSON log lines read as they come."""

    def __init__(self, home, *extra: str, interval: str = "2") -> None:
        self.proc = subprocess.Popen(
            bianmin_argv("node", "run", "--home", str(home), "--interval", interval,
                         "--log-format", "json", *extra),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
        self.lines: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def wait_for(self, event: str, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line["event"] == event:
                return line
        pytest.fail(f"the daemon logged no {event!r} within {timeout_s} s")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def test_daemon_syncs_backs_off_while_the_hub_is_down_and_stops_cleanly(federation, intake):
    v1 = federation.enrol("V001")
    daemon = Daemon(v1)
    try:
        daemon.wait_for("start")
        assert daemon.wait_for("sync")["ok"] is True
        case_id = intake(v1).json()["case_id"]
        # new records wake the daemon before its interval is up
        pushed = daemon.wait_for("sync")
        while pushed["pushed"] == 0:
            pushed = daemon.wait_for("sync")
        assert pushed["received"] == 1
        federation.stop_hub()
        first = daemon.wait_for("unreachable")
        second = daemon.wait_for("unreachable", timeout_s=90)
        assert first["ok"] is False
        assert second["next_in_s"] > 0
        federation.start_hub(same_ports=True)
        run("hub", "decide", case_id, "--approve", "--reason", "ok", "--operator", "刘芳",
            "--home", str(federation.hub_home))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = daemon.wait_for("sync", timeout_s=120)
            if line["decisions"]:
                break
        shown = run("node", "show", case_id, "--home", str(v1), "--json").json()
        assert shown["state"] == "approved"
    finally:
        code = daemon.stop()
    assert code == 0
    assert daemon.wait_for("stop", timeout_s=5)["event"] == "stop"


def test_status_says_whether_the_upstream_is_reachable_and_what_is_unsynced(federation,
                                                                             intake, tmp_path):
    v1 = federation.enrol("V001")
    scan = tmp_path / "id.jpg"
    scan.write_bytes(b"\xff\xd8\xff\xe0" + b"x" * 4_996)
    run("node", "intake", "--home", str(v1), "--item", "MZ-003", "--applicant-name", "王桂兰",
        "--applicant-id", resident_id("36011219400122302"), "--material", f"id_card={scan}",
        "--material", "bank_card")
    status = run("node", "status", "--home", str(v1), "--json").json()
    assert status["upstream_reachable"] is True
    assert status["unsynced_records"] == 2
    assert status["unsynced_bytes"] > 5_000
    assert status["last_sync"] is not None  # node init fetched the catalog
    federation.stop_hub()
    offline = run("node", "status", "--home", str(v1), "--json").json()
    assert offline["upstream_reachable"] is False
    run("node", "sync", "--home", str(v1), check=False)
    text = run("node", "status", "--home", str(v1)).stdout
    assert "NOT reachable" in text
    assert "the last attempt failed at" in text
    assert "[unreachable]" in text  # and why
    why = run("node", "status", "--home", str(v1), "--json").json()["last_failure"]
    assert "unreachable" in why["reason"]
    federation.start_hub(same_ports=True)
    run("node", "sync", "--home", str(v1))
    assert run("node", "status", "--home", str(v1), "--json").json()["last_failure"] is None


def test_a_node_clock_days_off_is_flagged_never_refused(federation, intake):
    v1 = federation.enrol("V001")
    skewed = {"BIANMIN_UNSAFE_CLOCK_OFFSET_S": str(3 * DAY_S + 9000)}
    case = run("node", "intake", "--home", str(v1), "--item", "MZ-003", "--applicant-name",
               "王桂兰", "--applicant-id", resident_id("36011219400122302"), "--material",
               "id_card", "--material", "bank_card", "--json", env=skewed).json()
    run("node", "sync", "--home", str(v1), env=skewed)
    nodes = {n["node_id"]: n for n in run("hub", "nodes", "--home", str(federation.hub_home),
                                           "--json").json()["nodes"]}
    assert nodes["V001"]["clock_flagged"] is True
    assert nodes["V001"]["clock_skew_s"] > 3 * DAY_S
    assert "CLOCK 3 d 2 h ahead of" in run("hub", "nodes", "--home",
                                            str(federation.hub_home)).stdout
    held = {c["case_id"]: c for c in run("hub", "cases", "--home", str(federation.hub_home),
                                         "--json").json()["cases"]}
    assert held[case["case_id"]]["state"] == "received"
    assert any("3 d 2 h ahead of the county's" in f for f in held[case["case_id"]]["flags"])


def test_attachments_over_the_limits_are_refused_at_intake(federation, tmp_path):
    v1 = federation.enrol("V001")
    big = tmp_path / "huge.tif"
    big.write_bytes(b"\0" * (21 << 20))
    refused = run("node", "intake", "--home", str(v1), "--item", "MZ-003", "--applicant-name",
                  "王桂兰", "--applicant-id", resident_id("36011219400122302"), "--material",
                  f"id_card={big}", "--material", "bank_card", "--json", check=False)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "file_too_large"
    parts = []
    for n in range(6):
        part = tmp_path / f"part{n}.pdf"
        part.write_bytes(b"\1" * (19 << 20))
        parts.append(part)
    codes = ["application", "id_card", "hukou", "income_proof", "assets_statement",
             "disability_cert"]
    argv = ["node", "intake", "--home", str(v1), "--item", "MZ-001", "--applicant-name", "张三",
            "--applicant-id", resident_id("36011219580301102"), "--field", "household_size=3",
            "--field", "monthly_income_yuan=1200", "--json"]
    for code, part in zip(codes, parts, strict=True):
        argv += ["--material", f"{code}={part}"]
    too_much = run(*argv, check=False)
    assert json.loads(too_much.stdout)["error"]["code"] == "case_too_large"
    assert run("node", "cases", "--home", str(v1), "--json").json()["cases"] == []
    assert not list((v1 / "blobs").glob("??/*"))


def test_a_running_daemon_receives_decisions_as_they_are_made(federation, intake):
    v1 = federation.enrol("V001")
    case_id = intake(v1).json()["case_id"]
    daemon = Daemon(v1, interval="120")  # rounds are two minutes apart...
    try:
        assert daemon.wait_for("sync")["received"] == 1
        run("hub", "decide", case_id, "--approve", "--reason", "ok", "--operator", "刘芳",
            "--home", str(federation.hub_home))
        # ...but the open pull brings the decision long before the next round
        line = daemon.wait_for("pulled", timeout_s=30)
        assert line["decisions"] == 1
        assert run("node", "show", case_id, "--home", str(v1), "--json").json()[
            "state"] == "approved"
    finally:
        assert daemon.stop() == 0
