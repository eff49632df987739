"""Deadline arithmetic: working days with holidays and 调休, pauses for supplements (补正), and
a case's colour -- by example, and as properties over random calendars (hypothesis)."""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.kernel.deadlines import (
    Calendar,
    Colour,
    DeadlineStatus,
    Pause,
    add_working_days,
    deadline_status,
    due_date,
    elapsed_working_days,
    parse_calendar_toml,
    working_days_between,
)
from node.kernel.errors import UsageError

D = dt.date
WEEKENDS = Calendar()
ORDER = [Colour.ON_TIME, Colour.YELLOW, Colour.RED, Colour.BREACH]


@pytest.fixture(scope="module")
def china_2026() -> Calendar:
    text = (resources.files("bianmin") / "data" / "calendar-example.toml").read_text("utf-8")
    return parse_calendar_toml(text, source="calendar-example.toml")


# -- reference implementations: day by day, obviously right, slow -----------------------------

def naive_between(start: dt.date, end: dt.date, cal: Calendar) -> int:
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        count += cal.is_working_day(day)
    return count


def naive_elapsed(received: dt.date, as_of: dt.date, pauses: list[Pause], cal: Calendar) -> int:
    def paused(day: dt.date) -> bool:
        return any(p.start < day <= (p.end if p.end is not None else as_of) for p in pauses)

    count, day = 0, received
    while day < as_of:
        day += dt.timedelta(days=1)
        count += cal.is_working_day(day) and not paused(day)
    return count


# -- strategies ---------------------------------------------------------------------------------

LOW, HIGH = D(2025, 11, 1), D(2027, 6, 30)
dates = st.dates(min_value=LOW, max_value=HIGH)


def weekend_of(day: dt.date, sunday: bool) -> dt.date:
    return day + dt.timedelta(days=(5 - day.weekday()) % 7 + sunday)


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    holidays = draw(st.frozensets(dates, max_size=60))
    weekend_days = draw(st.frozensets(st.builds(weekend_of, dates, st.booleans()), max_size=20))
    return Calendar(holidays=holidays, workdays=weekend_days - holidays, name="random")


@st.composite
def pause_lists(draw: st.DrawFn) -> list[Pause]:
    pauses = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(dates)
        length = draw(st.none() | st.integers(0, 60))
        pauses.append(Pause(start=start, end=None if length is None else
                            start + dt.timedelta(days=length)))
    return pauses


counts = st.integers(min_value=0, max_value=300)
PROPERTY = settings(max_examples=150, deadline=None)


# -- the calendar -------------------------------------------------------------------------------

def test_weekends_are_days_off_and_weekdays_working_days():
    assert [WEEKENDS.is_working_day(D(2026, 3, d)) for d in range(2, 9)] == [
        True, True, True, True, True, False, False]


def test_holiday_and_adjusted_workday_override_the_weekday_rule(china_2026):
    assert not china_2026.is_working_day(D(2026, 10, 1))   # Thursday, National Day
    assert china_2026.is_working_day(D(2026, 10, 10))      # Saturday, 调休
    assert not china_2026.is_working_day(D(2026, 10, 3))   # Saturday inside the block


def test_calendar_refuses_a_date_that_is_both_holiday_and_workday():
    with pytest.raises(UsageError, match="2026-10-10 is listed both") as err:
        Calendar(holidays=frozenset({D(2026, 10, 10)}), workdays=frozenset({D(2026, 10, 10)}))
    assert err.value.code == "bad_calendar"


def test_calendar_refuses_a_weekday_as_an_adjusted_workday():
    with pytest.raises(UsageError, match="workday 2026-10-09 is a Friday"):
        Calendar(workdays=frozenset({D(2026, 10, 9)}))


def test_calendar_refuses_a_datetime_for_a_date():
    with pytest.raises(UsageError, match="is not a date"):
        Calendar(holidays=frozenset({dt.datetime(2026, 10, 1, 8, 0)}))


def test_example_calendar_parses_with_the_2026_public_holidays(china_2026):
    assert china_2026.name == "中国 2026（示例）"
    assert len(china_2026.workdays) == 6
    assert D(2026, 2, 17) in china_2026.holidays    # 春节 初一
    assert all(d.year == 2026 for d in china_2026.holidays | china_2026.workdays)
    # 2026 has 261 Mon-Fri days; 19 of them are holidays and 6 weekend days are worked.
    assert working_days_between(D(2025, 12, 31), D(2026, 12, 31), china_2026) == 261 - 19 + 6


