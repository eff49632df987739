"""Deadline arithmetic (DESIGN §7): working days since the hub's receipt, and a case's colour. Pure.

The clock starts when the hub stores a case (``received``, ``node.kernel.workflow`` rule 2). Each
catalog item promises a limit (``promised_days``) and the law sets a longer one
(``statutory_days``); both count *working days*, so the county keeps a holiday calendar file
(``bianmin/data/calendar-example.toml``): public holidays, and the weekend days that become
working days in exchange (调休). A request for supplementary materials (补正) pauses the clock
until the supplement arrives.

Counting conventions, used by every function below:

* a span ``(start, end]`` is counted: the day of receipt is not a working day of the case,
  the day a deadline falls on is (期间开始之日不计算在期间内);
* a pause covers the days ``(requested, arrived]``: the day the supplement was asked for still
  counts, the day it arrived does not -- the clock runs again from the next working day. A
  pause still open covers the days up to ``as_of``; overlapping pauses count once;
* a case is ``yellow`` when at most ``yellow_within`` working days of the promised limit are
  left, ``red`` once more working days were used than promised, a ``statutory_breach`` once
  more were used than the law allows.

This module takes dates and returns dates or counts; it reads no files and no clock -- the
caller passes ``as_of`` (today, in China Standard Time, from its ``Clock``) and the calendar
text. Counting is arithmetic on whole weeks plus the calendar's exceptions in range, so spans
of years cost no more than spans of days.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node.kernel.errors import UsageError

__all__ = [
    "Calendar",
    "Colour",
    "DeadlineStatus",
    "Pause",
    "add_working_days",
    "deadline_status",
    "due_date",
    "elapsed_working_days",
    "parse_calendar_toml",
    "working_days_between",
]

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_SATURDAY = 5
_CALENDAR_KEYS = frozenset({"name", "holidays", "workdays"})


def _weekdays_through(day: dt.date) -> int:
    """Mon-Fri days from 0001-01-01 (a Monday, ordinal 1) through ``day`` inclusive."""
    weeks, rest = divmod(day.toordinal(), 7)
    return 5 * weeks + min(rest, 5)


def _is_weekend(day: dt.date) -> bool:
    return day.weekday() >= _SATURDAY


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """Which days are working days: Mon-Fri, less ``holidays``, plus ``workdays`` (调休).

    A holiday that falls on a weekend is allowed and changes nothing, so a calendar may list
    each holiday block whole, as the State Council's notice announces it. A date may not be
    both a holiday and a workday, and a workday must be a Saturday or Sunday: a weekday listed
    as 调休 is almost always a typo for a neighbouring date.
    """

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    name: str = ""
    # The exceptions that change the Mon-Fri rule, sorted for bisection.
    _off: tuple[dt.date, ...] = field(init=False, repr=False, compare=False, default=())
    _on: tuple[dt.date, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        holidays = frozenset(self.holidays)
        workdays = frozenset(self.workdays)
        for what, days in (("holiday", holidays), ("workday", workdays)):
            for day in days:
                if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                    raise UsageError(f"{self._label}: {what} {day!r} is not a date",
                                     code="bad_calendar")
        both = sorted(holidays & workdays)
        if both:
            raise UsageError(
                f"{self._label}: {both[0].isoformat()} is listed both as a holiday and as a "
                f"working day (调休); keep it in one list",
                code="bad_calendar",
            )
        for day in sorted(workdays):
            if not _is_weekend(day):
                raise UsageError(
                    f"{self._label}: workday {day.isoformat()} is a {day.strftime('%A')}, which is "
                    f"a working day anyway; 调休 workdays are Saturdays or Sundays -- check the "
                    f"date",
                    code="bad_calendar",
                )
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "workdays", workdays)
        object.__setattr__(self, "_off", tuple(sorted(d for d in holidays if not _is_weekend(d))))
        object.__setattr__(self, "_on", tuple(sorted(workdays)))

    @property
    def _label(self) -> str:
        return f"calendar {self.name!r}" if self.name else "calendar"

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return not _is_weekend(day) and day not in self.holidays


def parse_calendar_toml(text: str, *, source: str = "calendar") -> Calendar:
    """Parse a holiday calendar; errors name the file and the entry at fault.

    ::

        [calendar]
        name = "China 2026"
        holidays = ["2026-10-01", 2026-10-02]   # strings or TOML dates
        workdays = ["2026-10-10"]               # 调休: Saturdays or Sundays worked

    Unknown keys and tables, duplicate entries and date-times are refused (STYLE §9).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}", code="bad_calendar") from exc
    extra = sorted(set(doc) - {"calendar"})
    if extra:
        raise UsageError(f"{source}: unknown table or key {extra[0]!r}; a calendar file has only "
                         f"a [calendar] table", code="bad_calendar")
    head = doc.get("calendar")
    if not isinstance(head, Mapping):
        raise UsageError(f"{source}: [calendar] is missing or is not a table",
                         code="bad_calendar")
    extra = sorted(set(head) - _CALENDAR_KEYS)
    if extra:
        raise UsageError(
            f"{source}: [calendar] has unknown key {extra[0]!r}; known keys: "
            f"{', '.join(sorted(_CALENDAR_KEYS))}",
            code="bad_calendar",
        )
    name = head.get("name", "")
    if not isinstance(name, str):
        raise UsageError(f"{source}: [calendar] name must be a string, not {name!r}",
                         code="bad_calendar")
    holidays = _dates(head.get("holidays", []), f"{source}: holidays")
    workdays = _dates(head.get("workdays", []), f"{source}: workdays")
    try:
        return Calendar(holidays=holidays, workdays=workdays, name=name)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}", code="bad_calendar") from exc


