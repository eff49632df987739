"""Operating the hub (issue 7): health and reflection, metrics, structured logs, settings
checks, backups."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import urllib.request

import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from bianmin.backlog import make_backlog
from bianmin.procs import ServerProcess, run
from tests.e2e.helpers import channel_of, client_of, records_of, wait_for_health

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def restart_hub(federation, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:
    federation.stop_hub()
    hub = ServerProcess(["hub", "serve", "--home", str(federation.hub_home), "--listen",
                         federation.sync_at, "--enrol-listen", federation.enrol_at, "--json",
                         *extra], log=federation.root / "hub-ops.log", env=env)
    federation.hub = hub
    return hub


def test_health_goes_not_serving_before_shutdown_and_reflection_lists_services(federation):
    v1 = federation.enrol("V001")
    hub = restart_hub(federation, env={"BIANMIN_SERVE__DRAIN_S": "3"})
    with channel_of(v1, federation.sync_at) as channel:
        serving = health_pb2.HealthCheckResponse.SERVING
        assert wait_for_health(channel, serving, 5) == serving
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert {"bianmin.v1.Sync", "grpc.health.v1.Health"} <= set(services)
        hub.proc.send_signal(signal.SIGTERM)
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        assert wait_for_health(channel, not_serving, 3) == not_serving
    assert hub.proc.wait(timeout=30) == 0


def test_metrics_count_what_the_hub_ingests_and_what_is_open(federation, intake):
    v1 = federation.enrol("V001")
    port = free_port()
    hub = restart_hub(federation, "--metrics", f"127.0.0.1:{port}")
    assert hub.info["metrics"] == f"127.0.0.1:{port}"
    intake(v1)
    run("node", "sync", "--home", str(v1))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    assert 'bianmin_records_ingested_total{tier="node"} 2.0' in text
    assert 'bianmin_node_synced_seq{node="V001"} 2.0' in text
    assert 'bianmin_node_backlog_records{node="V001"} 0.0' in text
    assert 'bianmin_open_cases{colour="on_time"} 1.0' in text
    assert "bianmin_push_batch_seconds_bucket" in text


def test_json_logs_carry_the_node_and_request_ids(federation, intake):
    v1 = federation.enrol("V001")
    restart_hub(federation, "--log-format", "json")
    intake(v1)
    run("node", "sync", "--home", str(v1))
    federation.stop_hub()
    lines = [json.loads(line) for line in
             (federation.root / "hub-ops.log").read_text(encoding="utf-8").splitlines()
             if line.startswith("{")]
    pushes = [line for line in lines if line.get("records")]
    assert pushes
    assert pushes[0]["node_id"] == "V001"
    assert len(pushes[0]["request_id"]) == 12
    assert pushes[0]["accepted"] == 2


def test_config_check_names_the_bad_setting_and_where_it_came_from(federation):
    hub_home = federation.hub_home
    v1 = federation.enrol("V001")
    node = run("config", "check", "--home", str(v1), "--json").json()
    assert node["ok"] is True
    assert node["settings"]["tier"] == "village"
    for config in (hub_home / "hub.toml", v1 / "node.toml"):  # the hub's may hold a password
        assert config.stat().st_mode & 0o777 == 0o600, config
    good = run("config", "check", "--home", str(hub_home), "--json")
    assert good.json()["ok"] is True
    assert {c["check"] for c in good.json()["checks"]} == {"keys", "database"}
    with (hub_home / "hub.toml").open("a", encoding="utf-8") as f:
        f.write('\n[serve]\nlisten = "everywhere"\n')
    bad = run("config", "check", "--home", str(hub_home), "--json", check=False)
    assert bad.returncode == 1
    assert "serve.listen" in json.loads(bad.stdout)["error"]["message"]
    env = run("config", "check", "--home", str(hub_home), check=False,
              env={"BIANMIN_SERVE__LISTEN": "127.0.0.1:x"})
    assert "$BIANMIN_SERVE__LISTEN" in env.stderr


def test_node_backup_is_a_verified_copy_taken_while_the_node_works(federation, intake,
                                                                   tmp_path):
    v1 = federation.enrol("V001")
    intake(v1)
    out = tmp_path / "backups" / "v001.db"
    report = run("node", "backup", "--home", str(v1), "--out", str(out), "--json").json()
    assert report["integrity"] == "ok"
    assert report["records"] >= 3  # the catalog and the case's two records
    with sqlite3.connect(out) as copy, sqlite3.connect(v1 / "node.db") as live:
        query = "SELECT log_id, seq, hash FROM records ORDER BY log_id, seq"
        assert copy.execute(query).fetchall() == live.execute(query).fetchall()
    again = run("node", "backup", "--home", str(v1), "--out", str(out), check=False)
    assert again.returncode == 1  # never overwrites a backup


def test_several_hub_processes_share_the_ports_count_together_and_stop_together(federation):
    homes = [federation.enrol(f"V{n:03d}") for n in (1, 2, 3)]
    for n, home in enumerate(homes):
        make_backlog(home, cases=3, seed=n)
    held = {home.name.upper(): records_of(home, home.name.upper()) for home in homes}
    port = free_port()
    hub = restart_hub(federation, "--processes", "2", "--metrics", f"127.0.0.1:{port}",
                      "--log-format", "json")
    pids = hub.info["processes"]
    assert len(pids) == 2
    assert hub.info["sync"] == federation.sync_at

    def pushed_by() -> set[int]:
        lines = (json.loads(line) for line in
                 (federation.root / "hub-ops.log").read_text(encoding="utf-8").splitlines()
                 if line.startswith("{"))
        return {line["pid"] for line in lines if line["msg"].startswith("push of ")}

    # every push on a fresh connection: the kernel hands each to one of the two processes
    for attempt in range(60):
        node_id = sorted(held)[attempt % len(held)]
        with client_of(federation.root / node_id.lower(), federation.sync_at) as c:
            assert not c.push(node_id, held[node_id]).refused
        if attempt >= len(held) and pushed_by() == set(pids):
            break
    assert pushed_by() == set(pids)
    with federation.hub_db() as db:
        stored = dict(db.execute("SELECT log_id, count(*) FROM records WHERE log_id LIKE 'V%' "
                                 "GROUP BY log_id").all())
    assert stored == {node_id: len(records) for node_id, records in held.items()}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    total = sum(len(records) for records in held.values())
    assert f'bianmin_records_ingested_total{{tier="node"}} {total}.0' in text  # both, added
    assert 'bianmin_node_backlog_records{node="V001"}' in text

    # one process dies: the hub stops whole, says why, and leaves nothing running
    os.kill(pids[0], signal.SIGKILL)
    assert hub.proc.wait(timeout=60) == 1
    hub.stop()
    assert f"hub process {pids[0]} exited with -9" in (federation.root / "hub-ops.log").read_text(
        encoding="utf-8")
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not list(federation.hub_home.glob("serve-*.json"))

    # SIGTERM: every process drains and stops, exit 0
    hub = restart_hub(federation, "--processes", "2")
    assert hub.stop() == 0
    for pid in hub.info["processes"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not list(federation.hub_home.glob("serve-*.json"))


def test_several_hub_processes_on_a_taken_port_fail_clearly_and_leave_nothing(federation):
    federation.stop_hub()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        refused = run("hub", "serve", "--home", str(federation.hub_home), "--listen", address,
                      "--processes", "2", "--json", check=False)
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "cannot_listen"
    assert f"cannot listen on {address}" in error["message"]
    assert not list(federation.hub_home.glob("serve-*.json"))
