"""Issue 13's "done when": a node built from protos/ and the test vectors alone -- classes
generated into a temporary folder by protoc, grpcio and cryptography, none of bianmin's own
code (tests/thirdparty/minimal_node.py) -- passes the vectors it implements, asks the hub's
health with no client certificate, enrols, pushes a case the county accepts, and pulls and
verifies the county's decision."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import hub

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def generated(tmp: Path) -> Path:
    """What a vendor does first: generate the classes from protos/."""
    out = tmp / "generated"
    out.mkdir()
    protos = sorted(str(p.relative_to(ROOT / "protos"))
                    for p in (ROOT / "protos" / "bianmin" / "v1").glob("*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT / "protos"),
                    f"--python_out={out}", f"--grpc_python_out={out}", *protos],
                   check=True, timeout=120, cwd=ROOT / "protos")
    for package in (out / "bianmin", out / "bianmin" / "v1"):
        (package / "__init__.py").write_text("", encoding="utf-8")
    return out


def minimal_node(tmp: Path, gen: Path, sync: str, *phase: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-I", str(ROOT / "tests" / "thirdparty" / "minimal_node.py"),
         "--generated", str(gen), "--vectors", str(ROOT / "tests" / "vectors"),
         "--work", str(tmp), "--sync", sync, *phase],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_node_from_the_protos_and_the_vectors_alone_gets_its_case_decided(federation,
                                                                          tmp_path):
    gen = generated(tmp_path)
    token = federation.token("V009")["token"]
    enrolled = minimal_node(tmp_path, gen, federation.sync_at, "enrol", "--enrol",
                            federation.enrol_at, "--token", token)
    assert enrolled["project_modules"] == []
    assert enrolled["bianmin_from"].startswith(str(gen))
    vectors = enrolled["vectors"]
    assert vectors["encodings"] >= 19
    assert vectors["records"] >= 15
    assert vectors["chains"] >= 5
    assert enrolled["health"] == 1  # SERVING, asked with no client certificate
    assert enrolled["node_id"] == "V009"
    assert enrolled["hello_committed"] == 0
    assert enrolled["results"] == [[1, 1, ""], [2, 1, ""]]  # RECORD_STATUS_ACCEPTED
    assert enrolled["committed"] == 2
    assert (enrolled["refused_status"], enrolled["refused_code"]) == (
        "INVALID_ARGUMENT", "batch_too_large")

    case_id = enrolled["case_id"]
    cases = hub(federation, "cases", "--json").json()["cases"]
    assert [c["state"] for c in cases if c["case_id"] == case_id] == ["received"]
    hub(federation, "accept", case_id, "--operator", "刘芳")
    hub(federation, "decide", case_id, "--approve", "--reason", "符合条件", "--operator", "刘芳")

    pulled = minimal_node(tmp_path, gen, federation.sync_at, "pull")
    assert pulled["project_modules"] == []
    assert pulled["decision"] == "OUTCOME_APPROVE"
    assert pulled["reason"] == "符合条件"
    assert pulled["verification_code"]
    assert pulled["signed_by"]["node_id"] == "HUB"
    assert pulled["signed_by"]["purpose"] == "records"
    assert pulled["hub_seqs"] == sorted(pulled["hub_seqs"])