def _dates(raw: object, where: str) -> frozenset[dt.date]:
    if not isinstance(raw, list):
        raise UsageError(f"{where} must be a list of dates like \"2026-10-01\", not {raw!r}",
                         code="bad_calendar")
    days: set[dt.date] = set()
    for n, entry in enumerate(raw, start=1):
        day = _date(entry, f"{where} entry #{n}")
        if day in days:
            raise UsageError(f"{where} entry #{n}: {day.isoformat()} is listed twice",
                             code="bad_calendar")
        days.add(day)
    return frozenset(days)


def _date(entry: Any, where: str) -> dt.date:
    if isinstance(entry, dt.datetime):
        raise UsageError(f"{where}: {entry.isoformat()} has a time of day; give the date only",
                         code="bad_calendar")
    if isinstance(entry, dt.date):
        return entry
    if isinstance(entry, str) and _ISO_DATE.match(entry):
        try:
            return dt.date.fromisoformat(entry)
        except ValueError:
            pass
    raise UsageError(f"{where}: {entry!r} is not a date; write YYYY-MM-DD, e.g. \"2026-10-01\"",
                     code="bad_calendar")


def working_days_between(start: dt.date, end: dt.date, cal: Calendar) -> int:
    """Working days ``d`` with ``start < d <= end``; 0 when ``end <= start``."""
    if end <= start:
        return 0
    weekdays = _weekdays_through(end) - _weekdays_through(start)
    off = bisect.bisect_right(cal._off, end) - bisect.bisect_right(cal._off, start)
    on = bisect.bisect_right(cal._on, end) - bisect.bisect_right(cal._on, start)
    return weekdays - off + on


