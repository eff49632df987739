"""docs/protocol.md is the contract: its generated tables are what the authority table says
(scripts/protocol_tables.py), and every reason code a server can refuse a call with is in it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from node.kernel.authority import REASONS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"

# where the serving path raises: every ``code="..."`` there reaches a client on the wire
SERVING = {
    "county_hub/ingest.py": None, "county_hub/blobs.py": None, "node/transfer.py": None,
    "node/receive.py": None, "township_agent/upstream.py": None,
    "county_hub/enrolment.py": {"enrol", "_csr"}, "county_hub/ca.py": {"check_csr"},
    "node/enrolment.py": {"parse_token"},
}


def test_the_generated_tables_are_current():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "protocol_tables.py"),
                           "--check"], capture_output=True, text=True, timeout=60,
                          check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def wire_codes(path: Path, functions: set[str] | None) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    scopes: list[ast.AST] = [tree] if functions is None else [
        n for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name in functions]
    found = set()
    for scope in scopes:
        for node in ast.walk(scope):
            if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(
                    node.value, ast.Constant) and isinstance(node.value.value, str):
                found.add(node.value.value)
    return found


@pytest.mark.parametrize("module", sorted(SERVING))
def test_every_code_a_call_can_be_refused_with_is_documented(module):
    text = DOC.read_text(encoding="utf-8")
    codes = wire_codes(ROOT / module, SERVING[module])
    assert codes, module
    missing = sorted(c for c in codes if f"`{c}`" not in text)
    assert missing == [], f"add them to docs/protocol.md's call table: {missing}"


def test_every_refusal_reason_is_in_the_doc():
    text = DOC.read_text(encoding="utf-8")
    assert [c for c in REASONS if f"| `{c}` |" not in text] == []
