"""The protocol as others meet it (issue 13): health for anyone, reflection v1 and v1alpha,
refusal reason codes on the wire, and the health commands -- against real processes."""

from __future__ import annotations

import signal
import socket
import time
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from bianmin.procs import ServerProcess, run
from sync import CallRefused, Unreachable, WireRecord
from sync.health import check_health
from tests.e2e.helpers import channel_of, client_of, wait_for_health

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def no_certificate(federation) -> grpc.ChannelCredentials:  # type: ignore[no-untyped-def]
    """What a load balancer or a monitoring box has: the county CA to check the hub, no
    certificate of its own."""
    return grpc.ssl_channel_credentials((federation.hub_home / "ca" / "ca.pem").read_bytes())


def restart_hub(federation, *extra: str, env: dict[str, str] | None = None) -> ServerProcess:  # type: ignore[no-untyped-def]
    federation.stop_hub()
    hub = ServerProcess(["hub", "serve", "--home", str(federation.hub_home), "--listen",
                         federation.sync_at, "--enrol-listen", federation.enrol_at, "--json",
                         *extra], log=federation.root / "hub-contract.log", env=env)
    federation.hub = hub
    return hub


def reflected_services(channel: grpc.Channel, version: str) -> set[str]:
    """``list_services`` over reflection ``version`` (v1 and v1alpha share their messages)."""
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    replies = list(call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                        timeout=10))
    return {s.name for s in replies[0].list_services_response.service}


def test_health_answers_a_client_with_no_certificate_on_the_enrolment_port(federation):
    for service in ("", "bianmin.v1.Enrolment"):
        status = check_health(federation.enrol_at, no_certificate(federation),
                              expected_node_id="HUB", service=service)
        assert status == "SERVING", service
    # the sync port wants a certificate of the county CA: without one the handshake fails,
    # which gRPC reports as UNAVAILABLE -- the reason health is on the enrolment port too
    with pytest.raises(Unreachable, match="unreachable"):
        check_health(federation.sync_at, no_certificate(federation), expected_node_id="HUB",
                     timeout_s=3)


def test_reflection_v1_and_v1alpha_on_both_ports(federation):
    v1 = federation.enrol("V001")
    options = [("grpc.ssl_target_name_override", "HUB")]
    with grpc.secure_channel(federation.enrol_at, no_certificate(federation),
                             options=options) as open_channel, \
            channel_of(v1, federation.sync_at) as mutual:
        for version in ("v1", "v1alpha"):
            assert reflected_services(open_channel, version) >= {
                "bianmin.v1.Enrolment", "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection"}
            assert reflected_services(mutual, version) >= {
                "bianmin.v1.Sync", "grpc.health.v1.Health",
                "grpc.reflection.v1alpha.ServerReflection"}
        # and reflection describes itself under the new name (grpcurl describe)
        call = open_channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        reply = next(iter(call(iter([reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="grpc.reflection.v1.ServerReflection")]), timeout=10)))
        assert reply.WhichOneof("message_response") == "file_descriptor_response"


def http_status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthz_and_readyz_beside_the_metrics_turn_away_while_draining(federation):
    port = free_port()
    hub = restart_hub(federation, "--metrics", f"127.0.0.1:{port}",
                      env={"BIANMIN_SERVE__DRAIN_S": "3"})
    base = f"http://127.0.0.1:{port}"
    assert http_status(f"{base}/healthz") == (200, "ok\n")
    assert http_status(f"{base}/readyz") == (200, "ready\n")
    assert "bianmin_records_ingested_total" in http_status(f"{base}/metrics")[1]
    hub.proc.send_signal(signal.SIGTERM)
    deadline, seen = time.monotonic() + 2.5, (0, "")
    while time.monotonic() < deadline:
        seen = http_status(f"{base}/readyz")
        if seen[0] == 503:
            break
        time.sleep(0.1)
    assert seen == (503, "not ready: draining before a shutdown\n")
    assert hub.proc.wait(timeout=30) == 0


def test_hub_health_exits_zero_while_serving_and_one_with_a_line_when_not(federation):
    home = str(federation.hub_home)
    ok = run("hub", "health", "--home", home)
    assert ok.returncode == 0
    assert ok.stdout.startswith("hub HUB serving: enrolment ")
    assert "SERVING (no client certificate)" in ok.stdout
    assert "SERVING (mutual TLS)" in ok.stdout
    as_json = run("hub", "health", "--home", home, "--json").json()
    assert [p["status"] for p in as_json["probes"]] == ["SERVING", "SERVING"]

    hub = restart_hub(federation, env={"BIANMIN_SERVE__DRAIN_S": "4"})
    hub.proc.send_signal(signal.SIGTERM)
    with channel_of(federation.enrol("V001"), federation.sync_at) as channel:
        wait_for_health(channel, health_pb2.HealthCheckResponse.NOT_SERVING, 3)
    draining = run("hub", "health", "--home", home, "--address", federation.sync_at,
                   "--enrol-address", federation.enrol_at, check=False)
    assert draining.returncode == 1
    assert draining.stderr.count("\n") == 1
    assert "is not serving" in draining.stderr
    assert "NOT_SERVING" in draining.stderr
    hub.proc.wait(timeout=30)

    gone = run("hub", "health", "--home", home, "--json", check=False)
    assert gone.returncode == 1
    assert gone.json()["error"]["code"] == "not_serving"
    assert "no 'bianmin hub serve' runs from" in gone.json()["error"]["message"]
    closed = run("hub", "health", "--home", home, "--address", f"127.0.0.1:{free_port()}",
                 "--timeout", "2", check=False)
    assert closed.returncode == 1
    assert "UNREACHABLE" in closed.stderr
    assert "Traceback" not in closed.stderr


def test_township_health_follows_its_serve(tree):
    home = str(tree.home)
    ok = run("township", "health", "--home", home)
    assert ok.returncode == 0, ok.stderr
    assert "SERVING (mutual TLS)" in ok.stdout
    tree.stop()
    gone = run("township", "health", "--home", home, check=False)
    assert gone.returncode == 1
    assert "no 'bianmin township serve' runs from" in gone.stderr


# -- reason codes on the wire ---------------------------------------------------------------------


def test_a_refused_call_carries_its_reason_code_not_only_its_status(federation):
    v1 = federation.enrol("V001")
    junk = WireRecord(body=b"\x08\x01", signature=bytes(64))
    with client_of(v1, federation.sync_at) as client:
        with pytest.raises(CallRefused) as too_large:
            client.push("V001", [junk] * 5001)
        assert too_large.value.code == "batch_too_large"
        assert too_large.value.refusal.value == "invalid_argument"
        assert "at most 5000 records" in str(too_large.value)
        with pytest.raises(CallRefused) as not_its_own:
            client.push("V003", [junk])
        assert not_its_own.value.code == "wrong_log"
        assert not_its_own.value.refusal.value == "permission_denied"


def test_the_cli_prints_the_code_the_wire_carried(federation, tmp_path):
    token = federation.token("V002")["token"]
    first = run("node", "init", "--home", str(tmp_path / "a"), "--upstream", federation.sync_at,
                "--enrol", federation.enrol_at, "--token", token, "--json")
    assert first.returncode == 0
    again = run("node", "init", "--home", str(tmp_path / "b"), "--upstream", federation.sync_at,
                "--enrol", federation.enrol_at, "--token", token, "--json", check=False)
    assert again.returncode == 1
    assert again.json()["error"]["code"] == "token_used"
