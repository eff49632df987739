#!/usr/bin/env bash
# The descriptor set of a release's protos: the baseline buf's breaking-change check compares
# protos/ against (make proto-check). Built with protoc from grpc-tools, so it needs no buf.
# Usage: scripts/proto_baseline.sh COMMIT [OUT]   (default OUT: protos/baseline/COMMIT.binpb)
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:?usage: scripts/proto_baseline.sh COMMIT [OUT]}
out=$(realpath -m "${2:-protos/baseline/$commit.binpb}")
py=$(command -v "${PYTHON:-python}" || echo "${PYTHON:-python}")
py=$(realpath -ms "$py")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$commit" protos | tar -x -C "$tmp"
mkdir -p "$(dirname "$out")"
(cd "$tmp/protos" && "$py" -m grpc_tools.protoc -I . --include_imports \
  --descriptor_set_out="$out" bianmin/v1/*.proto)