def test_calendar_accepts_toml_dates_and_strings_alike():
    cal = parse_calendar_toml(
        '[calendar]\nname = "x"\nholidays = [2026-06-19, "2026-09-25"]\nworkdays = [2026-10-10]\n')
    assert cal == Calendar(name="x", holidays=frozenset({D(2026, 6, 19), D(2026, 9, 25)}),
                           workdays=frozenset({D(2026, 10, 10)}))


def test_calendar_with_no_lists_has_only_weekends():
    assert parse_calendar_toml("[calendar]\n") == WEEKENDS


@pytest.mark.parametrize(("text", "message"), [
    ("[calendar\n", "cal.toml: not valid TOML"),
    ('name = "x"\n', "cal.toml: unknown table or key 'name'"),
    ("[other]\n", "cal.toml: unknown table or key 'other'"),
    ("calendar = 1\n", r"cal.toml: \[calendar\] is missing"),
    ('[calendar]\nholiday = ["2026-10-01"]\n',
     "cal.toml: \\[calendar\\] has unknown key 'holiday'"),
    ("[calendar]\nname = 3\n", "cal.toml: \\[calendar\\] name must be a string"),
    ('[calendar]\nholidays = "2026-10-01"\n', "cal.toml: holidays must be a list"),
    ('[calendar]\nholidays = ["2026-10-01", "2026-10-32"]\n',
     "cal.toml: holidays entry #2: '2026-10-32' is not a date"),
    ('[calendar]\nholidays = ["2026/10/01"]\n',
     "cal.toml: holidays entry #1: '2026/10/01' is not a date; write YYYY-MM-DD"),
    ('[calendar]\nholidays = ["20261001"]\n', "cal.toml: holidays entry #1: '20261001'"),
    ("[calendar]\nworkdays = [20261010]\n", "cal.toml: workdays entry #1: 20261010 is not"),
    ("[calendar]\nholidays = [2026-10-01T09:00:00]\n",
     "cal.toml: holidays entry #1: 2026-10-01T09:00:00 has a time of day"),
    ('[calendar]\nholidays = ["2026-10-01", 2026-10-01]\n',
     "cal.toml: holidays entry #2: 2026-10-01 is listed twice"),
    ('[calendar]\nholidays = ["2026-10-10"]\nworkdays = ["2026-10-10"]\n',
     "cal.toml: calendar: 2026-10-10 is listed both"),
    ('[calendar]\nworkdays = ["2026-10-09"]\n', "cal.toml: calendar: workday 2026-10-09"),
])
def test_bad_calendar_file_is_refused_naming_file_and_entry(text, message):
    with pytest.raises(UsageError, match=message) as err:
        parse_calendar_toml(text, source="cal.toml")
    assert err.value.code == "bad_calendar"


# -- counting, by example -----------------------------------------------------------------------

def test_counting_skips_weekends():
    friday = D(2026, 3, 6)
    assert add_working_days(friday, 1, WEEKENDS) == D(2026, 3, 9)
    assert add_working_days(friday, 5, WEEKENDS) == D(2026, 3, 13)
    assert add_working_days(D(2026, 3, 7), 1, WEEKENDS) == D(2026, 3, 9)
    assert working_days_between(friday, D(2026, 3, 13), WEEKENDS) == 5


def test_zero_days_is_the_start_itself_even_on_a_weekend():
    assert add_working_days(D(2026, 3, 7), 0, WEEKENDS) == D(2026, 3, 7)


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="cannot add -1 working days"):
        add_working_days(D(2026, 3, 6), -1, WEEKENDS)


def test_the_start_day_does_not_count_and_the_end_day_does():
    assert working_days_between(D(2026, 3, 2), D(2026, 3, 2), WEEKENDS) == 0
    assert working_days_between(D(2026, 3, 2), D(2026, 3, 3), WEEKENDS) == 1
    assert working_days_between(D(2026, 3, 9), D(2026, 3, 2), WEEKENDS) == 0


def test_national_day_week_and_its_adjusted_workdays(china_2026):
    # Wednesday 30 Sept: the next working day is Thursday 8 Oct; Saturday 10 Oct is worked.
    assert add_working_days(D(2026, 9, 30), 1, china_2026) == D(2026, 10, 8)
    assert add_working_days(D(2026, 9, 30), 3, china_2026) == D(2026, 10, 10)
    assert add_working_days(D(2026, 9, 30), 4, china_2026) == D(2026, 10, 12)
    assert working_days_between(D(2026, 9, 30), D(2026, 10, 12), china_2026) == 4
    # Sunday 20 Sept is worked too.
    assert working_days_between(D(2026, 9, 18), D(2026, 9, 21), china_2026) == 2
    assert add_working_days(D(2026, 9, 19), 1, china_2026) == D(2026, 9, 20)


