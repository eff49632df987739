"""The layers of DESIGN §10 hold: each package imports only from the layers below it, and the
pure core imports no I/O (STYLE §1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["sync", "node", "county_hub", "township_agent", "bianmin"]
FORBIDDEN = {
    "sync": {"node", "county_hub", "township_agent", "bianmin"},
    "node": {"county_hub", "township_agent", "bianmin"},
    "county_hub": {"township_agent", "bianmin"},
    "township_agent": {"county_hub", "bianmin"},
    "bianmin": set(),
}
PURE = [
    "node/records.py", "node/wire.py", "node/payloads.py", "node/catalog.py",
    "node/prereview.py", "node/workflow.py", "node/case_id.py", "node/resident_id.py",
    "node/identity.py", "node/clock.py", "node/errors.py", "sync/protocol.py",
    "sync/errors.py", "node/deadlines.py",
]
IO_MODULES = {"grpc", "sqlmodel", "sqlalchemy", "socket", "subprocess", "requests", "ssl"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def sources(package: str) -> list[Path]:
    return [p for p in (ROOT / package).rglob("*.py") if "/pb/" not in p.as_posix()]


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_layers_below_it(package):
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(package)
        for name in imports(path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert offences == []


@pytest.mark.parametrize("module", PURE)
def test_pure_core_does_no_io(module):
    path = ROOT / module
    names = imports(path)
    assert {n.split(".")[0] for n in names} & IO_MODULES == set()
    text = path.read_text(encoding="utf-8")
    for needle in ("os.environ", "time.sleep", "open("):
        assert needle not in text, f"{module} uses {needle}"
