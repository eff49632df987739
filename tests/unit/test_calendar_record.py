"""The county's working-day calendar reaches every node as a signed record of its log, and
the desk counts its receipts' dates in it (issue 11)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from node.desk.dates import HeldCalendar, calendar_in_force, item_dates
from node.kernel.errors import UsageError, VerificationError
from node.kernel.payloads import CalendarPublished
from node.kernel.wire import decode_body
from tests.unit.world import County, Village


@pytest.fixture
def county(tmp_path: Path) -> County:
    return County(tmp_path)


NATIONAL_DAY = CalendarPublished(
    name="2026", holidays=tuple(f"2026-10-0{d}" for d in range(1, 8)),
    workdays=("2026-09-27", "2026-10-10"))


def test_a_village_holds_the_calendar_the_county_signed(county: County, tmp_path: Path) -> None:
    village = Village(county, "V001", tmp_path)
    with village.store.reading() as r:
        assert not calendar_in_force(r).received
    village.take(county.hub_record(NATIONAL_DAY))
    with village.store.reading() as r:
        held = calendar_in_force(r)
    assert held.received
    assert held.calendar.holidays == NATIONAL_DAY.calendar().holidays
    assert "2026" in held.label


def test_the_latest_calendar_is_in_force(county: County, tmp_path: Path) -> None:
    village = Village(county, "V001", tmp_path)
    later = CalendarPublished(name="2027", holidays=("2027-01-01",), workdays=())
    village.take(county.hub_record(NATIONAL_DAY), county.hub_record(later))
    with village.store.reading() as r:
        assert calendar_in_force(r).calendar.name == "2027"


def test_a_receipts_due_date_skips_the_holidays_and_counts_the_adjusted_workdays(
        county: County) -> None:
    published = county.catalog.payload
    item = published.catalog.item("MZ-003")  # type: ignore[union-attr]
    assert item is not None
    assert item.promised_days == 10
    held = HeldCalendar(calendar=NATIONAL_DAY.calendar(), received=True)
    dates = item_dates(item, dt.date(2026, 9, 25), held)  # a Friday
    # 9-27 (Sun, worked), 9-28, 9-29, 9-30, the holiday week off, 10-8, 10-9, 10-10 (Sat,
    # worked), 10-12, 10-13, 10-14: the 10th working day
    assert dates.promised_due == dt.date(2026, 10, 14)


def test_a_calendar_no_calendar_may_be_is_a_malformed_record(county: County) -> None:
    with pytest.raises(UsageError, match="workday"):
        CalendarPublished(name="x", holidays=(), workdays=("2026-10-12",))  # a Monday
    record = county.hub_record(NATIONAL_DAY)
    bad = record.body.replace(b"2026-10-10", b"2026-10-12")  # same length, a Monday
    with pytest.raises(VerificationError) as caught:
        decode_body(bad)
    assert caught.value.code == "malformed_body"
