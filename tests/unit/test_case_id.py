"""Case ids: {county}-{node}-{YYYYMMDD}-{NNNN}, made offline and read back from paper."""

from __future__ import annotations

import datetime as dt

import pytest

from node.kernel.case_id import MAX_DAILY, CaseId, format_case_id, parse_case_id
from node.kernel.errors import UsageError

DAY = dt.date(2026, 11, 27)


def test_format_matches_the_design_example() -> None:
    assert format_case_id("360112", "V001", DAY, 7) == "360112-V001-20261127-0007"


@pytest.mark.parametrize(("number", "text"), [
    (1, "0001"), (7, "0007"), (42, "0042"), (999, "0999"), (MAX_DAILY, "9999"),
])
def test_daily_number_is_padded_to_four_digits(number: int, text: str) -> None:
    assert format_case_id("360112", "V001", DAY, number).endswith(f"-{text}")


@pytest.mark.parametrize("number", [0, -1, MAX_DAILY + 1, 10000, 123456])
def test_numbers_outside_one_to_9999_are_refused(number: int) -> None:
    with pytest.raises(UsageError, match="9999 case numbers") as caught:
        format_case_id("360112", "V001", DAY, number)
    assert caught.value.code == "case_numbers_exhausted"


@pytest.mark.parametrize(("county", "node", "day", "number"), [
    ("360112", "V001", DAY, 7),
    ("360112", "T01", dt.date(2027, 1, 1), 1),
    ("110105", "HUB", dt.date(2024, 2, 29), MAX_DAILY),
    ("360112", "V0123456789ABCDE", dt.date(1999, 12, 31), 1234),  # 16-character node id
])
def test_format_then_parse_round_trips(county: str, node: str, day: dt.date,
                                       number: int) -> None:
    text = format_case_id(county, node, day, number)
    parsed = parse_case_id(text)
    assert parsed == CaseId(county_code=county, node_id=node, day=day, number=number)
    assert str(parsed) == text


@pytest.mark.parametrize("text", [
    "",
    "360112-V001-20261127-007",      # three-digit number
    "36011-V001-20261127-0007",      # five-digit county
    "3601120-V001-20261127-0007",    # seven-digit county
    "360112-v001-20261127-0007",     # lower-case node id
    "360112-V-20261127-0007",        # one-character node id
    "360112-1V01-20261127-0007",     # node id must start with a letter
    "360112-V0123456789ABCDEF-20261127-0007",  # 17-character node id
    "360112-V001-2026112-0007",      # seven-digit date
    "360112-V001-20261127",          # no number
    "360112-V001-20261127-0007-1",
    "360112_V001_20261127_0007",
    " 360112-V001-20261127-0007",
    "360112-V001-2026-11-27-0007",
])
def test_malformed_case_ids_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not a case id") as caught:
        parse_case_id(text)
    assert caught.value.code == "bad_case_id"


@pytest.mark.parametrize("text", [
    "360112-V001-20260230-0007",  # 30 February
    "360112-V001-20261301-0007",  # month 13
    "360112-V001-20230229-0007",  # not a leap year
    "360112-V001-00000101-0007",  # year 0
])
def test_case_ids_with_impossible_dates_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="is not a date") as caught:
        parse_case_id(text)
    assert caught.value.code == "bad_case_id"


@pytest.mark.parametrize("text", [
    "360112-V001-20261127-0000",
    "360112-V001-20261127-10000",
    "360112-V001-20261127-00007",
    "360112-V001-20261127-0007\n",
])
def test_parse_refuses_text_that_format_would_never_produce(text: str) -> None:
    with pytest.raises(UsageError):
        parse_case_id(text)
