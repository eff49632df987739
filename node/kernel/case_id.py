"""Case ids (受理编号), made offline without coordination and readable on a paper receipt.

``{county code}-{node id}-{YYYYMMDD}-{NNNN}``, e.g. ``360112-V001-20261127-0007``: the node's
local date (China Standard Time) and its own daily number, so two nodes never collide. Pure.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from node.kernel.errors import UsageError

__all__ = ["CaseId", "format_case_id", "parse_case_id"]

_CASE_ID = re.compile(r"(?P<county>[0-9]{6})-(?P<node>[A-Z][A-Z0-9]{1,15})-"
                      r"(?P<date>[0-9]{8})-(?P<number>[0-9]{4})")
MAX_DAILY = 9999


@dataclass(frozen=True, kw_only=True)
class CaseId:
    county_code: str
    node_id: str
    day: dt.date
    number: int

    def __str__(self) -> str:
        return format_case_id(self.county_code, self.node_id, self.day, self.number)


def format_case_id(county_code: str, node_id: str, day: dt.date, number: int) -> str:
    if not 1 <= number <= MAX_DAILY:
        raise UsageError(
            f"node {node_id} has used all {MAX_DAILY} case numbers for {day.isoformat()}",
            code="case_numbers_exhausted",
        )
    return f"{county_code}-{node_id}-{day:%Y%m%d}-{number:04d}"


def parse_case_id(text: str) -> CaseId:
    m = _CASE_ID.fullmatch(text)
    if not m or m["number"] == "0000":
        raise UsageError(
            f"{text!r} is not a case id; case ids look like 360112-V001-20261127-0007",
            code="bad_case_id",
        )
    try:
        text_day = m["date"]  # (strptime is slow, and this runs for every case received)
        day = dt.date(int(text_day[:4]), int(text_day[4:6]), int(text_day[6:]))
    except ValueError as exc:
        raise UsageError(f"{text!r}: {m['date']} is not a date", code="bad_case_id") from exc
    return CaseId(county_code=m["county"], node_id=m["node"], day=day, number=int(m["number"]))
