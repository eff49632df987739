#!/usr/bin/env bash
# Regenerate sync/pb from protos/ (DESIGN §10): protoc into a temp folder, copy, rewrite imports.
# Usage: scripts/gen_proto.sh [OUT_DIR]   (default: sync/pb)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-sync/pb}
py=${PYTHON:-python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m grpc_tools.protoc -I protos --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" \
  protos/bianmin/v1/*.proto
mkdir -p "$out"
find "$out" -maxdepth 1 -name '*_pb2*' -delete
cp "$tmp"/bianmin/v1/*.py "$tmp"/bianmin/v1/*.pyi "$out"/
sed -i 's/^from bianmin\.v1 import /from . import /' "$out"/*.py "$out"/*.pyi
[ -f "$out/__init__.py" ] || printf '"""Generated protobuf and gRPC code for package bianmin.v1. Do not edit: run make proto."""\n' > "$out/__init__.py"
