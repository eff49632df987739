"""Sync that survives the field (issue 4): a weeks-long backlog with attachments, a link that
cuts, stalls and delays, and processes killed at random points. Real processes throughout;
every loop is bounded in count and time."""

from __future__ import annotations

import hashlib
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bianmin.backlog import make_backlog
from bianmin.procs import bianmin_argv, run
from tests.e2e.helpers import point_node_at
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.e2e

KILLS = 8  # kill -9 at this many random instants of a sync (the suite's time is bounded)


class KillWindow:
    """When to kill, after a sync starts (a random instant between ``lower_s`` and ``upper_s``;
    the sync process takes ~0.5 s to start), and how many cases the next round adds. A sync
    already over at that instant (a fast machine) narrows the window, down to 0.8 s, and
    doubles the next round's backlog, up to 4,800 cases: the kills land inside syncs on any
    machine, still at random points of them."""

    def __init__(self, upper_s: float = 1.6, lower_s: float = 0.3, cases: int = 600) -> None:
        self.upper_s, self.lower_s, self.cases = upper_s, lower_s, cases

    def pick(self, rng: random.Random) -> float:
        return rng.uniform(self.lower_s, self.upper_s)

    def saw(self, *, landed: bool) -> None:
        if not landed:
            self.upper_s = max(0.8, self.upper_s * 0.75)
            self.cases = min(4_800, self.cases * 2)


def node_log(home: Path) -> list[tuple[int, bytes]]:
    with sqlite3.connect(home / "node.db") as db:
        return db.execute("SELECT seq, hash FROM records WHERE log_id = 'V001' ORDER BY seq"
                          ).fetchall()


def hub_log(federation) -> list[tuple[int, bytes]]:
    with federation.hub_db() as db:
        return db.execute("SELECT seq, hash FROM records WHERE log_id = 'V001' ORDER BY seq"
                          ).fetchall()


def node_blobs(home: Path) -> set[bytes]:
    return {bytes.fromhex(p.name) for p in (home / "blobs").glob("??/*") if p.is_file()}


def hub_blobs_verified(federation) -> set[bytes]:
    """Blobs the hub marks complete, each re-hashed from its stored chunks."""
    found = set()
    with federation.hub_db() as db:
        for (sha,) in db.execute("SELECT sha256 FROM blobs WHERE complete").fetchall():
            digest = hashlib.sha256()
            for (data,) in db.execute("SELECT data FROM blob_chunks WHERE sha256 = ? "
                                      "ORDER BY \"offset\"", (sha,)):
                digest.update(data)
            assert digest.digest() == sha, "a complete blob does not match its hash"
            found.add(bytes(sha))
    return found


def decisions(federation, home: Path) -> tuple[list[bytes], list[bytes]]:
    with federation.hub_db() as db:
        at_hub = [r[0] for r in db.execute(
            "SELECT hash FROM records WHERE log_id = 'HUB' AND audience = 'V001' ORDER BY seq")]
    with sqlite3.connect(home / "node.db") as db:
        at_node = [r[0] for r in db.execute(
            "SELECT hash FROM records WHERE log_id = 'HUB' ORDER BY seq")]
    return at_hub, at_node


def sync_until_done(home: Path, *, tries: int = 60, budget_s: float = 300) -> int:
    deadline = time.monotonic() + budget_s
    for attempt in range(1, tries + 1):
        if run("node", "sync", "--home", str(home), check=False,
               timeout_s=180).returncode == 0:
            return attempt
        assert time.monotonic() < deadline, "sync did not converge in time"
    pytest.fail(f"sync did not converge in {tries} tries")


def assert_converged(federation, home: Path) -> None:
    assert hub_log(federation) == node_log(home)  # same records, same hashes, no duplicates
    assert hub_blobs_verified(federation) == node_blobs(home)
    at_hub, at_node = decisions(federation, home)
    assert at_node == at_hub
    audit = run("hub", "audit", "verify", "--home", str(federation.hub_home), "--json").json()
    assert audit["clean"], audit["problems"]


