"""SQL of the usage history (D27): buckets written by the admission, read back, pruned.

The buckets of an admission are one statement: an upsert adding the admission's units to its
hour's row (per meter and project; a batch's rows in one multi-row statement), run by
``SqlCounters.apply`` after the steps and their idempotency records, inside the same
transaction. Days are read as the sum of their hours (``rules.history.by_day``). A refused,
stale or taken admission writes none. Percentage transactions are one row each, kept like
invoices (D9): the prune leaves them alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from meterstack.money import LEDGER_PLACES
from meterstack.rules.history import (
    NO_PROJECT,
    Granularity,
    UsageBucket,
    UsageMark,
    bucketed,
    by_day,
)
from meterstack.store.dialect import Dialect
from meterstack.store.rows import PrunedWindow
from meterstack.store.statements import Statements

_KEY = "(account_id, meter, bucket_start, project_id)"
_HOUR = Granularity.HOUR.length


class SqlHistory:
    def __init__(self, sql: Statements) -> None:
        self._sql = sql
        #: The last hour's (start, end, start as stored).
        self._hour: tuple[datetime, datetime, Any] | None = None

    def add(self, account_id: str, marks: Sequence[UsageMark], at: datetime) -> None:
        """Add an admission's marks to their buckets, and record its transactions."""
        sql = self._sql
        if len(marks) == 1:  # one consume: most admissions
            mark = marks[0]
            if mark.quantity > 0:
                values = self._values(account_id, mark, at)
                if sql.dialect.is_sqlite:
                    sql.cursor.execute(_ADD_ONE_SQLITE, values)
                else:
                    sql.cursor.execute(
                        _ADD_ONE_POSTGRES, dict(zip(_ONE_NAMES, values, strict=True))
                    )
        else:
            self._add_many(account_id, [mark for mark in marks if mark.quantity > 0], at)
        for mark in marks:
            if mark.amount is not None:
                sql.execute(
                    "INSERT INTO usage_transactions (account_id, meter, period, amount, "
                    "created_at) VALUES (:a, :m, :p, :amount, :at)",
                    {
                        "a": account_id,
                        "m": mark.meter,
                        "p": mark.period,
                        "amount": int(mark.amount.scaleb(LEDGER_PLACES)),
                        "at": sql.ts(at),
                    },
                )

    def bucket(
        self, account_id: str, marks: Sequence[UsageMark], at: datetime
    ) -> dict[str, Any] | None:
        """The parameters of :data:`ADD_ONE_FROM` for marks that are one consumption's units
        and nothing else (most admissions), or None when :meth:`add` must write them."""
        if len(marks) != 1:
            return None
        mark = marks[0]
        if mark.quantity <= 0 or mark.amount is not None:
            return None
        return dict(zip(_ONE_NAMES, self._values(account_id, mark, at), strict=True))

    def _values(self, account_id: str, mark: UsageMark, at: datetime) -> tuple[Any, ...]:
        return (
            account_id,
            mark.meter,
            mark.project_id or NO_PROJECT,
            self._hour_of(at),
            mark.quantity,
            mark.quantity if mark.byok else 0,
        )

    def _add_many(self, account_id: str, counted: Sequence[UsageMark], at: datetime) -> None:
        """A batch's marks, summed per bucket first: one row per bucket in one statement."""
        if not counted:
            return
        sql = self._sql
        totals = bucketed(counted, at)
        params: dict[str, Any] = {"a": account_id}
        for index, (key, total) in enumerate(totals.items()):
            params[f"m{index}"] = key.meter
            params[f"s{index}"] = sql.ts(key.start)
            params[f"p{index}"] = key.project_id
            params[f"u{index}"] = total.used
            params[f"b{index}"] = total.byok
        sql.cursor.execute(_add_sql(len(totals), sql.dialect.is_sqlite), params)

    def _hour_of(self, at: datetime) -> Any:
        """The stored start of the hour holding ``at``; the last one is kept, as consecutive
        requests nearly always fall in the same hour."""
        kept = self._hour
        if kept is not None and kept[0] <= at < kept[1]:
            return kept[2]
        hour = Granularity.HOUR.start_of(at)
        self._hour = (hour, hour + _HOUR, self._sql.ts(hour))
        return self._hour[2]

    def buckets(
        self,
        account_id: str,
        granularity: Granularity,
        start: datetime,
        end: datetime,
        meter: str | None = None,
    ) -> list[UsageBucket]:
        """The buckets starting in [start, end), per project, in time order (a day's is the
        sum of its hours)."""
        sql = self._sql
        params: dict[str, Any] = {"a": account_id, "start": sql.ts(start), "end": sql.ts(end)}
        meter_is = ""
        if meter is not None:
            meter_is, params["m"] = "AND meter = :m ", meter
        rows = sql.all(
            "SELECT meter, project_id, bucket_start, used, byok FROM usage_buckets "
            f"WHERE account_id = :a {meter_is}"
            "AND bucket_start >= :start AND bucket_start < :end "
            "ORDER BY bucket_start, meter, project_id",
            params,
        )
        hours = [
            UsageBucket(
                str(row[0]),
                None if row[1] == NO_PROJECT else str(row[1]),
                Granularity.HOUR,
                sql.dialect.from_ts(row[2]),
                int(row[3]),
                int(row[4]),
            )
            for row in rows
        ]
        return hours if granularity is Granularity.HOUR else by_day(hours)

    def totals(
        self,
        account_id: str,
        granularity: Granularity,
        start: datetime,
        end: datetime,
        meter: str | None = None,
    ) -> list[UsageBucket]:
        """The account's aggregate of the buckets starting in [start, end), summed by the
        database per meter and hour or UTC day: a year of hours is 365 rows, not 8,760 per
        project, so a customer's chart reads only what it shows."""
        sql = self._sql
        params: dict[str, Any] = {"a": account_id, "start": sql.ts(start), "end": sql.ts(end)}
        meter_is = ""
        if meter is not None:
            meter_is, params["m"] = "AND meter = :m ", meter
        if granularity is Granularity.HOUR:
            bucket = "bucket_start"
        elif sql.dialect.is_sqlite:
            # The stored text starts with the UTC date: its first ten characters name the day.
            bucket = "substr(bucket_start, 1, 10) || ' 00:00:00.000000'"
        else:
            bucket = "date_trunc('day', bucket_start, 'UTC')"
        rows = sql.all(
            f"SELECT meter, {bucket} AS day_or_hour, SUM(used), SUM(byok) FROM usage_buckets "
            f"WHERE account_id = :a {meter_is}"
            "AND bucket_start >= :start AND bucket_start < :end "
            "GROUP BY meter, day_or_hour",
            params,
        )
        # Ordered here, not by the database, whose collation may order meter ids otherwise.
        return sorted(
            (
                UsageBucket(
                    str(row[0]),
                    None,
                    granularity,
                    sql.dialect.from_ts(row[1]),
                    int(row[2]),
                    int(row[3]),
                )
                for row in rows
            ),
            key=lambda bucket: (bucket.start, bucket.meter),
        )

    def transactions(self, account_id: str, meter: str, period: str) -> list[Decimal]:
        """The amounts of a period's transactions of ``meter``, in the order admitted."""
        rows = self._sql.all(
            "SELECT amount FROM usage_transactions WHERE account_id = :a AND meter = :m "
            "AND period = :p ORDER BY id",
            {"a": account_id, "m": meter, "p": period},
        )
        return [Decimal(int(row[0])).scaleb(-LEDGER_PLACES) for row in rows]

    def prune(self, before: datetime, after: tuple[Any, ...] | None, window: int) -> PrunedWindow:
        """Delete the buckets that start before ``before`` among the next ``window`` rows, in
        primary-key order from just past ``after``; where the next window starts (None at
        the end). Each window is a short transaction of its own, as the key purge's are."""
        sql = self._sql
        params: dict[str, Any] = {"before": sql.ts(before), "last": window - 1}
        lower = ""
        if after is not None:
            lower = f"{_KEY} > (:a0, :a1, :a2, :a3)"
            params.update({f"a{index}": value for index, value in enumerate(after)})
        end = sql.one(
            f"SELECT account_id, meter, bucket_start, project_id FROM usage_buckets "
            f"{'WHERE ' + lower if lower else ''} ORDER BY account_id, meter, bucket_start, "
            "project_id LIMIT 1 OFFSET :last",
            params,
        )
        within = [lower] if lower else []
        if end is not None:
            within.append(f"{_KEY} <= (:e0, :e1, :e2, :e3)")
            params.update({f"e{index}": value for index, value in enumerate(end)})
        cursor = sql.execute(
            "DELETE FROM usage_buckets WHERE " + " AND ".join([*within, "bucket_start < :before"]),
            params,
        )
        return PrunedWindow(int(cursor.rowcount), None if end is None else tuple(end))


