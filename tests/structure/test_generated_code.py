"""``make proto`` output is committed and current: regenerating changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_generated_code_matches_the_protos(tmp_path):
    subprocess.run([str(ROOT / "scripts" / "gen_proto.sh"), str(tmp_path)], check=True,
                   env={**os.environ, "PYTHON": sys.executable}, cwd=ROOT, timeout=120)
    committed = {p.name: p.read_bytes() for p in (ROOT / "sync" / "pb").glob("*_pb2*")}
    fresh = {p.name: p.read_bytes() for p in tmp_path.glob("*_pb2*")}
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"run 'make proto': {stale} are stale"
