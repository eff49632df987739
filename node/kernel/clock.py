"""The clock seam: the core reads time only through a ``Clock`` (STYLE §1, §3).

Timestamps in records are the writer's own clock and may be skewed; the service time zone is
China Standard Time (UTC+8, no daylight saving), in which case ids and deadlines count days.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

__all__ = [
    "CST",
    "MAX_MS",
    "MIN_MS",
    "Clock",
    "FixedClock",
    "OffsetClock",
    "SystemClock",
    "describe_skew",
    "from_ms",
    "to_ms",
]

CST = dt.timezone(dt.timedelta(hours=8), "CST")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class OffsetClock:
    """The system clock shifted by a fixed amount: a node whose clock is days off, or a
    rehearsal of next week. Built only from ``BIANMIN_UNSAFE_CLOCK_OFFSET_S`` at the entry
    point (``node.cli_support.clock``); never in production."""

    def __init__(self, offset: dt.timedelta) -> None:
        self.offset = offset

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


class FixedClock:
    """A clock for tests: stands still until moved."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, delta: dt.timedelta) -> None:
        self._at += delta


def to_ms(moment: dt.datetime) -> int:
    """Unix milliseconds of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: bianmin only handles timezone-aware times")
    return int(moment.timestamp() * 1000)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def from_ms(ms: int) -> dt.datetime:
    """The aware datetime of Unix milliseconds (exact; ``MIN_MS``..``MAX_MS``)."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


# the Unix milliseconds a datetime can hold: years 1 to 9999 (a record's time outside them is
# not a date, and refused as malformed)
MIN_MS = to_ms(dt.datetime(1, 1, 2, tzinfo=dt.UTC))
MAX_MS = to_ms(dt.datetime(9999, 12, 30, tzinfo=dt.UTC))


def describe_skew(seconds: float) -> str:
    """``3 d 2 h ahead of`` / ``12 min behind``: how far a clock is off, in words."""
    direction = "ahead of" if seconds > 0 else "behind"
    left = abs(int(seconds))
    days, left = divmod(left, 86_400)
    hours, left = divmod(left, 3_600)
    minutes = left // 60
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [
        f"{minutes} min"] * bool(minutes and not days)
    return f"{' '.join(parts) or 'under a minute'} {direction}"