def test_a_holiday_on_a_weekday_is_skipped():
    cal = Calendar(holidays=frozenset({D(2026, 6, 19)}))       # Friday, 端午节
    assert add_working_days(D(2026, 6, 18), 1, cal) == D(2026, 6, 22)
    assert working_days_between(D(2026, 6, 15), D(2026, 6, 21), cal) == 3


def test_spans_of_centuries_count_by_arithmetic():
    # 400 Gregorian years are exactly 20871 weeks.
    start = D(1800, 1, 1)
    end = D(2200, 1, 1)
    assert working_days_between(start, end, WEEKENDS) == 20871 * 5
    assert start.weekday() == end.weekday() == 2   # Wednesdays, both working days
    assert add_working_days(start, 20871 * 5, WEEKENDS) == end


def test_no_working_day_past_the_end_of_time_is_an_error():
    with pytest.raises(ValueError, match="fewer than 10 working days"):
        add_working_days(D(9999, 12, 24), 10, WEEKENDS)


# -- pauses and due dates, by example -----------------------------------------------------------

MONDAY = D(2026, 3, 2)


def test_due_date_without_pauses_is_the_nth_working_day():
    assert due_date(MONDAY, 5, [], WEEKENDS, as_of=MONDAY) == D(2026, 3, 9)
    assert due_date(MONDAY, 0, [], WEEKENDS, as_of=MONDAY) == MONDAY


def test_a_closed_pause_moves_the_due_date_by_the_working_days_it_covered():
    pause = Pause(start=D(2026, 3, 3), end=D(2026, 3, 5))      # covers Wed 4 and Thu 5
    assert elapsed_working_days(MONDAY, D(2026, 3, 6), [pause], WEEKENDS) == 2
    assert due_date(MONDAY, 5, [pause], WEEKENDS, as_of=D(2026, 3, 6)) == D(2026, 3, 11)


def test_an_open_pause_holds_the_due_date_beyond_today():
    pause = Pause(start=D(2026, 3, 3), end=None)
    as_of = D(2026, 3, 13)
    assert elapsed_working_days(MONDAY, as_of, [pause], WEEKENDS) == 1
    assert due_date(MONDAY, 5, [pause], WEEKENDS, as_of=as_of) == D(2026, 3, 19)
    assert due_date(MONDAY, 5, [pause], WEEKENDS, as_of=D(2026, 3, 20)) == D(2026, 3, 26)


def test_overlapping_pauses_count_once():
    pauses = [Pause(start=D(2026, 3, 3), end=D(2026, 3, 6)),
              Pause(start=D(2026, 3, 4), end=D(2026, 3, 10))]
    assert elapsed_working_days(MONDAY, D(2026, 3, 13), pauses, WEEKENDS) == 4


def test_a_pause_after_the_limit_was_reached_does_not_revive_the_deadline():
    late = Pause(start=D(2026, 3, 20), end=None)
    assert due_date(MONDAY, 5, [late], WEEKENDS, as_of=D(2026, 3, 27)) == D(2026, 3, 9)


def test_a_pause_cannot_end_before_it_starts():
    with pytest.raises(UsageError, match="cannot end \\(2026-03-02\\) before it starts") as err:
        Pause(start=D(2026, 3, 3), end=D(2026, 3, 2))
    assert err.value.code == "bad_pause"


# -- colour, by example -------------------------------------------------------------------------

def status(as_of: dt.date, pauses: list[Pause] | None = None) -> DeadlineStatus:
    return deadline_status(received=MONDAY, as_of=as_of, pauses=pauses or [], cal=WEEKENDS,
                           promised_days=5, statutory_days=10)


def test_colour_goes_from_on_time_through_yellow_and_red_to_breach():
    assert status(D(2026, 3, 4)).colour is Colour.ON_TIME     # 2 used, 3 left
    assert status(D(2026, 3, 5)).colour is Colour.YELLOW      # 3 used, 2 left
    assert status(D(2026, 3, 9)).colour is Colour.YELLOW      # 5 used, due today
    assert status(D(2026, 3, 10)).colour is Colour.RED        # 6 used
    assert status(D(2026, 3, 16)).colour is Colour.RED        # 10 used, the last lawful day
    assert status(D(2026, 3, 17)).colour is Colour.BREACH     # 11 used


def test_status_reports_days_left_and_due_dates():
    assert status(D(2026, 3, 10)) == DeadlineStatus(
        colour=Colour.RED, elapsed=6, promised_left=-1, statutory_left=4,
        promised_due=D(2026, 3, 9), statutory_due=D(2026, 3, 16), paused=False)


