"""protos/ keeps the v1 contract: the committed baseline is the last release's descriptors, and
nothing a v1 reader relies on has changed since (``make proto-check`` runs buf's full lint and
breaking rules; this is the wire-level part of the same check in Python, so that a plain
pytest run sees it too)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from sync.pb import records_pb2, sync_pb2

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "0e878fd"
BASELINE = ROOT / "protos" / "baseline" / f"{RELEASE}.binpb"


def baseline() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    files = descriptor_pb2.FileDescriptorSet.FromString(BASELINE.read_bytes()).file
    return {f.name: f for f in files}


def current() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    out = {}
    for module in (records_pb2, sync_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        out[proto.name] = proto
    return out


def test_the_baseline_is_the_releases_protos_compiled(tmp_path):
    if shutil.which("git") is None or subprocess.run(
            ["git", "cat-file", "-e", f"{RELEASE}^{{commit}}"], cwd=ROOT,
            capture_output=True, check=False).returncode != 0:
        pytest.skip(f"release commit {RELEASE} is not in this clone's history")
    out = tmp_path / "baseline.binpb"
    subprocess.run([str(ROOT / "scripts" / "proto_baseline.sh"), RELEASE, str(out)], cwd=ROOT,
                   check=True, timeout=120, env={**os.environ, "PYTHON": sys.executable})
    assert out.read_bytes() == BASELINE.read_bytes(), (
        f"protos/baseline/{RELEASE}.binpb is not what scripts/proto_baseline.sh {RELEASE} makes")


def _fields(message: descriptor_pb2.DescriptorProto, prefix: str = "",
            ) -> dict[str, tuple[object, ...]]:
    """``Message.number`` -> what a reader of that field relies on, nested messages too."""
    out = {}
    for f in message.field:
        oneof = message.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else ""
        out[f"{prefix}{message.name}.{f.number}"] = (f.name, f.type, f.label, f.type_name,
                                                     oneof, f.proto3_optional)
    for nested in message.nested_type:
        out |= _fields(nested, f"{prefix}{message.name}.")
    return out


def _contract(files: dict[str, descriptor_pb2.FileDescriptorProto]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, file in files.items():
        out[f"{name} package"] = file.package
        for message in file.message_type:
            out |= _fields(message)
        for enum in file.enum_type:
            for value in enum.value:
                out[f"{enum.name}.{value.number}"] = value.name
        for service in file.service:
            for method in service.method:
                out[f"{service.name}/{method.name}"] = (
                    method.input_type, method.output_type, method.client_streaming,
                    method.server_streaming)
    return out


def test_nothing_of_the_last_release_changed_only_additions():
    before, after = _contract(baseline()), _contract(current())
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert changed == {}, "a v1 reader relies on these (see docs/protocol.md, Versioning)"


def test_the_additions_since_the_release_are_the_ones_we_know():
    before, after = _contract(baseline()), _contract(current())
    added = sorted(set(after) - set(before))
    assert added == ["BlobChunk.5", "BlobStatusRequest.2", "CalendarPublished.1",
                     "CalendarPublished.2", "CalendarPublished.3", "DecisionConfirmed.1",
                     "DecisionConfirmed.2", "DecisionConfirmed.3", "DecisionConfirmed.4",
                     "EnrolReply.9", "EnrolRequest.5", "KeyReplaced.1", "KeyReplaced.2",
                     "KeyReplaced.3", "KeyReplaced.4", "KeyReplacementGrant.1",
                     "KeyReplacementGrant.2", "KeyReplacementGrant.3", "KeyReplacementGrant.4",
                     "KeyReplacementGrant.5", "PushRequest.5", "RecordBody.26", "RecordBody.44",
                     "RecordBody.45", "RotateKeyRequest.2", "RotateKeyRequest.3"]
