"""The layers of DESIGN §10 hold: each package imports only from the layers below it, and the
pure core imports no I/O (STYLE §1)."""

from __future__ import annotations

import ast
import re
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
# the kernel (DESIGN §10): every module of node/kernel, and the sync layer's pure logic
PURE = [*sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "node" / "kernel").glob("*.py")),
        "sync/protocol.py", "sync/errors.py"]
IO_MODULES = {"grpc", "sqlmodel", "sqlalchemy", "socket", "subprocess", "requests", "ssl",
              "os", "pathlib", "shutil", "threading", "time", "logging", "click", "psycopg",
              "alembic", "urllib.request", "http"}


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
    assert {n for n in names if n in IO_MODULES or n.split(".")[0] in IO_MODULES} == set()
    text = path.read_text(encoding="utf-8")
    for needle in ("os.environ", "time.sleep", "open("):
        assert needle not in text, f"{module} uses {needle}"


WALL_CLOCK = ("datetime.now(", "time.time(", "datetime.utcnow(", "date.today(")


def test_nothing_reads_the_wall_clock_but_the_clock_seam():
    """Time comes from an injected ``Clock`` (STYLE §1), so tests and rehearsals can set it;
    only ``node/kernel/clock.py`` asks the system. (Elapsed time, ``time.monotonic``, is not
    the date and may be measured anywhere outside the kernel.)"""
    offences = [
        f"{path.relative_to(ROOT)} calls {needle}"
        for package in PACKAGES
        for path in sources(package)
        if path.relative_to(ROOT).as_posix() != "node/kernel/clock.py"
        for needle in WALL_CLOCK
        if needle in path.read_text(encoding="utf-8")
    ]
    assert offences == []


@pytest.mark.parametrize("module", PURE)
def test_the_kernel_measures_no_time(module):
    assert "time.monotonic(" not in (ROOT / module).read_text(encoding="utf-8")


# -- one writer per table (STYLE §20) ---------------------------------------------------

# the tables the store seam alone writes: records, log heads, the case index, cases, the trail
PROTECTED = {"records", "heads", "case_records", "cases", "trail", "pauses", "opinions"}
PROTECTED_MODELS = {"HubRecord", "NodeRecord", "HubLogHead", "NodeLogHead", "HubCase",
                    "NodeCase", "HubCaseRecord", "NodeCaseRecord", "HubTrail",
                    "HubCasePause", "HubOpinion"}
PROTECTED_SQL = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(records|log_heads|"
                           r"case_records|cases|trail|case_pauses|case_opinions)\b", re.I)
THE_WRITERS = {"node/store/sql.py", "node/store/memory.py", "county_hub/memory.py"}


def _targets(call: ast.Call) -> str | None:
    """The expression a write statement is about: ``insert(X)``, ``update(X)``, ``X.delete()``."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in ("insert", "update") and call.args:
        return ast.unparse(call.args[0])
    if isinstance(func, ast.Attribute) and func.attr == "delete" and not call.args:
        return ast.unparse(func.value)
    return None


def _names(expr: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]+", expr))


def test_only_the_store_seam_writes_records_heads_cases_and_the_trail():
    offences = []
    for package in PACKAGES:
        for path in sources(package):
            where = path.relative_to(ROOT).as_posix()
            if where in THE_WRITERS or "/migrations/" in where:
                continue
            text = path.read_text(encoding="utf-8")
            for node in ast.walk(ast.parse(text)):
                target = isinstance(node, ast.Call) and _targets(node)
                if target and _names(target) & (PROTECTED | PROTECTED_MODELS):
                    offences.append(f"{where}:{node.lineno} writes {target}")
            offences += [f"{where}: raw SQL {m.group(0)!r}" for m in PROTECTED_SQL.finditer(text)]
    assert offences == []


def test_the_structure_rule_sees_a_write_outside_the_seam():
    """The rule above would catch the kind of write it forbids."""
    tree = ast.parse("conn.execute(insert(self.t.cases).values(state='x'))\n"
                     "conn.execute(t.records.delete())")
    found = [t for n in ast.walk(tree) if isinstance(n, ast.Call) and (t := _targets(n))]
    assert sorted(found) == ["self.t.cases", "t.records"]
    assert PROTECTED_SQL.search("UPDATE cases SET state = 'approved'")


def test_one_runner_installs_the_signal_handlers_of_every_serving_process():
    """STYLE §23: signals, state file and drain live in node/runner.py alone."""
    offences = [f"{path.relative_to(ROOT)} installs a signal handler"
                for package in PACKAGES for path in sources(package)
                if path.relative_to(ROOT).as_posix() != "node/runner.py"
                and "signal.signal(" in path.read_text(encoding="utf-8")]
    assert offences == []


def test_commands_open_homes_as_context_managers():
    """STYLE §19: no command closes a home by hand in a ``finally``."""
    pattern = re.compile(r"finally:\n\s+[\w.]*(close|db\.close)\(\)")
    offences = [f"{path.relative_to(ROOT)} closes a home in a finally"
                for package in PACKAGES for path in sources(package)
                if path.name.startswith("cli") and pattern.search(path.read_text("utf-8"))]
    assert offences == []