def decide_some(federation, rng: random.Random, n: int) -> None:
    """Operators decide a few received cases while the village is still syncing."""
    cases = run("hub", "cases", "--home", str(federation.hub_home), "--state", "received",
                "--json").json()["cases"]
    for case in rng.sample(cases, min(n, len(cases))):
        run("hub", "decide", case["case_id"], "--approve", "--reason", "ok", "--operator",
            "刘芳", "--home", str(federation.hub_home))


def test_a_ten_thousand_case_backlog_with_attachments_syncs_in_one_sync(federation):
    v1 = federation.enrol("V001")
    made = make_backlog(v1, cases=10_000, attachments=1_000, attachment_bytes=8_000)
    report = run("node", "sync", "--home", str(v1), "--json", timeout_s=600).json()
    assert report["pushed"] == made.records
    assert report["received"] == made.cases
    assert report["blobs"] == made.attachments
    assert hub_log(federation) == node_log(v1)
    assert hub_blobs_verified(federation) == node_blobs(v1)
    with federation.hub_db() as db:
        assert db.execute("SELECT count(*) FROM cases").fetchone()[0] == 10_000
    sample = sorted(node_blobs(v1))[0]
    out = federation.root / "fetched.jpg"
    run("hub", "blob", "get", sample.hex(), "--out", str(out), "--home",
        str(federation.hub_home))
    assert hashlib.sha256(out.read_bytes()).digest() == sample


def test_sync_converges_through_a_link_that_cuts_stalls_and_delays(federation, intake):
    v1 = federation.enrol("V001")
    make_backlog(v1, cases=600, attachments=30, attachment_bytes=120_000)
    with FaultProxy(federation.sync_at) as proxy:
        point_node_at(v1, proxy.address)
        proxy.faults.cut_after_bytes = 200_000  # every connection dies after 200 kB
        tries = sync_until_done(v1)
        assert tries > 1
        assert proxy.cuts > 0
        intake(v1, name="李建国", id17="36011219710815203")
        proxy.faults.cut_after_bytes = None
        proxy.faults.delay_s = 0.02
        proxy.faults.stall_until = time.monotonic() + 3  # the link goes quiet for a while
        sync_until_done(v1)
    assert_converged(federation, v1)


def test_node_killed_at_random_points_of_a_large_sync_loses_nothing(federation):
    rng = random.Random(20261127)
    v1 = federation.enrol("V001")
    make_backlog(v1, cases=1_500, attachments=40, attachment_bytes=100_000)
    kills, within = 0, KillWindow()
    for round_no in range(KILLS * 4):  # bounded: at most four times the rounds to land the kills
        if kills >= KILLS:
            break
        proc = subprocess.Popen(bianmin_argv("node", "sync", "--home", str(v1)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(within.pick(rng))
        landed = proc.poll() is None
        if landed:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        within.saw(landed=landed)
        proc.wait(timeout=30)
        decide_some(federation, rng, 2)
        make_backlog(v1, cases=within.cases, attachments=4, attachment_bytes=100_000,
                     seed=round_no, days_ago=2 + round_no % 19)
    assert kills >= KILLS
    sync_until_done(v1)
    sync_until_done(v1)  # the decisions made during the last round come down too
    assert_converged(federation, v1)


def test_hub_killed_during_ingest_loses_nothing(federation):
    rng = random.Random(1127)
    v1 = federation.enrol("V001")
    make_backlog(v1, cases=1_500, attachments=40, attachment_bytes=100_000)
    kills, within = 0, KillWindow()
    # bounded: at most four times the rounds to land the kills while a sync is under way
    for round_no in range(KILLS * 4):
        if kills >= KILLS:
            break
        proc = subprocess.Popen(bianmin_argv("node", "sync", "--home", str(v1)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(within.pick(rng))
        assert federation.hub is not None
        landed = proc.poll() is None
        kills += landed
        within.saw(landed=landed)
        federation.hub.kill()  # kill -9 in the middle of whatever it was doing
        proc.wait(timeout=60)
        federation.start_hub(same_ports=True)
        if round_no % 3 == 0:
            decide_some(federation, rng, 1)
        make_backlog(v1, cases=within.cases, attachments=4, attachment_bytes=100_000,
                     seed=round_no, days_ago=2 + round_no % 19)
    assert kills >= KILLS
    sync_until_done(v1)
    sync_until_done(v1)
    assert_converged(federation, v1)
