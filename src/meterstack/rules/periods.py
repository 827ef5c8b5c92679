"""Usage periods (D8): calendar months, or months anchored on the subscription's anniversary.

Counters are keyed by the period's key, so a new period starts at zero by construction.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime

#: The period key of a counter kept outside periods: a resource's count, a gauge's level, a
#: concurrency item's occupied slots (they hold what is there now, not what a period used).
NO_PERIOD = ""


@dataclass(frozen=True, order=True)
class Period:
    start: datetime
    end: datetime
    #: The counter key: ``YYYY-MM`` for a calendar month, ``YYYY-MM-DD`` (start) on an anniversary.
    key: str

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end

    @property
    def length_seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def anchored(year: int, month: int, anchor: datetime) -> datetime:
    """The anchor's day and time in the given month, clamped to the month's last day."""
    last = calendar.monthrange(year, month)[1]
    return anchor.replace(year=year, month=month, day=min(anchor.day, last))


def calendar_period(instant: datetime) -> Period:
    instant = instant.astimezone(UTC)
    start = datetime(instant.year, instant.month, 1, tzinfo=UTC)
    year, month = add_months(instant.year, instant.month, 1)
    end = datetime(year, month, 1, tzinfo=UTC)
    return Period(start=start, end=end, key=f"{start.year:04d}-{start.month:02d}")


def anniversary_period(instant: datetime, anchor: datetime) -> Period:
    """The month-long cycle containing ``instant``, starting on the anchor's day of month."""
    instant = instant.astimezone(UTC)
    anchor = anchor.astimezone(UTC)
    year, month = instant.year, instant.month
    start = anchored(year, month, anchor)
    if start > instant:
        year, month = add_months(year, month, -1)
        start = anchored(year, month, anchor)
    next_year, next_month = add_months(year, month, 1)
    end = anchored(next_year, next_month, anchor)
    return Period(start=start, end=end, key=start.strftime("%Y-%m-%d"))


def period_for(kind: str, instant: datetime, anchor: datetime) -> Period:
    if kind == "calendar_month":
        return calendar_period(instant)
    if kind == "anniversary":
        return anniversary_period(instant, anchor)
    raise ValueError(f"unknown period kind {kind!r}")


def next_period(kind: str, period: Period, anchor: datetime) -> Period:
    return period_for(kind, period.end, anchor)


#: Usage periods in one paid year of a yearly plan (B12).
PERIODS_PER_YEAR = 12


def paid_interval(
    kind: str, interval: str, started_at: datetime, anchor: datetime, at: datetime
) -> Period:
    """The interval the subscription fee paid for ``at`` covers (B12, D30).

    Monthly: the usage period itself. Yearly: twelve usage periods, the first being the one the
    yearly plan started in (its fee is invoiced when it starts, then on each anniversary), so a
    cancellation or downgrade takes effect at the end of the paid year, not of the month. The
    year's ``key`` is that of its first period.
    """
    period = period_for(kind, at, anchor)
    if interval != "yearly":
        return period
    year_start = period_for(kind, started_at, anchor)
    while True:
        year_end = year_start
        for _ in range(PERIODS_PER_YEAR):
            year_end = next_period(kind, year_end, anchor)
        if at < year_end.start:
            return Period(start=year_start.start, end=year_end.start, key=year_start.key)
        year_start = year_end


def day_name(instant: datetime) -> str:
    """A UTC day as a person writes it: ``12 April 2026``."""
    day = instant.astimezone(UTC)
    return f"{day.day} {calendar.month_name[day.month]} {day.year}"


def period_name(start: datetime, end: datetime) -> str:
    """A period as a person reads it on an invoice, never its counter key.

    Whole calendar months are named by month (``April 2026``, ``January – December 2026``,
    ``April 2026 – March 2027``); any other span by its days (``15 April – 15 May 2026``, a
    billing cycle from its anniversary to the next).
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if _month_start(start) and _month_start(end) and end > start:
        year, month = add_months(end.year, end.month, -1)
        first, last = calendar.month_name[start.month], calendar.month_name[month]
        if (year, month) == (start.year, start.month):
            return f"{first} {year}"
        if year == start.year:
            return f"{first} – {last} {year}"
        return f"{first} {start.year} – {last} {year}"
    if start.year == end.year:
        return f"{start.day} {calendar.month_name[start.month]} – {day_name(end)}"
    return f"{day_name(start)} – {day_name(end)}"


def _month_start(instant: datetime) -> bool:
    return instant.day == 1 and instant.time() == datetime.min.time()