_ONE_NAMES = ("a", "m", "p", "s", "u", "b")
_ADD = "INSERT INTO usage_buckets (account_id, meter, bucket_start, project_id, used, byok) "
_ADDED = (
    f" ON CONFLICT {_KEY} DO UPDATE SET "
    "used = usage_buckets.used + excluded.used, byok = usage_buckets.byok + excluded.byok"
)
_ONE = f"{_ADD}VALUES (:a, :m, :s, :p, :u, :b){_ADDED}"
#: The same upsert of one hour's row, made once per row of ``{source}`` (a statement that adds
#: it only when another write of the same statement did something: ``SqlCounters.apply``).
ADD_ONE_FROM = f"{_ADD}SELECT :a, :m, :s, :p, :u, :b FROM {{source}}{_ADDED}"
#: The upsert of one consume's hour on SQLite, with positional parameters (the quickest to
#: bind): ?1 the account, ?2 the meter, ?3 the project, ?4 the hour, ?5 the units, ?6 those on
#: the customer's key.
_ADD_ONE_SQLITE = (
    _ONE.replace(":a", "?1").replace(":m", "?2").replace(":p", "?3").replace(":s", "?4")
    .replace(":u", "?5").replace(":b", "?6")
)  # fmt: skip
_ADD_ONE_POSTGRES = Dialect("postgresql").sql(_ONE)


@lru_cache(maxsize=64)
def _add_sql(rows: int, is_sqlite: bool) -> str:
    """The upsert of ``rows`` bucket rows of one account, in the driver's parameter style."""
    values = ", ".join(f"(:a, :m{row}, :s{row}, :p{row}, :u{row}, :b{row})" for row in range(rows))
    text = (
        "INSERT INTO usage_buckets (account_id, meter, bucket_start, project_id, used, byok) "
        f"VALUES {values} ON CONFLICT {_KEY} DO UPDATE SET "
        "used = usage_buckets.used + excluded.used, byok = usage_buckets.byok + excluded.byok"
    )
    return Dialect("sqlite" if is_sqlite else "postgresql").sql(text)