def test_an_open_pause_keeps_the_case_on_time_and_says_so():
    paused = status(D(2026, 3, 27), [Pause(start=D(2026, 3, 3), end=None)])
    assert (paused.colour, paused.elapsed, paused.paused) == (Colour.ON_TIME, 1, True)
    assert paused.promised_due == D(2026, 4, 2)


def test_a_pause_is_shown_from_the_day_it_is_requested_until_the_supplement_arrives():
    pause = Pause(start=D(2026, 3, 3), end=D(2026, 3, 5))
    assert [status(D(2026, 3, d), [pause]).paused for d in range(2, 7)] == [
        False, True, True, False, False]


def test_status_refuses_a_promise_longer_than_the_law_allows():
    with pytest.raises(ValueError, match="promised_days \\(11\\)"):
        deadline_status(received=MONDAY, as_of=MONDAY, pauses=[], cal=WEEKENDS,
                        promised_days=11, statutory_days=10)


# -- properties ---------------------------------------------------------------------------------

@PROPERTY
@given(start=dates, n=counts, cal=calendars())
def test_adding_then_counting_back_agree(start, n, cal):
    assert working_days_between(start, add_working_days(start, n, cal), cal) == n


@PROPERTY
@given(start=dates, n=st.integers(1, 300), cal=calendars())
def test_adding_lands_on_a_working_day_and_grows_with_n(start, n, cal):
    day = add_working_days(start, n, cal)
    assert cal.is_working_day(day)
    assert add_working_days(start, n - 1, cal) < day


@PROPERTY
@given(days=st.lists(dates, min_size=3, max_size=3), cal=calendars())
def test_counting_is_additive_over_adjacent_spans(days, cal):
    a, b, c = sorted(days)
    assert working_days_between(a, c, cal) == (working_days_between(a, b, cal)
                                               + working_days_between(b, c, cal))


@PROPERTY
@given(start=dates, end=dates, cal=calendars())
def test_fast_count_equals_a_day_by_day_count(start, end, cal):
    assert working_days_between(start, end, cal) == naive_between(start, end, cal)


@PROPERTY
@given(received=dates, as_of=dates, pauses=pause_lists(), cal=calendars())
def test_elapsed_equals_a_day_by_day_count_and_pauses_never_add_days(received, as_of, pauses,
                                                                    cal):
    elapsed = elapsed_working_days(received, as_of, pauses, cal)
    assert elapsed == naive_elapsed(received, as_of, pauses, cal)
    assert elapsed <= elapsed_working_days(received, as_of, [], cal)


@PROPERTY
@given(received=dates, as_of=dates, limit=counts, pauses=pause_lists(), cal=calendars())
def test_pauses_never_shorten_a_deadline(received, as_of, limit, pauses, cal):
    assert (due_date(received, limit, pauses, cal, as_of=as_of)
            >= due_date(received, limit, [], cal, as_of=as_of))


@PROPERTY
@given(received=dates, as_of=dates, limit=counts, pauses=pause_lists(), cal=calendars())
def test_due_date_is_the_first_day_the_limit_is_reached(received, as_of, limit, pauses, cal):
    due = due_date(received, limit, pauses, cal, as_of=as_of)
    # An open pause is projected to end on as_of (or on its start, if that is later).
    closed = [p if p.end is not None else Pause(start=p.start, end=max(p.start, as_of))
              for p in pauses]
    assert elapsed_working_days(received, due, closed, cal) == limit
    if due > received:
        assert elapsed_working_days(received, due - dt.timedelta(days=1), closed, cal) < limit


@PROPERTY
@given(received=dates, offsets=st.lists(st.integers(0, 400), min_size=2, max_size=6),
       promised=st.integers(0, 60), extra=st.integers(0, 60), yellow=st.integers(0, 5),
       cal=calendars())
def test_colour_never_improves_as_time_passes(received, offsets, promised, extra, yellow, cal):
    seen = [
        deadline_status(received=received, as_of=received + dt.timedelta(days=k), pauses=[],
                        cal=cal, promised_days=promised, statutory_days=promised + extra,
                        yellow_within=yellow)
        for k in sorted(offsets)
    ]
    ranks = [ORDER.index(s.colour) for s in seen]
    assert ranks == sorted(ranks)
    for s, k in zip(seen, sorted(offsets), strict=True):
        as_of = received + dt.timedelta(days=k)
        if s.colour in (Colour.RED, Colour.BREACH):
            assert as_of > s.promised_due
        if s.colour is Colour.BREACH:
            assert as_of > s.statutory_due
