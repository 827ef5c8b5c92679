"""Usage history (D27): the hourly and daily buckets admitted usage lands in, as pure values.

Every admitted consumption carries a :class:`UsageMark` into the store's one admission call
(``Admission.usage``), which adds it to the bucket of its hour, per account, meter and project,
in the transaction that counts it: history is exactly as durable as the decision, and a batch
leaves the same buckets as the same events sent one by one (the marks are summed per bucket
either way). A day's bucket is the sum of its 24 hourly buckets (:func:`by_day`): one row
written per admission instead of two, which is what keeps the history cheap on the hot path.
Buckets are UTC hours and UTC days, named by the instant they start.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple


class Granularity(StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def length(self) -> timedelta:
        return timedelta(hours=1) if self is Granularity.HOUR else timedelta(days=1)

    def start_of(self, instant: datetime) -> datetime:
        """The start of the bucket holding ``instant`` (UTC)."""
        if instant.tzinfo is not UTC:
            instant = instant.astimezone(UTC)
        if self is Granularity.HOUR:
            return instant.replace(minute=0, second=0, microsecond=0)
        return instant.replace(hour=0, minute=0, second=0, microsecond=0)


class UsageMark(NamedTuple):
    """One admitted consumption, for the history: ``quantity`` of ``meter`` on a project.

    ``byok`` is the part of it run on the customer's own model key (FlowStack's managed-vs-BYOK
    advice reads it); ``amount`` is the transaction's amount for a meter priced by
    ``percentage`` (kept one row per transaction, for period close to rate), else None.
    """

    meter: str
    project_id: str | None
    quantity: int
    byok: bool = False
    amount: Decimal | None = None
    #: The counter period the consumption was admitted in (transactions are rated per period).
    period: str = ""


class BucketKey(NamedTuple):
    meter: str
    project_id: str
    start: datetime


class BucketTotals(NamedTuple):
    used: int
    byok: int


class UsageBucket(NamedTuple):
    """What a bucket holds: ``used`` units of ``meter`` in [start, start + granularity)."""

    meter: str
    #: The project's id, or None for the account's aggregate (or usage without a project).
    project_id: str | None
    granularity: Granularity
    start: datetime
    used: int
    byok: int


#: How the store names "no project" in its key (a primary key holds no NULL).
NO_PROJECT = ""


def bucketed(marks: Iterable[UsageMark], at: datetime) -> dict[BucketKey, BucketTotals]:
    """The marks of one admission summed per hourly bucket (meter and project)."""
    hour = Granularity.HOUR.start_of(at)
    totals: dict[BucketKey, BucketTotals] = {}
    for mark in marks:
        byok = mark.quantity if mark.byok else 0
        key = BucketKey(mark.meter, mark.project_id or NO_PROJECT, hour)
        seen = totals.get(key)
        totals[key] = (
            BucketTotals(mark.quantity, byok)
            if seen is None
            else BucketTotals(seen.used + mark.quantity, seen.byok + byok)
        )
    return totals


def by_day(hours: Iterable[UsageBucket]) -> list[UsageBucket]:
    """Hourly buckets summed per UTC day (and meter and project), in time order."""
    totals: dict[tuple[datetime, str, str], tuple[int, int]] = {}
    for bucket in hours:
        key = (Granularity.DAY.start_of(bucket.start), bucket.meter, bucket.project_id or "")
        used, byok = totals.get(key, (0, 0))
        totals[key] = (used + bucket.used, byok + bucket.byok)
    return [
        UsageBucket(meter, project or None, Granularity.DAY, start, used, byok)
        for (start, meter, project), (used, byok) in sorted(totals.items())
    ]


def aggregated(buckets: Iterable[UsageBucket]) -> list[UsageBucket]:
    """The account's aggregate: the buckets of every project summed per meter and start."""
    totals: dict[tuple[datetime, str, Granularity], tuple[int, int]] = {}
    for bucket in buckets:
        key = (bucket.start, bucket.meter, bucket.granularity)
        used, byok = totals.get(key, (0, 0))
        totals[key] = (used + bucket.used, byok + bucket.byok)
    return [  # in time order, then by meter
        UsageBucket(meter, None, granularity, start, used, byok)
        for (start, meter, granularity), (used, byok) in sorted(totals.items())
    ]