def add_working_days(start: dt.date, n: int, cal: Calendar) -> dt.date:
    """The ``n``-th working day after ``start``; ``start`` itself when ``n == 0``.

    Found by doubling a span until it holds ``n`` working days, then bisecting it, so the cost
    is logarithmic in ``n`` whatever the calendar.
    """
    if n < 0:
        raise ValueError(f"cannot add {n} working days: the count must be 0 or more")
    if n == 0:
        return start
    room = (dt.date.max - start).days
    if working_days_between(start, dt.date.max, cal) < n:
        raise ValueError(f"there are fewer than {n} working days after {start.isoformat()}")
    low, high = 0, min(room, n // 5 * 7 + 7)  # no working day in (start, start + low]
    while working_days_between(start, start + dt.timedelta(days=high), cal) < n:
        low, high = high, min(room, high * 2)
    while high - low > 1:  # invariant: count(low) < n <= count(high)
        middle = (low + high) // 2
        if working_days_between(start, start + dt.timedelta(days=middle), cal) < n:
            low = middle
        else:
            high = middle
    return start + dt.timedelta(days=high)


@dataclass(frozen=True, kw_only=True)
class Pause:
    """A request for supplementary materials (补正): the clock stops on the days
    ``(start, end]``; ``end`` is ``None`` while the supplement has not arrived."""

    start: dt.date
    end: dt.date | None

    def __post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise UsageError(
                f"a pause cannot end ({self.end.isoformat()}) before it starts "
                f"({self.start.isoformat()}): the supplement arrived before it was requested",
                code="bad_pause",
            )


def _spans(pauses: Iterable[Pause], *, after: dt.date, open_until: dt.date,
           through: dt.date | None) -> list[tuple[dt.date, dt.date]]:
    """The pauses as sorted, disjoint spans ``(a, b]`` with ``after <= a < b`` (and
    ``b <= through`` when given); an open pause runs until ``open_until``."""
    spans: list[tuple[dt.date, dt.date]] = []
    for pause in pauses:
        low = max(pause.start, after)
        high = pause.end if pause.end is not None else open_until
        if through is not None:
            high = min(high, through)
        if low < high:
            spans.append((low, high))
    spans.sort()
    merged: list[tuple[dt.date, dt.date]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def elapsed_working_days(received: dt.date, as_of: dt.date, pauses: Sequence[Pause],
                         cal: Calendar) -> int:
    """Working days ``d`` with ``received < d <= as_of`` outside every pause."""
    paused = sum(
        working_days_between(low, high, cal)
        for low, high in _spans(pauses, after=received, open_until=as_of, through=as_of)
    )
    return working_days_between(received, as_of, cal) - paused


def due_date(received: dt.date, limit_days: int, pauses: Sequence[Pause], cal: Calendar, *,
             as_of: dt.date) -> dt.date:
    """The first day on which ``limit_days`` working days have elapsed.

    A pause still open at ``as_of`` is taken to end on ``as_of`` -- the earliest the supplement
    can still arrive -- so the due date is at least the working days still left after
    ``as_of``, and it moves on each day the pause stays open. A limit reached before a pause
    began stays reached: a later pause does not revive a deadline already passed.
    """
    if limit_days < 0:
        raise ValueError(f"a time limit of {limit_days} working days is negative")
    left = limit_days
    cursor = received
    for low, high in _spans(pauses, after=received, open_until=as_of, through=None):
        before = working_days_between(cursor, low, cal)
        if before >= left:
            break
        left -= before
        cursor = high
    return add_working_days(cursor, left, cal)


class Colour(enum.StrEnum):
    """A case's standing against its limits, from best to worst."""

    ON_TIME = "on_time"
    YELLOW = "yellow"
    RED = "red"
    BREACH = "statutory_breach"


@dataclass(frozen=True, kw_only=True)
class DeadlineStatus:
    colour: Colour
    elapsed: int
    promised_left: int
    statutory_left: int
    promised_due: dt.date
    statutory_due: dt.date
    paused: bool


def deadline_status(*, received: dt.date, as_of: dt.date, pauses: Sequence[Pause],
                    cal: Calendar, promised_days: int, statutory_days: int,
                    yellow_within: int = 2) -> DeadlineStatus:
    """Where a case stands on ``as_of``: working days used and left, due dates, colour."""
    if not 0 <= promised_days <= statutory_days:
        raise ValueError(
            f"promised_days ({promised_days}) must be between 0 and statutory_days "
            f"({statutory_days})",
        )
    if yellow_within < 0:
        raise ValueError(f"yellow_within ({yellow_within}) must be 0 or more")
    elapsed = elapsed_working_days(received, as_of, pauses, cal)
    promised_left = promised_days - elapsed
    if elapsed > statutory_days:
        colour = Colour.BREACH
    elif elapsed > promised_days:
        colour = Colour.RED
    elif promised_left <= yellow_within:
        colour = Colour.YELLOW
    else:
        colour = Colour.ON_TIME
    return DeadlineStatus(
        colour=colour,
        elapsed=elapsed,
        promised_left=promised_left,
        statutory_left=statutory_days - elapsed,
        promised_due=due_date(received, promised_days, pauses, cal, as_of=as_of),
        statutory_due=due_date(received, statutory_days, pauses, cal, as_of=as_of),
        paused=any(p.start <= as_of and (p.end is None or as_of < p.end) for p in pauses),
    )
