"""Usage history (D27, D9): the buckets admitted usage landed in, read back within a window.

A customer reads the account's aggregate back as far as the plan's ``analytics_retention_days``
(counted in whole UTC days: a 7-day window reaches the start of the day 7 days ago); further
back is 403 ``beyond_retention`` with the window. The per-project breakdown is the operator's
(A11), and operators read without a window. Buckets go only past the operator's horizon, by
:meth:`History.prune`, a window of rows per transaction as the key purge does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from meterstack.errors import BeyondRetentionError, InvalidInputError
from meterstack.rules.history import Granularity, UsageBucket
from meterstack.services.context import ServiceContext

#: Rows a prune examines per transaction.
PRUNE_WINDOW = 10_000
#: The longest span one query may cover, per granularity (bounds the answer's size).
MAX_SPAN = {Granularity.HOUR: timedelta(days=31), Granularity.DAY: timedelta(days=3_700)}


@dataclass(frozen=True)
class HistoryQuery:
    account_id: str
    start: datetime | None = None
    end: datetime | None = None
    granularity: Granularity = Granularity.DAY
    meter: str | None = None


@dataclass(frozen=True)
class UsageHistoryReport:
    account_id: str
    granularity: Granularity
    start: datetime
    end: datetime
    meter: str | None
    #: How far back the customer may read, in days; None without a window (and for operators).
    retention_days: int | None
    #: The earliest instant the customer may read; None without a window.
    earliest: datetime | None
    #: The account's aggregate, or per project for the operator's breakdown (A11).
    buckets: list[UsageBucket]


class History:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def history(
        self, query: HistoryQuery, *, operator: bool = False, by_project: bool = False
    ) -> UsageHistoryReport:
        """The buckets of [start, end) (default: the current period, within the window, up
        to now)."""
        if by_project and not operator:
            raise AssertionError("the per-project breakdown is for operators only")
        granularity = Granularity(query.granularity)
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, query.account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            if query.meter is not None and query.meter not in catalog.meters:
                raise InvalidInputError(f"unknown meter {query.meter!r}", field="meter")
            period = self.ctx.period(catalog, state, now)
            retention = _retention_days(catalog.plan(state.plan_id).analytics_retention_days)
            earliest = _earliest(retention, now)
            start = query.start if query.start is not None else period.start
            # Without an end, up to now: the bucket holding now included.
            end = (
                query.end
                if query.end is not None
                else granularity.start_of(now) + granularity.length
            )
            if earliest is not None and not operator and query.start is None:
                start = max(start, earliest)
            start, end = granularity.start_of(start), _ceiling(granularity, end)
            if start >= end:
                raise InvalidInputError("'from' must be before 'to'", field="from")
            if end - start > MAX_SPAN[granularity]:
                raise InvalidInputError(
                    f"one query covers at most {MAX_SPAN[granularity].days} days of "
                    f"{granularity.value} buckets",
                    field="from",
                )
            if not operator and earliest is not None and start < earliest:
                raise BeyondRetentionError(
                    f"the {state.plan_id} plan keeps analytics for {retention} days: usage "
                    f"history can be read from {earliest.isoformat()}",
                    retention_days=retention,
                    earliest=earliest.isoformat(),
                )
            if by_project:
                buckets = tx.history.buckets(query.account_id, granularity, start, end, query.meter)
            else:
                buckets = tx.history.totals(query.account_id, granularity, start, end, query.meter)
        return UsageHistoryReport(
            query.account_id,
            granularity,
            start,
            end,
            query.meter,
            None if operator else retention,
            None if operator else earliest,
            buckets,
        )

    def window(self, account_id: str) -> tuple[int | None, datetime | None]:
        """The customer's window now: the plan's retention in days and the earliest instant it
        may read, (None, None) without one."""
        with self.ctx.store.transaction() as tx:
            now = self.ctx.now()
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            retention = _retention_days(catalog.plan(state.plan_id).analytics_retention_days)
        return retention, _earliest(retention, now)

    def prune(self, keep: timedelta, *, window: int = PRUNE_WINDOW) -> int:
        """Delete buckets that started more than ``keep`` ago; how many went."""
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InvalidInputError("the prune window must be at least one row", field="window")
        if keep <= timedelta(0):
            raise InvalidInputError("the history horizon must be positive", field="keep")
        before = Granularity.DAY.start_of(self.ctx.now() - keep)
        pruned, after = 0, None
        while True:
            with self.ctx.store.transaction() as tx:
                swept = tx.history.prune(before, after, window)
            pruned += swept.deleted
            after = swept.last
            if after is None:
                return pruned


def _retention_days(value: Any) -> int | None:
    """The plan's window in days; None when unlimited or not declared."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _earliest(retention: int | None, now: datetime) -> datetime | None:
    """A window of ``retention`` whole UTC days reaches the start of the day that many ago."""
    if retention is None:
        return None
    return Granularity.DAY.start_of(now) - timedelta(days=retention)


def _ceiling(granularity: Granularity, instant: datetime) -> datetime:
    """The end of the bucket holding ``instant`` (the instant itself when it is a start)."""
    start = granularity.start_of(instant)
    return start if start == instant else start + granularity.length
