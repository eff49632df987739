"""The tables of docs/protocol.md that come from the code: every payload with its writer and
audience (``node.kernel.authority.TABLE``), and every refusal reason (``authority.REASONS``) with
the vectors that show it. Written between markers in the doc, so they cannot drift; a test
fails when the committed doc differs from what this writes.

    python scripts/protocol_tables.py           # rewrite the tables in docs/protocol.md
    python scripts/protocol_tables.py --check   # exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from node.kernel.authority import (  # noqa: E402
    AUTHORITY,
    HOLDS,
    REASONS,
    TABLE,
    Audience,
    Speaker,
)
from node.kernel.wire import PAYLOADS  # noqa: E402
from sync.pb import records_pb2  # noqa: E402

DOC = ROOT / "docs" / "protocol.md"
VECTORS = ROOT / "tests" / "vectors"

SPEAKERS = {
    Speaker.NOBODY: "-- (not about a case)",
    Speaker.SUBMITTER: "the log its case id names, once",
    Speaker.ORIGIN: "the log that submitted the case",
    Speaker.COUNTY: "the county",
    Speaker.DECIDER: "the county, or the township whose grant covers the item",
    Speaker.OVERSEER: "the county, or the township of the case's origin",
}
AUDIENCES = {
    Audience.UPSTREAM: "up only: the writer's township, the county",
    Audience.COUNTY: "stays at the county",
    Audience.ORIGIN: "down to the case's origin (and its township)",
    Audience.TOWNSHIP: "down to the township it names and its villages (`@T01`)",
    Audience.EVERYONE: "down to every node",
}
LOG_NAMES = {"village": "village", "township": "township", "HUB": "`HUB`",
             "CATALOG": "`CATALOG`"}
_ORDER = ["village", "township", "HUB", "CATALOG"]


def payloads_table() -> str:
    oneof = records_pb2.RecordBody.DESCRIPTOR.fields_by_name
    rows = sorted(TABLE.items(), key=lambda kv: oneof[PAYLOADS[kv[0]]].number)
    lines = ["| field | payload | what it is | carried in the logs of | speaks for a case: | "
             "travels |", "|---:|---|---|---|---|---|"]
    for cls, rule in rows:
        field = oneof[PAYLOADS[cls]]
        logs = ", ".join(LOG_NAMES[k.value] for k in sorted(
            rule.logs, key=lambda k: _ORDER.index(k.value)))
        lines.append(f"| {field.number} | `{cls.__name__}` (`{field.name}`) | {rule.writes} | "
                     f"{logs} | {SPEAKERS[rule.speaker]} | {AUDIENCES[rule.audience]} |")
    return "\n".join(lines)


def _vectors_by_reason() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(VECTORS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for v in data.get("vectors", []):
            for step in v.get("steps", []):
                expect = step.get("expect", {})
                codes = [r["reason"] for r in expect.get("results", []) if r["reason"]]
                codes += [expect[k] for k in ("call_refused", "refused") if k in expect]
                for code in codes:
                    if v["id"] not in found.setdefault(code, []):
                        found[code].append(v["id"])
    return found


def reasons_table() -> str:
    vectors = _vectors_by_reason()
    lines = ["| code | what it means | kept as evidence | alarm | kind | vectors |",
             "|---|---|---|---|---|---|"]
    for code, reason in REASONS.items():
        kind = ("not applied" if code == "after_refusal" else "held back" if code in HOLDS
                else "who may say what" if code in AUTHORITY else "integrity")
        shown = vectors.get(code, [])
        listed = ", ".join(f"`{v}`" for v in shown[:2]) + (
            f" (+{len(shown) - 2})" if len(shown) > 2 else "")
        lines.append(f"| `{code}` | {reason.means} | {'yes' if reason.evidence else 'no'} | "
                     f"{f'`{reason.alarm}`' if reason.alarm else '--'} | {kind} | "
                     f"{listed or '**none**'} |")
    return "\n".join(lines)


TABLES = {"payloads": payloads_table, "reasons": reasons_table}
_BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (?P<name>\w+) .*?-->\n)(?P<body>.*?)"
                    r"(<!-- END GENERATED: (?P=name) -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block rewritten."""
    seen = set()

    def block(m: re.Match[str]) -> str:
        seen.add(m["name"])
        return f"{m.group(1)}{TABLES[m['name']]()}\n{m.group(4)}"

    out = _BLOCK.sub(block, text)
    missing = set(TABLES) - seen
    if missing:
        raise SystemExit(f"{DOC.relative_to(ROOT)} has no markers for {sorted(missing)}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    fresh = render(text)
    if args.check:
        if fresh != text:
            print("docs/protocol.md's generated tables are stale: run "
                  "python scripts/protocol_tables.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
