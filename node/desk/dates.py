"""The dates a desk prints (DESIGN §7): the county's working-day calendar as this node holds
it, and the promised and statutory dates of an item counted in it.

The county signs its calendar into its log (``CalendarPublished``, sent to every node); the
latest one this node has pulled is in force here. A node that has pulled none yet counts
Monday to Friday and says so on the receipt. The county's clock starts when it receives the
case, so a date the desk prints is the earliest the county's own due date can be: the desk
counts from the day of intake.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from node.kernel.catalog import Item
from node.kernel.clock import CST
from node.kernel.deadlines import Calendar, add_working_days
from node.kernel.identity import HUB_NODE_ID
from node.kernel.payloads import CalendarPublished
from node.kernel.records import parse_record
from node.store.seam import Reader

__all__ = ["HeldCalendar", "ItemDates", "calendar_in_force", "item_dates"]

CALENDAR_SCAN = 100_000  # records of the county's log meant for every node (few: revocations)


@dataclass(frozen=True, kw_only=True)
class HeldCalendar:
    calendar: Calendar
    received: bool  # False: none pulled yet, weekends only

    @property
    def label(self) -> str:
        if not self.received:
            return "尚未收到县里的节假日日历，暂按周一至周五计算"
        return f"按县里发布的工作日日历（{self.calendar.name or '未命名'}）计算"


def calendar_in_force(reader: Reader) -> HeldCalendar:
    """The latest calendar the county sent this node (records of its log meant for all)."""
    found: CalendarPublished | None = None
    for _seq, body, signature in reader.raw_after(HUB_NODE_ID, 0, CALENDAR_SCAN, audiences=[]):
        payload = parse_record(body, signature).payload
        if isinstance(payload, CalendarPublished):
            found = payload
    if found is None:
        return HeldCalendar(calendar=Calendar(), received=False)
    return HeldCalendar(calendar=found.calendar(), received=True)


@dataclass(frozen=True, kw_only=True)
class ItemDates:
    start: dt.date
    promised_due: dt.date
    statutory_due: dt.date


def item_dates(item: Item, start: dt.datetime | dt.date, held: HeldCalendar) -> ItemDates:
    """The item's promised and statutory limits counted in working days from ``start``."""
    day = start.astimezone(CST).date() if isinstance(start, dt.datetime) else start
    return ItemDates(start=day,
                     promised_due=add_working_days(day, item.promised_days, held.calendar),
                     statutory_due=add_working_days(day, item.statutory_days, held.calendar))
